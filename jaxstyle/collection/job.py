"""A collection job that writes its outputs: what ``jaxstyle stylize`` runs, callable from Python.

:func:`stylize_collection` streams a :class:`~jaxstyle.collection.run.Collection` and writes
each output as its batch finishes, through the stylizer's ``output_files`` hook (result,
sheet, side outputs), every file atomically with its ``wrote PATH`` line, then records it in
the job's manifest (:mod:`jaxstyle.collection.manifest`). A re-run skips what is done and
says how many; one progress line counts outputs, rate, ETA and compilations, and a summary
line ends the job: ``N pairs (M skipped) in T s, K programs compiled, P pairs/hour``.

With ``checkpoint_dir``, each batch checkpoints its optimization (``--checkpoint-every``) in
its own sub-folder, removed once the batch's outputs are written, so a killed job resumes
inside the batch it was running and skips the batches it had finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.collection.manifest import Manifest
from jaxstyle.collection.plan import make_items
from jaxstyle.collection.run import Collection
from jaxstyle.collection.sources import ImageRef, image_refs
from jaxstyle.errors import InputError
from jaxstyle.shapes import DEFAULT_BUCKETS, Batching

# Controls that change how a job runs or reports, not its results (left out of the fingerprint).
RUN_ONLY = ("save_every", "checkpoint_dir", "checkpoint_every", "progress", "on_plan", "on_frame")


@dataclasses.dataclass
class JobSummary:
    """What a job did in this process: outputs stylized and skipped, seconds, compilations."""

    stylized: int
    skipped: int
    seconds: float
    compiled: int
    written: list[Path]

    def line(self) -> str:
        rate = 3600.0 * self.stylized / max(self.seconds, 1e-9)
        return (f"{self.stylized} pairs ({self.skipped} skipped) in {self.seconds:.1f} s, {self.compiled} programs "
                f"compiled, {rate:.0f} pairs/hour")


def output_plan(output: str, n_outputs: int) -> tuple[Path, Path | None]:
    """(directory, single output file or None), checked writable before any computation.

    A path with a suffix is an image file, which must be one we can write (``.png``,
    ``.jpg``, ...); a folder whose name has a dot is given with a trailing ``/``. The check
    writes nothing (:func:`jaxstyle.files.check_can_write` probes the nearest existing folder).
    """
    from jaxstyle.files import check_can_write
    from jaxstyle.io import SAVE_FORMATS

    path = Path(output)
    as_folder = output.endswith(("/", os.sep)) or path.is_dir() or not path.suffix
    if not as_folder and path.suffix.lower() not in SAVE_FORMATS:
        raise InputError(f"--output {output}: cannot write {path.suffix!r} images (use one of "
                         f"{', '.join(SAVE_FORMATS)}; a folder name with a dot ends with /)")
    if not as_folder and n_outputs != 1:
        raise InputError(f"--output {output} is a single file but there are {n_outputs} pairs; give a folder")
    if path.exists() and as_folder and not path.is_dir():
        raise InputError(f"--output {output} exists and is not a folder")
    probe = path / "probe.png" if as_folder else path
    try:
        check_can_write(probe)
    except OSError as e:
        raise InputError(f"--output {output}: cannot write there ({e.strerror or e})") from None
    return (path, None) if as_folder else (path.parent, path)


def target_path(stem: str, main: str, out_dir: Path, out_file: Path | None) -> Path:
    """Where file ``stem`` goes: with a single ``out_file``, the main result there and the files
    named after it beside it (``o.png``, ``o_sheet.png``); otherwise ``out_dir/STEM.png``."""
    if out_file is not None and stem.startswith(main):
        return out_file if stem == main else out_file.with_name(f"{out_file.stem}{stem[len(main):]}.png")
    return out_dir / f"{stem}.png"


def job_settings(method: str, options: Mapping[str, Any], controls: Mapping[str, Any], pairs: str,
                 shape_buckets: int | None, fit: str) -> dict[str, Any]:
    """The settings that decide a job's results (the manifest's fingerprint covers them)."""
    return {"method": method, "options": {k: _describe(v) for k, v in sorted(options.items())},
            "controls": {k: _describe(v) for k, v in sorted(controls.items()) if k not in RUN_ONLY},
            "pairs": pairs, "shape_buckets": "exact" if shape_buckets is None else shape_buckets, "fit": fit}


def _describe(value: Any) -> Any:
    """JSON-able: arrays (masks) by a digest of their bytes, sequences element-wise."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        data = np.ascontiguousarray(value)
        return f"array{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()[:16]}"
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


@dataclasses.dataclass
class JobPlan:
    """A job checked and planned before anything runs (no JAX): its inputs, outputs and manifest."""

    method: str
    contents: list[ImageRef]
    styles: list[ImageRef] | None
    controls: dict[str, Any]
    pairs: str
    shape_buckets: int | None
    fit: str
    out_dir: Path
    out_file: Path | None
    manifest: Manifest | None
    overwrite: bool


def plan_job(method: str, contents: Any, styles: Any = None, output: str | Path = "outputs/", *,
             options: Mapping[str, Any] | None = None, pairs: str = "product",
             shape_buckets: int | None = DEFAULT_BUCKETS, fit: str = "pad", overwrite: bool = False,
             **controls: Any) -> JobPlan:
    """Check a job against method ``method``'s declaration and plan its outputs, without JAX:
    the inputs listed (headers read), the output checked writable and its manifest compared with
    these settings (one-line :class:`InputError` for anything wrong; nothing is written)."""
    from jaxstyle.methods import get_method

    spec = get_method(method)
    Batching(shape_buckets, fit)  # checks both
    controls = {k: v for k, v in controls.items() if v is not None}
    content_refs = image_refs(contents, "--content")
    if not spec.style_images and styles is not None:
        raise InputError(f"--method {method} takes no --style (its style is built in or learned)")
    style_refs = image_refs(styles, "--style") if spec.style_images else None
    mixing = [k for k in spec.mixing if k in controls]
    tag = ("masked" if "masks" in mixing else "mix") if mixing else None
    items = make_items(content_refs, style_refs or [], pairs, tag)
    out_dir, out_file = output_plan(str(output), len(items))
    manifest = None
    if out_file is None:  # a folder: the job's manifest beside its outputs
        manifest = Manifest(out_dir, job_settings(method, options or {}, controls, pairs, shape_buckets, fit))
        manifest.check(overwrite)
    return JobPlan(method, content_refs, style_refs, controls, pairs, shape_buckets, fit, out_dir, out_file,
                   manifest, overwrite)


def run_job(stylizer: Any, plan: JobPlan, *, batch: int | None = None, sheet_height: int | None = None,
            progress_line: bool = True, hooks: Mapping[str, Callable] | None = None) -> JobSummary:
    """Run a planned job with ``stylizer`` (see :func:`stylize_collection`)."""
    import jax

    from jaxstyle.io import save_image

    controls = dict(plan.controls)
    checkpoint_dir = controls.pop("checkpoint_dir", None)
    collection = Collection(stylizer, plan.contents, plan.styles, pairs=plan.pairs, shape_buckets=plan.shape_buckets,
                            fit=plan.fit, batch=batch, hooks=dict(hooks or {}), **controls)
    if controls.get("save_every"):
        collection.hooks["on_frame"] = _frame_writer(plan.out_dir)
    if checkpoint_dir is not None:
        collection.checkpoint_dir = Path(checkpoint_dir)

    # ---- nothing was written before this line
    manifest, skip = plan.manifest, set()
    if manifest is not None:
        manifest.done_path = manifest.folder / f"jaxstyle-done-{jax.process_index()}.jsonl"
        if jax.process_index() == 0:
            manifest.start(plan.overwrite)
        _barrier("jaxstyle collection manifest")
        mine = set(collection.names)
        skip = _done_outputs(manifest, collection)
        if skip & mine:
            print(f"skipping {len(skip & mine)} of {len(mine)} outputs already in {plan.out_dir} "
                  f"({manifest.path.name})", flush=True)
    t0 = time.perf_counter()
    written: list[Path] = []
    bar = _progress_bar(plan.method, collection, len(skip & set(collection.names)), progress_line)
    collection.hooks.update(_step_hooks(bar, collection, stylizer.hooks))
    stylized = 0
    try:
        for result in collection.run(skip):
            files = stylizer.output_files(result.name, result.inputs, result.image, controls, sheet_height)
            paths = []
            for stem, image in files:
                paths.append(save_image(target_path(stem, files[0][0], plan.out_dir, plan.out_file), image))
                print(f"wrote {paths[-1]}", flush=True)
            written += paths
            if manifest is not None:
                manifest.mark(result.name, paths, result.keys)
            stylized += 1
            bar.set_postfix_str(f"{collection.compiles.total} compiled", refresh=False)
            bar.update(1)
    except InputError:  # bad input found once running (e.g. DST's points at the image's size)
        if manifest is not None and not written and jax.process_index() == 0:
            manifest.discard()  # a refused job leaves nothing behind
        raise
    finally:
        bar.close()
    _barrier("jaxstyle collection done")
    summary = JobSummary(stylized, collection.skipped, time.perf_counter() - t0, collection.compiles.total, written)
    print(summary.line(), flush=True)
    return summary


def stylize_collection(method: str | Any, contents: Any, styles: Any = None, output: str | Path = "outputs/", *,
                       options: Mapping[str, Any] | None = None, pairs: str = "product",
                       shape_buckets: int | None = DEFAULT_BUCKETS, fit: str = "pad", batch: int | None = None,
                       overwrite: bool = False, sheet_height: int | None = None, progress_line: bool = True,
                       **controls: Any) -> JobSummary:
    """Stylize a collection into ``output`` (a folder, or one image file for a single output).

    ``method``: a method name (loaded with ``options``) or a loaded stylizer.
    ``contents``/``styles``: what :func:`~jaxstyle.collection.sources.image_refs` takes (folders,
    globs, ``@list.txt``, ``tfds:NAME``, arrays, a source). ``sheet_height``: also write each
    output's sheet at this height. ``shape_buckets``, ``fit``, ``batch``: see
    :class:`~jaxstyle.collection.run.Collection`. ``overwrite``: redo a folder that holds a job
    with other settings (else refused in one line). ``controls``: the method's controls
    (``save_every`` writes frames under ``output``/frames, ``checkpoint_dir`` per-batch
    checkpoints). Everything is checked before any work; returns this process's
    :class:`JobSummary` (also printed, as are the ``wrote`` lines).
    """
    stylizer = None if isinstance(method, str) else method
    name = method if stylizer is None else stylizer.method
    plan = plan_job(name, contents, styles, output, options=options, pairs=pairs, shape_buckets=shape_buckets,
                    fit=fit, overwrite=overwrite, **controls)
    if stylizer is None:
        from jaxstyle.methods import load_stylizer

        stylizer = load_stylizer(name, **dict(options or {}))
    return run_job(stylizer, plan, batch=batch, sheet_height=sheet_height, progress_line=progress_line)


def _done_outputs(manifest: Manifest, collection: Collection) -> set[str]:
    """Outputs of ``collection`` the manifest records as done, from the same input files."""
    done = manifest.done()
    out = set()
    for item in collection.items:
        record = done.get(item.name)
        keys = [collection.contents[item.content].key, *(collection.styles[k].key for k in item.styles)]
        if record is not None and record.get("inputs") == keys:
            out.add(item.name)
    return out


def _frame_writer(out_dir: Path) -> Callable[[int, list[str], np.ndarray], None]:
    from jaxstyle.io import save_image

    def on_frame(step: int, names: list[str], images: np.ndarray) -> None:
        for name, image in zip(names, images, strict=True):
            save_image(out_dir / "frames" / f"{name}_{step:05d}.png", image)

    return on_frame


def _progress_bar(method: str, collection: Collection, skipped: int, enabled: bool):
    """One line on stderr (process 0): outputs done/total, rate, ETA, programs compiled."""
    import jax
    from tqdm import tqdm

    return tqdm(total=len(collection.names), initial=skipped, desc=method, unit="pair", file=sys.stderr,
                dynamic_ncols=True, disable=not enabled or jax.process_index() != 0,
                bar_format="{desc}: {n_fmt}/{total_fmt} pairs [{elapsed}<{remaining}, {rate_fmt}]{postfix}")


def _step_hooks(bar: Any, collection: Collection, hooks: tuple[str, ...]) -> dict[str, Callable]:
    """Optimizer steps of the running batch, after the job's counts on its progress line."""
    if "on_plan" not in hooks or "progress" not in hooks:
        return {}
    total = {"steps": 0}

    def on_plan(steps: int) -> None:
        total["steps"] = steps

    def progress(step: int, losses: dict[str, float]) -> None:
        bar.set_postfix_str(f"{collection.compiles.total} compiled, batch step {step}/{total['steps']}")

    return {"on_plan": on_plan, "progress": progress}


def _barrier(name: str) -> None:
    """Wait for every process of a multi-process run (nothing in a single process)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)

