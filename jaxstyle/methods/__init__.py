"""The method registry: one line per method, everything a method provides behind its name.

Each entry names the module that implements the method and says in one line what it is
(``jaxstyle stylize --help`` lists these). The module provides

- ``load_stylizer(source=None, **options) -> Stylizer``: a model to run, from a training
  workdir / checkpoint / imported files (``source``), or built from options for
  optimization methods (:mod:`jaxstyle.methods.stylizer` defines the one stylizer call);
- ``TRAINER`` (trainable methods only): the training plug-in of :mod:`jaxstyle.train`
  (interface in :mod:`jaxstyle.methods.trainer`);
- optionally ``Stylizer``, its stylizer class, whose class attributes (``style_images``,
  ``default_size``) the CLI reads before loading any weights.

Modules are imported on first use, so the registry costs nothing at start-up. Adding a
method is a new module plus one line in :data:`METHODS` (README "Adding a method").
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from jaxstyle.errors import InputError


@dataclasses.dataclass(frozen=True)
class MethodEntry:
    """Where a method lives: its module, a one-line summary, fixed options for its loader."""

    module: str
    summary: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


METHODS: dict[str, MethodEntry] = {
    "gatys": MethodEntry("jaxstyle.methods.gatys", "optimization: content + Gram style losses (Gatys et al. 2016)", {"objective": "gatys"}),
    "lapstyle": MethodEntry("jaxstyle.methods.gatys", "optimization: Gatys + Laplacian loss (Li et al. 2017)", {"objective": "lapstyle"}),
    "adain": MethodEntry("jaxstyle.methods.adain", "feed-forward: AdaIN decoder (Huang & Belongie 2017), + Laplacian/depth variants"),
    "rast": MethodEntry("jaxstyle.methods.rast", "feed-forward: restorable arbitrary style transfer (Ma et al. 2023)"),
    "cin": MethodEntry("jaxstyle.methods.cin", "feed-forward, pretrained: 26 built-in styles by conditional instance norm (Dumoulin et al. 2017)"),
    "ghiasi": MethodEntry("jaxstyle.methods.ghiasi", "feed-forward, pretrained: any style image in one pass (Ghiasi et al. 2017)"),
    "johnson": MethodEntry("jaxstyle.methods.johnson", "feed-forward, one style per network: Johnson et al. 2016 (imports pytorch/examples' candy.pth & co.)"),
    "multimodal": MethodEntry("jaxstyle.methods.multimodal", "feed-forward, one style per network: Multimodal Transfer's 256/512/1024 hierarchy (Wang et al. 2017)"),
    "styleswap": MethodEntry("jaxstyle.methods.styleswap", "optimization or inverse network: patch-based style swap at relu3_1 (Chen & Schmidt 2016)"),
    "meanstd": MethodEntry("jaxstyle.methods.meanstd", "feed-forward: 1x1-conv colour transfer on mean/std (the template method)"),
    "strotss": MethodEntry("jaxstyle.methods.strotss", "optimization: relaxed-EMD + self-similarity hypercolumn losses on a Laplacian pyramid (Kolkin et al. 2019)"),
    "dst": MethodEntry("jaxstyle.methods.dst", "optimization: Deformable Style Transfer, the image and a keypoint-guided warp jointly (Kim et al. 2020)"),
    "wct": MethodEntry("jaxstyle.methods.wct", "feed-forward: whitening and colouring at five VGG levels, coarse to fine (Li et al. 2017)"),
}


def method_module(name: str) -> ModuleType:
    """The module implementing method ``name``."""
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name].module)


def get_trainer(name: str) -> type:
    """The training plug-in class of method ``name`` (``TRAINER`` of its module)."""
    trainer = getattr(method_module(name), "TRAINER", None)
    if trainer is None:
        trainable = ", ".join(n for n in METHODS if hasattr(method_module(n), "TRAINER"))
        raise InputError(f"method {name!r} is not trained (trainable methods: {trainable})")
    return trainer


def load_options(name: str) -> tuple[str, ...]:
    """The options ``load_stylizer`` of method ``name`` accepts (besides ``source``).

    Its keyword parameters, or the module's ``OPTIONS`` where it takes ``**options``.
    """
    module = method_module(name)
    params = getattr(module, "OPTIONS", None) or inspect.signature(module.load_stylizer).parameters
    fixed = METHODS[name].options
    return tuple(p for p in params if p != "source" and p not in fixed)


def load_stylizer(name: str, source: Any = None, **options: Any):
    """A :class:`~jaxstyle.methods.stylizer.Stylizer` for method ``name``.

    ``options`` the method does not take are refused in one line (never ignored);
    ``None`` values mean the method's default.
    """
    options = {k: v for k, v in options.items() if v is not None}
    accepted = load_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(
            f"method {name!r} does not take {', '.join(unknown)}"
            + (f" (it takes: {', '.join(accepted)})" if accepted else "")
        )
    stylizer = method_module(name).load_stylizer(source, **METHODS[name].options, **options)
    stylizer.method = name
    return stylizer
