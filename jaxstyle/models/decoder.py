"""The AdaIN/SANet decoder: a mirror of VGG19 up to relu4_1, in Flax Linen (NHWC).

Layout (Huang & Belongie 2017; reused by SANet, RAST and most arbitrary-style networks)::

    512 -> 256, up x2, 256 -> 256 (x3), 256 -> 128, up x2, 128 -> 128, 128 -> 64, up x2,
    64 -> 64, 64 -> 3

Every conv is ReflectionPad(1) + 3x3 VALID conv + ReLU, except the last one (no ReLU, so the
output is not clamped: losses see the raw image, callers clip to [0, 1] for display).
No normalization layers. Upsampling is nearest-neighbour.

Parameter names are ``conv_{i}`` where ``i`` is the index of that conv inside the official
pytorch-AdaIN ``nn.Sequential`` (``decoder.pth`` keys ``"{i}.weight"``/``"{i}.bias"``), so
importing the official weights is a rename plus an OIHW -> HWIO transpose (see
:func:`torch_key_map`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.models.conv import conv3x3_reflect

# (nn.Sequential index of the conv, output channels at width 1.0, upsample x2 *before* it).
# The index is what pytorch-AdaIN's decoder.pth uses as the key prefix.
DECODER_LAYOUT: tuple[tuple[int, int, bool], ...] = (
    (1, 256, False),
    (5, 256, True),
    (8, 256, False),
    (11, 256, False),
    (14, 128, False),
    (18, 128, True),
    (21, 64, False),
    (25, 64, True),
    (28, 3, False),
)


def upsample_nearest2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour x2 upsampling of NHWC ``x`` (broadcast + reshape: no gather)."""
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
    return x.reshape(n, 2 * h, 2 * w, c)


def reflect_pad1(x: jax.Array) -> jax.Array:
    """ReflectionPad2d(1) on NHWC ``x``."""
    return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")


def conv_names() -> list[str]:
    """Parameter-group names of the decoder in forward order."""
    return [f"conv_{i}" for i, _, _ in DECODER_LAYOUT]


def torch_key_map() -> dict[str, tuple[str, str]]:
    """``{"1.weight": ("conv_1", "kernel"), "1.bias": ("conv_1", "bias"), ...}`` for decoder.pth."""
    out = {}
    for i, _, _ in DECODER_LAYOUT:
        out[f"{i}.weight"] = (f"conv_{i}", "kernel")
        out[f"{i}.bias"] = (f"conv_{i}", "bias")
    return out


class Conv3x3(nn.Module):
    """ReflectionPad2d(1) + 3x3 convolution with bias (same size out).

    Same parameters (``kernel`` (3,3,Cin,Cout), ``bias``) and initialisers as
    ``nn.Conv(features, (3, 3), padding="VALID")`` applied to the padded input, but built on
    :func:`jaxstyle.models.conv.conv3x3_reflect`, which is several times faster on the CPU.
    """

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        x = x.astype(self.dtype)
        return conv3x3_reflect(x, kernel.astype(self.dtype)) + bias.astype(self.dtype)


class Decoder(nn.Module):
    """Decode relu4_1-sized features (N, H, W, C) to an image (N, 8H, 8W, 3).

    Attributes:
      width: channel multiplier for the hidden layers (1.0 = the paper's 256/128/64; tiny test
        configs use e.g. 0.125). The input width is whatever the features have; the output
        always has ``out_channels``.
      out_channels: image channels (3).
      dtype: computation dtype (parameters stay float32).
    """

    width: float = 1.0
    out_channels: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        x = features.astype(self.dtype)
        last = len(DECODER_LAYOUT) - 1
        for k, (index, channels, upsample) in enumerate(DECODER_LAYOUT):
            if upsample:
                x = upsample_nearest2x(x)
            feats = self.out_channels if k == last else max(1, int(round(channels * self.width)))
            x = Conv3x3(feats, dtype=self.dtype, name=f"conv_{index}")(x)
            if k != last:
                x = nn.relu(x)
        return x.astype(jnp.float32)
