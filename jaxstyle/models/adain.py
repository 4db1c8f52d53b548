"""Adaptive instance normalization (Huang & Belongie 2017) and its test-time helpers.

All functions are pure, NHWC and batched over the leading axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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


def coral(source: jax.Array, target: jax.Array) -> jax.Array:
    """Give ``source`` images the colour mean/covariance of ``target`` images.

    The colour-preservation step of the AdaIN paper (Sec. 7), exactly as pytorch-AdaIN's
    ``coral``: each style image is recoloured with the content image's RGB statistics, so the
    stylized output keeps the content's colours. ``source`` (N,h,w,3), ``target`` (N,H,W,3);
    returns ``source``'s shape (not clipped, like the official code).
    """

    def stats(x):  # (P, 3) -> mean, unbiased std, sqrt and inverse sqrt of (X^T X + I)
        mu = x.mean(0)
        std = x.std(0, ddof=1)
        xn = (x - mu) / std
        cov = xn.T @ xn + jnp.eye(3)  # symmetric positive definite: eigh gives its sqrt
        w, v = jnp.linalg.eigh(cov)
        return mu, std, xn, (v * jnp.sqrt(w)) @ v.T, (v / jnp.sqrt(w)) @ v.T

    def one(s, t):
        _, _, s_norm, _, s_isqrt = stats(s.reshape(-1, 3))
        t_mu, t_std, _, t_sqrt, _ = stats(t.reshape(-1, 3))
        out = s_norm @ s_isqrt @ t_sqrt  # row form of sqrt(Ct) inv(sqrt(Cs)) x (both symmetric)
        return (out * t_std + t_mu).reshape(s.shape)

    return jax.vmap(one)(source, target)
