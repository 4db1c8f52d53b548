"""Adaptive instance normalization (Huang & Belongie 2017) and its test-time helpers.

All functions are pure, NHWC and batched over the leading axis.
"""

from __future__ import annotations

import jax

from jaxstyle.stats import EPS, mean_std


def adain(content: jax.Array, style: jax.Array, eps: float = EPS) -> jax.Array:
    """AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y); shapes ``(N,H,W,C)``, ``(N,h,w,C)``.

    The statistics use the unbiased variance plus ``eps``, as pytorch-AdaIN's ``calc_mean_std``,
    so imported decoders see the statistics they were trained with.
    """
    c_mean, c_std = mean_std(content, unbiased=True, eps=eps, keepdims=True)
    s_mean, s_std = mean_std(style, unbiased=True, eps=eps, keepdims=True)
    return (content - c_mean) / c_std * s_std + s_mean


def resize_masks(masks: jax.Array, height: int, width: int) -> jax.Array:
    """Masks ``(K, N, H, W)`` in [0, 1] -> ``(K, N, height, width, 1)`` (nearest, as official)."""
    k, n = masks.shape[:2]
    out = jax.image.resize(masks, (k, n, height, width), method="nearest")
    return out[..., None]
