"""The studies: each a small function from :class:`StudyOptions` to the settings it compares.

Every study reproduces an experiment of the seeds (the replication notes in ``shared/seeds``):
seed 001 ("Style Transfer") varies the optimizer, the network, the alpha/beta ratio, the
pooling, the layers and the initialisation; seed 003 ("Learning with Image Style Transfer")
studies each style layer alone, then each content layer beside a fixed style layer, and
compares MSE with LPIPS as the content loss by LPIPS distances.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

from jaxstyle.errors import InputError
from jaxstyle.optimize.engine import INITS, OPTIMIZERS
from jaxstyle.optimize.gatys import Gatys
from jaxstyle.study.run import Setting
from jaxstyle.weights.encoders import available_encoders, default_layers

# alpha/beta (content weight / style weight): from Gatys' default (1/1e5) to content-dominated; at
# 64 px on the shared photos 1e-7..1e-2 all look alike (style dominates), see docs/studies.md.
DEFAULT_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
DEFAULT_STYLE_WEIGHT = Gatys().weight("style")
# Seed 003's "conv1..conv5": the outputs of VGG's five pooling layers.
DEFAULT_STUDY_LAYERS = ("pool1", "pool2", "pool3", "pool4", "pool5")


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """What the studies take beyond the run options (the CLI flags of ``jaxstyle study``)."""

    encoder: str = "vgg16"  # the network of every study but `network`
    ratios: tuple[float, ...] = DEFAULT_RATIOS  # `weights`: alpha/beta values
    layers: tuple[str, ...] = DEFAULT_STUDY_LAYERS  # `layers`: candidate layers
    fixed_style_layer: str | None = None  # `layers` stage 2 (default: the 3rd candidate, seed 003's conv3)
    encoders: tuple[str, ...] | None = None  # `network`: None = every available one
    init: str = "content"  # start of the studies that do not vary it (`layers` uses noise)
    optimizer: str = "lbfgs"  # optimizer of the studies that do not vary it
    style_layers: tuple[str, ...] | None = None  # layers of the studies that do not vary them (None: Gatys')
    content_layers: tuple[str, ...] | None = None
    content_weight: float | None = None  # weights of the studies that do not vary them (None: Gatys')
    style_weight: float | None = None
    lrs: Mapping[str, float] = dataclasses.field(default_factory=dict)  # `optimizer`: rate per optimizer

    def __post_init__(self):
        if not self.ratios or any(not (math.isfinite(r) and r > 0) for r in self.ratios):
            raise InputError(f"--ratios must be positive numbers, got {', '.join(map(str, self.ratios)) or 'none'}")
        if not self.layers:
            raise InputError("--layers needs at least one layer")
        if self.fixed_style_layer is not None and self.fixed_style_layer not in self.layers:
            raise InputError(f"--style-layer {self.fixed_style_layer} is not one of --layers ({', '.join(self.layers)})")
        for name in ("content_weight", "style_weight"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InputError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value}")
        for name, rate in self.lrs.items():
            if name not in OPTIMIZERS or not (math.isfinite(rate) and rate > 0):
                raise InputError(f"--lrs wants OPTIMIZER=RATE with a rate > 0 and OPTIMIZER one of "
                                 f"{', '.join(OPTIMIZERS)}; got {name}={rate}")
        if self.init not in INITS:
            raise InputError(f"unknown init {self.init!r}; expected one of {', '.join(INITS)}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")

    def terms(self) -> dict[str, float]:
        """The loss weights given (the others are the objective's defaults)."""
        given = {"content": self.content_weight, "style": self.style_weight}
        return {term: weight for term, weight in given.items() if weight is not None}

    def base(self, **changes) -> dict:
        """Setting fields every study starts from."""
        return {"encoder": self.encoder, "init": self.init, "optimizer": self.optimizer, "terms": self.terms(),
                "style_layers": self.style_layers, "content_layers": self.content_layers, **changes}


def weights_study(opts: StudyOptions) -> list[Setting]:
    """Seed 001: vary alpha/beta (content weight ``--content-weight``, default 1, style weight
    content weight / ratio); one program."""
    alpha = 1.0 if opts.content_weight is None else opts.content_weight
    if alpha == 0:
        raise InputError("study weights needs a nonzero --content-weight (alpha)")
    return [Setting(f"a/b={r:g}", "alpha/beta", **opts.base(terms={"content": alpha, "style": alpha / r}))
            for r in opts.ratios]


def layers_study(opts: StudyOptions) -> list[Setting]:
    """Seed 003's two stages, noise start, both in one program over the candidate layers:
    each layer alone as the style layer with content weight 0, then each layer as the content
    layer beside the fixed style layer."""
    layers = opts.layers
    fixed = opts.fixed_style_layer or layers[min(2, len(layers) - 1)]
    common = opts.base(init="noise", style_layers=layers, content_layers=layers)
    style = DEFAULT_STYLE_WEIGHT if opts.style_weight is None else opts.style_weight
    # alpha/beta 1 by default: with one pooling layer each, Gatys' 1e-5 leaves no trace of the
    # content in stage 2 (docs/studies.md); beta as Gatys' keeps the TV term as small as usual.
    both = {"content": style if opts.content_weight is None else opts.content_weight, "style": style}
    stage1 = [Setting(f"style {layer}", "style layer alone (content weight 0)", style_layer_weights={layer: 1.0},
                      **{**common, "terms": {"content": 0.0, "style": style}}) for layer in layers]
    stage2 = [Setting(f"{fixed} + content {layer}", f"style {fixed} + one content layer",
                      style_layer_weights={fixed: 1.0}, content_layer_weights={layer: 1.0},
                      **{**common, "terms": both}) for layer in layers]
    return stage1 + stage2


def init_study(opts: StudyOptions) -> list[Setting]:
    """Seed 001: start from noise, the content or the style; one program, one batch per start."""
    return [Setting(f"init {init}", "initialisation", **opts.base(init=init)) for init in INITS]


def pooling_study(opts: StudyOptions) -> list[Setting]:
    """Seed 001: max or average pooling in the network; one program each."""
    return [Setting(f"{pooling} pooling", "pooling", **opts.base(pooling=pooling)) for pooling in ("max", "avg")]


def optimizer_study(opts: StudyOptions) -> list[Setting]:
    """Seed 001: Adam, L-BFGS, SGD (the engine's rates unless ``lrs``); one program each, loss curves charted."""
    return [Setting(optimizer, "optimizer", lr=opts.lrs.get(optimizer), **opts.base(optimizer=optimizer))
            for optimizer in ("adam", "lbfgs", "sgd")]


def content_loss_study(opts: StudyOptions) -> list[Setting]:
    """Seed 003: feature MSE or LPIPS as the content loss (default weights: 1 and 20), compared
    by LPIPS distances to the content and the style; one program each."""
    return [Setting(f"{kind} content", "content loss", **opts.base(content_loss=kind)) for kind in ("mse", "lpips")]


def network_study(opts: StudyOptions) -> list[Setting]:
    """Seed 001: the same transfer through every available network (its default Gatys layers)."""
    names = opts.encoders or tuple(available_encoders())
    if not names:
        raise InputError("no encoder is available (the embedded vgg16 should always be)")
    settings = []
    for name in names:
        content, style = default_layers(name)
        settings.append(Setting(name, "network", **opts.base(encoder=name, style_layers=opts.style_layers or style,
                                                               content_layers=opts.content_layers or content)))
    return settings


@dataclasses.dataclass(frozen=True)
class Study:
    """A registered study: its settings and what it reproduces (for tables and ``--help``)."""

    settings: Callable[[StudyOptions], list[Setting]]
    reproduces: str


STUDIES: dict[str, Study] = {
    "layers": Study(layers_study, "seed 003 section 3: each style layer alone, then each content layer "
                                  "with a fixed style layer (noise start, content weight 0 in stage 1)"),
    "weights": Study(weights_study, "seed 001: the alpha/beta (content/style weight) ratio"),
    "init": Study(init_study, "seed 001: initialisation from noise, the content or the style image"),
    "pooling": Study(pooling_study, "seed 001: max or average pooling"),
    "optimizer": Study(optimizer_study, "seed 001: Adam, L-BFGS and SGD"),
    "network": Study(network_study, "seed 001: the network (every encoder available)"),
    "content-loss": Study(content_loss_study, "seed 003 section 4.2: MSE or LPIPS as the content loss"),
}
