"""VGG-mirror decoders: the inverse of VGG19 up to relu{k}_1, in Flax Linen (NHWC).

The relu4_1 decoder is AdaIN's (Huang & Belongie 2017; reused by SANet, RAST and most
arbitrary-style networks)::

    512 -> 256, up x2, 256 -> 256 (x3), 256 -> 128, up x2, 128 -> 128, 128 -> 64, up x2,
    64 -> 64, 64 -> 3

The others mirror VGG19's convs the same way (:func:`decoder_layout`): relu1_1 is one
64 -> 3 conv; relu3_1 is style swap's inverse network (256 -> 128, up, 128 -> 128,
128 -> 64, up, 64 -> 64, 64 -> 3); relu1_1 ... relu5_1 are WCT's five decoders.

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

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_VGG19_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convs) per block


def decoder_layout(layer: str = "relu4_1") -> tuple[tuple[int, int, bool], ...]:
    """``(index, out_channels, upsample_before)`` per conv of the mirror of VGG19 up to ``layer``.

    The encoder's convs in reverse, each mapping its output width back to its input width,
    with a nearest x2 upsampling wherever the encoder pooled. ``index`` is the conv's position
    in the equivalent PyTorch ``nn.Sequential`` (ReflectionPad2d, Conv2d, ReLU, Upsample
    modules), which is what pytorch-AdaIN's ``decoder.pth`` uses as its key prefix for relu4_1
    (1, 5, 8, ..., 28). ``layer``: one of :data:`LEVELS`.
    """
    if layer not in LEVELS:
        raise ValueError(f"no VGG-mirror decoder for {layer!r}; expected one of {', '.join(LEVELS)}")
    depth = LEVELS.index(layer) + 1
    convs = []  # (in, out, pooled before) of the encoder's convs up to `layer`, forward order
    cin = 3
    for b, (channels, n) in enumerate(_VGG19_BLOCKS[:depth]):
        for i in range(1 if b == depth - 1 else n):
            convs.append((cin, channels, b > 0 and i == 0))
            cin = channels
    layout, position, upsample = [], 0, False  # position: the next nn.Sequential index
    for k, (enc_in, _, pooled) in enumerate(reversed(convs)):
        position += upsample + 1  # (Upsample +) ReflectionPad2d before the conv
        layout.append((position, enc_in, upsample))
        position += 1 + (k < len(convs) - 1)  # the conv, and a ReLU after all but the last
        upsample = pooled
    return tuple(layout)


DECODER_LAYOUT = decoder_layout("relu4_1")
"""AdaIN's decoder: ``(index, out_channels, upsample_before)`` per conv."""


def upsample_nearest2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour x2 upsampling of NHWC ``x`` (broadcast + reshape: no gather)."""
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
    return x.reshape(n, 2 * h, 2 * w, c)


def fit_image(decoded: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """A decoder's output (P,h,w,3) as images (P,H,W,3) in [0, 1] of the input's size ``hw``:
    resized bilinearly when the input's sides were not multiples of the decoder's upsampling,
    then clipped."""
    if decoded.shape[1:3] != tuple(hw):
        decoded = jax.image.resize(decoded, (decoded.shape[0], *hw, decoded.shape[-1]), "bilinear")
    return jnp.clip(decoded, 0.0, 1.0)


def reflect_pad1(x: jax.Array) -> jax.Array:
    """ReflectionPad2d(1) on NHWC ``x``."""
    return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")


def conv_names(layer: str = "relu4_1") -> list[str]:
    """Parameter-group names of the decoder for ``layer`` in forward order."""
    return [f"conv_{i}" for i, _, _ in decoder_layout(layer)]


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
    """Decode ``layer`` features (N, H, W, C) to an image (N, 2^(k-1) H, 2^(k-1) W, 3), k the block.

    Attributes:
      layer: the VGG19 tap the decoder inverts (:data:`LEVELS`; default AdaIN's relu4_1).
      width: channel multiplier for the hidden layers (1.0 = the paper's 256/128/64; tiny test
        configs use e.g. 0.125). The input width is whatever the features have; the output
        always has ``out_channels``.
      out_channels: image channels (3).
      dtype: computation dtype (parameters stay float32).
    """

    width: float = 1.0
    out_channels: int = 3
    dtype: Any = jnp.float32
    layer: str = "relu4_1"

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        x = features.astype(self.dtype)
        layout = decoder_layout(self.layer)
        last = len(layout) - 1
        for k, (index, channels, upsample) in enumerate(layout):
            if upsample:
                x = upsample_nearest2x(x)
            feats = self.out_channels if k == last else max(1, int(round(channels * self.width)))
            x = Conv3x3(feats, dtype=self.dtype, name=f"conv_{index}")(x)
            if k != last:
                x = nn.relu(x)
        return x.astype(jnp.float32)
