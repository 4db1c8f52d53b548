r"""The one trainer every trainable method plugs into (big_vision-style, one readable loop).

Usage::

  jaxstyle train --config configs/adain.py:tiny --workdir runs/x \
      --config.data.content_dir=DIR --config.data.style_dir=DIR --config.train.steps=100

or from Python: ``train(load_config("configs/adain.py:tiny", ["--config.train.steps=5"]), "runs/x")``
with :func:`jaxstyle.config.load_config`.

A method (see :mod:`jaxstyle.methods`) provides its networks, parameter groups, optimizers
and a pure ``train_step``; this file provides everything else. Resume order: the latest
checkpoint in ``workdir`` > ``init_from`` (parameters only, fresh optimizer) > scratch.
Randomness: one seed; step ``i`` uses ``fold_in(key(seed), i)``, so a resumed run repeats the
uninterrupted one exactly (the input iterator state is checkpointed too).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from jaxstyle import sharding as shd
from jaxstyle.checkpoint import Checkpointer, load_checkpoint_params
from jaxstyle.errors import InputError, JaxstyleError
from jaxstyle.io import save_image
from jaxstyle.methods import get_method


class TrainingDiverged(JaxstyleError):
    """A loss became NaN/Inf; the last good checkpoint is kept."""


# ------------------------------------------------------------------------------------------
# Logging: console, metrics.jsonl, TensorBoard (tensorboardX: no TensorFlow), sample grids.
# ------------------------------------------------------------------------------------------
class MetricsLogger:
    """Writes scalars/images on process 0 only; other processes get no-ops."""

    def __init__(self, workdir: Path, enabled: bool):
        self.enabled = enabled
        self.workdir = workdir
        self._tb = None
        if enabled:
            try:
                from tensorboardX import SummaryWriter

                self._tb = SummaryWriter(str(workdir / "tb"))
            except ImportError:  # optional at run time: console + jsonl still work
                print("tensorboardX not installed: no TensorBoard events", file=sys.stderr)
            self._jsonl = open(workdir / "metrics.jsonl", "a")  # noqa: SIM115

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)

    def image(self, step: int, name: str, grid: np.ndarray) -> None:
        if not self.enabled:
            return
        path = self.workdir / "samples" / f"{name}_{step:08d}.png"
        path.parent.mkdir(exist_ok=True)
        save_image(path, grid)
        if self._tb is not None:
            self._tb.add_image(name, grid, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            if self._tb is not None:
                self._tb.close()


def sample_grid(content: np.ndarray, style: np.ndarray, output: np.ndarray) -> np.ndarray:
    """One row per example: content | style | output, each resized to the content's size."""
    h, w = content.shape[1:3]
    style = np.asarray(jax.image.resize(style, (style.shape[0], h, w, 3), "bilinear"))
    output = np.asarray(jax.image.resize(output, (output.shape[0], h, w, 3), "bilinear"))
    rows = [np.concatenate([c, s, o], axis=1) for c, s, o in zip(content, style, output, strict=True)]
    return np.concatenate(rows, axis=0)


# ------------------------------------------------------------------------------------------
# Input.
# ------------------------------------------------------------------------------------------
def build_input(cfg: ml_collections.ConfigDict, local_batch: int) -> Iterator:
    """This process's iterator of ``{"content", "style"}`` (local_batch, crop, crop, 3) batches."""
    from jaxstyle.data import build_paired_iterator

    del local_batch  # the pipeline splits the global batch over processes itself
    return build_paired_iterator(cfg.data, global_batch=cfg.train.batch_size, seed=cfg.seed)


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
    workdir = Path(workdir)
    is_main = jax.process_index() == 0
    tcfg = cfg.train

    # ---------------------------------------------------------------------- logging
    def info(msg: str) -> None:
        if is_main:
            print(msg, flush=True)

    # ---------------------------------------------------------------------- mesh
    mesh = shd.make_mesh(num_devices)
    local_batch = shd.check_batch_size(tcfg.batch_size, mesh)
    info(
        f"mesh: {mesh.devices.size} device(s) ({jax.devices()[0].platform}), "
        f"{jax.process_count()} process(es), global batch {tcfg.batch_size}"
    )

    # ---------------------------------------------------------------------- input
    data_iter = build_input(cfg, local_batch)

    # ---------------------------------------------------------------------- model
    method = get_method(cfg.method)(cfg)
    frozen = method.load_encoder()  # resolves e.g. encoder "auto" into cfg
    optimizers = method.optimizers()
    first = next(data_iter)  # shapes for init; fed to the first step too (no batch skipped)
    base_rng = jax.random.key(cfg.seed)
    # Files only once the config, data and frozen networks are known good: a bad run
    # leaves no half-made workdir behind.
    workdir.mkdir(parents=True, exist_ok=True)
    logger = MetricsLogger(workdir, enabled=is_main)
    if is_main:
        (workdir / "config.json").write_text(cfg.to_json(indent=2))

    # ---------------------------------------------------------------------- sharding
    repl = shd.replicated(mesh)
    frozen = jax.device_put(frozen, repl)

    def init_state(rng):
        params = method.init(rng, first, frozen)
        opt_states = {k: tx.init(params[k]) for k, tx in optimizers.items()}
        return params, opt_states

    init_fn = jax.jit(init_state, out_shardings=repl)

    # ---------------------------------------------------------------------- step
    def step_fn(params, opt_states, batch, frozen, rng, step):
        return method.train_step(params, opt_states, batch, frozen, jax.random.fold_in(rng, step), step)

    # Donate the state: XLA updates it in place (one copy of params + Adam moments in memory).
    p_step = jax.jit(step_fn, donate_argnums=(0, 1), out_shardings=(repl, repl, repl))
    p_sample = jax.jit(method.sample)

    # ---------------------------------------------------------------------- checkpoint
    ckpt = Checkpointer(workdir, keep=tcfg.keep_checkpoints)
    start = ckpt.latest_step()
    if start is not None:
        abstract = jax.eval_shape(init_fn, base_rng)
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), abstract)
        state, data_state = ckpt.restore(
            start,
            {"params": abstract[0], "opt_states": abstract[1], "step": jnp.int32(0), "rng": base_rng},
        )
        params, opt_states = state["params"], state["opt_states"]
        data_iter.set_state(data_state)
        first = next(data_iter)
        info(f"resumed from {ckpt.directory / str(start)} (step {start})")
    else:
        params, opt_states = init_fn(base_rng)
        start = 0
        if init_from:
            loaded, _ = load_checkpoint_params(init_from)
            missing = set(params) - set(loaded)
            if missing:
                raise InputError(f"{init_from}: checkpoint has no parameter group(s) {sorted(missing)}")
            want = jax.tree.map(lambda a: tuple(a.shape), params)
            got = jax.tree.map(lambda a: tuple(np.shape(a)), {k: loaded[k] for k in params})
            if want != got:
                raise InputError(f"{init_from}: parameter shapes differ from this config's model")
            params = {
                k: shd.replicate(loaded[k], mesh) if k in loaded else v for k, v in params.items()
            }
            info(f"initialized parameters from {init_from}")
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
    info(f"{cfg.method}: {n_params / 1e6:.2f}M trainable parameters in groups {sorted(params)}")

    def check_finite(step: int, metrics: dict[str, Any]) -> dict[str, float]:
        values = {k: float(v) for k, v in jax.device_get(metrics).items()}
        bad = {k: v for k, v in values.items() if not np.isfinite(v)}
        if bad:
            last = ckpt.latest_step()
            kept = f"last good checkpoint: step {last}" if last is not None else "no checkpoint was written"
            terms = ", ".join(f"{k}={v}" for k, v in bad.items())
            raise TrainingDiverged(f"non-finite loss at step {step} ({terms}); stopped, {kept}")
        return values

    def save(step: int) -> None:
        state = {"params": params, "opt_states": opt_states, "step": jnp.int32(step), "rng": base_rng}
        ckpt.save(step, state, data_iter.get_state(), json.loads(cfg.to_json()))

    # ---------------------------------------------------------------------- eval (samples)
    sample_batch = shd.global_batch(first, mesh)  # this run's first batch, on every process

    def write_samples(step: int) -> None:
        out = p_sample(params, sample_batch, frozen)
        # Every process takes part (collectives); process 0 writes.
        gathered = multihost_utils.process_allgather(
            {"content": sample_batch["content"], "style": sample_batch["style"], "out": out}, tiled=True
        )
        k = tcfg.num_samples
        grid = sample_grid(*(np.asarray(gathered[n][:k]) for n in ("content", "style", "out")))
        logger.image(step, "samples", grid)

    # ---------------------------------------------------------------------- loop
    total = int(tcfg.steps)
    last_values: dict[str, float] = {}
    pending: tuple[int, Any] | None = None  # metrics of the previous step, checked one step late
    t0, t_step = time.perf_counter(), start
    info(f"training steps {start}..{total}")
    try:
        for i in range(start, total):
            local = first if i == start else next(data_iter)
            batch = shd.global_batch(local, mesh)
            params, opt_states, metrics = p_step(params, opt_states, batch, frozen, base_rng, jnp.int32(i))
            done = i + 1
            # Checking the previous step's loss keeps the device busy with this one meanwhile.
            if pending is not None:
                check_finite(*pending)
            pending = (done, metrics)
            is_last = done == total
            if done % tcfg.log_every == 0 or is_last or done % tcfg.checkpoint_every == 0:
                values = check_finite(*pending)
                pending = None
                if done % tcfg.log_every == 0 or is_last:
                    dt = time.perf_counter() - t0
                    steps_per_s = (done - t_step) / dt if dt > 0 else float("nan")
                    values |= {"steps_per_s": steps_per_s, "images_per_s": steps_per_s * tcfg.batch_size}
                    logger.scalars(done, values)
                    terms = " ".join(f"{k.removeprefix('loss/')}={v:.4g}" for k, v in values.items() if k.startswith("loss/"))
                    info(
                        f"step {done}/{total} loss={values['loss']:.4g} {terms} | "
                        f"{steps_per_s:.2f} steps/s {values['images_per_s']:.1f} img/s"
                    )
                    last_values = values
                    t0, t_step = time.perf_counter(), done
            if done % tcfg.checkpoint_every == 0 or is_last:
                save(done)
            if tcfg.sample_every and (done % tcfg.sample_every == 0 or is_last):
                write_samples(done)
        if pending is not None:
            check_finite(*pending)
    finally:
        ckpt.close()  # waits for the async save in flight: never leave it half-written
        logger.close()
        if hasattr(data_iter, "close"):
            data_iter.close()  # stops grain worker processes
    return last_values
