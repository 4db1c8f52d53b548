"""Pixel-level image metrics: PSNR and SSIM, one value per image."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def psnr(x: jax.Array, y: jax.Array, data_range: float = 1.0) -> jax.Array:
    """Peak signal-to-noise ratio in dB per image: (N,H,W,C) x2 -> (N,). Identical images give inf."""
    mse = jnp.mean(jnp.square(x - y), axis=(1, 2, 3))
    return 10.0 * jnp.log10(data_range**2 / mse)


def _gaussian_window(size: int, sigma: float) -> jax.Array:
    coords = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2.0
    g = jnp.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    x: jax.Array, y: jax.Array, data_range: float = 1.0, window: int = 11, sigma: float = 1.5
) -> jax.Array:
    """Structural similarity per image (Wang et al. 2004): (N,H,W,C) x2 -> (N,).

    Gaussian window 11/1.5, K1=0.01, K2=0.03, 'valid' filtering, computed per channel and
    averaged (the convention of skimage's ``structural_similarity(gaussian_weights=True,
    use_sample_covariance=False)``).
    """
    c = x.shape[-1]
    g = _gaussian_window(window, sigma)
    kh = jnp.broadcast_to(g[:, None, None, None], (window, 1, 1, c))
    kw = jnp.broadcast_to(g[None, :, None, None], (1, window, 1, c))

    def blur(z):
        dn = ("NHWC", "HWIO", "NHWC")
        z = jax.lax.conv_general_dilated(z, kh, (1, 1), "VALID", dimension_numbers=dn, feature_group_count=c)
        return jax.lax.conv_general_dilated(z, kw, (1, 1), "VALID", dimension_numbers=dn, feature_group_count=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return jnp.mean(s, axis=(1, 2, 3))
