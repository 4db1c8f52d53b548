"""Style distances: scale-free Gram and mean/std distances of features, and HistoGAN's colour
histogram distance of images. One value per image, shape (N,)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.losses.core import gram_matrix
from jaxstyle.stats import mean_std


def gram_distance(fx: jax.Array, fy: jax.Array) -> jax.Array:
    """Scale-free Gram distance per image: ``||G(x) - G(y)||_F / ||G(y)||_F`` (N,H,W,C) -> (N,).

    Gram matrices are position-normalised, so images of different sizes compare fairly; the
    ratio is independent of the feature scale of the layer, so layers can be averaged.
    """
    gx, gy = gram_matrix(fx), gram_matrix(fy)
    return jnp.linalg.norm(gx - gy, axis=(-2, -1)) / (jnp.linalg.norm(gy, axis=(-2, -1)) + 1e-12)


def mean_std_distance(fx: jax.Array, fy: jax.Array) -> jax.Array:
    """Scale-free distance of channel statistics: ``(||dmu|| + ||dsigma||) / (||mu_y|| + ||sigma_y||)``."""
    mx, sx = mean_std(fx, unbiased=False)
    my, sy = mean_std(fy, unbiased=False)
    num = jnp.linalg.norm(mx - my, axis=-1) + jnp.linalg.norm(sx - sy, axis=-1)
    return num / (jnp.linalg.norm(my, axis=-1) + jnp.linalg.norm(sy, axis=-1) + 1e-12)


# ----------------------------------------------------------------------------- colour histograms
# HistoGAN's RGB-uv histogram (Afifi et al. 2021, ``RGBuvHistBlock``) with the settings of
# StyleID's evaluation/eval_histogan.py: 64 x 64 bins over [-3, 3], inverse-quadratic kernel
# (sigma 0.02), intensity-weighted, images larger than 256 px resized to 256 x 256 first.

HIST_BINS = 64
HIST_SIGMA = 0.02
HIST_MAX_SIZE = 256
_EPS = 1e-6


def rgb_uv_histogram(x: jax.Array) -> jax.Array:
    """RGB-uv histograms: (N, H, W, 3) in [0, 1] -> (N, 3, 64, 64), each summing to 1 over all bins.

    For each channel c and the other two (a, b): ``u = log(I_c) - log(I_a)``,
    ``v = log(I_c) - log(I_b)`` (eps 1e-6 inside the logs); each pixel adds
    ``|I| k(u - bin_u) k(v - bin_v)`` with ``k(d) = 1 / (1 + (d / 0.02)^2)`` and
    ``|I| = sqrt(R^2 + G^2 + B^2 + 1e-6)``.
    """
    x = jnp.clip(x, 0.0, 1.0)
    n, h, w, _ = x.shape
    if h > HIST_MAX_SIZE or w > HIST_MAX_SIZE:  # F.interpolate(bilinear, align_corners=False)
        x = jax.image.resize(x, (n, HIST_MAX_SIZE, HIST_MAX_SIZE, 3), "bilinear", antialias=False)
    pixels = x.reshape(n, -1, 3)
    intensity = jnp.sqrt(jnp.sum(jnp.square(pixels), axis=-1) + _EPS)  # (N, P)
    logs = jnp.log(pixels + _EPS)
    bins = jnp.asarray(np.linspace(-3.0, 3.0, HIST_BINS), jnp.float32)

    def kernel(d):  # (N, P) -> (N, P, bins)
        return 1.0 / (1.0 + jnp.square(d[..., None] - bins) / HIST_SIGMA**2)

    hists = []
    for c, (a, b) in enumerate(((1, 2), (0, 2), (0, 1))):
        ku = kernel(logs[..., c] - logs[..., a]) * intensity[..., None]
        kv = kernel(logs[..., c] - logs[..., b])
        hists.append(jnp.einsum("npu,npv->nuv", ku, kv))
    hist = jnp.stack(hists, axis=1)
    return hist / (jnp.sum(hist, axis=(1, 2, 3), keepdims=True) + _EPS)


def histogram_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """HistoGAN's Hellinger distance of RGB-uv histograms per image: (N,H,W,3) x2 -> (N,), in [0, 1].

    ``(1 / sqrt 2) ||sqrt(H(x)) - sqrt(H(y))||_F`` (StyleID's "color matching loss" between a
    stylized image and its style; 0 for equal colour distributions).
    """
    hx, hy = rgb_uv_histogram(x), rgb_uv_histogram(y)
    diff = jnp.sqrt(hy) - jnp.sqrt(hx)
    return jnp.sqrt(jnp.sum(jnp.square(diff), axis=(1, 2, 3))) / np.sqrt(2.0)
