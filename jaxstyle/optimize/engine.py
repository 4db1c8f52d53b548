"""The optimization engine: every (content, style) pair optimized at once, for any objective.

An *objective* (:class:`~jaxstyle.optimize.objective.Objective`) says what one pair optimizes
and against what. The engine owns the rest, the same for every objective:

- inputs per pair at each scale: content and style resized to the long side, colours
  prepared by :func:`jaxstyle.color.prepare_pair` (and the results finished by
  :func:`jaxstyle.color.finish`), plus the objective's extra per-pair inputs;
- shape buckets (:func:`jaxstyle.pairs.buckets`): pairs whose loops look alike (equal target,
  content and extra-input shapes; styles may differ in size) share one program, and that
  bucket's pair axis is split over every device of every process
  (:class:`jaxstyle.pairs.PairAxis`, padded to a multiple of the device count);
- canonical canvases (``batching``, :mod:`jaxstyle.shapes`): each content is padded or
  resized to one of a few canvas shapes per size, so a collection of many shapes compiles a
  few programs. Objectives say which fits they support (``fits``); a padded pair's inputs carry
  ``valid`` ``(2,)`` ``[h, w]``, which the objective passes into its targets and its masked
  losses read. Results are cropped (or resized) back to the image's own shape;
- targets: ``objective.prepare`` on device, batched over the bucket's pairs (per input
  shape when a bucket mixes them);
- the loop: one jitted program per bucket, ``vmap`` of the per-pair loss *and* of the optax
  update over the pair axis, ``lax.fori_loop`` with a traced step count (one program serves
  every chunk length), state donated; progress after each chunk, frames every
  ``save_every`` steps, coarse-to-fine scales, Orbax checkpoints and bit-exact resume.

The whole variables pytree is optimized (L-BFGS with or without a zoom line search, Adam,
SGD), so an objective with extra variables needs no special case.

Writing an objective::

    @dataclasses.dataclass(frozen=True)        # hashable: a jit static argument
    class Shifted:
        '''Reconstruct the content while a per-pair offset moves to its per-pair target.'''

        extra_inputs = ("target_shift",)       # per-pair inputs beyond content and style

        def frozen(self):                      # networks, passed into jit as arguments
            return None

        def prepare(self, frozen, inputs):     # on device, leading pair axis P
            return {"content": inputs["content"], "shift": inputs["target_shift"]}

        def init(self, inputs, rng, image):    # one pair, host numpy
            return {"image": image, "shift": np.zeros(2, np.float32)}

        def loss(self, variables, targets, frozen):   # one pair, pure
            parts = {"image": jnp.mean(jnp.square(variables["image"] - targets["content"])),
                     "shift": jnp.sum(jnp.square(variables["shift"] - targets["shift"]))}
            return sum(parts.values()), parts

        def image(self, variables):            # (H,W,3) to report and save
            return variables["image"]

    results = optimize_pairs(Shifted(), make_pairs(contents, styles), EngineConfig(steps=50),
                             extra_inputs={"target_shift": [np.array([1.0, 2.0]), ...]})
    results[0].image, results[0].variables["shift"]

:class:`jaxstyle.optimize.gatys.Gatys` is the full-size example (VGG encoder and LPIPS as
frozen networks, Gram and content-feature targets).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxstyle import color
from jaxstyle import sharding as shd
from jaxstyle.checkpoint import PytreeCheckpointer
from jaxstyle.errors import InputError, JaxstyleError, flag, non_finite_terms
from jaxstyle.io import MAX_SIZE, long_side_shape, resize, resize_long_side
from jaxstyle.optimize.objective import Frozen, Objective, Variables
from jaxstyle.pairs import Pair, PairAxis, ProgressFn, buckets, pair_devices
from jaxstyle.shapes import AS_GIVEN, Batching, Placement, placement
from jaxstyle.sharding import SpatialLayout

OPTIMIZERS = ("lbfgs", "adam", "sgd")
INITS = ("content", "noise", "style")
# Coarse-to-fine schedules (``EngineConfig.schedule``): which sizes are optimized, how long each.
# ``halving``: ``scales`` levels, each half the next, ``steps`` each (scales 1: one level).
# ``sqrt2``: levels from 128 px by sqrt(2) to the size (see :func:`schedule_levels`).
SCHEDULES = ("halving", "sqrt2")
SQRT2_MIN_SIZE = 128  # px, the coarsest level of the sqrt2 schedule
SQRT2_COARSE_STEPS = 30  # steps at each sqrt2 level below the full size

FrameFn = Callable[[int, list[int], np.ndarray], None]


def check_fields(config: Any, choices: Mapping[str, Sequence[str]], positive: Sequence[str] = (),
                 non_negative: Sequence[str] = ()) -> None:
    """Raise :class:`InputError` naming the CLI flag of the first field of ``config`` that is
    not one of its ``choices``, not ``positive``, or negative (``non_negative``; None passes).
    A NaN or infinite ``positive`` / ``non_negative`` number is refused too: it would run to
    a black image with exit 0."""
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            what = name.replace("_", " ")
            raise InputError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    for name in (*positive, *non_negative):
        value = getattr(config, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{flag(name)} must be a finite number, got {value}")
    for name in positive:
        if getattr(config, name) <= 0:
            raise InputError(f"{flag(name)} must be positive, got {getattr(config, name)}")
    for name in non_negative:
        value = getattr(config, name)
        if value is not None and value < 0:
            raise InputError(f"{flag(name)} must be >= 0, got {value}")


def check_intervals(save_every: int = 0, checkpoint_every: int = 50) -> None:
    """One-line :class:`InputError` unless frames are every ``save_every >= 0`` steps (0: none)
    and checkpoints every ``checkpoint_every > 0`` steps."""
    if save_every < 0 or checkpoint_every <= 0:
        raise InputError("--save-every must be >= 0 and --checkpoint-every positive")


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """How pairs are optimized, whatever the objective (CLI flags map 1:1 onto the fields)."""

    size: int = 512  # long side of the result in px (the last scale)
    steps: int = 300  # optimizer steps per scale
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: 1.0 for L-BFGS, 0.02 Adam, 0.2 SGD
    # L-BFGS with a zoom line search costs ~3 objective evaluations per step here; without
    # one (the classic neural-style setting) exactly one.
    line_search: bool = False
    init: str = "content"  # starting image: content | noise | style
    scales: int = 1  # coarse-to-fine levels, each half the size of the next (schedule halving)
    schedule: str = "halving"  # a name in SCHEDULES: the levels (sizes and steps) optimized
    preserve_color: str = "none"  # none | luminance | histogram
    seed: int = 0  # for noise starts
    chunk: int = 10  # optimizer steps per device call (one progress update)
    # Devices sharing each pair's image, split along its height (1: pairs only). Must divide
    # the device count; see README "One large image over many devices".
    spatial_shards: int = 1
    # Pairs whose loss and gradient each device computes at once (None: 1 on the CPU, where
    # batching pairs gains no throughput but multiplies activation memory; all elsewhere).
    pair_batch: int | None = None

    def __post_init__(self):
        check_fields(
            self,
            choices={"optimizer": OPTIMIZERS, "init": INITS, "preserve_color": color.MODES,
                     "schedule": SCHEDULES},
            positive=("size", "steps", "scales", "chunk", "spatial_shards"),
            non_negative=("lr", "pair_batch"),
        )
        if not 32 <= self.size <= MAX_SIZE:
            raise InputError(f"--size must be in 32..{MAX_SIZE} px, got {self.size}")
        check_schedule(self.schedule, self.scales)
        check_scales(self.scales, self.size)

    def levels(self) -> list[Level]:
        """The coarse-to-fine levels this config optimizes (:func:`schedule_levels`), coarsest first."""
        return schedule_levels(self.schedule, self.size, self.steps, self.scales)

    def engine_settings(self, **changes: Any) -> EngineConfig:
        """Just the engine's fields of this config (a subclass adds its objective's), ``changes`` applied."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(EngineConfig)}
        return EngineConfig(**{**fields, **changes})

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else {"lbfgs": 1.0, "adam": 0.02, "sgd": 0.2}[self.optimizer]

    def make_optimizer(self) -> optax.GradientTransformation:
        if self.optimizer == "lbfgs":
            if self.line_search:
                return optax.lbfgs(learning_rate=self.lr)  # zoom line search (strong Wolfe) picks the step
            return optax.lbfgs(learning_rate=self.learning_rate(), linesearch=None)
        if self.optimizer == "adam":
            return optax.adam(self.learning_rate())
        return optax.sgd(self.learning_rate(), momentum=0.9)

    def program_key(self) -> EngineConfig:
        """Only the fields that change the compiled step (the static jit argument), so runs
        differing in length, size, seed, init or colour mode share one program per shape."""
        return EngineConfig(optimizer=self.optimizer, lr=self.lr, line_search=self.line_search,
                            pair_batch=self.pair_batch)

    def pairs_at_once(self, per_device: int) -> int:
        """How many of a device's ``per_device`` pairs are evaluated at once: the largest divisor
        of ``per_device`` up to :attr:`pair_batch` (its default: 1 on the CPU, else all)."""
        wanted = self.pair_batch or (1 if jax.default_backend() == "cpu" else per_device)
        return max(d for d in range(1, min(wanted, per_device) + 1) if per_device % d == 0)


@dataclasses.dataclass
class PairResult:
    """One pair's outcome: the image (colours finished, clipped to [0, 1]) and the variables."""

    image: np.ndarray  # (H,W,3) float32 at the last scale
    variables: Variables  # host numpy pytree, as ``objective.init`` laid it out


# --------------------------------------------------------------------------- on device


def _loss(objective: Objective, variables, targets, frozen, step) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``objective.loss``, passed the optimizer ``step`` (int32 scalar) if it ``takes_step``."""
    if getattr(objective, "takes_step", False):
        return objective.loss(variables, targets, frozen, step=step)
    return objective.loss(variables, targets, frozen)


def _pair_image(variables, targets, objective: Objective) -> jax.Array:
    """One pair's image: ``objective.render(variables, targets)`` if it has one, else ``image``."""
    render = getattr(objective, "render", None)
    return objective.image(variables) if render is None else render(variables, targets)


def _pair_step(variables, opt_state, targets, frozen, step, objective: Objective, settings: EngineConfig, opt):
    """One optimizer step for one pair (vmapped over the pair axis by the caller)."""

    def value_fn(v):
        return _loss(objective, v, targets, frozen, step)[0]

    if settings.optimizer == "lbfgs" and settings.line_search:  # reuse the line search's last evaluation
        value, grad = optax.value_and_grad_from_state(value_fn)(variables, state=opt_state)
        updates, opt_state = opt.update(grad, opt_state, variables, value=value, grad=grad, value_fn=value_fn)
    else:
        updates, opt_state = opt.update(jax.grad(value_fn)(variables), opt_state, variables)
    return optax.apply_updates(variables, updates), opt_state


def _pair_report(variables, targets, frozen, step, objective: Objective) -> dict[str, jax.Array]:
    total, parts = _loss(objective, variables, targets, frozen, step)
    return {"total": total, **parts}


def _placed(tree: Any, layout: SpatialLayout | None) -> Any:
    return tree if layout is None else layout.place(tree)


def _over_pairs(fn: Callable, groups: int, at_once: int) -> Callable:
    """``fn`` of one pair -> a function of pytrees with a leading pair axis (P, ...).

    The P rows are ``groups`` device groups (the sharded ``data`` axis) of P/groups rows each;
    every group runs its rows ``at_once`` at a time (``vmap``), one batch after another
    (``lax.map``), so activations are held for ``at_once`` pairs per device, not P/groups.
    """
    batched = jax.vmap(fn)

    def run(*trees):
        p = jax.tree.leaves(trees)[0].shape[0]
        if at_once >= p // groups:
            return batched(*trees)
        if groups == 1 and at_once == 1:
            return jax.lax.map(lambda t: fn(*t), trees)
        split = jax.tree.map(lambda x: x.reshape(groups, p // groups // at_once, at_once, *x.shape[1:]), trees)
        out = jax.vmap(lambda t: jax.lax.map(lambda b: batched(*b), t))(split)
        return jax.tree.map(lambda x: x.reshape(p, *x.shape[3:]), out)

    return run


@functools.partial(jax.jit, static_argnames=("objective", "settings", "layout", "pair_groups"),
                   donate_argnums=(0, 1))
def run_chunk(variables, opt_state, n_steps, targets, frozen, first_step=0, *, objective: Objective,
              settings: EngineConfig, layout: SpatialLayout | None = None, pair_groups: int = 1):
    """Run ``n_steps`` (traced, so one program serves every chunk length) optimizer steps on all pairs.

    ``variables``, ``opt_state``, ``targets``: pytrees with a leading pair axis (P, ...),
    sharded over it; ``settings``: a :meth:`EngineConfig.program_key`; ``first_step``
    (traced): the index of the chunk's first step, for objectives that declare ``takes_step``.
    Returns the new variables and optimizer state and ``{"total", *parts}`` (each (P,)) at the
    end of the chunk (evaluated at step ``first_step + n_steps``). The loop runs on device: no
    host syncs inside. With a spatial ``layout`` the maps are also split along their height
    (:class:`SpatialLayout`) and stay so across chunks; XLA partitions the convolutions (halo
    exchanges) and sums over positions (all-reduces). ``pair_groups``: the size of the mesh's
    ``data`` axis (device groups splitting the pairs); each group evaluates its pairs
    ``settings.pairs_at_once`` at a time (:func:`_over_pairs`).
    """
    opt = settings.make_optimizer()
    at_once = settings.pairs_at_once(jax.tree.leaves(variables)[0].shape[0] // pair_groups)
    first_step = jnp.asarray(first_step, jnp.int32)

    def body(i, carry):
        step = _over_pairs(lambda v, s, t: _pair_step(v, s, t, frozen, first_step + i, objective, settings, opt),
                           pair_groups, at_once)
        return step(*carry, targets)

    variables, opt_state = jax.lax.fori_loop(0, n_steps, body, (variables, opt_state))
    end = first_step + n_steps
    report = _over_pairs(lambda v, t: _pair_report(v, t, frozen, end, objective), pair_groups, at_once)(
        variables, targets)
    return _placed(variables, layout), _placed(opt_state, layout), report


# XLA:CPU options for the chunk program. Without YNNPACK library fusions the convolutions run
# on XLA's own (Eigen) kernels: the same time per step within noise, and 13% (256 px) to 24%
# (512 px) less peak memory at batch 1 (no packed copies of the weights per fused convolution):
# BENCHMARKS.md, "Issue 27, second pass".
CPU_CHUNK_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def compile_chunk(variables, opt_state, targets, frozen, **static: Any) -> Callable:
    """:func:`run_chunk` compiled for these arguments (``static``: its keyword arguments), then
    the heap the compiler freed handed back to the OS (:func:`release_freed_heap`).

    Call it as ``compiled(variables, opt_state, n_steps, targets, frozen, first_step)``.
    Compiling explicitly, before the first run, is what lets the loop's buffers reuse that memory.
    """
    zero = jnp.int32(0)
    lowered = run_chunk.lower(variables, opt_state, zero, targets, frozen, zero, **static)
    compiled = lowered.compile(CPU_CHUNK_OPTIONS if jax.default_backend() == "cpu" else None)
    release_freed_heap()
    return compiled


def release_freed_heap() -> None:
    """Return freed ``malloc`` heap to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    XLA:CPU's compiler frees a few hundred MB of small allocations that glibc keeps in its heap,
    while the loop's buffers are large blocks glibc maps anew, so without this the two add up in
    the process's peak memory (256 px Gatys: 849 -> 737 MB peak RSS, see BENCHMARKS.md).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@functools.partial(jax.jit, static_argnames=("settings", "layout"))
def init_opt_state(variables, *, settings: EngineConfig, layout: SpatialLayout | None = None):
    """The optimizer state of every pair: ``variables`` (P, ...) -> state pytree (P, ...)."""
    return _placed(jax.vmap(settings.make_optimizer().init)(variables), layout)


@functools.partial(jax.jit, static_argnames=("objective", "layout"))
def prepare_targets(frozen: Frozen, inputs: dict[str, jax.Array], *, objective: Objective,
                    layout: SpatialLayout | None = None):
    """``objective.prepare`` jitted: inputs (P, ...) -> targets (P, ...) (laid out by ``layout``)."""
    return _placed(objective.prepare(frozen, inputs), layout)


@functools.partial(jax.jit, static_argnames=("objective",))
def _images(variables, targets, *, objective: Objective) -> jax.Array:
    return jax.vmap(lambda v, t: _pair_image(v, t, objective))(variables, targets)


def chunk_memory(objective: Objective, settings: EngineConfig, content_shape: tuple[int, int],
                 style_shape: tuple[int, int] | None = None, n_pairs: int = 1,
                 devices: Sequence[jax.Device] | None = None) -> dict[str, int]:
    """Per-device bytes of the compiled optimization loop for ``n_pairs`` pairs of (H, W) images,
    laid out as ``settings.spatial_shards`` asks over ``devices`` (default all): XLA's
    ``memory_analysis`` of :func:`run_chunk`, compiled from shapes only (nothing runs).

    Returns ``temp`` (activations, gradients, loop temporaries), ``argument`` (image, optimizer
    state, targets and networks held by each device), ``output`` and ``alias`` (outputs that
    reuse donated arguments), and ``peak`` = temp + argument + output - alias.
    """
    devices = list(devices if devices is not None else jax.devices())
    axis = PairAxis(n_pairs, mesh=(shd.make_mesh(len(devices)) if settings.spatial_shards == 1 else
                                   shd.make_pair_space_mesh(settings.spatial_shards, devices)))
    frozen = objective.frozen()
    zeros = functools.partial(np.broadcast_to, np.zeros((), np.float32))  # shapes only, no memory
    inputs = {"content": zeros((*content_shape, 3)), "style": zeros((*(style_shape or content_shape), 3))}
    start = objective.init(inputs, np.random.default_rng(0), inputs["content"])

    def abstract(tree: Any) -> Any:
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct((axis.padded, *s.shape), s.dtype,
                                                           sharding=axis.sharding_of(s.shape)), tree)

    one = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (start, inputs))
    variables, batch = abstract(one[0]), abstract(one[1])
    program = settings.program_key()
    opt_state = jax.eval_shape(lambda v: init_opt_state(v, settings=program, layout=axis.layout), variables)
    targets = jax.eval_shape(lambda i: prepare_targets(frozen, i, objective=objective, layout=axis.layout), batch)
    whole = shd.replicated(axis.mesh)
    compiled = run_chunk.lower(
        variables, abstract(jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), opt_state)),
        jnp.int32(1), abstract(jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), targets)),
        jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype, sharding=whole), frozen),
        objective=objective, settings=program, layout=axis.layout, pair_groups=axis.groups,
    ).compile()
    m = compiled.memory_analysis()
    out = {"temp": m.temp_size_in_bytes, "argument": m.argument_size_in_bytes, "output": m.output_size_in_bytes,
           "alias": m.alias_size_in_bytes}
    out["peak"] = out["temp"] + out["argument"] + out["output"] - out["alias"]
    return out


# --------------------------------------------------------------------------- inputs


def max_scales(size: int) -> int:
    """The most coarse-to-fine levels ``size`` allows: each halves the next, the coarsest >= 32 px."""
    return 1 + max(0, int(math.floor(math.log2(size / 32))))


def check_scales(scales: int, size: int) -> None:
    """One-line InputError when ``scales`` levels do not fit ``size``: levels below 32 px would
    all be clamped to 32 px, repeating the same work, so they are refused instead."""
    most = max_scales(max(size, 32))
    if scales > most:
        raise InputError(f"--scales {scales} is too many for --size {size}: at most {most} "
                         "(each level halves the size, the smallest is 32 px)")


def scale_sizes(size: int, scales: int) -> list[int]:
    """Long sides of the coarse-to-fine levels, coarsest first, halving down from ``size`` (>= 32)."""
    return [max(32, round(size / 2 ** (scales - 1 - k))) for k in range(scales)]


@dataclasses.dataclass(frozen=True)
class Level:
    """One level of a coarse-to-fine schedule: ``steps`` optimizer steps at long side ``size`` px."""

    size: int
    steps: int


def check_schedule(schedule: str, scales: int) -> None:
    """One-line InputError for ``--scales`` given with a schedule that sets its own levels."""
    if schedule != "halving" and scales != 1:
        raise InputError(f"--scales {scales} needs --schedule halving (--schedule {schedule} sets its own "
                         "levels)")


def sqrt2_sizes(size: int, smallest: int = SQRT2_MIN_SIZE) -> list[int]:
    """Long sides from ``smallest`` px up by factors of sqrt(2) to ``size``, coarsest first
    (512: 128, 181, 256, 362, 512); just ``[size]`` when ``size <= smallest``. A level within
    ``2**0.25`` of ``size`` is dropped (it would repeat the last level's work)."""
    sizes = []
    k = 0
    while (s := smallest * 2 ** (k / 2)) < size / 2 ** 0.25:
        sizes.append(round(s))
        k += 1
    return [*sizes, size]


def schedule_levels(schedule: str, size: int, steps: int, scales: int = 1) -> list[Level]:
    """The levels of ``schedule`` for an image of long side ``size``, coarsest first.

    - ``halving``: ``scales`` levels halving down from ``size`` (:func:`scale_sizes`), ``steps``
      each; ``scales=1`` is the single-scale run.
    - ``sqrt2``: :func:`sqrt2_sizes` (from 128 px by sqrt(2)), ``steps`` at the full size
      (the last level) and ``SQRT2_COARSE_STEPS`` at each coarser one.
    """
    check_schedule(schedule, scales)
    if schedule == "halving":
        return [Level(s, steps) for s in scale_sizes(size, scales)]
    if schedule == "sqrt2":
        sizes = sqrt2_sizes(size)
        return [*(Level(s, SQRT2_COARSE_STEPS) for s in sizes[:-1]), Level(sizes[-1], steps)]
    raise InputError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def check_spatial_heights(spatial_shards: int, heights: Sequence[int]) -> None:
    """One-line InputError unless ``spatial_shards`` divides the device count and every canvas height.

    Images are padded (or resized) to such a height by :func:`optimize_pairs` for objectives
    with ``fits``; the canvas is whole in every shard, and the padding is masked out of the
    losses rather than cropped inside the program (unevenly split arrays, on which XLA's SPMD
    partitioner computed wrong gradients here). An objective that can do neither is refused.
    """
    bad = sorted({h for h in heights if h % spatial_shards})
    if bad:
        raise InputError(f"--spatial-shards {spatial_shards} needs image heights divisible by {spatial_shards}, "
                         f"got {', '.join(map(str, bad))} px (this objective can neither pad nor resize an image: "
                         "pick another --size/--scales)")
    n = len(pair_devices())
    if n % spatial_shards:
        raise InputError(f"--spatial-shards {spatial_shards} must divide the device count {n}")


class OptimizationDiverged(JaxstyleError):
    """A loss term became NaN/Inf during an optimization; the run stopped."""


def check_finite_losses(step: int, losses: dict[str, float]) -> None:
    """Raise :class:`OptimizationDiverged` naming the non-finite terms of ``losses`` at ``step``."""
    terms = non_finite_terms(losses)
    if terms:
        raise OptimizationDiverged(f"non-finite loss at step {step} ({terms}); stopped (try a smaller --lr "
                                   "or other loss weights)")


class TooManyPairs(JaxstyleError):
    """A program's pairs do not fit the memory budget; ``fits`` pairs per device would."""

    def __init__(self, message: str, fits: int):
        super().__init__(message)
        self.fits = fits


def check_program_memory(compiled: Any, per_device: int, budget: int, frozen: Frozen = None) -> None:
    """Raise :class:`TooManyPairs` when the compiled loop's peak (XLA's ``memory_analysis``,
    as :func:`chunk_memory`) exceeds ``budget`` bytes per device, with how many of its
    ``per_device`` pairs would fit (the networks, ``frozen``, counted once)."""
    m = compiled.memory_analysis()
    if m is None:  # a backend without the analysis: nothing to check
        return
    peak = m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
    if peak <= budget:
        return
    shared = sum(getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(frozen))
    per_pair = max(1, (peak - shared) // max(per_device, 1))
    fits = int((budget - shared) // per_pair)
    raise TooManyPairs(f"{per_device} pairs per device need {peak / 2**20:.0f} MiB, more than the "
                       f"{budget / 2**20:.0f} MiB budget", max(0, min(fits, per_device - 1)))


@dataclasses.dataclass
class _Scale:
    """The pairs at one scale: the objective's inputs, the RGB contents (for colour finishing)."""

    inputs: list[dict[str, np.ndarray]]
    contents: list[np.ndarray]  # RGB at the pair's own shape (the valid corner of its canvas)
    buckets: list[list[int]]
    placements: list[Placement]


def _shapes(tree: Any) -> tuple:
    return tuple(np.shape(leaf) for leaf in jax.tree.leaves(tree))


def _loop_key(objective: Objective, frozen: Frozen, inputs: dict[str, np.ndarray], cache: dict) -> tuple:
    """What one pair's optimization loop looks like: its target shapes, content and extras shapes.

    Pairs with equal keys share one program even when their *inputs* differ in shape (e.g.
    style images of other sizes, whose Gram targets are the same size).
    """
    input_shapes = tuple((k, np.shape(v)) for k, v in sorted(inputs.items()))
    if input_shapes not in cache:
        one = {k: jax.ShapeDtypeStruct((1, *np.shape(v)), np.asarray(v).dtype) for k, v in inputs.items()}
        targets = jax.eval_shape(lambda i: objective.prepare(frozen, i), one)
        cache[input_shapes] = (_shapes(targets), tuple(s for k, s in input_shapes if k != "style"))
    return cache[input_shapes]


def _scale(objective: Objective, frozen: Frozen, pairs: Sequence[Pair], extras: Mapping[str, list[np.ndarray]],
           size: int, mode: str, place: Callable[[tuple[int, int]], Placement | None]) -> _Scale:
    """Each pair's inputs at long side ``size``: content and style colour-prepared, the content
    on its canvas (``place`` of its shape; None: as it is), extras as given.

    Every distinct image (by identity) is resized once, however many pairs share it. Buckets
    group pairs by :func:`_loop_key`.
    """
    resized: dict[int, np.ndarray] = {}

    def at_size(img: np.ndarray) -> np.ndarray:
        if id(img) not in resized:
            resized[id(img)] = resize_long_side(img, size)
        return resized[id(img)]

    inputs, contents, placements = [], [], []
    for i, pair in enumerate(pairs):
        content, style = color.prepare_pair(at_size(pair.content), at_size(pair.style), mode)
        where = place(content.shape[:2])
        x = {"content": content, "style": style, **{k: v[i] for k, v in extras.items()}}
        if where is not None:
            x["content"] = where.place(content)
            if where.fit == "pad":
                x["valid"] = where.valid_input()
        inputs.append(x)
        contents.append(at_size(pair.content))
        placements.append(where or Placement(content.shape[:2], content.shape[:2]))
    cache: dict = {}
    return _Scale(inputs, contents, buckets([_loop_key(objective, frozen, x, cache) for x in inputs]), placements)


def _placer(objective: Objective, batching: Batching, spatial_shards: int, heights: Sequence[int]
            ) -> Callable[[tuple[int, int]], Placement | None]:
    """Where each content goes: its canonical canvas, a canvas whose height ``spatial_shards``
    divides, or nowhere (None: exact shapes, as without batching)."""
    fit = batching.fit_for(tuple(getattr(objective, "fits", ())))
    uneven = spatial_shards > 1 and any(h % spatial_shards for h in heights)
    if fit is None or (batching.buckets is None and not uneven):
        return lambda hw: None
    return functools.partial(_place_one, buckets=batching.buckets, fit=fit, height_multiple=spatial_shards)


def _place_one(hw: tuple[int, int], *, buckets: int | None, fit: str, height_multiple: int) -> Placement:
    where = placement(hw, buckets, fit, height_multiple)
    # Every pair of a padded run carries `valid` (one program), even one that fills its canvas.
    return where if where.fit == fit else dataclasses.replace(where, fit=fit)


def _extra_inputs(objective: Objective, given: Mapping[str, Sequence[Any]] | None, n_pairs: int) -> dict:
    """The objective's declared extra inputs, one array per pair, checked."""
    given = given or {}
    extras = {}
    for name in objective.extra_inputs:
        if name not in given or len(given[name]) != n_pairs:
            raise InputError(f"{type(objective).__name__} needs extra input {name!r}: one array per pair ({n_pairs})")
        extras[name] = [np.asarray(v) for v in given[name]]
    return extras


def start_image(inputs: Mapping[str, np.ndarray], init: str, rng: np.random.Generator,
                where: Placement | None = None) -> np.ndarray:
    """One pair's starting image (H,W,3): the content, the style resized to it, or uniform noise.

    On a padded canvas (``where``) the style is resized to the image's own shape and padded as
    the content was.
    """
    content = inputs["content"]
    if init == "content":
        return content.copy()
    if init == "style":
        if where is not None and where.padded:
            return where.place(resize(inputs["style"], where.valid))
        return resize(inputs["style"], content.shape[:2])
    return rng.uniform(0.0, 1.0, content.shape).astype(np.float32)


def finish_image(image: np.ndarray, content: np.ndarray, mode: str) -> np.ndarray:
    """A raw optimized image as a result: clipped to [0, 1], colours finished for ``mode``."""
    return color.finish(np.clip(image, 0.0, 1.0), content, mode)


def _fingerprint(objective: Objective, settings: EngineConfig, names: Sequence[str], inputs: Sequence[dict]) -> str:
    """A key for one bucket's checkpoints: same objective, settings and inputs -> same key."""
    h = hashlib.sha256(repr((objective, settings, tuple(names))).encode())
    for leaf in jax.tree.leaves(list(inputs)):
        h.update(np.ascontiguousarray(leaf).tobytes()[::97])  # a sample of the bytes is enough
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- main entry


def optimize_pairs(
    objective: Objective,
    pairs: Sequence[Pair],
    settings: EngineConfig,
    *,
    extra_inputs: Mapping[str, Sequence[Any]] | None = None,
    progress: ProgressFn | None = None,
    save_every: int = 0,
    on_frame: FrameFn | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 50,
    on_plan: Callable[[int], None] | None = None,
    batching: Batching = AS_GIVEN,
) -> list[PairResult | None]:
    """Optimize every pair under ``objective``; results in pair order.

    Each process returns only the pairs it owns (all of them in single-process runs); the
    others are ``None``. Pairs are optimized in one program per (scale, loop shapes);
    ``on_plan(total_steps)`` is called once with the steps of all of them, and
    ``progress(step, losses)`` after each chunk with the step counted across programs and the
    mean of each reported loss over the bucket's pairs; ``on_frame(step, pair_indices,
    images)`` every ``save_every`` steps (step counted per pair across scales). With
    ``checkpoint_dir``, state is saved every ``checkpoint_every`` steps and a re-run with the
    same inputs, objective and settings resumes from it (ending with the same result).
    ``extra_inputs``: ``{name: [one array per pair]}`` for ``objective.extra_inputs``.
    ``batching`` (:class:`jaxstyle.shapes.Batching`): canonical canvases, the least pairs per
    program, and a memory budget per device (a program whose compiled peak is larger raises
    :class:`TooManyPairs` before it runs). Images whose height ``settings.spatial_shards`` does
    not divide are padded (or resized) to one it does.
    """
    check_intervals(save_every, checkpoint_every)
    extras = _extra_inputs(objective, extra_inputs, len(pairs))
    frozen = objective.frozen()
    # One program per (scale, loop shapes): plan them all first so progress can count steps.
    levels = settings.levels()
    heights = [long_side_shape(p.content.shape, level.size)[0] for p in pairs for level in levels]
    place = _placer(objective, batching, settings.spatial_shards, heights)
    plan = [_scale(objective, frozen, pairs, extras, level.size, settings.preserve_color, place) for level in levels]
    check_spatial_heights(settings.spatial_shards, [x["content"].shape[0] for scale in plan for x in scale.inputs])
    if on_plan is not None:
        on_plan(sum(level.steps * len(scale.buckets) for level, scale in zip(levels, plan, strict=True)))
    images: dict[int, np.ndarray] = {}  # the latest result of each owned pair, at its own shape
    variables: dict[int, Variables] = {}
    step_offset = 0
    pair_steps = 0  # each pair's steps at the coarser levels (frames count on across levels)
    for level, (schedule_level, scale) in enumerate(zip(levels, plan, strict=True)):
        # The same config (its subclass too: an objective's optimizer, e.g. DST's warp rate), this level's steps.
        level_settings = dataclasses.replace(settings, steps=schedule_level.steps)
        for members in scale.buckets:
            inputs = [scale.inputs[i] for i in members]
            wheres = [scale.placements[i] for i in members]
            starts = [_initial_variables(objective, scale.inputs[i], images.get(i), settings,
                                         i if pairs[i].seed is None else pairs[i].seed, scale.placements[i])
                      for i in members]
            bucket_dir = None
            if checkpoint_dir is not None:
                key = _fingerprint(objective, settings, [pairs[i].name for i in members], inputs)
                bucket_dir = Path(checkpoint_dir) / f"scale{level}_{key}"
            with _checkpointer(bucket_dir) as ckpt:
                out = _optimize_bucket(
                    objective, frozen, inputs, starts, level_settings, wheres,
                    progress=None if progress is None else functools.partial(offset_progress, progress, step_offset),
                    save_every=save_every,
                    # Frames are numbered by the pair's own step (scales count on).
                    on_frame=None if on_frame is None else functools.partial(
                        emit_frame, on_frame, members, scale.contents, settings.preserve_color, pair_steps
                    ),
                    ckpt=ckpt,
                    checkpoint_every=checkpoint_every,
                    min_pairs=batching.min_pairs,
                    memory_budget=batching.memory_budget,
                )
            step_offset += schedule_level.steps
            for i, owned in zip(members, out, strict=True):
                if owned is not None:
                    images[i], variables[i] = owned
        pair_steps += schedule_level.steps
    return [
        PairResult(finish_image(images[i], plan[-1].contents[i], settings.preserve_color), variables[i])
        if i in images else None
        for i in range(len(pairs))
    ]


def _initial_variables(objective: Objective, inputs: dict, previous: np.ndarray | None, settings: EngineConfig,
                       seed: int, where: Placement) -> Variables:
    """A pair's starting variables: from its previous scale's image (upsampled, on this scale's
    canvas) or a fresh start; ``seed`` seeds its noise (with ``settings.seed``)."""
    rng = np.random.default_rng([settings.seed, seed])
    if previous is not None:
        image = where.place(resize(previous, where.valid))
    else:
        image = start_image(inputs, settings.init, rng, where)
    return objective.init(inputs, rng, image)


@contextlib.contextmanager
def _checkpointer(directory: Path | None) -> Iterator[PytreeCheckpointer | None]:
    """Checkpoints in ``directory`` (None without one), closed (saves committed) after."""
    if directory is None:
        yield None
        return
    ckpt = PytreeCheckpointer(directory)
    try:
        yield ckpt
    finally:
        ckpt.close()


def offset_progress(progress: ProgressFn, offset: int, step: int, losses: dict[str, float]) -> None:
    """``progress`` with steps counted on from ``offset`` (the steps of earlier programs)."""
    progress(offset + step, losses)


def emit_frame(
    on_frame: FrameFn, members: list[int], contents: Sequence[np.ndarray] | Mapping[int, np.ndarray], mode: str,
    base: int, step: int, owned: list[np.ndarray | None],
) -> None:
    """``on_frame(base + step, pairs, images)`` with the images of the owned rows (pair indices
    ``members``, raw images ``owned``), finished like results against ``contents[pair]``."""
    idx = [k for k, img in enumerate(owned) if img is not None]
    if idx:
        frames = np.stack([finish_image(owned[k], contents[members[k]], mode) for k in idx])
        on_frame(base + step, [members[k] for k in idx], frames)


class Bucket:
    """One bucket of pairs on its devices, run as :func:`optimize_pairs` runs it: targets
    prepared, optimizer state laid out, the chunk program compiled (:func:`compile_chunk`).

    Public so that benchmarks time the library's own call sequence, not a copy of it::

        bucket = Bucket(objective, objective.frozen(), inputs, starts, EngineConfig(...))
        report = bucket.run(10)              # 10 optimizer steps on every pair, one device call
        bucket.mean_losses(report), bucket.results()

    ``inputs``: one dict per pair (``objective``'s inputs, equal loop shapes); ``starts``: each
    pair's initial variables (``objective.init``); ``ckpt``: resume from its latest save (the
    bucket's ``step`` then starts there); ``min_pairs``/``memory_budget``: see
    :class:`jaxstyle.shapes.Batching` (a compiled peak above the budget raises
    :class:`TooManyPairs`).
    """

    def __init__(self, objective: Objective, frozen: Frozen, inputs: list[dict[str, np.ndarray]],
                 starts: list[Variables], settings: EngineConfig, *, ckpt: PytreeCheckpointer | None = None,
                 min_pairs: int = 1, memory_budget: int | None = None):
        self.objective, self.frozen = objective, frozen
        self.axis = axis = PairAxis(len(inputs), spatial_shards=settings.spatial_shards, min_pairs=min_pairs)
        self.targets = _prepare(objective, frozen, inputs, axis, axis.layout)
        program = settings.program_key()
        self.state = {"variables": axis.stack(starts)}
        # Laid out like run_chunk's output (pair axis sharded; maps along height when spatially
        # sharded), so every chunk runs the one program compiled below.
        opt_state = init_opt_state(self.state["variables"], settings=program, layout=axis.layout)
        self.state["opt_state"] = opt_state if axis.layout is not None else jax.device_put(opt_state, axis.sharding)
        self.step = 0
        if ckpt is not None and (restored := ckpt.restore_latest(self.state)) is not None:
            self.step, self.state = restored
        self.compiled = compile_chunk(self.state["variables"], self.state["opt_state"], self.targets, frozen,
                                      objective=objective, settings=program, layout=axis.layout,
                                      pair_groups=axis.groups)
        if memory_budget is not None:
            check_program_memory(self.compiled, axis.padded // axis.groups, memory_budget, frozen)

    def run(self, n: int) -> dict[str, jax.Array]:
        """``n`` optimizer steps on every pair (one device call, no host sync); the loss report
        ``{"total", *parts}`` (each (P,), padding rows included) after them."""
        self.state["variables"], self.state["opt_state"], report = self.compiled(
            self.state["variables"], self.state["opt_state"], jnp.int32(n), self.targets, self.frozen,
            jnp.int32(self.step))
        self.step += n
        return report

    def mean_losses(self, report: dict[str, jax.Array]) -> dict[str, float]:
        """Each reported loss averaged over the real pairs (padding rows left out); waits for it."""
        return {k: float(jnp.mean(v[: self.axis.n_pairs])) for k, v in report.items()}

    def images(self) -> list[np.ndarray | None]:
        """Host images (canvas shape) of the pairs this process owns, else None."""
        return self.axis.owned(_images(self.state["variables"], self.targets, objective=self.objective))

    def results(self) -> list[tuple[np.ndarray, Variables] | None]:
        """Host ``(image, variables)`` of the pairs this process owns, else None."""
        return _owned(self.axis, self.objective, self.state["variables"], self.targets)


def _optimize_bucket(
    objective: Objective,
    frozen: Frozen,
    inputs: list[dict[str, np.ndarray]],
    starts: list[Variables],
    settings: EngineConfig,
    wheres: list[Placement],
    *,
    progress: ProgressFn | None,
    save_every: int,
    on_frame: Callable[[int, list[np.ndarray | None]], None] | None,
    ckpt: PytreeCheckpointer | None,
    checkpoint_every: int,
    min_pairs: int = 1,
    memory_budget: int | None = None,
) -> list[tuple[np.ndarray, Variables] | None]:
    """Optimize one bucket (pairs whose inputs have equal shapes).

    Returns per pair ``(image, variables)`` on the host for the pairs this process owns, the
    image back at the pair's own shape (``wheres``: how each took its canvas).
    """
    bucket = Bucket(objective, frozen, inputs, starts, settings, ckpt=ckpt, min_pairs=min_pairs,
                    memory_budget=memory_budget)
    if progress is not None and bucket.step == 0:  # report the starting losses (a zero-step chunk)
        progress(0, bucket.mean_losses(bucket.run(0)))
    while bucket.step < settings.steps:
        report = bucket.run(_chunk_length(bucket.step, settings, save_every, checkpoint_every if ckpt else 0))
        step = bucket.step
        losses = bucket.mean_losses(report)  # waits for the chunk, as progress would
        # Stop on NaN/Inf (before a checkpoint could save it): a NaN pair would turn the
        # whole result black with exit 0.
        check_finite_losses(step, losses)
        if progress is not None:
            progress(step, losses)
        if on_frame is not None and save_every and step % save_every == 0:
            owned = bucket.images()
            on_frame(step, [None if img is None else w.unplace(img) for img, w in zip(owned, wheres, strict=True)])
        if ckpt is not None and (step % checkpoint_every == 0 or step == settings.steps):
            ckpt.save(step, bucket.state)
    return [None if r is None else (w.unplace(r[0]), r[1]) for r, w in zip(bucket.results(), wheres, strict=True)]


def _prepare(objective: Objective, frozen: Frozen, inputs: list[dict[str, np.ndarray]], axis: PairAxis,
             layout: SpatialLayout | None = None) -> Any:
    """The bucket's targets (P, ...), sharded like its pair axis (and ``layout``).

    Inputs of one shape: ``objective.prepare`` on the whole sharded batch. Inputs of several
    shapes (e.g. styles of other sizes): each process prepares its own rows one input shape
    at a time and the rows are put together on the host; spatially sharded, every input
    shape's pairs are prepared sharded over all devices (one image may not fit one device).
    """
    groups = buckets([_shapes(x) for x in inputs])
    if len(groups) == 1:
        return prepare_targets(frozen, axis.stack(inputs), objective=objective, layout=layout)
    if layout is not None:
        return _prepare_spatial_groups(objective, frozen, inputs, axis, groups)
    local = [inputs[i] for i in axis.local]
    rows: list[Any] = [None] * len(local)
    for group in buckets([_shapes(x) for x in local]):
        batch = jax.tree.map(lambda *xs: np.stack(xs), *[local[k] for k in group])
        prepared = jax.device_get(prepare_targets(frozen, batch, objective=objective))
        for j, k in enumerate(group):
            rows[k] = jax.tree.map(lambda a, j=j: a[j], prepared)
    return axis.to_global(jax.tree.map(lambda *xs: np.stack(xs), *rows))


def _prepare_spatial_groups(objective: Objective, frozen: Frozen, inputs: list[dict[str, np.ndarray]],
                            axis: PairAxis, groups: list[list[int]]) -> Any:
    """Mixed input shapes, spatially sharded: each shape group prepared on the whole mesh,
    gathered to the host (every process) and laid out again as one bucket."""
    from jax.experimental.multihost_utils import process_allgather

    rows: list[Any] = [None] * len(inputs)
    for group in groups:
        members = [inputs[i] for i in group]
        sub = PairAxis(len(group), mesh=axis.mesh)
        prepared = prepare_targets(frozen, sub.stack(members), objective=objective, layout=sub.layout)
        host = jax.tree.map(lambda a: np.asarray(process_allgather(a, tiled=True)), prepared)
        for j, i in enumerate(group):
            rows[i] = jax.tree.map(lambda a, j=j: a[j], host)
    return axis.stack(rows)


def _chunk_length(step: int, settings: EngineConfig, *boundaries: int) -> int:
    """Steps of the next chunk: at most ``settings.chunk``, ending on every (nonzero) boundary."""
    n = min(settings.chunk, settings.steps - step)
    for boundary in boundaries:
        if boundary:
            n = min(n, boundary - step % boundary)
    return n


def _owned(axis: PairAxis, objective: Objective, variables: Variables, targets: Any
           ) -> list[tuple[np.ndarray, Variables] | None]:
    """Host ``(image, variables)`` of the pairs whose rows live on this process, else None."""
    images = axis.owned(_images(variables, targets, objective=objective))
    leaves, treedef = jax.tree.flatten(variables)
    owned_leaves = [axis.owned(leaf) for leaf in leaves]
    return [
        None if image is None else (image, jax.tree.unflatten(treedef, [leaf[k] for leaf in owned_leaves]))
        for k, image in enumerate(images)
    ]
