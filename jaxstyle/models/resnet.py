"""ResNet-50 (torchvision's ``resnet50``, v1.5: stride in the 3x3 conv) up to ``layer4``, NHWC.

Taps, in order, named as torchvision's modules::

  conv1  bn1  relu  maxpool  layer1.0 .. layer1.2  layer2.0 .. layer2.3
  layer3.0 .. layer3.5  layer4.0 .. layer4.2

``layer{k}.{i}`` is the output of bottleneck ``i`` (after its residual ReLU); ``layer{k}``
is accepted for the last block of the stage (the stage output). Resolutions: ``relu`` 1/2,
``layer1`` 1/4, ``layer2`` 1/8, ``layer3`` 1/16, ``layer4`` 1/32. Parameters mirror the
state_dict (``layer1.0.conv1``, ``layer1.0.bn1``, ``layer1.0.downsample.{0,1}``...).
"""

from __future__ import annotations

import functools

import jax

from jaxstyle.models.netlib import (
    Architecture,
    batch_norm,
    bn_shape,
    conv,
    conv_shape,
    pool,
    steps_features,
)

BLOCKS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4


def _stage_stride(k: int) -> int:
    return 1 if k == 1 else 2


def block_names() -> list[tuple[int, int]]:
    return [(k, i) for k, n in enumerate(BLOCKS, start=1) for i in range(n)]


TAPS = ("conv1", "bn1", "relu", "maxpool", *(f"layer{k}.{i}" for k, i in block_names()))


def param_shapes() -> dict:
    shapes: dict = {"conv1": conv_shape(3, 64, 7), "bn1": bn_shape(64)}
    cin = 64
    for k, (n, width) in enumerate(zip(BLOCKS, WIDTHS, strict=True), start=1):
        stage = {}
        for i in range(n):
            cout = width * EXPANSION
            block = {
                "conv1": conv_shape(cin, width, 1),
                "bn1": bn_shape(width),
                "conv2": conv_shape(width, width, 3),
                "bn2": bn_shape(width),
                "conv3": conv_shape(width, cout, 1),
                "bn3": bn_shape(cout),
            }
            if i == 0:  # channel change (and stride) on the skip path
                block["downsample"] = {"0": conv_shape(cin, cout, 1), "1": bn_shape(cout)}
            stage[str(i)] = block
            cin = cout
        shapes[f"layer{k}"] = stage
    return shapes


def bottleneck(p, x: jax.Array, stride: int, padding: str) -> jax.Array:
    """1x1 -> 3x3 (stride) -> 1x1 with batch norms, plus the (projected) input, then ReLU."""
    y = jax.nn.relu(batch_norm(conv(x, p["conv1"]), p["bn1"]))
    y = jax.nn.relu(batch_norm(conv(y, p["conv2"], stride=stride, pad=1, padding=padding), p["bn2"]))
    y = batch_norm(conv(y, p["conv3"]), p["bn3"])
    skip = x
    if "downsample" in p:
        skip = batch_norm(conv(x, p["downsample"]["0"], stride=stride), p["downsample"]["1"])
    return jax.nn.relu(y + skip)


def _block_step(k, i, params, x, config):
    stride = _stage_stride(k) if i == 0 else 1
    return bottleneck(params[f"layer{k}"][str(i)], x, stride, config.padding), {}


def _steps():
    return [
        ("conv1", lambda p, x, c: (conv(x, p["conv1"], stride=2, pad=3, padding=c.padding), {}), ()),
        ("bn1", lambda p, x, c: (batch_norm(x, p["bn1"]), {}), ()),
        ("relu", lambda p, x, c: (jax.nn.relu(x), {}), ()),
        ("maxpool", lambda p, x, c: (pool(x, c.pooling, 3, 2, 1), {}), ()),
        *((f"layer{k}.{i}", functools.partial(_block_step, k, i), ()) for k, i in block_names()),
    ]


STEPS = _steps()


ARCHITECTURE = Architecture(
    name="resnet50",
    description="torchvision ResNet-50 (v1.5) through layer4",
    taps=TAPS,
    layer_hint="conv1, bn1, relu, maxpool and layer{k}.{i} / layer{k} (k = 1..4)",
    param_shapes=param_shapes,
    features=steps_features(STEPS),
    # Stage outputs as style taps (the stem ReLU for the finest scale); content at layer2 (1/8,
    # where VGG's relu4_2 is). layer4 (2048 channels at 1/32) is left out: its Gram is 16 MB a pair.
    content_layers=("layer2",),
    style_layers=("relu", "layer1", "layer2", "layer3"),
    aliases={f"layer{k}": f"layer{k}.{n - 1}" for k, n in enumerate(BLOCKS, start=1)},
)
