"""What the trainer writes while it runs: metrics (console, metrics.jsonl, TensorBoard) and sample grids.

Every workdir file goes through :class:`etils.epath.Path`, so a workdir may be a local folder
or a bucket URI (``gs://bucket/runs/x`` on a TPU pod, where every host must see the files).
TensorBoard events go through tensorboardX (no TensorFlow; optional at run time), which
writes local files only: for a remote workdir they go to a local folder, named on the console.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from etils import epath

from jaxstyle.io import encode_image

REMOTE_SCHEMES = ("gs://", "s3://", "az://", "hf://")


def is_remote(path: str | Path | epath.Path) -> bool:
    """True for a bucket URI (``gs://...``), False for a local path."""
    return str(path).startswith(REMOTE_SCHEMES)


def workdir_path(workdir: str | Path | epath.Path) -> epath.Path:
    """``workdir`` as an epath (absolute when local)."""
    path = epath.Path(workdir)
    return path if is_remote(path) else path.expanduser().absolute()


def local_tb_dir(workdir: epath.Path) -> Path:
    """Where TensorBoard events go: ``workdir/tb``, or for a remote workdir a local folder
    named after it (tensorboardX cannot write to buckets)."""
    if not is_remote(workdir):
        return Path(str(workdir)) / "tb"
    name = str(workdir).replace("://", "/").strip("/").replace("/", "_")
    return Path(tempfile.gettempdir()) / "jaxstyle_tb" / name


# What the trainer makes in a workdir (jaxstyle.train, jaxstyle.checkpoint and this module).
RUN_FILES = ("config.json", "metrics.jsonl", "tb", "samples", "checkpoints")


class RunFiles:
    """What a training run is about to make in its workdir, so that a run that fails before its
    first checkpoint can take it back (:meth:`remove`).

    A workdir that the run creates (with any missing parent folders) is removed whole. In one
    that existed, only what the run added to the trainer's own entries (:data:`RUN_FILES`: the
    entries themselves, or new files in its folders, such as this run's event file in an existing
    ``tb/``) is removed; nothing that was there before is touched, nor anything else (moved-aside
    unreadable checkpoints stay too). Process 0 of a local workdir only: a bucket is left as is.
    """

    def __init__(self, workdir: str | Path | epath.Path, enabled: bool):
        self.root = Path(str(workdir)) if enabled and not is_remote(workdir) else None
        self.created: Path | None = None  # the topmost folder this run will create
        self.existing: set[str] = set()  # trainer entries and their children, relative to root
        if self.root is None:
            return
        if not self.root.exists():
            self.created = self.root
            while not self.created.parent.exists():
                self.created = self.created.parent
            return
        for name in RUN_FILES:
            path = self.root / name
            if path.exists() or path.is_symlink():
                self.existing.add(name)
                if path.is_dir() and not path.is_symlink():
                    self.existing.update(f"{name}/{child.name}" for child in path.iterdir())

    def remove(self) -> None:
        """Remove what the run made (best effort: a failure here must not hide the run's own)."""
        if self.root is None:
            return
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)
            return
        for name in RUN_FILES:
            path = self.root / name
            if name not in self.existing:
                _remove(path)
            elif path.is_dir() and not path.is_symlink():
                for child in path.iterdir():
                    if f"{name}/{child.name}" not in self.existing:
                        _remove(child)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def read_metrics(workdir: str | Path | epath.Path) -> list[dict]:
    """The records of ``workdir/metrics.jsonl`` (empty without one)."""
    path = workdir_path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsLogger:
    """Writes scalars and images under ``workdir`` on process 0 only; elsewhere every call is a no-op.

    Files: ``metrics.jsonl`` (one ``{"step", <name>: value}`` line per call; a resumed run
    first drops the lines past its checkpoint, :meth:`resume_at`, then continues the file),
    ``samples/<name>_<step>.png`` and TensorBoard events in ``tb/`` (see :func:`local_tb_dir`).
    A local metrics file is appended to and flushed per line; a remote one (object stores
    cannot append) is rewritten whole per call.
    """

    def __init__(self, workdir: str | Path | epath.Path, enabled: bool):
        self.enabled = enabled
        self.workdir = workdir_path(workdir)
        self._path = self.workdir / "metrics.jsonl"
        self._remote = is_remote(self.workdir)
        self._lines: list[str] = []
        self._tb = None
        self._jsonl = None
        if enabled:
            self._lines = [ln for ln in self._path.read_text().splitlines() if ln.strip()] if self._path.exists() else []
            try:
                tb_dir = local_tb_dir(self.workdir)
                self._tb = EventFile(tb_dir)
                if self._remote:
                    print(f"TensorBoard events go to the local folder {tb_dir} "
                          "(tensorboardX writes local files only)", flush=True)
            except ImportError:  # console + jsonl still work
                print("tensorboardX not installed: no TensorBoard events", file=sys.stderr)

    def resume_at(self, step: int) -> None:
        """Forget the records of steps after ``step`` (a run killed after its last checkpoint
        logged them; the resumed run logs them again), rewriting the file atomically."""
        if not self.enabled:
            return
        kept = [ln for ln in self._lines if json.loads(ln).get("step", 0) <= step]
        if len(kept) != len(self._lines) or not self._path.exists():
            self._lines = kept
            self._rewrite()

    def _rewrite(self) -> None:
        text = "".join(ln + "\n" for ln in self._lines)
        if self._remote:
            self._path.write_text(text)
            return
        from jaxstyle.files import write_text_atomic

        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        write_text_atomic(Path(str(self._path)), text)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        line = json.dumps({"step": step, **values})
        self._lines.append(line)
        if self._remote:
            self._rewrite()
        else:
            with naming(self._path):
                if self._jsonl is None:
                    self._jsonl = open(Path(str(self._path)), "a")  # noqa: SIM115
                self._jsonl.write(line + "\n")
                self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                self._tb.scalar(k, v, step)

    def image(self, step: int, name: str, grid: np.ndarray) -> None:
        """Save ``grid`` (H, W, 3) in [0, 1] as a PNG and a TensorBoard image."""
        if not self.enabled:
            return
        path = self.workdir / "samples" / f"{name}_{step:08d}.png"
        data = encode_image(path.name, grid)
        if self._remote:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)  # object stores replace an object whole: no half-written file
        else:
            from jaxstyle.files import write_bytes_atomic

            write_bytes_atomic(Path(str(path)), data)
        if self._tb is not None:
            self._tb.image(name, grid, step)

    def close(self) -> None:
        """Flush and close the files; an OSError (a full disk) after both were closed."""
        if not self.enabled:
            return
        failure: OSError | None = None
        if self._jsonl is not None:
            try:
                with naming(self._path):
                    self._jsonl.close()
            except OSError as e:
                failure = e
            self._jsonl = None
        if self._tb is not None:
            try:
                self._tb.close()
            except OSError as e:
                failure = failure or e
            self._tb = None
        if failure is not None:
            raise failure


class EventFile:
    """One TensorBoard event file, written in the caller's thread.

    tensorboardX's ``SummaryWriter`` writes from a thread of its own: when that thread dies of a
    full disk, the next event blocks the trainer for ever on its full queue. Written here, with
    tensorboardX's event format, a failed write is an OSError (naming the file) at the step that
    wrote it. Raises ImportError without tensorboardX.
    """

    def __init__(self, logdir: Path):
        _import_tensorboardx_without_torch()
        from tensorboardX.event_file_writer import EventsWriter

        logdir.mkdir(parents=True, exist_ok=True)
        self._writer = EventsWriter(str(logdir / "events"))  # events.out.tfevents.<time>.<host>
        self.path = Path(getattr(self._writer, "_file_name", logdir))  # for messages only

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboardX.summary import scalar

        self._write(scalar(tag, value), step)

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        """``grid`` (H, W, 3) in [0, 1]."""
        from tensorboardX.summary import image

        self._write(image(tag, grid, dataformats="HWC"), step)

    def _write(self, summary: Any, step: int) -> None:
        from tensorboardX.proto import event_pb2

        with naming(self.path):
            self._writer.write_event(event_pb2.Event(summary=summary, step=step, wall_time=time.time()))

    def close(self) -> None:
        with naming(self.path):
            self._writer.close()


def _import_tensorboardx_without_torch() -> None:
    """Import tensorboardX with torch hidden, unless torch is already loaded.

    The package's ``__init__`` imports its ``SummaryWriter``, which imports torch when it is
    installed (2-4 s per process here) to accept torch tensors. jaxstyle writes numpy values
    through ``EventsWriter`` and never needs that. Raises ImportError without tensorboardX.
    """
    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        import tensorboardX  # noqa: F401
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        import tensorboardX  # noqa: F401
    finally:
        del sys.modules["torch"]


@contextlib.contextmanager
def naming(path: str | Path | epath.Path) -> Iterator[None]:
    """Re-raise an OSError (a buffered write knows no file name) as one naming ``path``."""
    try:
        yield
    except OSError as e:
        if e.filename:
            raise
        raise type(e)(e.errno, e.strerror or str(e), str(path)) from None


def sample_grid(content: np.ndarray, output: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
    """One row per example: content | style | output (no style column without ``style``),
    each resized to the content's size.

    (N,H,W,3), (N,h',w',3), (N,h,w,3) -> (N*H, 3*W, 3) (2*W without style).
    """
    h, w = content.shape[1:3]
    columns = [content] + ([] if style is None else [style]) + [output]
    columns = [np.asarray(jax.image.resize(x, (x.shape[0], h, w, 3), "bilinear")) for x in columns]
    return np.concatenate(np.concatenate(columns, axis=2), axis=0)
