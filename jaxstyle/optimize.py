"""Optimization-based stylization (Gatys et al. 2016, Lapstyle, LPIPS content loss), batched.

Many (content, style) pairs are optimized in ONE jitted program: the per-pair objective is a
pure function of one image, ``jax.vmap`` maps it (and the optimizer update) over the pair
axis, and that axis is sharded over every device of every process with a ``NamedSharding``.
Pairs whose content images have the same size after resizing form a *bucket* and share one
program; aspect ratios are never changed to make shapes match.

Python API::

    from jaxstyle.optimize import StylizeConfig, stylize
    results = stylize([content_img], [style_img], StylizeConfig(steps=200))

The CLI (``jaxstyle stylize``) is a thin layer over :func:`stylize`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxstyle import color
from jaxstyle.errors import InputError
from jaxstyle.io import resize, resize_long_side
from jaxstyle.losses import (
    content_loss,
    gram_matrix,
    gram_style_loss,
    laplacian_loss,
    total_variation,
)
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.encoders import load_encoder

METHODS = ("gatys", "lapstyle")
OPTIMIZERS = ("lbfgs", "adam", "sgd")
INITS = ("content", "noise", "style")
CONTENT_LOSSES = ("mse", "lpips")

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)


@dataclasses.dataclass(frozen=True)
class StylizeConfig:
    """Everything that defines an optimization run (the CLI flags map 1:1 onto these fields).

    Loss weights are for images in [0, 1], :func:`jaxstyle.losses.content_loss` (mean-reduced)
    and :func:`jaxstyle.losses.gram_style_loss` (Gatys normalisation); see README "Defaults".
    ``None`` weights take the per-method defaults of :data:`METHOD_DEFAULTS`.
    """

    method: str = "gatys"
    size: int = 512
    steps: int = 300
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: 1.0 for L-BFGS, 0.02 Adam, 0.2 SGD
    # L-BFGS with a zoom line search costs ~3 objective evaluations per step here; without
    # one (the classic neural-style setting) exactly one.
    line_search: bool = False
    init: str = "content"
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    lap_weight: float | None = None
    lap_pool: int = 4
    content_loss: str = "mse"
    scales: int = 1
    preserve_color: str = "none"  # none | luminance | histogram
    seed: int = 0
    remat: bool = False
    chunk: int = 10  # optimizer steps per device call (one progress update)

    def __post_init__(self):
        for value, allowed, what in (
            (self.method, METHODS, "method"),
            (self.optimizer, OPTIMIZERS, "optimizer"),
            (self.init, INITS, "init"),
            (self.content_loss, CONTENT_LOSSES, "content loss"),
            (self.preserve_color, color.MODES, "preserve-color mode"),
        ):
            if value not in allowed:
                raise InputError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
        for name in ("size", "steps", "scales", "chunk", "lap_pool"):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.size < 32:
            raise InputError(f"--size must be at least 32 px, got {self.size}")
        for name in ("content_weight", "style_weight", "tv_weight", "lap_weight", "lr"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InputError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
        if not self.style_layers:
            raise InputError("at least one style layer is needed")

    def weight(self, name: str) -> float:
        value = getattr(self, f"{name}_weight")
        if value is not None:
            return float(value)
        defaults = METHOD_DEFAULTS[self.method]
        if name == "content" and self.content_loss == "lpips":
            return defaults["lpips_content"]
        return defaults[name]

    def program_key(self) -> StylizeConfig:
        """This config with the fields that do not change the compiled step normalised away.

        Used as the static jit argument, so runs differing only in length, seed, size or init
        share one compiled program (per image shape).
        """
        return dataclasses.replace(self, size=32, steps=1, chunk=1, scales=1, seed=0, init="content")

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else {"lbfgs": 1.0, "adam": 0.02, "sgd": 0.2}[self.optimizer]


# Default weights per method (images in [0, 1], VGG16/VGG19 with torchvision normalisation).
# Chosen by eye on the bundled samples and the shared test photos at 256-512 px with L-BFGS;
# see README "Defaults".
METHOD_DEFAULTS: dict[str, dict[str, float]] = {
    "gatys": {"content": 1.0, "lpips_content": 20.0, "style": 1e5, "tv": 1.0, "lap": 0.0},
    "lapstyle": {"content": 1.0, "lpips_content": 20.0, "style": 1e5, "tv": 1.0, "lap": 1e3},
}


# --------------------------------------------------------------------------- objective


def _objective(x, targets, encoder: Encoder, lpips_model, cfg: StylizeConfig):
    """Per-pair objective: ``x`` (H,W,3) -> (total, parts). Pure, vmapped over pairs."""
    layers = tuple(dict.fromkeys(cfg.style_layers + (cfg.content_layers if cfg.content_loss == "mse" else ())))
    feats = encoder(x[None], layers)
    parts = {}
    if cfg.content_loss == "mse":
        parts["content"] = sum(
            content_loss(feats[layer], targets["content_feats"][layer]) for layer in cfg.content_layers
        ) / len(cfg.content_layers)
    else:
        fx = lpips_model.features(x[None])
        parts["content"] = lpips_model.distance_from_features(fx, targets["lpips_feats"])[0]
    parts["style"] = sum(
        gram_style_loss(feats[layer], targets["style_grams"][layer]) for layer in cfg.style_layers
    ) / len(cfg.style_layers)
    if cfg.weight("tv") > 0:
        parts["tv"] = total_variation(x[None])
    if cfg.weight("lap") > 0:
        parts["lap"] = laplacian_loss(x[None], targets["content"][None], cfg.lap_pool)
    total = sum(cfg.weight(k) * v for k, v in parts.items())
    return total, parts


def _make_optimizer(cfg: StylizeConfig) -> optax.GradientTransformation:
    if cfg.optimizer == "lbfgs":
        if cfg.line_search:
            return optax.lbfgs(learning_rate=cfg.lr)  # zoom line search (strong Wolfe) picks the step
        return optax.lbfgs(learning_rate=cfg.learning_rate(), linesearch=None)
    if cfg.optimizer == "adam":
        return optax.adam(cfg.learning_rate())
    return optax.sgd(cfg.learning_rate(), momentum=0.9)


def _pair_step(x, opt_state, targets, encoder, lpips_model, cfg, opt):
    """One optimizer step for one pair (vmapped over the pair axis by the caller)."""

    def value_fn(z):
        return _objective(z, targets, encoder, lpips_model, cfg)[0]

    if cfg.optimizer == "lbfgs" and cfg.line_search:  # reuse the line search's last evaluation
        value, grad = optax.value_and_grad_from_state(value_fn)(x, state=opt_state)
        updates, opt_state = opt.update(grad, opt_state, x, value=value, grad=grad, value_fn=value_fn)
    else:
        value, grad = jax.value_and_grad(value_fn)(x)
        updates, opt_state = opt.update(grad, opt_state, x)
    return optax.apply_updates(x, updates), opt_state


def _pair_report(x, targets, encoder, lpips_model, cfg):
    total, parts = _objective(x, targets, encoder, lpips_model, cfg)
    return {"total": total, **{k: cfg.weight(k) * v for k, v in parts.items()}}


@functools.partial(jax.jit, static_argnames=("cfg",), donate_argnums=(0, 1))
def run_chunk(x, opt_state, n_steps, targets, encoder, lpips_model, *, cfg: StylizeConfig):
    """Run ``n_steps`` (traced, so one program serves every chunk length) optimizer steps on all pairs.

    ``x``: (P,H,W,3) sharded over the pair axis; returns new ``x``, ``opt_state`` and per-pair
    weighted loss parts at the end of the chunk. The loop runs on device: no host syncs inside.
    """
    opt = _make_optimizer(cfg)
    step = jax.vmap(lambda xi, si, ti: _pair_step(xi, si, ti, encoder, lpips_model, cfg, opt))
    x, opt_state = jax.lax.fori_loop(0, n_steps, lambda _, c: step(c[0], c[1], targets), (x, opt_state))
    report = jax.vmap(lambda xi, ti: _pair_report(xi, ti, encoder, lpips_model, cfg))(x, targets)
    return x, opt_state, report


@functools.partial(jax.jit, static_argnames=("cfg",))
def _init_opt_state(x, *, cfg: StylizeConfig):
    return jax.vmap(_make_optimizer(cfg).init)(x)


@functools.partial(jax.jit, static_argnames=("layers",))
def _features(encoder: Encoder, images, layers):
    return encoder(images, layers)


@functools.partial(jax.jit, static_argnames=("layers",))
def _style_grams(encoder: Encoder, image, layers):
    feats = encoder(image[None], layers)
    return {layer: gram_matrix(feats[layer]) for layer in layers}


# --------------------------------------------------------------------------- preparation


@dataclasses.dataclass
class Pair:
    """One (content, style) job; ``name`` is used for output files."""

    content: np.ndarray  # H,W,3 float32 [0,1] at the original size
    style: np.ndarray
    name: str = "pair"
    content_index: int = 0
    style_index: int = 0


def make_pairs(
    contents: Sequence[np.ndarray],
    styles: Sequence[np.ndarray],
    mode: str = "product",
    content_names: Sequence[str] | None = None,
    style_names: Sequence[str] | None = None,
) -> list[Pair]:
    """All content x style combinations (``product``) or element-wise (``zip``, equal counts)."""
    content_names = list(content_names or [f"content{i}" for i in range(len(contents))])
    style_names = list(style_names or [f"style{i}" for i in range(len(styles))])
    if not contents or not styles:
        raise InputError("need at least one content and one style image")
    if mode == "product":
        idx = [(i, j) for i in range(len(contents)) for j in range(len(styles))]
    elif mode == "zip":
        if len(contents) != len(styles):
            raise InputError(
                f"--pairs zip needs as many content as style images, got {len(contents)} and {len(styles)}"
            )
        idx = [(i, i) for i in range(len(contents))]
    else:
        raise InputError(f"unknown pairing {mode!r}; expected product or zip")
    return [
        Pair(contents[i], styles[j], f"{content_names[i]}__{style_names[j]}", i, j) for i, j in idx
    ]


def _scale_sizes(size: int, scales: int) -> list[int]:
    return [max(32, round(size / 2 ** (scales - 1 - k))) for k in range(scales)]


def _prepare_all(pairs: list[Pair], size: int, cfg: StylizeConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per pair: content resized (long side = ``size``) and the style image as the encoder sees it.

    Each content and style image is resized once; pairs sharing an input share the array
    object, which :func:`_optimize_bucket` uses to compute each style's Gram targets once.
    """
    contents: dict[int, np.ndarray] = {}
    styles: dict[tuple[int, int], np.ndarray] = {}
    out = []
    for p in pairs:
        if p.content_index not in contents:
            contents[p.content_index] = resize_long_side(p.content, size)
        content = contents[p.content_index]
        # Colour modes adapt the style to each content, so only "none" shares styles across contents.
        key = (p.style_index, p.content_index if cfg.preserve_color != "none" else -1)
        if key not in styles:
            style = resize_long_side(p.style, size)
            if cfg.preserve_color == "luminance":
                style = color.match_luminance(style, content)
            elif cfg.preserve_color == "histogram":
                style = color.match_histogram(style, content)
            styles[key] = style
        if cfg.preserve_color == "luminance":
            content = color.luminance(content)
        out.append((content, styles[key]))
    return out


def _init_image(content: np.ndarray, style: np.ndarray, cfg: StylizeConfig, index: int) -> np.ndarray:
    if cfg.init == "content":
        return content.copy()
    if cfg.init == "style":
        return resize(style, content.shape[:2])
    rng = np.random.default_rng([cfg.seed, index])
    return rng.uniform(0.0, 1.0, content.shape).astype(np.float32)


# --------------------------------------------------------------------------- sharding


def pair_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh over every device of every process; the pair axis is split along it."""
    # Auto axes: XLA propagates the pair sharding through vmap and the optimizer state.
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def _to_global(local: np.ndarray, sharding: NamedSharding, global_rows: int):
    return jax.make_array_from_process_local_data(sharding, local, (global_rows, *local.shape[1:]))


def _local_rows(global_rows: int) -> slice:
    per = global_rows // jax.process_count()
    return slice(jax.process_index() * per, (jax.process_index() + 1) * per)


# --------------------------------------------------------------------------- checkpoints


def _fingerprint(cfg: StylizeConfig, bucket: Sequence[Pair], size: int) -> str:
    h = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode())
    h.update(str(size).encode())
    for p in bucket:
        h.update(p.name.encode())
        h.update(np.ascontiguousarray(p.content).tobytes()[:: 97])
        h.update(np.ascontiguousarray(p.style).tobytes()[:: 97])
    return h.hexdigest()[:16]


class _Checkpointer:
    """Orbax CheckpointManager for one (bucket, scale): images, optimizer state, step."""

    def __init__(self, directory: Path, every: int):
        import orbax.checkpoint as ocp

        self.every = every
        self.manager = ocp.CheckpointManager(
            directory.absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=2, save_interval_steps=1, create=True),
        )

    def restore(self, template: dict) -> dict | None:
        import orbax.checkpoint as ocp

        step = self.manager.latest_step()
        if step is None:
            return None
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def save(self, step: int, state: dict, force: bool = False) -> None:
        import orbax.checkpoint as ocp

        if force or step % self.every == 0:
            self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


# --------------------------------------------------------------------------- main entry


ProgressFn = Callable[[int, dict[str, float]], None]
FrameFn = Callable[[int, list[int], np.ndarray], None]


def stylize(
    contents: Sequence[np.ndarray],
    styles: Sequence[np.ndarray],
    cfg: StylizeConfig | None = None,
    *,
    encoder: Encoder | None = None,
    pairs: str | list[Pair] = "product",
    progress: ProgressFn | None = None,
    save_every: int = 0,
    on_frame: FrameFn | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 50,
    on_plan: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Stylize every pair; returns results (H,W,3 float32 [0,1]) in pair order.

    Each process returns only the pairs it owns (all of them in single-process runs); the
    others are ``None``. Pairs are optimized in one program per (scale, content shape);
    ``on_plan(total_steps)`` is called once with the steps of all of them, and
    ``progress(step, losses)`` after each chunk with the step counted across programs and the
    mean weighted losses; ``on_frame(step, pair_indices, images)`` every ``save_every`` steps.
    With ``checkpoint_dir``, state is saved every ``checkpoint_every`` steps and a re-run
    with the same inputs and config resumes from it (ending with the same result).
    """
    cfg = cfg or StylizeConfig()
    pair_list = pairs if isinstance(pairs, list) else make_pairs(contents, styles, pairs)
    encoder = encoder or load_encoder("vgg16", remat=cfg.remat)
    if cfg.remat and not encoder.config.remat:
        encoder = encoder.with_options(remat=True)
    encoder.check_layers(cfg.style_layers + cfg.content_layers)
    lpips_model = None
    if cfg.content_loss == "lpips":
        from jaxstyle.metrics import default_lpips

        lpips_model = default_lpips()

    results: list[np.ndarray | None] = [None] * len(pair_list)
    # One program per (scale, content shape): plan them all first so progress can count steps.
    plan = []
    for size in _scale_sizes(cfg.size, cfg.scales):
        prepared = _prepare_all(pair_list, size, cfg)
        buckets: dict[tuple[int, ...], list[int]] = {}
        for i, (content, _) in enumerate(prepared):
            buckets.setdefault(content.shape, []).append(i)
        plan.append((size, prepared, list(buckets.values())))
    if on_plan is not None:
        on_plan(cfg.steps * sum(len(b) for _, _, b in plan))
    previous: dict[int, np.ndarray] = {}
    step_offset = 0
    for scale_index, (size, prepared, buckets) in enumerate(plan):
        for members in buckets:
            inits = []
            for i in members:
                content, style = prepared[i]
                if i in previous:  # coarse-to-fine: start from the upsampled coarser result
                    inits.append(resize(previous[i], content.shape[:2]))
                else:
                    inits.append(_init_image(content, style, cfg, i))
            ckpt = None
            if checkpoint_dir is not None:
                key = _fingerprint(cfg, [pair_list[i] for i in members], size)
                ckpt = _Checkpointer(Path(checkpoint_dir) / f"scale{scale_index}_{key}", checkpoint_every)
            try:
                out = _optimize_bucket(
                    [prepared[i] for i in members],
                    np.stack(inits),
                    encoder,
                    lpips_model,
                    cfg,
                    step_offset=step_offset,
                    progress=progress,
                    save_every=save_every,
                    # Frames are numbered by the pair's own step (scales count on).
                    on_frame=(
                        lambda s, idx, imgs, m=members, base=scale_index * cfg.steps: on_frame(
                            base + s, [m[k] for k in idx], imgs
                        )
                    )
                    if on_frame
                    else None,
                    ckpt=ckpt,
                )
            finally:
                if ckpt is not None:
                    ckpt.close()
            step_offset += cfg.steps
            for k, i in enumerate(members):
                if out[k] is not None:
                    previous[i] = out[k]
    for i, pair in enumerate(pair_list):
        if i not in previous:
            continue
        img = np.clip(previous[i], 0.0, 1.0)
        if cfg.preserve_color == "luminance":
            img = color.restore_chrominance(img, resize_long_side(pair.content, cfg.size))
        results[i] = img
    return results


def _optimize_bucket(
    prepared: list[tuple[np.ndarray, np.ndarray]],
    init: np.ndarray,
    encoder: Encoder,
    lpips_model,
    cfg: StylizeConfig,
    *,
    step_offset: int,
    progress: ProgressFn | None,
    save_every: int,
    on_frame: FrameFn | None,
    ckpt: _Checkpointer | None,
) -> list[np.ndarray | None]:
    """Optimize one bucket (pairs whose content shapes are equal). Returns owned results."""
    n_pairs = len(prepared)
    n_dev = jax.device_count()
    padded = -(-n_pairs // n_dev) * n_dev
    # Pad the pair axis to a multiple of the device count by repeating the last pair.
    order = list(range(n_pairs)) + [n_pairs - 1] * (padded - n_pairs)
    rows = _local_rows(padded)
    local = order[rows]
    mesh = pair_mesh()
    sharding = NamedSharding(mesh, P("data"))

    contents = np.stack([prepared[i][0] for i in local])
    content_layers = cfg.content_layers if cfg.content_loss == "mse" else ()
    # Style targets: one Gram per style image at its own size (computed once, then gathered).
    style_grams: dict[str, list[np.ndarray]] = {layer: [] for layer in cfg.style_layers}
    cache: dict[int, dict[str, np.ndarray]] = {}
    for i in local:
        style = prepared[i][1]
        key = id(style)
        if key not in cache:
            cache[key] = jax.device_get(_style_grams(encoder, jnp.asarray(style), cfg.style_layers))
        for layer in cfg.style_layers:
            style_grams[layer].append(cache[key][layer][0])
    targets: dict[str, Any] = {
        "content": contents,
        "style_grams": {layer: np.stack(v)[:, None] for layer, v in style_grams.items()},
    }
    if content_layers:
        feats = jax.device_get(_features(encoder, jnp.asarray(contents), content_layers))
        targets["content_feats"] = {layer: f[:, None] for layer, f in feats.items()}
    if lpips_model is not None:
        lp = jax.device_get(jax.jit(lpips_model.features)(jnp.asarray(contents)))
        targets["lpips_feats"] = [f[:, None] for f in lp]
    targets = jax.tree_util.tree_map(lambda a: _to_global(np.asarray(a), sharding, padded), targets)
    x = _to_global(init[order][rows].astype(np.float32), sharding, padded)
    opt_state = _init_opt_state(x, cfg=cfg.program_key())

    step = 0
    if ckpt is not None:
        restored = ckpt.restore({"x": x, "opt_state": opt_state, "step": np.zeros((), np.int64)})
        if restored is not None:
            x, opt_state, step = restored["x"], restored["opt_state"], int(restored["step"])
            x = jax.device_put(x, sharding)
    program = cfg.program_key()
    if progress is not None and step == 0:  # report the starting losses (a zero-step chunk)
        x, opt_state, report = run_chunk(x, opt_state, jnp.int32(0), targets, encoder, lpips_model, cfg=program)
        progress(step_offset, {k: float(jnp.mean(v[:n_pairs])) for k, v in report.items()})
    while step < cfg.steps:
        n = min(cfg.chunk, cfg.steps - step)
        for boundary in (save_every, ckpt.every if ckpt else 0):
            if boundary:
                n = min(n, boundary - step % boundary)
        x, opt_state, report = run_chunk(
            x, opt_state, jnp.int32(n), targets, encoder, lpips_model, cfg=program
        )
        step += n
        if progress is not None:
            progress(step_offset + step, {k: float(jnp.mean(v[:n_pairs])) for k, v in report.items()})
        if on_frame is not None and save_every and step % save_every == 0:
            _emit_frame(on_frame, step, x, order, n_pairs)
        if ckpt is not None:
            ckpt.save(step, {"x": x, "opt_state": opt_state, "step": np.array(step, np.int64)}, force=step == cfg.steps)
    return _owned_results(x, order, n_pairs)


def _owned_results(x: jax.Array, order: list[int], n_pairs: int) -> list[np.ndarray | None]:
    """Host copies of the pairs whose rows live on this process (padding rows dropped)."""
    out: list[np.ndarray | None] = [None] * n_pairs
    for shard in x.addressable_shards:
        start = shard.index[0].start or 0
        data = np.asarray(shard.data)
        for k in range(data.shape[0]):
            row = start + k
            if row < n_pairs and order[row] == row:
                out[row] = data[k]
    return out


def _emit_frame(on_frame: FrameFn, step: int, x: jax.Array, order: list[int], n_pairs: int) -> None:
    owned = _owned_results(x, order, n_pairs)
    idx = [i for i, img in enumerate(owned) if img is not None]
    if idx:
        on_frame(step, idx, np.clip(np.stack([owned[i] for i in idx]), 0, 1))
