"""torchvision state_dicts of the non-VGG zoo networks (and VGG-BN) -> encoder weights.

Which network a state_dict holds is read from its keys, never from the file name:

===============================  ==================================================
keys                             network
===============================  ==================================================
``layer1.0.conv3.weight`` ...    ResNet-50 (bottlenecks; stages of 3, 4, 6, 3 blocks)
``features.denseblock1...``      DenseNet-121 (also the old ``norm.1`` key spelling
                                 of torchvision's downloadable file)
``features.1.0.block.0.0...``    EfficientNet-B0
``features.0.weight`` 11x11      AlexNet
``features.N.running_mean``      VGG16-BN / VGG19-BN (13 / 16 convs)
===============================  ==================================================

Conversion is generic: the expected parameter tree of the architecture
(:attr:`~jaxstyle.models.netlib.Architecture.param_shapes`) mirrors the state_dict's module
paths, so every ``{kernel[, bias]}`` group reads ``{path}.weight`` (OIHW -> HWIO) and
``{path}.bias``, and every ``{scale, shift}`` group a batch norm's four tensors, folded to its
eval-mode affine. Every tensor is checked against the expected shape; a mismatch or a missing
tensor is one line naming the key. The classifier heads are never read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.models.vgg import ARCHS as VGG_ARCHS
from jaxstyle.models.vgg import conv_names
from jaxstyle.models.zoo import architecture
from jaxstyle.weights.store import VGGWeights, check_shapes

BN_EPS = 1e-5  # torchvision's BatchNorm2d default, used by all of these networks
# Prefix of each network's parameters in its torchvision state_dict.
PREFIX = {"alexnet": "features.", "resnet50": "", "densenet121": "features.", "efficientnet_b0": "features."}
_DENSENET_LEGACY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def detect_network(state: Mapping[str, np.ndarray], source: str) -> str | None:
    """The zoo network a torchvision state_dict holds, ``None`` for a plain VGG (or unknown).

    Raises:
      WeightsError: a relative of a supported network (ResNet-18/101, DenseNet-169,
        EfficientNet-B1...) named as such.
    """
    keys = set(state)
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        blocks = tuple(_count(keys, rf"^layer{k}\.(\d+)\.") for k in range(1, 5))
        if blocks != (3, 4, 6, 3) or "layer1.0.conv3.weight" not in keys:
            raise WeightsError(
                f"{source}: a ResNet with {blocks} blocks per stage"
                + ("" if "layer1.0.conv3.weight" in keys else " (basic blocks)")
                + "; only ResNet-50 (3, 4, 6, 3 bottlenecks) is supported"
            )
        return "resnet50"
    if any(k.startswith("features.denseblock") for k in keys):
        blocks = tuple(_count(keys, rf"^features\.denseblock{k}\.denselayer(\d+)\.") for k in range(1, 5))
        if blocks != (6, 12, 24, 16):
            raise WeightsError(
                f"{source}: a DenseNet with {blocks} layers per block; only DenseNet-121 (6, 12, 24, 16) is supported"
            )
        return "densenet121"
    if any(k.startswith("features.1.0.block.") for k in keys):
        blocks = tuple(_count(keys, rf"^features\.{s}\.(\d+)\.block\.") for s in range(1, 8))
        stem = state.get("features.0.0.weight")
        if blocks != (1, 2, 2, 3, 3, 4, 1) or stem is None or np.shape(stem)[0] != 32:
            raise WeightsError(
                f"{source}: an EfficientNet with {blocks} blocks per stage; only EfficientNet-B0 "
                "(1, 2, 2, 3, 3, 4, 1, stem of 32 channels) is supported"
            )
        return "efficientnet_b0"
    first = state.get("features.0.weight")
    if first is not None and tuple(np.shape(first))[2:] == (11, 11):
        return "alexnet"
    if any(k.startswith("features.") and k.endswith(".running_mean") for k in keys):
        n = sum(1 for k in keys if re.match(r"^features\.\d+\.weight$", k) and np.ndim(state[k]) == 4)
        by_count = {13: "vgg16_bn", 16: "vgg19_bn"}
        if n not in by_count:
            raise WeightsError(f"{source}: a batch-norm VGG with {n} convs; expected 13 (vgg16_bn) or 16 (vgg19_bn)")
        return by_count[n]
    return None


def _count(keys: set[str], pattern: str) -> int:
    """How many distinct indices ``pattern``'s group matches among ``keys``."""
    return len({m.group(1) for k in keys if (m := re.match(pattern, k))})


def from_torchvision(state: Mapping[str, np.ndarray], arch: str, source: str) -> VGGWeights:
    """Encoder weights of ``arch`` from its torchvision state_dict (numpy values), validated."""
    if arch in VGG_ARCHS:
        return _vgg_bn(state, arch, source)
    if arch == "densenet121":  # torchvision's own file spells denselayer keys 'norm.1'
        state = {_DENSENET_LEGACY.sub(r"\1\2", k): v for k, v in state.items()}
    params = _convert(architecture(arch).param_shapes(), state, PREFIX[arch], source, arch)
    check_shapes(arch, params, source)
    return VGGWeights(arch, params, "torch", "zero", source=f"torchvision {arch} state_dict ({Path(source).name})")


def _convert(shapes: Mapping, state: Mapping[str, np.ndarray], prefix: str, source: str, arch: str) -> dict:
    """Walk the expected parameter tree, reading each group from ``{prefix}{path}.*``."""
    out = {}
    for name, sub in shapes.items():
        path = f"{prefix}{name}"
        if "kernel" in sub:
            kernel = _tensor(state, f"{path}.weight", _oihw(sub["kernel"]), source, arch)
            out[name] = {"kernel": np.ascontiguousarray(kernel.transpose(2, 3, 1, 0))}
            if "bias" in sub:
                out[name]["bias"] = _tensor(state, f"{path}.bias", sub["bias"], source, arch)
        elif "scale" in sub:
            c = sub["scale"]
            gamma, beta, mean, var = (
                _tensor(state, f"{path}.{t}", c, source, arch) for t in ("weight", "bias", "running_mean", "running_var")
            )
            scale = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
            out[name] = {"scale": scale.astype(np.float32), "shift": (beta - mean * scale).astype(np.float32)}
        else:
            out[name] = _convert(sub, state, f"{path}.", source, arch)
    return out


def _oihw(hwio: tuple[int, ...]) -> tuple[int, ...]:
    kh, kw, cin, cout = hwio
    return (cout, cin, kh, kw)


def _tensor(state: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...], source: str, arch: str) -> np.ndarray:
    value = state.get(key)
    if value is None:
        raise WeightsError(f"{source}: missing tensor {key} for {arch}")
    if tuple(np.shape(value)) != tuple(shape):
        raise WeightsError(f"{source}: {key} has shape {tuple(np.shape(value))}, expected {tuple(shape)} for {arch}")
    return np.asarray(value, np.float32)


def _vgg_bn(state: Mapping[str, np.ndarray], arch: str, source: str) -> VGGWeights:
    """torchvision ``vgg*_bn``: conv at ``features.i``, its batch norm at ``i + 1``, folded.

    ``BN(conv(x)) = conv(x) * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``, so
    the conv's kernel scales by ``s`` per output channel and its bias becomes
    ``(bias - mean) * s + beta``: the same outputs with one op less.
    """
    shapes = architecture(arch).param_shapes()
    params, index = {}, 0
    for b, n in enumerate(VGG_ARCHS[arch], start=1):
        for i in range(1, n + 1):
            layer = f"conv{b}_{i}"
            kh, kw, cin, cout = shapes[layer]["kernel"]
            w = _tensor(state, f"features.{index}.weight", (cout, cin, kh, kw), source, arch)
            bias = _tensor(state, f"features.{index}.bias", (cout,), source, arch)
            gamma, beta, mean, var = (
                _tensor(state, f"features.{index + 1}.{t}", (cout,), source, arch)
                for t in ("weight", "bias", "running_mean", "running_var")
            )
            s = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
            params[layer] = {
                "kernel": np.ascontiguousarray((w.transpose(2, 3, 1, 0) * s).astype(np.float32)),
                "bias": ((bias - mean) * s + beta).astype(np.float32),
            }
            index += 3  # conv, bn, relu
        index += 1  # pool
    assert list(params) == conv_names(arch)
    check_shapes(arch, params, source)
    return VGGWeights(
        arch, params, "torch", "zero",
        source=f"torchvision {arch} state_dict, batch norm folded into the convs ({Path(source).name})",
    )
