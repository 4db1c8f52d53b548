r"""The one trainer every trainable method plugs into (big_vision-style, one readable loop).

Usage::

  jaxstyle train --config configs/adain.py:tiny --workdir runs/x \
      --config.data.content_dir=DIR --config.data.style_dir=DIR --config.train.steps=100

or from Python: ``train(load_config("configs/adain.py:tiny", ["--config.train.steps=5"]), "runs/x")``
with :func:`jaxstyle.config.load_config`.

A method (see :mod:`jaxstyle.methods`) provides its frozen networks, parameter groups,
optimizers and a pure ``train_step``; this file provides everything else. Resume order: the
latest checkpoint in ``workdir`` > ``init_from`` (parameters only, fresh optimizer) > scratch.
Randomness: one seed; step ``i`` uses ``fold_in(key(seed), i)``, so a resumed run repeats the
uninterrupted one exactly (the input iterator state is checkpointed too).

Failures are one line each (:class:`~jaxstyle.errors.JaxstyleError`). A checkpoint that cannot
be written (a full disk) stops the run naming the step and the cause, its temporary folder
removed and the last good checkpoint kept (:class:`~jaxstyle.checkpoint.CheckpointWriteError`);
another file of the run that cannot be written stops it the same way (:class:`TrainingWriteError`).
A run that fails before it has committed a checkpoint removes the files it made
(:class:`~jaxstyle.train_log.RunFiles`); files that were there before are never touched.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jaxstyle import sharding as shd
from jaxstyle.checkpoint import (
    Checkpointer,
    checkpoint_steps,
    committed_steps,
    load_checkpoint_params,
)
from jaxstyle.config import validate_train_config
from jaxstyle.errors import InputError, JaxstyleError, non_finite_terms
from jaxstyle.methods import get_trainer
from jaxstyle.methods.base import plugin
from jaxstyle.methods.base.plugin import step_function
from jaxstyle.train_log import MetricsLogger, RunFiles, sample_grid, workdir_path

ParamGroups = dict[str, Any]  # e.g. {"decoder": pytree} (see jaxstyle.methods)
OptStates = dict[str, Any]  # one optax state per trainable group


class TrainingDiverged(JaxstyleError):
    """A loss became NaN/Inf; the last good checkpoint is kept."""


class TrainingWriteError(JaxstyleError):
    """A file of the run (metrics, samples, events) could not be written; the last good checkpoint is kept."""


# ------------------------------------------------------------------------------------------
# Logging (files: jaxstyle.train_log).
# ------------------------------------------------------------------------------------------
def console(enabled: bool) -> Callable[[str], None]:
    """``print`` (flushed) on the main process, a no-op elsewhere."""
    return functools.partial(print, flush=True) if enabled else lambda msg: None


def progress_line(step: int, total: int, values: dict[str, float]) -> str:
    """``step 10/20 loss=1.2 content=0.3 style=0.9 | 3.1 steps/s 6.2 img/s``."""
    terms = " ".join(
        f"{k.removeprefix('loss/')}={v:.4g}" for k, v in values.items() if k.startswith("loss/")
    )
    return (
        f"step {step}/{total} loss={values['loss']:.4g} {terms} | "
        f"{values['steps_per_s']:.2f} steps/s {values['images_per_s']:.1f} img/s"
    )


# ------------------------------------------------------------------------------------------
# Mesh and input.
# ------------------------------------------------------------------------------------------
def setup_mesh(batch_size: int, num_devices: int | None, info: Callable[[str], None]) -> Mesh:
    """The 1-D ``data`` mesh over ``num_devices`` (default: all); the global batch must split evenly."""
    available = jax.device_count()
    if num_devices is not None and not 1 <= num_devices <= available:
        raise InputError(f"--num-devices must be in 1..{available} (the devices there are), got {num_devices}")
    mesh = shd.make_mesh(num_devices)
    shd.check_batch_size(batch_size, mesh)
    info(
        f"mesh: {mesh.devices.size} device(s) ({jax.devices()[0].platform}), "
        f"{jax.process_count()} process(es), global batch {batch_size}"
    )
    return mesh


def build_input(cfg: ml_collections.ConfigDict, streams: tuple[str, ...]) -> Iterator:
    """This process's iterator of ``{"content", "style"}`` (batch/processes, crop, crop, 3) batches.

    ``streams``: what the method reads (its ``streams`` attribute; per-style methods read
    ``("content",)`` only). The pipeline splits the global batch over processes itself; its
    state is checkpointed.
    """
    from jaxstyle.data import build_paired_iterator

    return build_paired_iterator(
        cfg.data, global_batch=cfg.train.batch_size, seed=cfg.seed, streams=streams
    )


# ------------------------------------------------------------------------------------------
# Training state: restore or init.
# ------------------------------------------------------------------------------------------
def restore_or_init(
    ckpt: Checkpointer,
    init_fn: Callable[[jax.Array], tuple[ParamGroups, OptStates]],
    rng: jax.Array,
    data_iter: Iterator,
    first: dict[str, np.ndarray],
    mesh: Mesh,
    *,
    init_params: ParamGroups | None,
    info: Callable[[str], None],
) -> tuple[ParamGroups, OptStates, int, dict[str, np.ndarray]]:
    """The state to start from: the latest checkpoint in the workdir > ``init_params`` (host
    arrays from ``--init-from``, see :func:`load_init_params`) > scratch.

    A resumed run also restores the input iterator's position, so its first batch is the one
    after the checkpoint; otherwise it is ``first`` (already drawn for shapes: no batch skipped).

    Returns:
      ``(params, opt_states, start_step, first_local_batch)``, replicated over ``mesh``.
    """
    repl = shd.replicated(mesh)
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), jax.eval_shape(init_fn, rng)
    )
    # The newest *readable* step: a damaged one is reported and moved aside (jaxstyle.checkpoint).
    restored = ckpt.restore_latest(
        {"params": abstract[0], "opt_states": abstract[1], "step": jnp.int32(0), "rng": rng}
    )
    if restored is not None:
        start, state, data_state = restored
        data_iter.set_state(data_state)
        info(f"resumed from {ckpt.directory / str(start)} (step {start})")
        return state["params"], state["opt_states"], start, next(data_iter)
    params, opt_states = init_fn(rng)
    if init_params is not None:
        params = {k: shd.replicate(v, mesh) for k, v in init_params.items()}
        info("initialized parameters from --init-from")
    return params, opt_states, 0, first


def load_init_params(init_from: str | Path, params: ParamGroups) -> ParamGroups:
    """``init_from``'s parameter groups (host numpy) for every group of ``params`` (arrays or
    shape structs); one-line InputError when a group is missing or shapes differ."""
    loaded, _ = load_checkpoint_params(init_from)
    missing = set(params) - set(loaded)
    if missing:
        raise InputError(f"{init_from}: checkpoint has no parameter group(s) {sorted(missing)}")
    want = jax.tree.map(lambda a: tuple(a.shape), params)
    got = jax.tree.map(lambda a: tuple(np.shape(a)), {k: loaded[k] for k in params})
    if want != got:
        raise InputError(f"{init_from}: parameter shapes differ from this config's model")
    return {k: loaded[k] for k in params}


# ------------------------------------------------------------------------------------------
# Checkpoint, NaN guard and samples: each takes the training state as arguments.
# ------------------------------------------------------------------------------------------
def save_checkpoint(
    ckpt: Checkpointer,
    step: int,
    params: ParamGroups,
    opt_states: OptStates,
    *,
    rng: jax.Array,
    data_iter: Iterator,
    config: dict,
) -> None:
    """Save (asynchronously) the state after ``step`` steps, the input position and the config."""
    state = {"params": params, "opt_states": opt_states, "step": jnp.int32(step), "rng": rng}
    ckpt.save(step, state, data_iter.get_state(), config)


def check_finite(step: int, metrics: dict[str, jax.Array], ckpt: Checkpointer) -> dict[str, float]:
    """``metrics`` as floats (this waits for the step); raises :class:`TrainingDiverged` on NaN/Inf."""
    values = {k: float(v) for k, v in jax.device_get(metrics).items()}
    terms = non_finite_terms(values)
    if terms:
        raise TrainingDiverged(f"non-finite loss at step {step} ({terms}); stopped, {kept_checkpoint(ckpt)}")
    return values


def kept_checkpoint(ckpt: Checkpointer | None) -> str:
    """``last good checkpoint: step N`` (committed on disk), or that there is none."""
    if ckpt is not None:
        with contextlib.suppress(JaxstyleError):  # a save still in flight counts once committed
            ckpt.wait()
    steps = committed_steps(ckpt.directory) if ckpt is not None else []
    return f"last good checkpoint: step {steps[-1]}" if steps else "no checkpoint was written"


def close_quietly(*closers: Any) -> None:
    """Close the checkpointer and the logger of a failed run, ignoring their own errors: the
    same full disk, most often, which would only hide the failure being reported."""
    for closer in closers:
        if closer is not None:
            try:
                closer.close()
            except Exception:  # noqa: BLE001, S110 - the run's first failure is the one reported
                pass


def write_samples(
    step: int,
    params: ParamGroups,
    *,
    sample_fn: Callable[..., jax.Array],
    batch: dict[str, jax.Array],
    frozen: Any,
    logger: MetricsLogger,
    num: int,
) -> None:
    """Stylize the fixed sample ``batch`` with ``params``; log a grid of its first ``num`` rows.

    Every process takes part (the gather is a collective); process 0 writes.
    """
    out = sample_fn(params, batch, frozen)
    gathered = multihost_utils.process_allgather({**batch, "out": out}, tiled=True)
    style = gathered.get("style")  # per-style methods: no style stream
    grid = sample_grid(
        *(np.asarray(gathered[n][:num]) for n in ("content", "out")),
        style=None if style is None else np.asarray(style[:num]),
    )
    logger.image(step, "samples", grid)


# ------------------------------------------------------------------------------------------
# The trainer.
# ------------------------------------------------------------------------------------------
def train(
    cfg: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    init_from: str | Path | None = None,
    num_devices: int | None = None,
) -> dict[str, float]:
    """Train ``cfg.method`` as configured; returns the last logged metrics.

    Raises:
      TrainingDiverged: a loss became NaN/Inf (the last good checkpoint is kept).
      InputError / WeightsError: bad configuration, data or weights.
    """
    validate_train_config(cfg)
    if init_from:
        checkpoint_steps(init_from)  # a folder holding a step: fail before any heavy work
    workdir = workdir_path(workdir)  # local folder or gs://bucket/... (etils.epath)
    is_main = jax.process_index() == 0
    tcfg = cfg.train
    info = console(is_main)

    # ---------------------------------------------------------------------- mesh
    mesh = setup_mesh(tcfg.batch_size, num_devices, info)
    repl = shd.replicated(mesh)

    # ---------------------------------------------------------------------- input
    method = get_trainer(cfg.method)(cfg)
    data_iter = build_input(cfg, plugin.streams(method))

    # ---------------------------------------------------------------------- model
    frozen = method.load_frozen()  # all frozen networks; resolves e.g. encoder "auto" into cfg
    optimizers = method.optimizers()
    first = next(data_iter)  # shapes for init; fed to the first step too (no batch skipped)
    base_rng = jax.random.key(cfg.seed)

    # ---------------------------------------------------------------------- sharding
    frozen = jax.device_put(frozen, repl)

    init_fn = jax.jit(lambda rng: plugin.init_state(method, optimizers, frozen, rng, first), out_shardings=repl)

    # ---------------------------------------------------------------------- step
    step_fn = step_function(method)  # fold_in(rng, step), then the method's step

    # Donate the state: XLA updates it in place (one copy of params + Adam moments in memory).
    p_step = jax.jit(step_fn, donate_argnums=(0, 1), out_shardings=(repl, repl, repl))

    # ---------------------------------------------------------------------- checkpoint
    init_params = None
    if init_from:  # read and shape-checked before any file is made
        init_params = load_init_params(init_from, jax.eval_shape(init_fn, base_rng)[0])
        info(f"--init-from {init_from}: parameters read")
    # Files only once the config, data, frozen networks and --init-from are known good; a run
    # that fails before it commits a checkpoint removes those it made (RunFiles).
    made = RunFiles(workdir, enabled=is_main)
    ckpt = logger = committed_before = None
    total, done, last_values = int(tcfg.steps), 0, {}
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        logger = MetricsLogger(workdir, enabled=is_main)
        if is_main:
            (workdir / "config.json").write_text(cfg.to_json(indent=2))  # epath: local or bucket
        ckpt = Checkpointer(workdir, keep=tcfg.keep_checkpoints)
        params, opt_states, start, first = restore_or_init(
            ckpt, init_fn, base_rng, data_iter, first, mesh, init_params=init_params, info=info
        )
        committed_before = committed_steps(ckpt.directory)
        logger.resume_at(start)  # drop lines a killed run logged after its last checkpoint
        n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
        info(f"{cfg.method}: {n_params / 1e6:.2f}M trainable parameters in groups {sorted(params)}")
        save = functools.partial(
            save_checkpoint, ckpt, rng=base_rng, data_iter=data_iter, config=json.loads(cfg.to_json())
        )

        # ------------------------------------------------------------------ eval (samples)
        samples = functools.partial(
            write_samples,
            sample_fn=jax.jit(method.sample),
            batch=shd.global_batch(first, mesh),  # this run's first batch, on every process
            frozen=frozen,
            logger=logger,
            num=tcfg.num_samples,
        )

        # ------------------------------------------------------------------ loop
        pending: tuple[int, Any] | None = None  # metrics of the previous step, checked one step late
        t0, t_step, done = time.perf_counter(), start, start
        info(f"training steps {start}..{total}")
        for i in range(start, total):
            local = first if i == start else next(data_iter)
            batch = shd.global_batch(local, mesh)
            params, opt_states, metrics = p_step(
                params, opt_states, batch, frozen, base_rng, jnp.int32(i)
            )
            done = i + 1
            # Checking the previous step's loss keeps the device busy with this one meanwhile.
            if pending is not None:
                check_finite(*pending, ckpt)
            pending = (done, metrics)
            is_last = done == total
            log_now = done % tcfg.log_every == 0 or is_last
            save_now = done % tcfg.checkpoint_every == 0 or is_last
            if log_now or save_now:  # never checkpoint past an unchecked loss
                values = check_finite(*pending, ckpt)
                pending = None
                if log_now:
                    dt = time.perf_counter() - t0
                    steps_per_s = (done - t_step) / dt if dt > 0 else float("nan")
                    values |= {
                        "steps_per_s": steps_per_s,
                        "images_per_s": steps_per_s * tcfg.batch_size,
                    }
                    logger.scalars(done, values)
                    info(progress_line(done, total, values))
                    last_values = values
                    t0, t_step = time.perf_counter(), done
            if save_now:
                save(done, params, opt_states)
            if tcfg.sample_every and (done % tcfg.sample_every == 0 or is_last):
                samples(done, params)
        ckpt.close()  # waits for the last save: its failure is this run's failure
        logger.close()
    except BaseException as e:
        close_quietly(ckpt, logger)
        if committed_before is None or committed_steps(ckpt.directory) == committed_before:
            made.remove()  # nothing to resume from: leave the workdir as it was found
        if isinstance(e, OSError):  # a file of the run: one line, not a traceback
            where = f" {e.filename}" if e.filename else ""
            raise TrainingWriteError(f"cannot write{where} at step {done}: {e.strerror or e}; stopped, "
                                     f"{kept_checkpoint(ckpt)}") from e
        raise
    finally:
        if hasattr(data_iter, "close"):
            data_iter.close()  # stops grain worker processes
    return last_values
