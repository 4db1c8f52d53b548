"""Johnson et al. 2016's image transformation network (pytorch/examples ``fast_neural_style``).

:data:`JOHNSON` is its :class:`~jaxstyle.models.transformer_net.NetSpec`: reflection-padded
convs 9x9 s1 (32), 3x3 s2 (64), 3x3 s2 (128), instance norm with learned affine parameters
(eps 1e-5), five 128-channel residual blocks, two nearest x2 resize-convs (64, 32) and a 9x9
conv to RGB with no output non-linearity: 1,679,235 parameters, pytorch/examples' count.

The reference network maps 0..255 images to 0..255 images; :class:`JohnsonNet` keeps that
parametrisation (input x255, output /255) so pytorch/examples' saved models import unchanged,
and takes and returns jaxstyle's [0, 1] images. Its output is not clipped (the losses see the
raw output, as in the reference); callers clip for display.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.models.transformer_net import NetSpec, TransformerNet, pad_to_multiple, scaled_spec

JOHNSON = NetSpec(
    contract=((32, 9, 1), (64, 3, 2), (128, 3, 2)),
    residual_blocks=5,
    expand=((64, 3, 2), (32, 3, 2), (3, 9, 1)),
    norm="affine",
)
PIXEL_SCALE = 255.0  # the reference's image range


def johnson_spec(width: float = 1.0, upsample: str = "nearest") -> NetSpec:
    """:data:`JOHNSON` with every hidden width scaled by ``width`` (tiny test networks) and
    ``upsample`` ``"nearest"`` (resize-conv, the reference) or ``"deconv"`` (transposed conv)."""
    return scaled_spec(JOHNSON, width, upsample=upsample)


class JohnsonNet(nn.Module):
    """(B,H,W,3) in [0, 1] -> (B,H,W,3), unclipped; any H, W (reflect-padded to multiples of 4
    inside and cropped back). Parameters: ``net/`` of :class:`TransformerNet`."""

    spec: NetSpec = JOHNSON
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h, w = x.shape[1:3]
        y = TransformerNet(self.spec, self.dtype, name="net")(pad_to_multiple(x, 4) * PIXEL_SCALE)
        return y[:, :h, :w] / PIXEL_SCALE
