"""What the trainer writes while it runs: metrics (console, metrics.jsonl, TensorBoard) and sample grids.

TensorBoard events go through tensorboardX (no TensorFlow); it is optional at run time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from jaxstyle.io import save_image


class MetricsLogger:
    """Writes scalars and images under ``workdir`` on process 0 only; elsewhere every call is a no-op.

    Files: ``metrics.jsonl`` (one ``{"step", <name>: value}`` line per call, appended, so a
    resumed run continues the file), ``samples/<name>_<step>.png`` and TensorBoard events in ``tb/``.
    """

    def __init__(self, workdir: Path, enabled: bool):
        self.enabled = enabled
        self.workdir = workdir
        self._tb = None
        if enabled:
            try:
                from tensorboardX import SummaryWriter

                self._tb = SummaryWriter(str(workdir / "tb"))
            except ImportError:  # console + jsonl still work
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
        """Save ``grid`` (H, W, 3) in [0, 1] as a PNG and a TensorBoard image."""
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


def sample_grid(content: np.ndarray, output: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
    """One row per example: content | style | output (no style column without ``style``),
    each resized to the content's size.

    (N,H,W,3), (N,h',w',3), (N,h,w,3) -> (N*H, 3*W, 3) (2*W without style).
    """
    h, w = content.shape[1:3]
    columns = [content] + ([] if style is None else [style]) + [output]
    columns = [np.asarray(jax.image.resize(x, (x.shape[0], h, w, 3), "bilinear")) for x in columns]
    return np.concatenate(np.concatenate(columns, axis=2), axis=0)
