"""Tiled optimization: one image larger than memory allows, optimized in overlapping tiles.

At every step the image is cut into windows of one static shape ``tile x tile`` (smaller only
along a side shorter than the tile). Each window's pixels carry their own loss -- the
objective's per-pair loss on the window, against the content targets of the same window of
the content and the style targets of the WHOLE style (Gram matrices are means over positions,
so one target serves a window of any size) -- and each pixel takes its gradient from exactly
one window, the one whose *core* owns it. Cores partition the image; every window reaches at
least ``overlap / 2`` px beyond its core (except at the image's edges), so a core pixel's
receptive field sees real neighbours rather than zero padding. The gradients, each scaled by
its window's share of the image, are assembled into one full-image gradient and the optimizer
(Adam or SGD; per-pixel state: full-image arrays) takes one step on the whole image.

Seams: with a fixed grid, the pixels next to a core border would always be optimized by two
different windows' losses and would see the padding of the window edge, and the texture
breaks along the border. Here the grid is shifted by a fresh random offset in ``[0, tile -
overlap)`` along each axis at every step (seeded), so no pixel sits on a border for more than a
few steps: the approach of crowsonkb/style_transfer (random roll of the image before a fixed
tiling, every iteration), without the wrap-around (windows are clamped inside the image).
:class:`TileConfig` with ``random_offsets=False`` is that naive fixed grid (tests and the
ablation in BENCHMARKS.md measure the seams it leaves).

Programs: one jitted per-window step (:func:`tile_step`, the window shape static; edge windows
are shifted inside the image instead of padded, so there is one compilation per scale) and
one jitted optimizer update of the whole image. Style targets are computed once per scale
from the whole style at the working scale, in windows too when the style is larger than a
tile (weighted Grams over the windows' cores; :meth:`Tileable.style_targets`).

Coarse-to-fine: scales whose long side fits in one tile run untiled through the engine
(:func:`jaxstyle.optimize.engine.optimize_pairs`, all pairs batched); the larger ones are
tiled, one pair at a time, starting from the previous scale's image upsampled.

Objectives that can be tiled implement :class:`Tileable` (Gatys and Lapstyle do); the
optimized variables must be the image alone (``{"image": (H,W,3)}``).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import color
from jaxstyle.errors import InputError
from jaxstyle.io import resize, resize_long_side
from jaxstyle.optimize import engine
from jaxstyle.optimize.engine import (
    EngineConfig,
    FrameFn,
    PairResult,
    ProgressFn,
    check_finite_losses,
)
from jaxstyle.optimize.objective import Frozen, Objective, Targets
from jaxstyle.pairs import Pair

TILED_OPTIMIZERS = ("adam", "sgd")
MIN_POSITIONS = 4  # the deepest layer must see at least this many positions along a tile side


@runtime_checkable
class Tileable(Protocol):
    """What an objective adds to be optimized in tiles (see the module docstring).

    ``prepare(frozen, inputs)`` must equal ``{**content_targets(frozen, inputs["content"]),
    **style_targets(frozen, inputs["style"])}``; the style targets must be means over
    positions (so the whole style's serve any window), the content targets a function of
    the content window alone.
    """

    def content_targets(self, frozen: Frozen, content: jax.Array) -> Targets:
        """Targets from the content (P,H,W,3) (leading pair axis)."""
        ...

    def style_targets(self, frozen: Frozen, style: jax.Array, weight: jax.Array | None = None) -> Targets:
        """Targets from the style (P,h,w,3): means over positions, weighted by ``weight``
        (P,h,w) when given."""
        ...

    def deepest_stride(self) -> int:
        """Image pixels per position of the deepest encoder layer the loss reads."""
        ...


@dataclasses.dataclass(frozen=True)
class TileConfig:
    """How an image is tiled (``jaxstyle stylize --tile SIZE --tile-overlap PX``).

    ``tile``: the window side in px; ``overlap``: px by which neighbouring windows overlap
    (None: ``tile // 4``), so each core has at least ``overlap / 2`` px of context;
    ``random_offsets``: shift the grid randomly at every step (False: a fixed grid, which
    leaves seams; for tests and ablations).
    """

    tile: int
    overlap: int | None = None
    random_offsets: bool = True

    @property
    def margin(self) -> int:
        return self.tile // 4 if self.overlap is None else self.overlap


def check_tiling(objective: Objective, settings: EngineConfig, tiling: TileConfig) -> None:
    """One-line :class:`InputError` for a tiling this objective and these settings cannot run."""
    if not isinstance(objective, Tileable):
        raise InputError(f"--tile: {type(objective).__name__} cannot be optimized in tiles (its targets "
                         "are not per-window content targets plus whole-style means)")
    tile, overlap = tiling.tile, tiling.margin
    smallest = MIN_POSITIONS * objective.deepest_stride()
    if tile < smallest:
        raise InputError(f"--tile {tile} is too small for the encoder's depth: at least {smallest} px "
                         f"({MIN_POSITIONS} positions of its deepest layer)")
    if tile > settings.size:
        raise InputError(f"--tile {tile} is larger than the image (--size {settings.size}); "
                         "leave out --tile, or give a smaller one")
    if not 0 <= overlap < tile:
        raise InputError(f"--tile-overlap must be in 0..{tile - 1} px (below --tile {tile}), got {overlap}")
    if settings.spatial_shards > 1:
        raise InputError("--tile and --spatial-shards are two ways to fit a large image: give one of them "
                         "(tiles run on one device)")
    if settings.schedule != "halving":
        raise InputError(f"--tile runs --schedule halving (its --scales levels), not --schedule {settings.schedule}")
    if settings.optimizer not in TILED_OPTIMIZERS:
        raise InputError(f"--tile needs --optimizer adam or sgd, not {settings.optimizer}: each step's "
                         "random tile offsets change the objective, which L-BFGS's curvature pairs assume fixed")


# --------------------------------------------------------------------------- the plan


def axis_windows(length: int, tile: int, overlap: int, offset: int) -> list[tuple[int, int, int]]:
    """Windows along one axis of ``length`` px: ``(window start, core start, core end)``.

    Cores partition ``[0, length)``; core borders sit at ``offset + k * (tile - overlap)``
    (edge cores may be longer, up to ``tile - overlap // 2``, where the image edge needs no
    context). Each window is ``min(tile, length)`` long, centred on its core, shifted inside
    the image, so it reaches at least ``overlap // 2`` px beyond an interior core border.
    """
    if tile >= length:
        return [(0, 0, length)]
    stride = tile - overlap
    cuts = [c for c in range(offset % stride, length, stride) if c > 0]
    edge = tile - (overlap + 1) // 2  # the longest core that touches an image edge
    while len(cuts) > 1 and cuts[1] <= edge:  # merge a short first core into its neighbour
        cuts.pop(0)
    while len(cuts) > 1 and length - cuts[-2] <= edge:
        cuts.pop()
    bounds = [0, *cuts, length]
    return [(min(max(a - (tile - (b - a)) // 2, 0), length - tile), a, b) for a, b in itertools.pairwise(bounds)]


def tile_boxes(shape: tuple[int, int], tile: int, overlap: int, offset: tuple[int, int]) -> np.ndarray:
    """Every window of an image of ``shape`` (H, W): int32 (n, 6) rows ``(window y, window x,
    core y0, core y1, core x0, core x1)`` in image pixels; the cores partition the image."""
    ys = axis_windows(shape[0], tile, overlap, offset[0])
    xs = axis_windows(shape[1], tile, overlap, offset[1])
    return np.array([(wy, wx, y0, y1, x0, x1) for wy, y0, y1 in ys for wx, x0, x1 in xs], np.int32)


# --------------------------------------------------------------------------- on device


def _window(image: jax.Array, box: jax.Array, shape: tuple[int, int]) -> jax.Array:
    return jax.lax.dynamic_slice(image, (box[0], box[1], 0), (*shape, image.shape[-1]))


def _core_mask(box: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """(th, tw) bool: which of the window's pixels its core owns."""
    ys = box[0] + jnp.arange(shape[0])
    xs = box[1] + jnp.arange(shape[1])
    return ((ys >= box[2]) & (ys < box[3]))[:, None] & ((xs >= box[4]) & (xs < box[5]))[None, :]


@functools.partial(jax.jit, static_argnames=("objective", "shape"), donate_argnums=(0, 1))
def tile_step(grad, report, image, content, box, style_targets, frozen, *, objective: Objective,
              shape: tuple[int, int]):
    """Add one window's gradient to the full-image ``grad`` and its losses to ``report``.

    ``grad``, ``image``, ``content``: (H,W,3); ``box``: int32 (6,) (:func:`tile_boxes`);
    ``style_targets``: the whole style's, without the pair axis; ``shape``: the window's
    (th, tw), static. The window's loss is the objective's per-pair loss (a mean over the
    window); its gradient is scaled by the window's share of the image (so one window that
    covers the image is exactly the untiled step) and kept on the core only. ``report``
    accumulates ``{"total", *parts}`` weighted by the core's share of the image (their sum over
    a plan estimates the whole image's losses). Both carries are donated (updated in place).
    """
    height, width = image.shape[:2]
    content_window = _window(content, box, shape)

    def value(window):
        return _window_losses(objective, frozen, window, content_window, style_targets)

    (_, losses), g = jax.value_and_grad(value, has_aux=True)(_window(image, box, shape))
    g = jnp.where(_core_mask(box, shape)[..., None], g * (shape[0] * shape[1] / (height * width)), 0.0)
    origin = (box[0], box[1], 0)
    grad = jax.lax.dynamic_update_slice(grad, _window(grad, box, shape) + g, origin)
    share = (box[3] - box[2]) * (box[5] - box[4]) / (height * width)
    report = jax.tree.map(lambda acc, x: acc + share * x, report, losses)
    return grad, report


def _window_losses(objective: Objective, frozen: Frozen, window: jax.Array, content_window: jax.Array,
                   style_targets: Targets) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The objective's ``(total, {"total", *parts})`` on one (th,tw,3) window of the image."""
    content = jax.tree.map(lambda a: a[0], objective.content_targets(frozen, content_window[None]))
    total, parts = objective.loss({"image": window}, {**content, **style_targets}, frozen)
    return total, {"total": total, **parts}


def zero_report(objective: Objective, frozen: Frozen, style_targets: Targets, shape: tuple[int, int]) -> dict:
    """Zeros shaped like a window's ``{"total", *parts}`` (traced abstractly, nothing computed)."""
    window = jax.ShapeDtypeStruct((*shape, 3), jnp.float32)
    losses = jax.eval_shape(lambda w, t: _window_losses(objective, frozen, w, w, t)[1], window, style_targets)
    return {k: jnp.zeros(v.shape, v.dtype) for k, v in losses.items()}


@functools.partial(jax.jit, static_argnames=("settings",), donate_argnums=(0, 1, 2))
def apply_update(image, opt_state, grad, *, settings: EngineConfig):
    """One optimizer step on the whole image: ``(image, state, grad) -> (image, state, zeroed grad)``."""
    updates, opt_state = settings.make_optimizer().update({"image": grad}, opt_state, {"image": image})
    return image + updates["image"], opt_state, jnp.zeros_like(grad)


@functools.partial(jax.jit, static_argnames=("objective", "shape"))
def _style_window_targets(style, box, frozen, *, objective: Objective, shape: tuple[int, int]):
    """Weighted (by the core) style targets of one window of ``style`` (h,w,3), pair axis kept."""
    weight = _core_mask(box, shape).astype(style.dtype)[None]
    return objective.style_targets(frozen, _window(style, box, shape)[None], weight)


def whole_style_targets(objective: Objective, frozen: Frozen, style: np.ndarray, tile: int, overlap: int) -> Targets:
    """The style targets of the whole ``style`` (h,w,3), without the pair axis.

    In one pass when the style fits in a tile; else the core-area-weighted mean of its
    windows' core-weighted targets (equal to the one-pass targets up to the padding effects a
    window edge has on features within ``overlap / 2`` px of its core).
    """
    boxes = tile_boxes(style.shape[:2], tile, overlap, (0, 0))
    if len(boxes) == 1:
        targets = jax.jit(objective.style_targets)(frozen, jnp.asarray(style)[None])
        return jax.tree.map(lambda a: a[0], targets)
    shape = (min(tile, style.shape[0]), min(tile, style.shape[1]))
    device_style = jnp.asarray(style)
    total = None
    for box in boxes:
        area = float((box[3] - box[2]) * (box[5] - box[4]))
        part = _style_window_targets(device_style, jnp.asarray(box), frozen, objective=objective, shape=shape)
        part = jax.tree.map(lambda a, area=area: area * a[0], part)
        total = part if total is None else jax.tree.map(jnp.add, total, part)
    return jax.tree.map(lambda a: a / (style.shape[0] * style.shape[1]), total)


# --------------------------------------------------------------------------- one image at one scale


@dataclasses.dataclass
class ImageHooks:
    """Progress and frame callbacks of one tiled scale of one pair."""

    progress: Callable[[int, dict[str, float]], None] | None = None  # (step within the scale, losses)
    frame: Callable[[int, list[np.ndarray]], None] | None = None  # (step within the scale, [raw image])
    save_every: int = 0


def optimize_image(
    objective: Objective,
    frozen: Frozen,
    inputs: Mapping[str, np.ndarray],
    start: np.ndarray,
    settings: EngineConfig,
    tiling: TileConfig,
    rng: np.random.Generator,
    hooks: ImageHooks | None = None,
) -> np.ndarray:
    """``settings.steps`` tiled steps on one image from ``start`` (H,W,3); returns the raw image.

    ``inputs``: ``content`` (H,W,3) and ``style`` (h,w,3) as the objective sees them (resized,
    colour-prepared). ``rng`` draws the grid offsets.
    """
    hooks = hooks or ImageHooks()
    height, width = start.shape[:2]
    shape = (min(tiling.tile, height), min(tiling.tile, width))
    stride = tiling.tile - tiling.margin
    targets = whole_style_targets(objective, frozen, inputs["style"], tiling.tile, tiling.margin)
    program = settings.program_key()
    image = jnp.asarray(start, jnp.float32)
    content = jnp.asarray(inputs["content"], jnp.float32)
    opt_state = jax.jit(settings.make_optimizer().init)({"image": image})
    grad = jnp.zeros_like(image)
    zeros = zero_report(objective, frozen, targets, shape)
    report = zeros
    for step in range(1, settings.steps + 1):
        offset = tuple(rng.integers(0, stride, 2)) if tiling.random_offsets else (0, 0)
        report = jax.tree.map(jnp.zeros_like, zeros)
        for box in tile_boxes((height, width), tiling.tile, tiling.margin, offset):
            grad, report = tile_step(grad, report, image, content, jnp.asarray(box), targets, frozen,
                                     objective=objective, shape=shape)
        image, opt_state, grad = apply_update(image, opt_state, grad, settings=program)
        if step % settings.chunk == 0 or step == settings.steps or (hooks.save_every and step % hooks.save_every == 0):
            losses = {k: float(v) for k, v in report.items()}
            check_finite_losses(step, losses)
            if hooks.progress is not None:
                hooks.progress(step, losses)
        if hooks.frame is not None and hooks.save_every and step % hooks.save_every == 0:
            hooks.frame(step, [np.asarray(image)])
    return np.asarray(image)


# --------------------------------------------------------------------------- main entry


def optimize_tiled(
    objective: Objective,
    pairs: Sequence[Pair],
    settings: EngineConfig,
    tiling: TileConfig,
    *,
    progress: ProgressFn | None = None,
    save_every: int = 0,
    on_frame: FrameFn | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> list[PairResult]:
    """:func:`~jaxstyle.optimize.engine.optimize_pairs` with the scales larger than a tile tiled.

    Scales whose long side is at most ``tiling.tile`` run untiled in the engine (all pairs
    batched); the others run :func:`optimize_image` pair by pair, from the previous scale's
    image upsampled (or the engine's start image: content, style or noise). Hooks as the
    engine's: ``on_plan(total steps)`` once, ``progress(step, losses)`` with steps counted across
    programs, ``on_frame(step, [pair], images)`` every ``save_every`` steps of a pair (counted
    across its scales). Single process only (one device's memory is the point).
    """
    engine.check_intervals(save_every)
    check_tiling(objective, settings, tiling)
    if jax.process_count() > 1:
        raise InputError("--tile runs in one process (shard the image with --spatial-shards across processes)")
    sizes = engine.scale_sizes(settings.size, settings.scales)
    n_untiled = sum(size <= tiling.tile for size in sizes)
    tiled_steps = settings.steps * (len(sizes) - n_untiled) * len(pairs)
    done = {"steps": 0}  # steps of the finished programs, for progress

    def plan(untiled_steps: int) -> None:
        done["untiled"] = untiled_steps
        if on_plan is not None:
            on_plan(untiled_steps + tiled_steps)

    images: list[np.ndarray | None] = [None] * len(pairs)
    if n_untiled:
        coarse = dataclasses.replace(settings, size=sizes[n_untiled - 1], scales=n_untiled)
        results = engine.optimize_pairs(objective, pairs, coarse, progress=progress, save_every=save_every,
                                        on_frame=on_frame, on_plan=plan)
        images = [np.asarray(objective.image(r.variables)) for r in results]  # unfinished colours
        done["steps"] = done["untiled"]
    else:
        plan(0)
    frozen = objective.frozen()
    contents = []
    for level in range(n_untiled, len(sizes)):
        contents = []
        for i, pair in enumerate(pairs):
            content = resize_long_side(pair.content, sizes[level])
            contents.append(content)
            prepared, style = color.prepare_pair(content, resize_long_side(pair.style, sizes[level]),
                                                 settings.preserve_color)
            inputs = {"content": prepared, "style": style}
            rng = np.random.default_rng([settings.seed, i])
            start = (resize(images[i], prepared.shape[:2]) if images[i] is not None
                     else engine.start_image(inputs, settings.init, rng))
            variables = objective.init(inputs, rng, start)
            if set(variables) != {"image"}:
                raise InputError(f"--tile: {type(objective).__name__} optimizes more than the image")
            hooks = ImageHooks(
                progress=None if progress is None else functools.partial(engine.offset_progress, progress,
                                                                         done["steps"]),
                frame=None if on_frame is None else functools.partial(
                    engine.emit_frame, on_frame, [i], {i: content}, settings.preserve_color, level * settings.steps),
                save_every=save_every,
            )
            offsets_rng = np.random.default_rng([settings.seed, i, level])
            images[i] = optimize_image(objective, frozen, inputs, variables["image"], settings, tiling,
                                       offsets_rng, hooks)
            done["steps"] += settings.steps
    if not contents:  # every scale ran untiled (the engine finished them)
        return results
    return [PairResult(engine.finish_image(img, c, settings.preserve_color), {"image": img})
            for img, c in zip(images, contents, strict=True)]

