"""Wang et al. 2017's Multimodal Transfer network: three subnets, outputs at three scales.

Built from :class:`~jaxstyle.models.transformer_net.TransformerNet` pieces (reflect-padded
convs, learned instance norm, residual blocks, nearest x2 resize-convs)::

    x (B,H,W,3) in [0, 1]  --bilinear-->  H/4: style subnet   -> y1 (B,H/4,W/4,3)
      RGB-block  on x:   conv9 16, conv3 s2 32, conv3 s2 64, 3 residual blocks     } concat
      L-block    on luminance(x): the same, 1-channel input                         } 128
      conv-block: 3 residual blocks (128), resize-conv 64, resize-conv 32, conv3 -> RGB
    y1 --bilinear x2--> enhance subnet -> y2 (B,H/2,W/2,3)
      conv9 32, s2 64, s2 128, s2 256, 6 residual blocks, resize-conv 128, 64, 32, conv9 -> RGB
    y2 --bilinear x2--> refine subnet  -> y3 (B,H,W,3)
      conv9 32, s2 64, s2 128, 3 residual blocks, resize-conv 64, 32, conv3 -> RGB, + its input

Layouts follow the FeliMe PyTorch port (the paper has no official code). Differences, all
deliberate: instance-norm eps 1e-5 (FeliMe's 1e-9 amplifies flat regions), images enter as
[0, 1] RGB and luminance ``0.299 R + 0.587 G + 0.114 B`` (FeliMe normalises with ImageNet
statistics first; the first instance norm removes any affine input scaling anyway), and each
subnet's raw output is what the losses see while the next subnet gets it clipped to [0, 1].
Level sizes are ``round(H / 4)``, ``round(H / 2)``, ``H``; each subnet reflect-pads to a
multiple of its total stride and crops back, so any size works. ``width`` scales every hidden
channel count and ``blocks`` (if set) replaces every residual-block count: tiny smoke-test
networks that compile in seconds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.models.transformer_net import NetSpec, TransformerNet, pad_to_multiple, scaled_spec

RGB_BLOCK = NetSpec(contract=((16, 9, 1), (32, 3, 2), (64, 3, 2)), residual_blocks=3, expand=())
CONV_BLOCK = NetSpec(
    contract=(), residual_blocks=3, expand=((64, 3, 2), (32, 3, 2), (3, 3, 1)), residual_width=128
)
ENHANCE = NetSpec(
    contract=((32, 9, 1), (64, 3, 2), (128, 3, 2), (256, 3, 2)),
    residual_blocks=6,
    expand=((128, 3, 2), (64, 3, 2), (32, 3, 2), (3, 9, 1)),
)
REFINE = NetSpec(
    contract=((32, 9, 1), (64, 3, 2), (128, 3, 2)),
    residual_blocks=3,
    expand=((64, 3, 2), (32, 3, 2), (3, 3, 1)),
)
SUBNETS = ("style", "enhance", "refine")
LUMA = (0.299, 0.587, 0.114)


def level_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Output sizes of the three subnets for a final (h, w): quarter, half, full."""
    return [(max(1, round(h / f)), max(1, round(w / f))) for f in (4, 2, 1)]


def resize_to(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Bilinear resize of (B,H,W,C) to (B,*size,C) (antialiased when shrinking)."""
    if x.shape[1:3] == tuple(size):
        return x
    return jax.image.resize(x, (x.shape[0], *size, x.shape[-1]), "bilinear")


def subnet_spec(spec: NetSpec, width: float, blocks: int | None) -> NetSpec:
    """``spec`` at ``width`` times its channels, with ``blocks`` residual blocks if given."""
    return scaled_spec(spec, width, **({"residual_blocks": blocks} if blocks else {}))


def _padded(net: nn.Module, x: jax.Array, multiple: int) -> jax.Array:
    h, w = x.shape[1:3]
    return net(pad_to_multiple(x, multiple))[:, :h, :w]


class StyleSubnet(nn.Module):
    """(B,h,w,3) in [0, 1] -> (B,h,w,3): RGB- and L-blocks, concatenated, then the conv-block."""

    width: float = 1.0
    blocks: int | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        block = subnet_spec(RGB_BLOCK, self.width, self.blocks)
        conv = subnet_spec(CONV_BLOCK, self.width, self.blocks)
        conv = dataclasses.replace(conv, residual_width=2 * block.width)
        h, w = x.shape[1:3]
        x = pad_to_multiple(x, 4)
        luma = jnp.tensordot(x, jnp.asarray(LUMA, x.dtype), axes=1)[..., None]
        rgb = TransformerNet(block, self.dtype, name="rgb_block")(x)
        lum = TransformerNet(block, self.dtype, name="l_block")(luma)
        y = TransformerNet(conv, self.dtype, name="conv_block")(jnp.concatenate([rgb, lum], -1))
        return y[:, :h, :w]


class MultimodalNet(nn.Module):
    """(B,H,W,3) in [0, 1] -> (y1, y2, y3) at the :func:`level_sizes` of (H, W), unclipped.

    Parameters ``style``, ``enhance``, ``refine`` (one group per subnet for the trainer).
    """

    width: float = 1.0
    blocks: int | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        s1, s2, s3 = level_sizes(*x.shape[1:3])
        y1 = StyleSubnet(self.width, self.blocks, self.dtype, name="style")(resize_to(x, s1))
        spec = subnet_spec(ENHANCE, self.width, self.blocks)
        enhance = TransformerNet(spec, self.dtype, name="enhance")
        y2 = _padded(enhance, resize_to(jnp.clip(y1, 0.0, 1.0), s2), 8)
        refine = TransformerNet(subnet_spec(REFINE, self.width, self.blocks), self.dtype, name="refine")
        x3 = resize_to(jnp.clip(y2, 0.0, 1.0), s3)
        y3 = x3 + _padded(refine, x3, 4)  # the identity skip: refine learns a residual
        return y1, y2, y3
