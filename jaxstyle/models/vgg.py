"""VGG16/VGG19 feature extractors (NHWC) with named taps, in Flax Linen.

Layer names follow the usual convention: ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``.
The network is truncated after the deepest requested tap, so unused layers are never
computed (nor their parameters touched).

Parameters are an explicit pytree ``{"conv1_1": {"kernel": (3,3,Cin,Cout), "bias": (Cout,)}, ...}``
held by :class:`Encoder`; :meth:`Encoder.apply` is a pure function of ``(params, images)``
that jits, vmaps and differentiates cleanly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.models.conv import conv3x3_reflect, conv_hwio

# Convolutions per block and output channels per block.
ARCHS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
# torchvision's batch-norm VGGs, their eval-mode batch norms folded into the convs on import
# (exact: an affine map per channel), so they run as plain VGGs; conv{b}_{i} is conv + BN.
ARCHS.update({"vgg16_bn": ARCHS["vgg16"], "vgg19_bn": ARCHS["vgg19"]})
BLOCK_CHANNELS = (64, 128, 256, 512, 512)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
# Caffe VGG: BGR, 0..255, mean subtracted (the original Gatys/Johnson/AdaIN weights).
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)

NORMALIZATIONS = ("torch", "caffe", "none")
POOLINGS = ("max", "avg")
PADDINGS = ("zero", "reflect")


def layer_names(arch: str) -> list[str]:
    """All tap names of ``arch`` in forward order (conv, relu, ..., pool per block)."""
    names = []
    for b, n in enumerate(ARCHS[arch], start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


def conv_names(arch: str) -> list[str]:
    return [n for n in layer_names(arch) if n.startswith("conv")]


def param_shapes(arch: str) -> dict[str, dict[str, tuple[int, ...]]]:
    """Expected parameter shapes: ``{conv: {"kernel": HWIO, "bias": (O,)}}``."""
    shapes, cin = {}, 3
    for b, (n, cout) in enumerate(zip(ARCHS[arch], BLOCK_CHANNELS, strict=True), start=1):
        for i in range(1, n + 1):
            shapes[f"conv{b}_{i}"] = {"kernel": (3, 3, cin, cout), "bias": (cout,)}
            cin = cout
    return shapes


def normalize_input(images: jax.Array, normalization: str) -> jax.Array:
    """Map RGB images in [0, 1] to the input space the weights were trained on."""
    # Constants in the images' dtype, so bfloat16 images stay bfloat16 (numpy float32 would promote).
    if normalization == "torch":
        return (images - jnp.asarray(IMAGENET_MEAN, images.dtype)) / jnp.asarray(IMAGENET_STD, images.dtype)
    if normalization == "caffe":
        return images[..., ::-1] * 255.0 - jnp.asarray(CAFFE_MEAN_BGR, images.dtype)
    if normalization == "none":
        return images
    raise InputError(f"unknown normalization {normalization!r}; expected one of {NORMALIZATIONS}")


def _conv3x3(x: jax.Array, p: Mapping[str, jax.Array], padding: str) -> jax.Array:
    kernel = p["kernel"].astype(x.dtype)
    y = conv3x3_reflect(x, kernel) if padding == "reflect" else conv_hwio(x, kernel, 1)
    return y + p["bias"].astype(x.dtype)


def pool2x2(x: jax.Array, kind: str) -> jax.Array:
    """2x2/stride-2 pooling written as reshape + reduce.

    On CPU the gradient of this form is ~10x faster than ``lax.reduce_window``'s
    (select-and-scatter). Odd trailing rows/columns are dropped, like PyTorch's floor mode.
    """
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
    return x.max(axis=(2, 4)) if kind == "max" else x.mean(axis=(2, 4))


_REMAT_PASS = "cse_barrier_expander"


def keep_remat_on_cpu() -> None:
    """Make ``remat`` effective on XLA:CPU; call before the first JAX computation.

    XLA:CPU drops the barriers ``jax.checkpoint`` puts around a recomputation (its
    ``cse_barrier_expander`` pass) and common-subexpression elimination then merges the
    recomputed forward pass back into the original, so remat saves no memory there. This
    disables that pass through ``XLA_FLAGS`` (measured on a 2048 px Gatys run: peak RSS
    10.9 GB -> 8.4 GB with remat). Other backends keep the barriers anyway; the flag is harmless.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    for i, flag in enumerate(flags):
        if flag.startswith("--xla_disable_hlo_passes="):
            if _REMAT_PASS not in flag.split("=", 1)[1].split(","):
                flags[i] = f"{flag},{_REMAT_PASS}"
            break
    else:
        flags.append(f"--xla_disable_hlo_passes={_REMAT_PASS}")
    os.environ["XLA_FLAGS"] = " ".join(flags)


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    arch: str = "vgg16"
    pooling: str = "max"
    padding: str = "zero"
    normalization: str = "torch"
    # jax.checkpoint around each block: trades compute for memory (on the CPU only after
    # keep_remat_on_cpu(), which the CLI calls for --remat).
    remat: bool = False

    def __post_init__(self):
        for value, allowed, what in (
            (self.arch, tuple(ARCHS), "encoder"),
            (self.pooling, POOLINGS, "pooling"),
            (self.padding, PADDINGS, "padding"),
            (self.normalization, NORMALIZATIONS, "normalization"),
        ):
            if value not in allowed:
                raise InputError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


@dataclasses.dataclass
class VGGWeights:
    """Encoder parameters plus the conventions they were trained with.

    What :mod:`jaxstyle.weights` reads from files and :meth:`Encoder.from_weights` builds on.
    """

    arch: str
    params: dict[str, dict[str, np.ndarray]]
    normalization: str = "torch"  # torch | caffe | none
    padding: str = "zero"  # zero | reflect
    source: str = ""


def check_layers(arch: str, layers: Sequence[str]) -> None:
    valid = layer_names(arch)
    for name in layers:
        if name not in valid:
            raise InputError(
                f"unknown layer {name!r} for {arch}; valid layers are conv/relu{{b}}_{{i}} and "
                f"pool{{b}}, e.g. relu1_1..{valid[-2]}"
            )


def mask_outside(x: jax.Array, valid: jax.Array | None) -> jax.Array:
    """``x`` (N,H,W,C) with the positions outside each example's valid corner zeroed; ``valid``
    ``[rows, cols]``, (N,2) or (2,) for all. None: ``x`` as it is."""
    if valid is None:
        return x
    n, h, w, _ = x.shape
    v = jnp.broadcast_to(jnp.reshape(valid, (-1, 2)), (n, 2))
    inside = (jnp.arange(h)[None, :, None] < v[:, 0, None, None]) & (jnp.arange(w)[None, None, :] < v[:, 1, None, None])
    return x * inside[..., None].astype(x.dtype)


def vgg_features(
    params: Mapping[str, Any], images: jax.Array, layers: Sequence[str], config: VGGConfig,
    valid: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Pure VGG forward: ``images`` NHWC RGB in [0, 1] -> ``{layer: NHWC features}``.

    Stops after the deepest layer in ``layers``. ``valid`` (N,2) or (2,) ``[rows, cols]``: the
    images are the top-left corners of padded canvases; every activation outside the corner
    (``floor(rows / s)`` rows of a map ``s`` times smaller) is zeroed, so with zero padding the
    features inside equal those of the corner alone (the padding is what each conv pads with).
    """
    check_layers(config.arch, layers)
    order = layer_names(config.arch)
    deepest = max(order.index(name) for name in layers)
    wanted = set(layers)
    x = mask_outside(normalize_input(images, config.normalization), valid)
    out: dict[str, jax.Array] = {}

    def block(x, block_params, b, valid):
        taps = {}
        for i in range(1, len(block_params) + 1):
            x = mask_outside(_conv3x3(x, block_params[f"conv{b}_{i}"], config.padding), valid)
            taps[f"conv{b}_{i}"] = x
            x = jax.nn.relu(x)
            taps[f"relu{b}_{i}"] = x
        # Only the taps asked for leave the block: under remat every output is kept for the
        # backward pass, so returning all of them would store what remat means to recompute.
        return x, {k: v for k, v in taps.items() if k in wanted}

    if config.remat:
        block = jax.checkpoint(block, static_argnums=(2,))
    start = 0  # index in `order` of this block's first conv
    for b, n in enumerate(ARCHS[config.arch], start=1):
        if deepest < start:
            break
        n_run = min(n, (deepest - start) // 2 + 1)  # convs of this block that are needed
        x, taps = block(x, {f"conv{b}_{i}": params[f"conv{b}_{i}"] for i in range(1, n_run + 1)}, b, valid)
        out.update({k: v for k, v in taps.items() if k in wanted})
        pool_index = start + 2 * n
        if deepest < pool_index:
            break
        valid = None if valid is None else valid // 2  # floor, as the pooling drops an odd last row
        x = mask_outside(pool2x2(x, config.pooling), valid)
        out[f"pool{b}"] = x
        start = pool_index + 1
    return {name: out[name] for name in layers}


def vgg_segment(
    params: Mapping[str, Any], x: jax.Array, start: str, stop: str, config: VGGConfig
) -> jax.Array:
    """The layers strictly after tap ``start`` up to and including tap ``stop``: NHWC -> NHWC.

    ``x`` is the activation at ``start`` (any values: feature inversion optimizes it freely);
    e.g. ``start="relu4_1", stop="relu5_1"`` runs conv4_2 .. pool4, conv5_1, relu5_1.
    """
    check_layers(config.arch, (start, stop))
    order = layer_names(config.arch)
    first, last = order.index(start) + 1, order.index(stop)
    if first > last:
        raise InputError(f"vgg_segment: {stop!r} does not come after {start!r}")
    for name in order[first : last + 1]:
        if name.startswith("conv"):
            x = _conv3x3(x, params[name], config.padding)
        elif name.startswith("relu"):
            x = jax.nn.relu(x)
        else:
            x = pool2x2(x, config.pooling)
    return x
