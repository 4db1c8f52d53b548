"""A method's declaration: what it is, what it needs, and its options and controls, as data.

Each method package (``jaxstyle/methods/<name>/__init__.py``) holds one :class:`Method`; the
registry (:mod:`jaxstyle.methods`) maps names to them. Everything that presents or checks a
method reads this one declaration: ``jaxstyle stylize``'s flags and its refusals, the checks of
``load_stylizer`` and ``Stylizer.stylize``, ``jaxstyle methods --json`` and the web form.

Two kinds of option:

- **load options** (``Method.options``): keyword arguments of the method's loader, fixed for a
  loaded stylizer (encoder, optimizer, steps, ``source`` = ``--checkpoint``...). Only what is
  given reaches the loader; its defaults are the declared ones (tests/test_declarations.py
  checks that they agree), so the CLI, Python and the form run the same settings.
- **controls** (``Method.controls``): per call of ``stylizer.stylize(...)`` (size, alpha, ...).
  A control left out keeps the method's own behaviour, which is its declared default; the one
  exception is ``size``: left out in Python, the images are taken as given, while the CLI and
  the form resize to the declared default.

Nothing here imports JAX: ``jaxstyle --help`` and ``jaxstyle methods`` read declarations only.
The shared declarations below (size, colour, mixing, engine settings) are reused by methods
with their own defaults (:meth:`Option.with_default`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

from jaxstyle.options import Option, with_defaults

KINDS = ("optimization", "feed-forward")

# ---------------------------------------------------------------------- controls every method has

MAX_SIZE = 16384  # px, the longest side any command accepts (jaxstyle.io.MAX_SIZE)
SIZE = Option("size", "int", 256, "long side of the output in px", minimum=32, maximum=MAX_SIZE,
              group="controls")
PRESERVE_COLOR = Option(
    "preserve_color", "str", "none", "keep the content's colours: luminance-only transfer, or histogram "
    "matching of the style first", choices=("none", "luminance", "histogram"), nargs="?", const="luminance",
    group="controls")

# ---------------------------------------------------------------------- mixing styles

ALPHA = Option("alpha", "float", 1.0, "content-style trade-off: 0 content, 1 full style",
               minimum=0.0, maximum=1.0, group="controls")
STYLE_WEIGHTS = Option("style_weights", "floats", None, "mix ALL styles with these weights (one output per "
                       "content), e.g. 0.7,0.3", minimum=0.0, group="controls", metavar="W1,W2,...")
MASKS = Option("masks", "images", None, "one mask image per style: style k is applied where mask k is white",
               nargs="+", flag="--mask", group="controls", metavar="MASK")
MIXING = (ALPHA, STYLE_WEIGHTS, MASKS)

# ---------------------------------------------------------------------- trained models

SOURCE = Option("source", "path", None, "a training workdir or checkpoint, or the method's official files",
                path="file-or-dir", nargs="+", flag="--checkpoint", metavar="PATH", group="method")

# ---------------------------------------------------------------------- optimization (the engine)

_ENGINE = "optimization"
STEPS = Option("steps", "int", 150, "optimizer steps (per scale)", minimum=1, maximum=10**7, group=_ENGINE)
OPTIMIZER = Option("optimizer", "str", "lbfgs", "optimizer", choices=("lbfgs", "adam", "sgd"), group=_ENGINE)
LR = Option("lr", "float", None, "learning rate (default: 1 lbfgs, 0.02 adam, 0.2 sgd)",
            exclusive_minimum=0.0, group=_ENGINE)
LINE_SEARCH = Option("line_search", "bool", False, "L-BFGS with a zoom (strong Wolfe) line search: safer "
                     "steps, ~3x the evaluations", group=_ENGINE)
INIT = Option("init", "str", "content", "starting image", choices=("content", "noise", "style"), group=_ENGINE)
SCALES = Option("scales", "int", 1, "coarse-to-fine levels, each half the size of the next", minimum=1,
                maximum=10, group=_ENGINE)
SEED = Option("seed", "int", 0, "seed of noise starts and sampling (0 .. 2**32-1)", minimum=0,
              maximum=2**32 - 1, group=_ENGINE)
CHUNK = Option("chunk", "int", 10, "optimizer steps per device call (one progress update)", minimum=1,
               maximum=10**6, group=_ENGINE)
SPATIAL_SHARDS = Option("spatial_shards", "int", 1, "split each image's optimization along its height over "
                        "N devices (one image beyond one device's memory)", minimum=1, maximum=4096,
                        metavar="N", group=_ENGINE)
PAIR_BATCH = Option("pair_batch", "int", None, "pairs each device evaluates at once (default 1 on the CPU, "
                    "all elsewhere)", minimum=1, maximum=10**6, metavar="N", group=_ENGINE)
ENCODER = Option("encoder", "str", "vgg16", "feature network: vgg16 (embedded), alexnet (embedded), or an "
                 "imported vgg19, vgg16_bn, vgg19_bn, resnet50, densenet121, efficientnet_b0",
                 choices=("vgg16", "vgg19", "alexnet", "vgg16_bn", "vgg19_bn", "resnet50", "densenet121",
                          "efficientnet_b0"), group=_ENGINE)
WEIGHTS = Option("weights", "path", None, "encoder weights file (default: embedded/imported)", path="file",
                 group=_ENGINE)
POOL = Option("pool", "str", "max", "pooling in the encoder", choices=("max", "avg"), group=_ENGINE)
REMAT = Option("remat", "bool", False, "gradient checkpointing around encoder blocks (large images, less "
               "memory)", group=_ENGINE)
# The Gatys family's coarse-to-fine schedule (jaxstyle.optimize.engine.SCHEDULES); other methods
# set their own levels (STROTSS, DST) and keep the halving --scales.
SCHEDULE = Option("schedule", "str", "halving", "coarse-to-fine levels: halving (--scales levels, each half the "
                  "next, --steps each) or sqrt2 (from 128 px up by sqrt(2) to --size; --steps at the full size, "
                  "fewer below)", choices=("halving", "sqrt2"), group=_ENGINE)
ENGINE_OPTIONS = (STEPS, OPTIMIZER, LR, LINE_SEARCH, INIT, SCALES, SEED, CHUNK, SPATIAL_SHARDS, PAIR_BATCH,
                  ENCODER, WEIGHTS, POOL, REMAT)

# Per-call controls of every optimization method (frames, checkpoints, tiles).
SAVE_EVERY = Option("save_every", "int", 0, "also write intermediate frames every N steps (into "
                    "OUTPUT/frames/; 0: none)", minimum=0, maximum=10**7, metavar="N", group=_ENGINE)
CHECKPOINT_DIR = Option("checkpoint_dir", "path", None, "save optimizer state here every --checkpoint-every "
                        "steps; re-running resumes", path="new-dir", group=_ENGINE)
CHECKPOINT_EVERY = Option("checkpoint_every", "int", 50, "steps between checkpoints", minimum=1,
                          maximum=10**7, metavar="N", group=_ENGINE)
TILE = Option("tile", "int", None, "optimize the scales larger than SIZE px in overlapping SIZE x SIZE tiles "
              "(images too large for memory; Adam unless --optimizer sgd)", minimum=32, maximum=MAX_SIZE,
              metavar="SIZE", group=_ENGINE)
TILE_OVERLAP = Option("tile_overlap", "int", None, "px by which neighbouring tiles overlap (default SIZE/4)",
                      minimum=0, maximum=MAX_SIZE, metavar="PX", group=_ENGINE)
RUN_CONTROLS = (SAVE_EVERY, CHECKPOINT_DIR, CHECKPOINT_EVERY)


@dataclasses.dataclass(frozen=True)
class Method:
    """One registered method (see the module docstring).

    Attributes:
      name: the registry name (``--method NAME``).
      summary: one line for lists and ``--help``.
      kind: ``optimization`` (each image optimized) or ``feed-forward`` (a network runs once).
      needs: what must exist besides the inputs, in words ("nothing", "a trained workdir or ...").
      loader: ``"module:function"`` returning a stylizer; called as
        ``loader(source, **fixed, **options)``.
      options: load options (:class:`Option`), the loader's keyword arguments.
      controls: per-call controls (:class:`Option`), ``stylizer.stylize``'s keyword arguments.
      fixed: loader arguments this registration fixes (``lapstyle`` is ``gatys`` with one).
      trainer: ``"module:ATTR"`` of its training plug-in, if it is trained.
      style_images: False when the style is built in (a control picks it) or learned.
      mixing: controls under which one style entry is K images mixed into one output.
      runs_offline: whether it runs with what jaxstyle ships (no trained model, no user file).
      docs: its page under docs/methods/.
    """

    name: str
    summary: str
    kind: str
    needs: str
    loader: str
    options: tuple[Option, ...] = ()
    controls: tuple[Option, ...] = (SIZE, PRESERVE_COLOR)
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    trainer: str | None = None
    style_images: bool = True
    mixing: tuple[str, ...] = ()
    runs_offline: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        names = [o.name for o in self.options + self.controls]
        if len(set(names)) != len(names):
            raise ValueError(f"method {self.name}: an option is declared twice in {names}")

    @property
    def docs(self) -> str:
        return f"docs/methods/{self.name}.md"

    def option(self, name: str) -> Option | None:
        """The declaration of load option or control ``name`` (None if it has none)."""
        return next((o for o in self.options + self.controls if o.name == name), None)

    def takes_source(self) -> bool:
        return any(o.name == "source" for o in self.options)

    def load(self, *args: Any, **kwargs: Any) -> Any:
        """Call the loader (imports the method's code on first use)."""
        module, _, attr = self.loader.partition(":")
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    def trainer_class(self) -> type | None:
        if self.trainer is None:
            return None
        module, _, attr = self.trainer.partition(":")
        return getattr(importlib.import_module(module), attr)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: what a form needs to offer this method."""
        return {
            "name": self.name, "summary": self.summary, "kind": self.kind, "needs": self.needs,
            "trainable": self.trainer is not None, "style_images": self.style_images,
            "runs_offline": self.runs_offline, "mixing": list(self.mixing), "docs": self.docs,
            "options": [o.describe() for o in self.options],
            "controls": [o.describe() for o in self.controls],
        }


# ---------------------------------------------------------------------- feature losses (Gatys family)

_LOSSES = "losses"
CONTENT_LAYERS = Option("content_layers", "names", None, "comma-separated encoder taps (default relu4_2; "
                        "per network)", group=_LOSSES)
STYLE_LAYERS = Option("style_layers", "names", None, "comma-separated encoder taps (default relu1_1..relu5_1; "
                      "per network)", group=_LOSSES)
CONTENT_WEIGHT = Option("content_weight", "float", None, "alpha, the content loss weight (default per method)",
                        minimum=0.0, group=_LOSSES)
STYLE_WEIGHT = Option("style_weight", "float", None, "beta, the style loss weight (default per method)",
                      minimum=0.0, group=_LOSSES)
TV_WEIGHT = Option("tv_weight", "float", None, "total-variation weight (default per method)", minimum=0.0,
                   group=_LOSSES)
LAP_WEIGHT = Option("lap_weight", "float", None, "Laplacian loss weight (default: 0 gatys, 1e3 lapstyle)",
                    minimum=0.0, group=_LOSSES)
LAP_POOL = Option("lap_pool", "int", 4, "average pooling before the Laplacian", minimum=1, maximum=64,
                  group=_LOSSES)
CONTENT_LOSS = Option("content_loss", "str", "mse", "feature MSE, or LPIPS as a perceptual content loss",
                      choices=("mse", "lpips"), group=_LOSSES)
STYLE_LOSS = Option("style_loss", "str", "gram", "Gatys Gram matrices, or w2: the Wasserstein-2 distance between "
                    "the feature Gaussians (mean and covariance per layer)", choices=("gram", "w2"), group=_LOSSES)
COMPUTE_DTYPE = Option("compute_dtype", "str", "float32", "the encoder's activations: bfloat16 halves their "
                       "memory and traffic (Grams sum in float32; the image and optimizer stay float32)",
                       choices=("float32", "bfloat16"), group=_LOSSES)
GATYS_LOSSES = (CONTENT_LAYERS, STYLE_LAYERS, CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT, LAP_WEIGHT, LAP_POOL,
                CONTENT_LOSS, STYLE_LOSS, COMPUTE_DTYPE)
OPTIMIZATION_CONTROLS = (SIZE, PRESERVE_COLOR, *RUN_CONTROLS)

# ---------------------------------------------------------------------- STROTSS' objective (strotss, dst)

_STROTSS = "STROTSS"
STROTSS_OPTIONS = (
    Option("content_weight", "float", 8.0, "alpha, the content (self-similarity) weight", minimum=0.0,
           group=_STROTSS),
    Option("pyramid_levels", "int", 5, "Laplacian pyramid levels of the image", minimum=1, maximum=12,
           group=_STROTSS),
    Option("samples", "int", 2048, "locations sampled per step", minimum=2, maximum=10**6, group=_STROTSS),
    Option("style_samples", "int", 5000, "style hypercolumns per scale", minimum=2, maximum=10**6,
           group=_STROTSS),
)
# The official DST job_example.sh run: SGD (momentum 0.9) lr 0.3 on its image in [-1, 1], which is
# 0.075 on jaxstyle's in [0, 1] (jaxstyle.optimize.strotss.PYRAMID_LRS), 150 steps per scale, 3 scales.
STROTSS_SCHEDULE = tuple(
    opt.with_default(None, help="learning rate on the image's pyramid (default: 0.075 sgd, the official 0.3 "
                     "on an image in [-1, 1]; 2e-3 adam; 1 lbfgs)") if opt.name == "lr" else opt
    for opt in with_defaults(ENGINE_OPTIONS, steps=150, optimizer="sgd", scales=3))
