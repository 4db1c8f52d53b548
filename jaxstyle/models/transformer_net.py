"""Image transformation networks of the Johnson family, in Flax Linen (NHWC).

Johnson et al. 2016, Dumoulin et al.'s conditional-instance-norm network (2017) and Ghiasi et
al.'s arbitrary-style transformer (2017) are one architecture with different widths and
normalisations::

    contract: reflect-pad + conv (k, stride), norm, ReLU        (e.g. 9x9 s1, 3x3 s2, 3x3 s2)
    residual: x + norm(conv(ReLU(norm(conv(x)))))               (3x3, width of the last contract)
    expand:   nearest xU upsample, reflect-pad + conv, norm, ReLU (the last: no ReLU)
    output:   linear (Johnson, 0..255 convention) or sigmoid (the Magenta networks, [0, 1])

:class:`NetSpec` says which variant; :class:`TransformerNet` builds it. Its layers are named
``contract_{i}``, ``res_{i}_{j}`` (block i, conv j) and ``expand_{i}``, each holding ``conv``
(``kernel`` HWIO, ``bias``) and, for learned instance norm, ``norm`` (``scale``, ``bias``).
Conditional norms (``norm="conditional"``) take their per-sample scale and shift from the
caller, ``norm_params[layer] = (scale (B, C), shift (B, C))``: a style-weight mix of per-style
tables (CIN) or projections of a style vector (Ghiasi) computed outside this module.

Fake quantization (to reproduce an int8 graph such as Ghiasi's TFLite export exactly): given
``quant = {point: (scale, zero_point)}`` at call time, every activation the int8 graph
quantizes is rounded to its grid by :func:`fake_quant`, and the instance norm is computed in
TF's batchnorm form with its intermediate roundings (:func:`quantized_instance_norm`). Points
are ``input``, ``output``, ``res_{i}/add`` and ``<layer>/<point>`` (``conv``, ``out`` and the
norm's). Without ``quant`` nothing changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.models.conv import reflect_conv
from jaxstyle.models.decoder import upsample_nearest2x

NormParams = Mapping[str, tuple[jax.Array, jax.Array]]
QuantTable = Mapping[str, tuple[float, int]]
NORMS = ("affine", "conditional")
UPSAMPLES = ("nearest", "deconv")


def fake_quant(x: jax.Array, scale: float, zero_point: int) -> jax.Array:
    """Int8 quantize then dequantize, as ONNX QuantizeLinear/DequantizeLinear: ``q =
    clip(round(x / scale) + zero_point, -128, 127)`` (round half to even), ``(q - zp) * scale``."""
    q = jnp.clip(jnp.round(x / jnp.float32(scale)) + zero_point, -128, 127)
    return (q - zero_point) * jnp.float32(scale)


def quant_point(quant: QuantTable | None, name: str, x: jax.Array) -> jax.Array:
    """``x`` rounded to the int8 grid of point ``name`` of ``quant``; ``x`` itself without
    ``quant`` (the float network)."""
    if quant is None:
        return x
    if name not in quant:
        raise ValueError(f"fake quantization: no scale/zero point for {name!r}")
    return fake_quant(x, *quant[name])


def quantized_instance_norm(
    y: jax.Array, scale: jax.Array, shift: jax.Array, eps: float,
    q: Callable[[str, jax.Array], jax.Array],
) -> jax.Array:
    """Conditional instance norm in TF's batchnorm form, ``q(point, x)`` rounding each step.

    ``y * m + (shift - mean * m)`` with ``m = scale * rsqrt(var + eps)``, the order in which a
    TFLite graph computes (and int8-quantizes) it; algebraically :func:`instance_norm` then
    :func:`modulate`. y (B,H,W,C), scale/shift (B, C) -> (B,H,W,C), before the ``out`` point.
    """
    mean = q("mean", jnp.mean(y, axis=(1, 2), keepdims=True))
    sqdiff = q("sqdiff", jnp.square(y - mean))
    var = q("var", jnp.mean(sqdiff, axis=(1, 2), keepdims=True))
    # Sqrt then Reciprocal, not rsqrt: the graph's two ops, so the rounding matches.
    inv = q("rsqrt", 1.0 / jnp.sqrt(q("var_eps", var + eps)))
    m = q("mul", inv * scale[:, None, None, :])
    sub = q("sub", shift[:, None, None, :] - q("mul_2", mean * m))
    return q("mul_1", y * m) + sub


def instance_norm(x: jax.Array, eps: float) -> jax.Array:
    """(B,H,W,C) -> (B,H,W,C): per sample and channel, minus the mean over H, W, divided by
    sqrt(biased variance + eps). No affine part."""
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


def modulate(x: jax.Array, scale: jax.Array, shift: jax.Array) -> jax.Array:
    """(B,H,W,C) * scale + shift: scale/shift per channel (C,), per sample (B, C) or per pixel
    (B,H,W,C) (spatially varying styles)."""
    if scale.ndim == 2:
        scale, shift = scale[:, None, None, :], shift[:, None, None, :]
    return x * scale + shift


def pad_to_multiple(x: jax.Array, m: int) -> jax.Array:
    """Reflect-pad (B,H,W,C) at the bottom/right to multiples of ``m`` (crop the output back).

    The two-stride-2 networks map H to H only when 4 divides it.
    """
    ph, pw = -x.shape[1] % m, -x.shape[2] % m
    return jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else x


def transposed_conv2x(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """(B,H,W,Cin), HWIO (k,k,Cin,Cout) -> (B,2H,2W,Cout): a stride-2 transposed conv with
    padding k//2 and output padding 1 (torch ``ConvTranspose2d(k, 2, k//2, 1)`` up to the
    kernel's flip): zeros between the pixels, then a conv. Uneven kernel overlap gives the
    period-2 (checkerboard) pattern of Odena et al. 2016."""
    k, p = kernel.shape[0], kernel.shape[0] // 2
    pad = ((k - 1 - p, k - 1 - p + 1),) * 2
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), pad, lhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """One variant of the architecture (see the module docstring).

    ``contract``: (features, kernel, stride) per layer; ``expand``: (features, kernel,
    upsample factor) per layer, the last one giving the RGB output; ``residual_blocks`` blocks
    at the width of the last contract layer. ``norm_contract=False`` leaves the contract layers
    unnormalised (Ghiasi's, whose batch norm is folded into the conv bias); ``norm_output``
    normalises the last conv too (the Magenta networks). ``eps`` is the instance norm's.
    ``upsample="deconv"`` makes every x2 expand layer a 3x3 transposed conv (stride 2, padding
    1, output padding 1, zero-padded: jcjohnson/fast-neural-style's ``u`` layers) instead of
    nearest x2 + conv, for the checkerboard comparison. ``residual_width`` sets the residual
    blocks' width when there are no contract layers (a network that starts on features).
    """

    contract: tuple[tuple[int, int, int], ...]
    residual_blocks: int
    expand: tuple[tuple[int, int, int], ...]
    norm: str = "affine"
    norm_contract: bool = True
    norm_output: bool = False
    use_bias: bool = True
    output: str = "linear"
    eps: float = 1e-5
    upsample: str = "nearest"
    residual_width: int | None = None

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid', got {self.output!r}")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}, got {self.upsample!r}")

    @property
    def width(self) -> int:
        """Channels of the residual blocks (the last contract layer's)."""
        return self.residual_width or self.contract[-1][0]

    def layers(self) -> list[tuple[str, int, bool]]:
        """``(name, out channels, normalised)`` of every conv layer, in forward order."""
        out = [(f"contract_{i}", f, self.norm_contract) for i, (f, _, _) in enumerate(self.contract)]
        for i in range(self.residual_blocks):
            out += [(f"res_{i}_0", self.width, True), (f"res_{i}_1", self.width, True)]
        last = len(self.expand) - 1
        out += [
            (f"expand_{i}", f, i < last or self.norm_output)
            for i, (f, _, _) in enumerate(self.expand)
        ]
        return out

    def strides(self) -> dict[str, int]:
        """Each layer's output resolution as a divisor of the input's (``contract_2``: 4).

        Integer for the networks here, whose upsampling never exceeds the downsampling.
        """
        out, f = {}, 1
        for i, (_, _, s) in enumerate(self.contract):
            f *= s
            out[f"contract_{i}"] = f
        for i in range(self.residual_blocks):
            out[f"res_{i}_0"] = out[f"res_{i}_1"] = f
        for i, (_, _, u) in enumerate(self.expand):
            f //= u
            out[f"expand_{i}"] = f
        return out

    def norm_layers(self) -> list[tuple[str, int]]:
        """``(name, channels)`` of the normalised layers (where conditional params go)."""
        return [(name, c) for name, c, normed in self.layers() if normed]


class ConvLayer(nn.Module):
    """Optional nearest xU upsampling, ReflectionPad(k // 2), then a k x k conv with stride.

    Parameters ``kernel`` (k, k, Cin, features) and ``bias`` (features,), as pytorch/examples'
    ``ConvLayer``/``UpsampleConvLayer`` and Magenta's ``model_util.conv2d``/``upsampling``.
    The convolution is :func:`~jaxstyle.models.conv.reflect_conv` (the fastest exact form).
    """

    features: int
    kernel: int
    stride: int = 1
    upsample: int = 1
    use_bias: bool = True
    dtype: Any = jnp.float32
    transposed: bool = False  # x2 by a transposed conv instead (``upsample`` must be 2)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features)
        ).astype(self.dtype)
        if self.upsample < 1 or self.upsample & (self.upsample - 1):
            raise ValueError(f"upsample must be a power of two, got {self.upsample}")
        x = x.astype(self.dtype)
        if self.transposed:
            y = transposed_conv2x(x, kernel)
        else:
            for _ in range(self.upsample.bit_length() - 1):
                x = upsample_nearest2x(x)
            y = reflect_conv(x, kernel, self.stride)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
        return y


class NormConv(nn.Module):
    """:class:`ConvLayer` (``conv``), then instance norm (learned ``norm`` or conditional)."""

    spec: NetSpec
    features: int
    kernel: int
    stride: int = 1
    upsample: int = 1
    normalised: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, norm_params: NormParams | None, quant: QuantTable | None = None
    ) -> jax.Array:
        y = ConvLayer(
            self.features, self.kernel, self.stride, self.upsample, self.spec.use_bias,
            self.dtype, self.upsample == 2 and self.spec.upsample == "deconv", name="conv",
        )(x)
        if not self.normalised:
            return y
        scale, shift = self._affine(norm_params)
        if quant is not None:
            y = quant_point(quant, f"{self.name}/conv", y)
            return quantized_instance_norm(
                y, scale.astype(self.dtype), shift.astype(self.dtype), self.spec.eps,
                lambda point, v: quant_point(quant, f"{self.name}/{point}", v),
            )
        y = instance_norm(y, self.spec.eps)
        return modulate(y, scale.astype(self.dtype), shift.astype(self.dtype))

    def _affine(self, norm_params: NormParams | None) -> tuple[jax.Array, jax.Array]:
        """The norm's (scale, shift): learned (C,) or the caller's conditional (B, C)."""
        if self.spec.norm == "affine":
            scale = self.param("scale", nn.initializers.ones, (self.features,))
            shift = self.param("bias", nn.initializers.zeros, (self.features,))
        else:
            if norm_params is None or self.name not in norm_params:
                raise ValueError(f"conditional norm: no scale/shift given for layer {self.name}")
            scale, shift = norm_params[self.name]
        return scale, shift


class TransformerNet(nn.Module):
    """(B,H,W,3) -> (B,H',W',3), H' = H when the strides and upsampling cancel (H % 4 == 0
    for the two-stride-2 networks). ``norm_params`` is required for conditional norms;
    ``quant`` (optional) fake-quantizes every activation point (module docstring)."""

    spec: NetSpec
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, norm_params: NormParams | None = None,
        quant: QuantTable | None = None,
    ) -> jax.Array:
        spec = self.spec

        def q(name: str, v: jax.Array) -> jax.Array:
            return quant_point(quant, name, v)

        x = q("input", x)
        for i, (f, k, s) in enumerate(spec.contract):
            layer = NormConv(spec, f, k, stride=s, normalised=spec.norm_contract,
                             dtype=self.dtype, name=f"contract_{i}")
            x = q(f"contract_{i}/out", nn.relu(layer(x, norm_params, quant)))
        for i in range(spec.residual_blocks):
            h = NormConv(spec, spec.width, 3, dtype=self.dtype, name=f"res_{i}_0")(
                x, norm_params, quant
            )
            h = NormConv(spec, spec.width, 3, dtype=self.dtype, name=f"res_{i}_1")(
                q(f"res_{i}_0/out", nn.relu(h)), norm_params, quant
            )
            x = q(f"res_{i}/add", x + q(f"res_{i}_1/out", h))
        last = len(spec.expand) - 1
        for i, (f, k, u) in enumerate(spec.expand):
            layer = NormConv(spec, f, k, upsample=u, normalised=i < last or spec.norm_output,
                             dtype=self.dtype, name=f"expand_{i}")
            x = layer(x, norm_params, quant)
            x = q(f"expand_{i}/out", nn.relu(x) if i < last else x)
        x = jax.nn.sigmoid(x) if spec.output == "sigmoid" else x
        return q("output", x)


def scaled_spec(spec: NetSpec, width: float, **changes: Any) -> NetSpec:
    """``spec`` with all hidden channel counts times ``width`` (at least 1); the RGB output stays."""

    def scale(layers, keep_last=False):
        last = len(layers) - 1
        return tuple(
            (f if keep_last and i == last else max(1, round(f * width)), k, s)
            for i, (f, k, s) in enumerate(layers)
        )

    residual = max(1, round(spec.residual_width * width)) if spec.residual_width else None
    return dataclasses.replace(
        spec, contract=scale(spec.contract), expand=scale(spec.expand, keep_last=True),
        residual_width=residual, **changes,
    )
