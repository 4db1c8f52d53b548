"""EfficientNet-B0 (torchvision's ``efficientnet_b0().features``), NHWC, with named taps.

Taps, in order (torchvision's ``features.N`` in brackets, also accepted)::

  stem [features.0]                 3x3/2 conv, BN, SiLU: 32 channels at 1/2
  stage{s}.{b} [features.s.b]       MBConv block b of stage s (s = 1..7), after its residual
  stage{s}.{b}.expand               inside a block: the 1x1 expansion (BN, SiLU), if it has one
  stage{s}.{b}.dwconv               the depthwise conv (BN, SiLU), at the block's stride
  stage{s}.{b}.se                   after squeeze-and-excitation
  stage{s} [features.s]             the last block of stage s
  head [features.8]                 1x1 conv to 1280, BN, SiLU

Stage outputs (channels, resolution): stage1 16 1/2, stage2 24 1/4, stage3 40 1/8, stage4 80
1/16, stage5 112 1/16, stage6 192 1/32, stage7 320 1/32. Inference mode: stochastic depth is
the identity. Parameters mirror the state_dict without ``features.`` (``4.0.block.1.0`` is
stage 4, block 0's depthwise conv).
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
    steps_features,
)

# Stages of B0: (expand ratio, kernel, stride, in, out, blocks).
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
STEM, HEAD = 32, 1280

# RAST's five taps on this network (configs/rast.py:efficientnet). RAST's decoder upsamples
# the fourth tap x8 and its transform adds the fifth (resized) to it, so the fourth must be at
# 1/8 and the fifth share its channels. The deepest 1/8 features of B0 are stage 4's first
# expansion (stage3 lifted to 240 channels); its depthwise conv + SE (240, at 1/16) is the
# coarser partner. The first three feed only the losses: the stage outputs at 1/2, 1/4, 1/8.
RAST_LAYERS = ("stage1", "stage2", "stage3", "stage4.0.expand", "stage4.0.se")


def blocks() -> list[tuple[int, int, int, int, int, int, int]]:
    """(stage, block, expand, kernel, stride, in, out) for every MBConv block."""
    out = []
    for s, (e, k, stride, cin, cout, n) in enumerate(STAGES, start=1):
        for b in range(n):
            out.append((s, b, e, k, stride if b == 0 else 1, cin if b == 0 else cout, cout))
    return out


def _taps() -> tuple[str, ...]:
    names = ["stem"]
    for s, b, e, *_ in blocks():
        inner = (["expand"] if e != 1 else []) + ["dwconv", "se"]
        names += [f"stage{s}.{b}.{t}" for t in inner] + [f"stage{s}.{b}"]
    return (*names, "head")


TAPS = _taps()


def _aliases() -> dict[str, str]:
    aliases = {"features.0": "stem", f"features.{len(STAGES) + 1}": "head"}
    for s, (*_, n) in enumerate(STAGES, start=1):
        aliases[f"stage{s}"] = aliases[f"features.{s}"] = f"stage{s}.{n - 1}"
        for b in range(n):
            aliases[f"features.{s}.{b}"] = f"stage{s}.{b}"
    return aliases


def _cna(cin: int, cout: int, k: int, groups: int = 1) -> dict:
    """Conv2dNormActivation's parameters: ``0`` the conv (no bias), ``1`` its batch norm."""
    return {"0": conv_shape(cin, cout, k, groups=groups), "1": bn_shape(cout)}


def param_shapes() -> dict:
    shapes: dict = {"0": _cna(3, STEM, 3)}
    for s, b, e, k, _, cin, cout in blocks():
        hidden, squeeze = cin * e, max(1, cin // 4)
        layers = [_cna(cin, hidden, 1)] if e != 1 else []
        layers.append(_cna(hidden, hidden, k, groups=hidden))
        layers.append({"fc1": conv_shape(hidden, squeeze, 1, bias=True), "fc2": conv_shape(squeeze, hidden, 1, bias=True)})
        layers.append(_cna(hidden, cout, 1))
        shapes.setdefault(str(s), {})[str(b)] = {"block": {str(j): p for j, p in enumerate(layers)}}
    shapes[str(len(STAGES) + 1)] = _cna(STAGES[-1][4], HEAD, 1)
    return shapes


def _cna_apply(p, x, *, stride=1, groups=1, padding="zero", act=True):
    k = p["0"]["kernel"].shape[0]
    y = batch_norm(conv(x, p["0"], stride=stride, pad=(k - 1) // 2, groups=groups, padding=padding), p["1"])
    return jax.nn.silu(y) if act else y


def squeeze_excite(p, x: jax.Array) -> jax.Array:
    """Channel gates from the spatial mean: x * sigmoid(fc2(silu(fc1(mean))))."""
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = conv(jax.nn.silu(conv(s, p["fc1"])), p["fc2"])
    return x * jax.nn.sigmoid(s)


def mbconv(p, x: jax.Array, name: str, expand: int, stride: int, padding: str):
    """One MBConv block -> (output, {inner tap: features})."""
    taps, j, y = {}, 0, x
    if expand != 1:
        y = taps[f"{name}.expand"] = _cna_apply(p[str(j)], y)
        j += 1
    y = taps[f"{name}.dwconv"] = _cna_apply(p[str(j)], y, stride=stride, groups=y.shape[-1], padding=padding)
    y = taps[f"{name}.se"] = squeeze_excite(p[str(j + 1)], y)
    y = _cna_apply(p[str(j + 2)], y, act=False)
    if stride == 1 and x.shape[-1] == y.shape[-1]:
        y = y + x
    return y, taps


def _block_step(s, b, e, stride, params, x, config):
    return mbconv(params[str(s)][str(b)]["block"], x, f"stage{s}.{b}", e, stride, config.padding)


def _steps():
    steps = [("stem", lambda p, x, c: (_cna_apply(p["0"], x, stride=2, padding=c.padding), {}), ())]
    for s, b, e, _, stride, _, _ in blocks():
        name = f"stage{s}.{b}"
        inner = tuple(t for t in TAPS if t.startswith(f"{name}."))
        steps.append((name, functools.partial(_block_step, s, b, e, stride), inner))
    head = str(len(STAGES) + 1)
    steps.append(("head", lambda p, x, c: (_cna_apply(p[head], x), {}), ()))
    return steps


STEPS = _steps()


ARCHITECTURE = Architecture(
    name="efficientnet_b0",
    description="torchvision EfficientNet-B0 features",
    taps=TAPS,
    layer_hint="stem, stage{s} (s = 1..7), stage{s}.{b}[.expand|.dwconv|.se] and head",
    param_shapes=param_shapes,
    features=steps_features(STEPS),
    # Stage outputs from the stem to 1/32 for style; content at stage3 (1/8, like VGG's relu4_2).
    content_layers=("stage3",),
    style_layers=("stem", "stage2", "stage3", "stage4", "stage6"),
    aliases=_aliases(),
    poolings=("max",),  # no pooling layers: strided convs downsample; "avg" cannot be honoured
)
