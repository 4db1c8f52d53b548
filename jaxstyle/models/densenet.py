"""DenseNet-121 (torchvision's ``densenet121().features`` and the final ReLU), NHWC.

Taps, in order, named as torchvision's modules (``features.`` may be prefixed)::

  conv0 norm0 relu0 pool0  denseblock1 transition1  denseblock2 transition2
  denseblock3 transition3  denseblock4 norm5 relu5

``denseblock{k}`` is the concatenation its layers build (256, 512, 1024, 1024 channels),
``transition{k}`` the block after its 1x1 conv and 2x2 average pool; ``relu5`` is the ReLU
torchvision's ``forward`` applies after ``norm5``. Resolutions: ``relu0`` 1/2, ``denseblock1``
1/4, ``denseblock2`` 1/8, ``denseblock3`` 1/16, ``denseblock4`` 1/32. Dense layers are
pre-activation (norm -> ReLU -> conv), so their batch norms stay separate affines.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxstyle.models.netlib import (
    Architecture,
    batch_norm,
    bn_shape,
    conv,
    conv_shape,
    pool,
    steps_features,
)

GROWTH = 32
BLOCKS = (6, 12, 24, 16)
INIT_FEATURES = 64
BN_SIZE = 4

TAPS = (
    "conv0", "norm0", "relu0", "pool0",
    "denseblock1", "transition1", "denseblock2", "transition2",
    "denseblock3", "transition3", "denseblock4", "norm5", "relu5",
)  # fmt: skip


def block_channels() -> list[tuple[int, int]]:
    """(input, output) channels of each dense block."""
    out, c = [], INIT_FEATURES
    for k, n in enumerate(BLOCKS):
        out.append((c, c + n * GROWTH))
        c = c + n * GROWTH
        if k + 1 < len(BLOCKS):
            c //= 2
    return out


def param_shapes() -> dict:
    shapes: dict = {"conv0": conv_shape(3, INIT_FEATURES, 7), "norm0": bn_shape(INIT_FEATURES)}
    for k, ((cin, cout), n) in enumerate(zip(block_channels(), BLOCKS, strict=True), start=1):
        block = {}
        for i in range(n):
            c = cin + i * GROWTH
            block[f"denselayer{i + 1}"] = {
                "norm1": bn_shape(c),
                "conv1": conv_shape(c, BN_SIZE * GROWTH, 1),
                "norm2": bn_shape(BN_SIZE * GROWTH),
                "conv2": conv_shape(BN_SIZE * GROWTH, GROWTH, 3),
            }
        shapes[f"denseblock{k}"] = block
        if k < len(BLOCKS):
            shapes[f"transition{k}"] = {"norm": bn_shape(cout), "conv": conv_shape(cout, cout // 2, 1)}
    shapes["norm5"] = bn_shape(block_channels()[-1][1])
    return shapes


def dense_block(p, x: jax.Array, n: int, padding: str) -> jax.Array:
    """Each layer (norm-ReLU-1x1-norm-ReLU-3x3) sees everything before it; outputs concatenate."""
    feats = [x]
    for i in range(1, n + 1):
        q = p[f"denselayer{i}"]
        h = jnp.concatenate(feats, axis=-1) if len(feats) > 1 else feats[0]
        h = conv(jax.nn.relu(batch_norm(h, q["norm1"])), q["conv1"])
        h = conv(jax.nn.relu(batch_norm(h, q["norm2"])), q["conv2"], pad=1, padding=padding)
        feats.append(h)
    return jnp.concatenate(feats, axis=-1)


def _block_step(k, params, x, config):
    return dense_block(params[f"denseblock{k}"], x, BLOCKS[k - 1], config.padding), {}


def _transition_step(k, params, x, config):
    p = params[f"transition{k}"]
    y = conv(jax.nn.relu(batch_norm(x, p["norm"])), p["conv"])
    return pool(y, "avg", 2, 2), {}


def _steps():
    steps = [
        ("conv0", lambda p, x, c: (conv(x, p["conv0"], stride=2, pad=3, padding=c.padding), {}), ()),
        ("norm0", lambda p, x, c: (batch_norm(x, p["norm0"]), {}), ()),
        ("relu0", lambda p, x, c: (jax.nn.relu(x), {}), ()),
        ("pool0", lambda p, x, c: (pool(x, c.pooling, 3, 2, 1), {}), ()),
    ]
    for k in range(1, len(BLOCKS) + 1):
        steps.append((f"denseblock{k}", functools.partial(_block_step, k), ()))
        if k < len(BLOCKS):
            steps.append((f"transition{k}", functools.partial(_transition_step, k), ()))
    steps.append(("norm5", lambda p, x, c: (batch_norm(x, p["norm5"]), {}), ()))
    steps.append(("relu5", lambda p, x, c: (jax.nn.relu(x), {}), ()))
    return steps


STEPS = _steps()


ARCHITECTURE = Architecture(
    name="densenet121",
    description="torchvision DenseNet-121 features",
    taps=TAPS,
    layer_hint="conv0, norm0, relu0, pool0, denseblock1..4, transition1..3, norm5, relu5",
    param_shapes=param_shapes,
    features=steps_features(STEPS),
    # The stem ReLU and the transitions (each block's output squeezed to half its channels) as
    # style taps; content at transition2's input scale (denseblock2, 1/8 like VGG's relu4_2).
    content_layers=("denseblock2",),
    style_layers=("relu0", "transition1", "transition2", "transition3"),
    aliases={f"features.{t}": t for t in TAPS if t != "relu5"},
)
