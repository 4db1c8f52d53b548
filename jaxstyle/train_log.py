"""What the trainer writes while it runs: metrics (console, metrics.jsonl, TensorBoard) and sample grids.

Every workdir file goes through :class:`etils.epath.Path`, so a workdir may be a local folder
or a bucket URI (``gs://bucket/runs/x`` on a TPU pod, where every host must see the files).
TensorBoard events go through tensorboardX (no TensorFlow; optional at run time), which
writes local files only: for a remote workdir they go to a local folder, named on the console.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

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
                from tensorboardX import SummaryWriter

                tb_dir = local_tb_dir(self.workdir)
                if self._remote:
                    print(f"TensorBoard events go to the local folder {tb_dir} "
                          "(tensorboardX writes local files only)", flush=True)
                self._tb = SummaryWriter(str(tb_dir))
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
            if self._jsonl is None:
                self._jsonl = open(Path(str(self._path)), "a")  # noqa: SIM115
            self._jsonl.write(line + "\n")
            self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)

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
            self._tb.add_image(name, grid, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            if self._jsonl is not None:
                self._jsonl.close()
            if self._tb is not None:
                self._tb.close()


def sample_grid(content: np.ndarray, output: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
    """One row per example: content | style | output (no style column without ``style``),
    each resized to the content's size.

    (N,H,W,3), (N,h',w',3), (N,h,w,3) -> (N*H, 3*W, 3) (2*W without style).
    """
    h, w = content.shape[1:3]
    columns = [content] + ([] if style is None else [style]) + [output]
    columns = [np.asarray(jax.image.resize(x, (x.shape[0], h, w, 3), "bilinear")) for x in columns]
    return np.concatenate(np.concatenate(columns, axis=2), axis=0)
