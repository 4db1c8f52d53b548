"""What every frozen encoder architecture provides, and the few ops the non-VGG ones share.

An :class:`Architecture` describes one network of the encoder zoo (:mod:`jaxstyle.models.zoo`):

- ``taps``: the feature names it understands, in forward order (what ``--style-layers`` and
  ``--content-layers`` take), and ``aliases`` (e.g. torchvision module paths) for them;
- ``param_shapes``: the parameter pytree it expects (importers validate files against it);
- ``features(params, images, layers, config)``: a pure forward returning ``{tap: NHWC}``,
  stopping after the deepest tap asked for;
- the default Gatys layers (content and style) and the options it can honour.

Parameters are plain nested dicts of arrays. Batch norm is stored as an eval-mode affine
``{"scale", "shift"}`` (``gamma / sqrt(var + eps)`` and ``beta - mean * scale``, computed
once by the importer), so no network here keeps running statistics or a train mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.errors import InputError
from jaxstyle.models.conv import conv_hwio
from jaxstyle.models.vgg import normalize_input

Params = Mapping[str, Any]
# One forward step: (params, x, config) -> (x, {tap: features} produced inside the step).
Step = Callable[[Params, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """Static options of a non-VGG encoder (VGG keeps :class:`~jaxstyle.models.vgg.VGGConfig`).

    Attributes:
      arch: a name of :data:`jaxstyle.models.zoo.ARCHITECTURES`.
      pooling: ``max`` (as trained) or ``avg`` (every max pool becomes an average pool).
      padding: ``zero`` (as trained) or ``reflect`` (convolutions only; pools keep theirs).
      normalization: ``torch`` (ImageNet mean/std, as torchvision trained them) or ``none``.
      remat: ``jax.checkpoint`` around each forward step (less memory, more compute).
    """

    arch: str
    pooling: str = "max"
    padding: str = "zero"
    normalization: str = "torch"
    remat: bool = False


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One encoder architecture (see the module docstring)."""

    name: str
    description: str
    taps: tuple[str, ...]
    param_shapes: Callable[[], dict[str, Any]]
    features: Callable[[Params, jax.Array, tuple[str, ...], Any], dict[str, jax.Array]]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    poolings: tuple[str, ...] = ("max", "avg")
    paddings: tuple[str, ...] = ("zero", "reflect")
    normalizations: tuple[str, ...] = ("torch", "none")
    layer_hint: str = ""  # how the taps are named, for the unknown-layer error


    def resolve(self, layer: str) -> str:
        """The tap ``layer`` names (itself, or the tap an alias stands for)."""
        if layer in self.aliases:
            return self.aliases[layer]
        if layer not in self.taps:
            hint = self.layer_hint or f"e.g. {', '.join(self.style_layers)}"
            raise InputError(f"unknown layer {layer!r} for {self.name}; valid layers are {hint}")
        return layer

    def check_options(self, pooling: str, padding: str, normalization: str) -> None:
        """Refuse an option this network cannot honour (one-line InputError)."""
        for value, allowed, what in (
            (pooling, self.poolings, "pooling"),
            (padding, self.paddings, "padding"),
            (normalization, self.normalizations, "normalization"),
        ):
            if value not in allowed:
                raise InputError(f"{self.name} does not support {what} {value!r}; use one of {', '.join(allowed)}")


# ----------------------------------------------------------------------------- running steps


def steps_features(steps: Sequence[tuple[str, Step, tuple[str, ...]]]) -> Callable[..., dict[str, jax.Array]]:
    """The pure forward of a network written as ``steps`` (:func:`run_steps`):
    ``features(params, images, layers, config)``, NHWC RGB in [0, 1] normalised as
    ``config.normalization`` says -> ``{tap: NHWC}``, stopping after the deepest tap."""

    def features(params: Params, images: jax.Array, layers: Sequence[str], config: Any) -> dict[str, jax.Array]:
        return run_steps(steps, params, normalize_input(images, config.normalization), layers, config)

    return features


def run_steps(
    steps: Sequence[tuple[str, Step, tuple[str, ...]]],
    params: Params,
    x: jax.Array,
    layers: Sequence[str],
    config: Any,
) -> dict[str, jax.Array]:
    """Run ``steps`` (name, fn, taps it can produce) until every tap in ``layers`` is computed.

    A step's output ``x`` is its own tap ``name``; taps inside a step (a block's expansion,
    say) come back in its dict. Steps after the deepest wanted tap never run.
    """
    wanted = set(layers)
    out: dict[str, jax.Array] = {}
    for name, fn, inner in steps:
        if wanted <= out.keys():
            break
        if config.remat:
            fn = jax.checkpoint(fn, static_argnums=(2,))
        x, taps = fn(params, x, config)
        out.update({k: v for k, v in taps.items() if k in wanted and k in inner})
        if name in wanted:
            out[name] = x
    return {name: out[name] for name in layers}


# ----------------------------------------------------------------------------- ops


def conv(
    x: jax.Array,
    p: Params,
    *,
    stride: int = 1,
    pad: int = 0,
    groups: int = 1,
    padding: str = "zero",
) -> jax.Array:
    """NHWC convolution with an HWIO ``p["kernel"]`` (and ``p["bias"]`` if present).

    ``padding`` ``reflect`` pads ``pad`` mirrored pixels instead of zeros. Stride-1 dense
    zero-padded convs go through :func:`~jaxstyle.models.conv.conv_hwio` (fast gradients on
    XLA:CPU, which the Gatys loop differentiates through).
    """
    kernel = p["kernel"].astype(x.dtype)
    if padding == "reflect" and pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
        pad = 0
    if stride == 1 and groups == 1:
        y = conv_hwio(x, kernel, pad)
    else:
        y = jax.lax.conv_general_dilated(
            x,
            kernel,
            (stride, stride),
            ((pad, pad), (pad, pad)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=groups,
        )
    return y + p["bias"].astype(x.dtype) if "bias" in p else y


def batch_norm(x: jax.Array, p: Params) -> jax.Array:
    """Eval-mode batch norm as stored here: ``x * scale + shift`` per channel."""
    return x * p["scale"].astype(x.dtype) + p["shift"].astype(x.dtype)


def pool(x: jax.Array, kind: str, window: int, stride: int, pad: int = 0) -> jax.Array:
    """``kind`` (max/avg) pooling with PyTorch's floor mode; avg counts padded zeros like
    ``nn.AvgPool2d``'s default, max pads with -inf like ``nn.MaxPool2d``."""
    dims, strides = (1, window, window, 1), (1, stride, stride, 1)
    padding = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    if kind == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, strides, padding)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, strides, padding)
    return total / (window * window)


def conv_shape(cin: int, cout: int, k: int, bias: bool = False, groups: int = 1) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of a ``k``x``k`` conv (HWIO; depthwise: ``I = cin / groups``)."""
    shapes = {"kernel": (k, k, cin // groups, cout)}
    if bias:
        shapes["bias"] = (cout,)
    return shapes


def bn_shape(c: int) -> dict[str, tuple[int, ...]]:
    return {"scale": (c,), "shift": (c,)}
