"""Running a study's settings through the optimization engine, as few programs as possible.

A :class:`Setting` is one row of a study. Settings whose *program* is the same (network,
pooling, content loss, layer lists, optimizer: :meth:`Setting.program_key`) share one Gatys
objective with traced weights (:attr:`jaxstyle.optimize.Gatys.traced_weights`), and those that
also start the same way (:meth:`Setting.run_key`) run as ONE batch through
:func:`jaxstyle.optimize.optimize_pairs`, the pair axis being the settings (sharded over the
devices like any pairs). Settings differing only in their start image run as separate
batches of the same compiled program. :func:`run_settings` returns one :class:`Outcome` per
setting: the image, its final (unweighted) losses, LPIPS and style distances, and timings.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import color, metrics
from jaxstyle.compiles import CompileCounter
from jaxstyle.errors import InputError
from jaxstyle.evaluate import STYLE_LAYERS as REFERENCE_STYLE_LAYERS
from jaxstyle.io import resize, resize_long_side
from jaxstyle.models.encoder import Encoder
from jaxstyle.optimize.engine import Bucket, EngineConfig, OptimizationDiverged, optimize_pairs
from jaxstyle.optimize.gatys import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, TERMS, Gatys
from jaxstyle.pairs import Pair
from jaxstyle.weights.encoders import load_encoder

Log = Callable[[str], Any]


@dataclasses.dataclass
class Setting:
    """One row of a study: a label, the stage (sheet row) it belongs to, and what it runs.

    ``terms``: loss weights overriding the objective's defaults (content, style, tv, lap);
    ``style_layer_weights`` / ``content_layer_weights``: ``{layer: weight}`` over the program's
    layers (None: uniform, the mean). ``style_layers`` / ``content_layers`` None: the Gatys
    defaults. Everything but the weights and ``init`` shapes the compiled program.
    """

    label: str
    stage: str = ""
    terms: Mapping[str, float] = dataclasses.field(default_factory=dict)
    style_layer_weights: Mapping[str, float] | None = None
    content_layer_weights: Mapping[str, float] | None = None
    init: str = "content"
    optimizer: str = "lbfgs"
    encoder: str = "vgg16"
    pooling: str = "max"
    content_loss: str = "mse"
    style_layers: tuple[str, ...] | None = None
    content_layers: tuple[str, ...] | None = None
    lr: float | None = None  # None: RunOptions.lr, else the engine's rate for the optimizer

    def layers(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(style layers, content layers) of this setting's program."""
        return self.style_layers or DEFAULT_STYLE_LAYERS, self.content_layers or DEFAULT_CONTENT_LAYERS

    def program_key(self) -> tuple:
        """What decides the compiled program (settings with equal keys share one)."""
        return (self.encoder, self.pooling, self.content_loss, *self.layers(), self.optimizer, self.lr)

    def run_key(self) -> tuple:
        """What decides one batch: the program and the start image."""
        return (*self.program_key(), self.init)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What every setting of a study shares: result size, optimizer steps, noise seed, lr."""

    size: int = 256
    steps: int = 200
    seed: int = 0
    lr: float | None = None
    chunk: int = 10  # steps between loss reports (the curves' resolution)

    def __post_init__(self):
        EngineConfig(size=self.size, steps=self.steps, lr=self.lr, chunk=self.chunk, seed=self.seed)  # checks


@dataclasses.dataclass
class Outcome:
    """One setting's result: image (H,W,3) in [0, 1] and its row of the results table."""

    setting: Setting
    image: np.ndarray
    record: dict[str, Any]
    curve: list[tuple[float, int, float]]  # (seconds since step 0, step, total loss) of its batch


def run_settings(settings: Sequence[Setting], content: np.ndarray, style: np.ndarray, opts: RunOptions,
                 log: Log = print) -> list[Outcome]:
    """Run every setting on the pair (``content``, ``style``: H,W,3 in [0, 1]); outcomes in order.

    One :func:`optimize_pairs` call per distinct :meth:`Setting.run_key` (one batch each);
    ``record["program"]`` numbers the distinct programs, ``record["compiled"]`` counts the
    optimization programs that batch compiled (0 when it reused one) and ``compile_s`` their
    compile time; ``steps_per_s`` is measured from the first loss report (after compilation).
    """
    if jax.process_count() > 1:
        raise InputError("jaxstyle study runs in one process (the settings are sharded over its devices)")
    programs = list(dict.fromkeys(s.program_key() for s in settings))
    groups: dict[tuple, list[int]] = {}
    for i, setting in enumerate(settings):
        groups.setdefault(setting.run_key(), []).append(i)
    outcomes: list[Outcome | None] = [None] * len(settings)
    for run, members in enumerate(groups.values(), start=1):
        batch = [settings[i] for i in members]
        label = ", ".join(s.label for s in batch)
        log(f"-- {len(batch)} setting(s) in one batch: {label}")
        done = _run_batch(batch, content, style, opts)
        if "error" in done[0].record:
            log(f"   {done[0].record['error']}")
        for i, outcome in zip(members, done, strict=True):
            outcome.record["program"] = programs.index(settings[i].program_key()) + 1
            outcome.record["run"] = run  # the batch (engine call) it ran in
            outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


@functools.lru_cache(maxsize=8)
def load_network(name: str, pooling: str) -> Encoder:
    """The network ``name`` with ``pooling``, loaded once per process."""
    return load_encoder(name, pooling=pooling)


def _objective(setting: Setting) -> Gatys:
    """The traced-weights Gatys objective of ``setting``'s program, with its networks."""
    style_layers, content_layers = setting.layers()
    network = load_network(setting.encoder, setting.pooling)
    network.check_layers(style_layers + content_layers)
    lpips = metrics.default_lpips() if setting.content_loss == "lpips" else None
    return Gatys(content_layers=content_layers, style_layers=style_layers, content_loss=setting.content_loss,
                 encoder=network, lpips=lpips, traced_weights=True)


def _run_batch(batch: list[Setting], content: np.ndarray, style: np.ndarray, opts: RunOptions) -> list[Outcome]:
    """One engine run of settings that share a program and a start; timings per batch."""
    first = batch[0]
    objective = _objective(first)
    engine = EngineConfig(size=opts.size, steps=opts.steps, optimizer=first.optimizer,
                          lr=opts.lr if first.lr is None else first.lr,
                          init=first.init, seed=opts.seed, chunk=opts.chunk)
    weights = [objective.weight_inputs(s.terms, s.style_layer_weights, s.content_layer_weights) for s in batch]
    extra = {name: [w[name] for w in weights] for name in objective.extra_inputs}
    curve: list[tuple[float, int, float]] = []
    marks: dict[str, float] = {}

    def progress(step: int, losses: dict[str, float]) -> None:
        now = time.perf_counter()
        marks.setdefault("step0", now)  # the first report comes after compilation
        curve.append((now - marks["step0"], step, losses["total"]))

    start = time.perf_counter()
    counter = CompileCounter()
    try:
        with counter:
            results = optimize_pairs(objective, [Pair(content, style, s.label) for s in batch], engine,
                                     extra_inputs=extra, progress=progress)
    except OptimizationDiverged as e:  # the other batches still run; table and chart show this one failing
        return [_failed(s, _describe(s, w) | {"compiled": len(counter.seconds("run_chunk"))}, str(e), opts.size, content.shape,
                        len(batch), curve) for s, w in zip(batch, weights, strict=True)]
    wall = time.perf_counter() - start
    compiles = counter.seconds("run_chunk")  # the optimization programs
    run_s = max(time.perf_counter() - marks.get("step0", start), 1e-9)
    images = [r.image for r in results]
    terms = _final_terms(objective, engine, [r.variables for r in results], content, style, weights)
    quality = _quality(np.stack(images), content, style, opts.size)
    outcomes = []
    for k, setting in enumerate(batch):
        total = float(sum(weights[k]["term_weights"][TERMS.index(t)] * v[k] for t, v in terms.items()))
        record = {
            **_describe(setting, weights[k]),
            **{f"{t}_loss": float(v[k]) for t, v in terms.items()},
            "total_loss": total,
            **{name: float(v[k]) for name, v in quality.items()},
            "batch": len(batch), "compiled": len(compiles), "steps": opts.steps,
            "steps_per_s": opts.steps / run_s, "compile_s": sum(compiles), "wall_s": wall,
        }
        outcomes.append(Outcome(setting, images[k], record, curve))
    return outcomes


def _describe(setting: Setting, weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """The part of a setting's record that says what it ran (JSON-ready)."""
    style_layers, content_layers = setting.layers()
    return {
        "setting": setting.label, "stage": setting.stage, "encoder": setting.encoder, "pooling": setting.pooling,
        "content_loss_kind": setting.content_loss, "optimizer": setting.optimizer, "lr": setting.lr, "init": setting.init,
        "style_layers": list(style_layers), "content_layers": list(content_layers),
        "weights": {t: float(w) for t, w in zip(TERMS, weights["term_weights"], strict=True)},
        "style_layer_weights": weights["style_layer_weights"].tolist(),
        "content_layer_weights": weights["content_layer_weights"].tolist(),
    }


def _failed(setting: Setting, described: dict[str, Any], error: str, size: int, shape: tuple[int, ...],
            batch: int, curve: list[tuple[float, int, float]]) -> Outcome:
    """The outcome of a setting whose batch diverged: a grey image, NaN numbers, the curve so far."""
    h, w = shape[:2]
    image = np.full((max(1, round(h * size / max(h, w))), max(1, round(w * size / max(h, w))), 3), 0.5, np.float32)
    nan = float("nan")
    record = {**described, "error": error, "batch": batch,
              **{k: nan for k in ("content_loss", "style_loss", "total_loss", "content_lpips", "style_lpips",
                                  "style_distance", "steps_per_s", "compile_s", "wall_s")}}
    return Outcome(setting, image, record, curve)


def _final_terms(objective: Gatys, engine: EngineConfig, variables: list[Any], content: np.ndarray,
                 style: np.ndarray, weights: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each setting's loss terms, unweighted (layer weights applied): ``{term: (n,)}``.

    The engine's own zero-step chunk (a :class:`~jaxstyle.optimize.engine.Bucket`, as the run)
    with every term weight set to 1 reports them.
    """
    c, s = color.prepare_pair(resize_long_side(content, engine.size), resize_long_side(style, engine.size), "none")
    inputs = [{"content": c, "style": s, **w, "term_weights": np.ones_like(w["term_weights"])} for w in weights]
    report = Bucket(objective, objective.frozen(), inputs, list(variables), engine).run(0)
    return {t: np.asarray(v)[: len(variables)] for t, v in report.items() if t != "total"}


@jax.jit
def _quality_jit(lp: metrics.LPIPS, vgg: Encoder, out, content, style_same_size, style):
    fo, fs = vgg(out, REFERENCE_STYLE_LAYERS), vgg(style, REFERENCE_STYLE_LAYERS)
    gram = sum(metrics.gram_distance(fo[k], fs[k]) for k in REFERENCE_STYLE_LAYERS) / len(REFERENCE_STYLE_LAYERS)
    return {"content_lpips": lp(out, content), "style_lpips": lp(out, style_same_size), "style_distance": gram}


def _quality(outs: np.ndarray, content: np.ndarray, style: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Per result: LPIPS to the content, LPIPS to the style (seed 003's "Distance"), and the
    scale-free Gram distance to the style over relu1_1..relu4_1 of the embedded VGG16 (the
    metric of ``jaxstyle eval``), all against the inputs at the results' size."""
    c = resize_long_side(content, size)
    s = resize_long_side(style, size)
    n = len(outs)
    values = _quality_jit(metrics.default_lpips(), load_network("vgg16", "max"), jnp.asarray(outs),
                          jnp.asarray(np.repeat(c[None], n, 0)), jnp.asarray(np.repeat(resize(s, c.shape[:2])[None], n, 0)),
                          jnp.asarray(np.repeat(s[None], n, 0)))
    return {k: np.asarray(v) for k, v in values.items()}
