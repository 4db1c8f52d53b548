r"""Whitening and colouring transform (Li et al. 2017, "Universal Style Transfer"), one pair.

For features ``f`` (H, W, C) with per-channel mean ``m`` and covariance
``cov = (f - m)^T (f - m) / (N - 1) = E diag(d) E^T`` (``jnp.linalg.eigh``):

- whiten the content:  ``w = (f_c - m_c) E_c diag(d_c^{-1/2}) E_c^T``   (identity covariance)
- colour with a style: ``f_cs = w E_s diag(d_s^{1/2}) E_s^T + m_s``      (the style's mean, covariance)
- blend:               ``alpha f_cs + (1 - alpha) f_c``

**Small eigenvalues are masked, not truncated.** The official code sorts the SVD and drops
every eigenvalue below 1e-5, which changes shapes per image. Here every eigenvalue is kept in
a static (C,) vector and the ones below the threshold get 0 as their inverse square root
(and as their square root when colouring): the same linear map as truncation, with shapes
that jit and vmap. No epsilon is added to the covariance (as official; PytorchWCT adds 1 to
the content's diagonal, WCT-TF 1e-8 to both).

**Threshold** (:func:`kept_eigenvalues`): an eigenvalue is kept when it exceeds
``max(eps, rel_eps * d_max)`` and is not in the covariance's known null space. ``eps = 1e-5``
is the official absolute threshold. Float32 alone cannot honour it: float32 ``eigh`` (and the
float32 covariance) get eigenvalues right to about ``1e-7..7e-7 x d_max`` in absolute terms
(measured on VGG16 features of a photo, relu1_1..relu5_1, against float64), and ``d_max`` is
5..1300 for VGG features, so that noise floor (1e-6..1e-3) lies above 1e-5. Two guards:

- the rank bound: ``count`` positions give a covariance of rank at most ``count - 1``, so the
  ``C - count + 1`` smallest eigenvalues are masked whatever their value. This is the case that
  matters: a 256 px image has 192 positions at relu5_1 for 512 channels; float64 puts all 321
  null eigenvalues below 1e-5, float32 ``eigh`` returns 48 of them as noise above 1e-5 (up to
  2.5e-4), and their inverse square roots (~100) blow up directions the content does not have
  (the output then differs from the float64 official rule by 1.0 x its std at worst; with the
  rank bound, 0.2).
- ``rel_eps = 3e-7`` (relative to the largest eigenvalue, ~2.5 float32 ulps): the lower edge of
  the measured noise, for null directions the rank bound cannot see (collinear channels). It
  must stay small: at 512 px relu5_1 has real eigenvalues down to 3e-7 x d_max that float32
  still resolves, and ``rel_eps = 1e-6`` moved the output 6x further from the float64
  reference than ``3e-7`` did.

Against a float64 NumPy computation of the official rule on VGG16 features (content and style
photos/paintings, 256 and 512 px) the float32 transform's RMS error is 2e-6..1.1e-3 of the
output's std at relu1_1..relu4_1 and 5e-3..8e-3 at relu5_1, whose covariance's condition
number (~1e6) is what float32 resolves at best (tests/test_wct.py checks this). ``rel_eps=0``
and float64 inputs give the official rule exactly.

Matmuls use ``Precision.HIGHEST``: on TPUs (and GPUs with TF32) the default float32 matmul
rounds its inputs to bfloat16/TF32, which would put the covariance's error far above the
threshold.

Everything is one pair, ``(H, W, C)``, pure and jit-able; :func:`jax.vmap` batches pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

EPS = 1e-5  # absolute eigenvalue threshold of the official test_wct.lua
REL_EPS = 3e-7  # relative threshold (x the largest eigenvalue): float32 eigh's noise floor
HIGHEST = jax.lax.Precision.HIGHEST

SwapFn = Callable[[jax.Array, jax.Array], jax.Array]


class FeatureStats(NamedTuple):
    """Of one feature map: mean (C,), covariance eigenvalues (C,) ascending and eigenvectors
    (C, C) as columns, and ``count`` (scalar) the positions it was computed from."""

    mean: jax.Array
    eigvals: jax.Array
    eigvecs: jax.Array
    count: jax.Array


def feature_stats(feats: jax.Array, mask: jax.Array | None = None) -> FeatureStats:
    """Mean and eigendecomposed covariance of ``feats`` (H, W, C) over its positions.

    ``cov = sum_p m_p (f_p - mean)(f_p - mean)^T / (n - 1)`` with ``n = sum_p m_p``, in float32.

    Args:
      feats: (H, W, C) features.
      mask: optional (H, W) weights in [0, 1]: the statistics of the masked positions only
        (binary masks: exactly those pixels). An empty mask gives zero mean and covariance,
        so every eigenvalue is masked and the region whitens to 0.
    """
    f = feats.reshape(-1, feats.shape[-1]).astype(jnp.float32)
    if mask is None:  # no weights: spare the (N, C) multiply (a third of the time at 1024 px)
        n = count = jnp.float32(f.shape[0])
        mean = jnp.mean(f, axis=0)
        centred = f - mean
        weighted = centred
    else:
        m = mask.reshape(-1).astype(jnp.float32)
        n, count = jnp.sum(m), jnp.sum(m > 0).astype(jnp.float32)
        mean = jnp.matmul(m, f, precision=HIGHEST) / jnp.maximum(n, 1e-12)
        centred = f - mean
        weighted = centred * m[:, None]
    cov = jnp.matmul(weighted.T, centred, precision=HIGHEST) / jnp.maximum(n - 1.0, 1.0)
    eigvals, eigvecs = jnp.linalg.eigh(cov, symmetrize_input=True)
    return FeatureStats(mean, eigvals, eigvecs, count)


def kept_eigenvalues(stats: FeatureStats, eps: float = EPS, rel_eps: float = REL_EPS) -> jax.Array:
    """(C,) bool: the eigenvalues above ``max(eps, rel_eps * max(eigvals))`` that are not among
    the ``C - (count - 1)`` smallest (the covariance of ``count`` positions has rank at most
    ``count - 1``: the rest is its null space, which float32 eigh returns as noise)."""
    d = stats.eigvals
    rank = jnp.minimum(stats.count - 1.0, d.shape[0])
    return (d > jnp.maximum(eps, rel_eps * jnp.max(d))) & (jnp.arange(d.shape[0]) >= d.shape[0] - rank)


def _spectral_matrix(stats: FeatureStats, power: float, eps: float, rel_eps: float) -> jax.Array:
    """``E diag(d^power) E^T`` (C, C), with 0 for the masked eigenvalues."""
    keep = kept_eigenvalues(stats, eps, rel_eps)
    safe = jnp.where(keep, stats.eigvals, 1.0)  # no inf/NaN in the unused branch (or its gradient)
    scale = jnp.where(keep, safe**power, 0.0)
    return jnp.matmul(stats.eigvecs * scale, stats.eigvecs.T, precision=HIGHEST)


def whitening_matrix(stats: FeatureStats, eps: float = EPS, rel_eps: float = REL_EPS) -> jax.Array:
    """``E diag(d^{-1/2}) E^T`` (C, C) on the kept eigenvalues."""
    return _spectral_matrix(stats, -0.5, eps, rel_eps)


def colouring_matrix(stats: FeatureStats, eps: float = EPS, rel_eps: float = REL_EPS) -> jax.Array:
    """``E diag(d^{1/2}) E^T`` (C, C) on the kept eigenvalues."""
    return _spectral_matrix(stats, 0.5, eps, rel_eps)


def _apply(feats: jax.Array, shift: jax.Array, matrix: jax.Array, offset: jax.Array) -> jax.Array:
    """``(feats - shift) @ matrix + offset`` on (H, W, C) features."""
    return jnp.matmul(feats - shift, matrix, precision=HIGHEST) + offset


def whiten(feats: jax.Array, stats: FeatureStats, eps: float = EPS, rel_eps: float = REL_EPS) -> jax.Array:
    """(H, W, C) features -> (H, W, C) with zero mean and identity covariance on the kept subspace
    (``stats``: of ``feats``, or of the region of it being whitened)."""
    return _apply(feats, stats.mean, whitening_matrix(stats, eps, rel_eps), 0.0)


def colour(whitened: jax.Array, stats: FeatureStats, eps: float = EPS, rel_eps: float = REL_EPS) -> jax.Array:
    """Whitened (H, W, C) features -> (H, W, C) with the mean and covariance ``stats`` describe."""
    return _apply(whitened, 0.0, colouring_matrix(stats, eps, rel_eps), stats.mean)


def wct(
    content: jax.Array,
    style: jax.Array,
    alpha: float | jax.Array = 1.0,
    *,
    eps: float = EPS,
    rel_eps: float = REL_EPS,
) -> jax.Array:
    """Whiten ``content`` (H, W, C), colour it with ``style`` (h, w, C), blend: -> (H, W, C).

    ``alpha`` 1 is the full transform, 0 returns ``content``. One matmul per pixel: the
    whitening and colouring matrices are multiplied first (C x C).
    """
    return wct_mix(content, (style,), alpha=alpha, eps=eps, rel_eps=rel_eps)


def wct_mix(
    content: jax.Array,
    styles: Sequence[jax.Array],
    *,
    weights: jax.Array | None = None,
    masks: jax.Array | None = None,
    alpha: float | jax.Array = 1.0,
    swap: SwapFn | None = None,
    eps: float = EPS,
    rel_eps: float = REL_EPS,
) -> jax.Array:
    """WCT of ``content`` (H, W, C) with K styles mixed by weights or by masks -> (H, W, C).

    Args:
      content: (H, W, C) content features.
      styles: K style feature maps (h_k, w_k, C), sizes may differ (their statistics are (C,)
        and (C, C) whatever the size).
      weights: (K,) interpolation weights (normalised here to sum 1; default equal): the
        coloured features of the K styles are blended, ``sum_k w_k colour_k(whiten(c))``.
      masks: (K, H, W) in [0, 1] at the features' size, instead of ``weights``: style k is
        applied where mask k is 1, and the content is whitened with the statistics of that
        region only, ``sum_k m_k colour_k(whiten_{m_k}(c))``. Pixels no mask covers get 0 before
        the alpha blend (give masks that cover the image).
      alpha: the final blend ``alpha * transformed + (1 - alpha) * content``.
      swap: the official ``-swap5`` option: a function ``(whitened content (H, W, C), whitened
        style (h, w, C)) -> (H, W, C)`` (style swap) applied in the whitened space before
        colouring with the style's statistics.
      eps, rel_eps: eigenvalue thresholds (module docstring).
    """
    k = len(styles)
    if masks is not None and weights is not None:
        raise ValueError("wct_mix takes weights or masks, not both")
    style_stats = [feature_stats(s) for s in styles]
    colourers = [colouring_matrix(st, eps, rel_eps) for st in style_stats]
    if masks is None:
        w = jnp.ones((k,), jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)
        w = w / jnp.sum(w)
        content_stats = feature_stats(content)
        whitener = whitening_matrix(content_stats, eps, rel_eps)
        if swap is None:
            # Linear in the colouring matrices: blend them, then one (N, C) x (C, C) matmul.
            matrix = jnp.matmul(whitener, sum(w[i] * colourers[i] for i in range(k)), precision=HIGHEST)
            offset = sum(w[i] * style_stats[i].mean for i in range(k))
            out = _apply(content, content_stats.mean, matrix, offset)
        else:
            white = _apply(content, content_stats.mean, whitener, 0.0)
            out = sum(w[i] * _swap_colour(white, styles[i], style_stats[i], colourers[i], swap, eps, rel_eps)
                      for i in range(k))
    else:
        out = jnp.zeros(content.shape, jnp.float32)
        for i in range(k):
            region = feature_stats(content, masks[i])
            if swap is None:
                matrix = jnp.matmul(whitening_matrix(region, eps, rel_eps), colourers[i], precision=HIGHEST)
                coloured = _apply(content, region.mean, matrix, style_stats[i].mean)
            else:
                white = whiten(content, region, eps, rel_eps)
                coloured = _swap_colour(white, styles[i], style_stats[i], colourers[i], swap, eps, rel_eps)
            out = out + masks[i][..., None] * coloured
    return alpha * out + (1.0 - alpha) * content


def _swap_colour(white: jax.Array, style: jax.Array, stats: FeatureStats, colourer: jax.Array,
                 swap: SwapFn, eps: float, rel_eps: float) -> jax.Array:
    """Style swap of whitened content against the whitened style, coloured with the style's stats."""
    swapped = swap(white, whiten(style, stats, eps, rel_eps))
    return _apply(swapped, 0.0, colourer, stats.mean)
