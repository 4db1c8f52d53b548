"""Monodepth2 (Godard et al., ICCV 2019) in pure JAX: ResNet encoder + disparity decoder.

The depth network behind the AdaIN + depth variant of seed document 002. Like the VGG
encoders, it is a pure function of an explicit, frozen parameter pytree
(:func:`disparity`), so the depth loss jits, vmaps and differentiates with respect to the
image only. Parameters come from the official release through
:mod:`jaxstyle.weights.monodepth_import`, which folds every eval-mode BatchNorm into the conv
before it (exact up to float rounding), so convolutions here carry a bias and no norm layer.

Parameter layout (flat keys named after the PyTorch modules)::

    encoder: {"conv1", "layer{1..4}.{block}.conv{1,2[,3]}", "layer{2..4}.0.downsample"}
    decoder: {"upconv_{i}_{j}" for i in 4..0, j in 0, 1} + {"dispconv_0"}

each ``{"kernel": HWIO, "bias": (O,)}``. The block counts and the block type (basic for
ResNet-18/34, bottleneck for ResNet-50/101/152) are read from the keys, so every encoder
depth of the release runs through the same code.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from jaxstyle.models.conv import conv3x3_reflect, conv_hwio
from jaxstyle.models.decoder import upsample_nearest2x

Params = Mapping[str, Mapping[str, jax.Array]]
# monodepth2 normalises its [0, 1] input with one mean/std for all channels.
INPUT_MEAN, INPUT_STD = 0.45, 0.225
STRIDE = 32  # input sides must be multiples of the encoder's total stride
DECODER_CHANNELS = (16, 32, 64, 128, 256)


def _conv(x: jax.Array, p: Mapping[str, jax.Array], stride: int = 1) -> jax.Array:
    """Zero-padded 'same' convolution (torchvision's padding = k // 2) plus bias."""
    k = p["kernel"].shape[0]
    if stride == 1:
        y = conv_hwio(x, p["kernel"], k // 2)
    else:
        y = jax.lax.conv_general_dilated(
            x,
            p["kernel"],
            (stride, stride),
            ((k // 2, k // 2),) * 2,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
    return y + p["bias"]


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """torchvision's stem ``MaxPool2d(3, stride=2, padding=1)`` (padding never wins the max)."""
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    )


def block_counts(params: Params) -> list[int]:
    """Residual blocks per stage, read from the encoder keys (e.g. [2, 2, 2, 2] for ResNet-18)."""
    return [
        len({k.split(".")[1] for k in params if k.startswith(f"layer{s}.")}) for s in range(1, 5)
    ]


def encoder_features(params: Params, images: jax.Array) -> list[jax.Array]:
    """ResNet features at strides 2, 4, 8, 16, 32 (monodepth2's ``ResnetEncoder.forward``)."""
    x = (images - INPUT_MEAN) / INPUT_STD
    x = jax.nn.relu(_conv(x, params["conv1"], stride=2))
    feats = [x]
    x = _max_pool_3x3_s2(x)
    bottleneck = "layer1.0.conv3" in params
    for stage, n in enumerate(block_counts(params), start=1):
        for b in range(n):
            name = f"layer{stage}.{b}"
            stride = 2 if stage > 1 and b == 0 else 1
            shortcut = x
            if f"{name}.downsample" in params:
                shortcut = _conv(x, params[f"{name}.downsample"], stride=stride)
            if bottleneck:  # torchvision v1.5: the stride sits on the 3x3 conv
                y = jax.nn.relu(_conv(x, params[f"{name}.conv1"]))
                y = jax.nn.relu(_conv(y, params[f"{name}.conv2"], stride=stride))
                y = _conv(y, params[f"{name}.conv3"])
            else:
                y = jax.nn.relu(_conv(x, params[f"{name}.conv1"], stride=stride))
                y = _conv(y, params[f"{name}.conv2"])
            x = jax.nn.relu(y + shortcut)
        feats.append(x)
    return feats


def _conv_block(x: jax.Array, p: Mapping[str, jax.Array]) -> jax.Array:
    """monodepth2's ``ConvBlock``: reflection-padded 3x3 conv + ELU."""
    return jax.nn.elu(conv3x3_reflect(x, p["kernel"]) + p["bias"])


def decode_disparity(params: Params, feats: list[jax.Array]) -> jax.Array:
    """``DepthDecoder.forward`` keeping the full-resolution output: sigmoid disparity (N,H,W,1)."""
    x = feats[-1]
    for i in range(4, -1, -1):
        x = upsample_nearest2x(_conv_block(x, params[f"upconv_{i}_0"]))
        if i > 0:
            x = jnp.concatenate([x, feats[i - 1]], axis=-1)
        x = _conv_block(x, params[f"upconv_{i}_1"])
    p = params["dispconv_0"]
    return jax.nn.sigmoid(conv3x3_reflect(x, p["kernel"]) + p["bias"])


def disparity(params: Mapping[str, Params], images: jax.Array) -> jax.Array:
    """Monodepth2 disparity in (0, 1) for NHWC RGB ``images`` in [0, 1] -> (N, H', W', 1).

    Sides that are not multiples of 32 are resized (bilinear) to the nearest multiples
    first, so ``H'``/``W'`` may differ from the input's; the result is what the network
    sees, which is all a loss comparing two images of one size needs. Convert to metric-ish
    depth with :func:`disparity_to_depth`.
    """
    n, h, w, c = images.shape
    size = tuple(max(STRIDE, round(s / STRIDE) * STRIDE) for s in (h, w))
    if size != (h, w):
        images = jax.image.resize(images, (n, *size, c), "bilinear")
    return decode_disparity(params["decoder"], encoder_features(params["encoder"], images))


def disparity_to_depth(disp: jax.Array, min_depth: float = 0.1, max_depth: float = 100.0):
    """monodepth2's ``disp_to_depth``: sigmoid output -> (scaled disparity, depth)."""
    scaled = 1.0 / max_depth + (1.0 / min_depth - 1.0 / max_depth) * disp
    return scaled, 1.0 / scaled
