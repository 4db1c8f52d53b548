"""STROTSS losses (Kolkin et al. 2019, "Style Transfer by Relaxed Optimal Transport and
Self-Similarity"), as used by Deformable Style Transfer; pure functions on hypercolumns.

A *hypercolumn* is the concatenation, at one image location, of the RGB value and the VGG16
activations at :data:`STROTSS_LAYERS` (3 + 64+64 + 128+128 + 256x3 + 512x2 = 2179 channels),
each map sampled bilinearly at the location (:func:`hypercolumns`). Losses compare sets of N
hypercolumns (N,D):

- content: :func:`self_similarity_loss`, the L1 difference of the two sets' cosine-distance
  matrices, each normalised by its column sums, times N;
- style: :func:`strotss_style_loss` = :func:`remd_loss` (relaxed earth mover's distance on
  cosine distances: the larger of the mean row-minimum and the mean column-minimum) +
  :func:`moment_loss` (mean |Δ mean| + mean |Δ covariance|) + ``color_weight`` x the relaxed
  EMD of the RGB channels under Euclidean distance after an orthonormal YUV-like transform
  (:data:`YUV`).

Facts from the official code (futscdav/strotss ``loss.py``, copied into sunniesuhyoung/DST):
the RGB channels are the encoder's normalised input, L2 distances are
``sqrt(clip(|x - y|², 1e-5, 1e5) / D)``, the covariance divides by N - 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from jaxstyle.ops.tps import bilinear_sample

# VGG16 taps of the official hypercolumn (torchvision features indices 1,3,6,8,11,13,15,22,29).
STROTSS_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_3", "relu5_3")

# Orthonormal luminance/chrominance transform of the official colour term (rows: Y, U, V).
YUV = jnp.array([[0.577350, 0.577350, 0.577350],
                 [-0.577350, 0.788675, -0.211325],
                 [-0.577350, -0.211325, 0.788675]], jnp.float32)


def cosine_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """(N,D), (M,D) -> (N,M) ``1 - cos(x_i, y_j)``."""
    xn = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    yn = y / jnp.linalg.norm(y, axis=1, keepdims=True)
    return 1.0 - xn @ yn.T


def l2_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """(N,D), (M,D) -> (N,M) ``sqrt(clip(|x_i - y_j|², 1e-5, 1e5) / D)`` (the official form)."""
    sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
    return jnp.sqrt(jnp.clip(sq, 1e-5, 1e5) / x.shape[1])


def self_similarity_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """Content loss of two aligned sets (N,D) -> scalar: ``mean |Mx - My| * N`` with M the
    cosine-distance matrix divided by its column sums."""
    mx = cosine_distances(x, x)
    my = cosine_distances(y, y)
    mx = mx / jnp.sum(mx, axis=0, keepdims=True)
    my = my / jnp.sum(my, axis=0, keepdims=True)
    return jnp.mean(jnp.abs(mx - my)) * x.shape[0]


def remd_loss(x: jax.Array, y: jax.Array, cosine: bool = True) -> jax.Array:
    """Relaxed EMD of (N,D) against (M,D) -> scalar: max(mean_i min_j C_ij, mean_j min_i C_ij),
    C the cosine (default) or official L2 distance."""
    cost = cosine_distances(x, y) if cosine else l2_distances(x, y)
    return jnp.maximum(jnp.mean(jnp.min(cost, axis=1)), jnp.mean(jnp.min(cost, axis=0)))


def moment_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """(N,D), (M,D) -> scalar: mean |μx - μy| + mean |Σx - Σy| (covariances over N-1, M-1)."""
    mx, my = jnp.mean(x, 0), jnp.mean(y, 0)
    xc, yc = x - mx, y - my
    cx = xc.T @ xc / (x.shape[0] - 1)
    cy = yc.T @ yc / (y.shape[0] - 1)
    return jnp.mean(jnp.abs(mx - my)) + jnp.mean(jnp.abs(cx - cy))


def color_remd_loss(x_rgb: jax.Array, y_rgb: jax.Array) -> jax.Array:
    """Relaxed EMD of (N,3) vs (M,3) colours under L2 after the :data:`YUV` transform -> scalar."""
    return remd_loss(x_rgb @ YUV.T, y_rgb @ YUV.T, cosine=False)


def strotss_style_loss(x: jax.Array, y: jax.Array, color_weight: float | jax.Array) -> jax.Array:
    """Style loss of result hypercolumns (N,D) against style ones (M,D), RGB first -> scalar:
    REMD(cos) + moments + ``color_weight`` x colour REMD."""
    return remd_loss(x, y) + moment_loss(x, y) + color_weight * color_remd_loss(x[:, :3], y[:, :3])


def hypercolumns(rgb: jax.Array, feats: Mapping[str, jax.Array], layers: Sequence[str],
                 points: jax.Array) -> jax.Array:
    """Hypercolumns of ONE image at ``points`` (N,2) pixel (x, y) of the (H,W) image -> (N, 3+ΣC).

    ``rgb`` (H,W,3): the encoder's normalised input; ``feats``: ``{layer: (h,w,C)}``. Each map
    is sampled bilinearly at the same place in the image (pixel-centre convention: a map
    ``s`` times smaller is sampled at ``(p + 0.5) / s - 0.5``).
    """
    h = rgb.shape[0]
    cols = [bilinear_sample(rgb, points)]
    for layer in layers:
        f = feats[layer]
        s = h / f.shape[0]
        cols.append(bilinear_sample(f, (points + 0.5) / s - 0.5))
    return jnp.concatenate(cols, axis=-1)


def sample_points(key: jax.Array, hw: tuple[int, int], n: int) -> jax.Array:
    """``min(n, H*W)`` distinct pixel centres of an (H, W) image, uniformly at random: (N,2)
    float32 (x, y). Jittable with a traced ``key`` (the count is static)."""
    h, w = hw
    n = min(n, h * w)
    flat = jax.random.permutation(key, h * w)[:n]
    return jnp.stack([flat % w, flat // w], axis=1).astype(jnp.float32)


def sample_valid_points(key: jax.Array, hw: tuple[int, int], valid: jax.Array, n: int) -> jax.Array:
    """:func:`sample_points` restricted to the ``valid`` (2,) ``[rows, cols]`` corner of an (H, W)
    canvas: ``min(n, H*W)`` pixel centres (N,2) float32 (x, y), distinct while the corner has
    that many (then its points repeat). Jittable with traced ``key`` and ``valid``."""
    h, w = hw
    n = min(n, h * w)
    ys, xs = jnp.divmod(jnp.arange(h * w), w)
    inside = (ys < valid[0]) & (xs < valid[1])
    order = jnp.argsort(jnp.where(inside, jax.random.uniform(key, (h * w,)), 2.0))  # inside first, shuffled
    flat = order[jnp.arange(n) % jnp.maximum(jnp.sum(inside), 1)]
    return jnp.stack([flat % w, flat // w], axis=1).astype(jnp.float32)
