"""The server's jobs: one stylization at a time on the devices, streamed to the page as updates.

:meth:`Runner.run` is a generator of :class:`Update`\\ s: the job runs in a worker thread and
the generator hands on what the stylizer's hooks report (``on_frame`` images, ``progress``
losses) as they come, with a heartbeat while nothing does (loading, compiling). Closing the
generator (the page's Cancel, a client that disconnected: Gradio closes it) cancels the job: the
next hook call raises :class:`Cancelled` inside the stylizer, which ends the run after the
current chunk of optimizer steps. The device lock is held by the worker, not the generator,
so a cancelled job still owns the devices until that chunk is done and the next job waits for
it (the queue in front, its bound and each user's place, is Gradio's).

No gradio here: the updates are plain data (tests drive a :class:`Runner` directly).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import JaxstyleError, first_line
from jaxstyle.serve.form import Entry

log = logging.getLogger("jaxstyle.serve")


class Cancelled(Exception):
    """Raised inside a stylizer's hook when its job was cancelled."""


class JobError(JaxstyleError):
    """A job ended with an error; its message is one line for the page."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One job: inputs already decoded by :func:`jaxstyle.io.load_image`, settings checked."""

    entry: Entry
    options: dict[str, Any]
    controls: dict[str, Any]
    content: np.ndarray
    style: np.ndarray | None
    name: str  # the output files' stem (content__style, as the CLI names them)


@dataclasses.dataclass(frozen=True)
class Update:
    """What the page shows next. None: leave it as it is."""

    status: str
    preview: np.ndarray | None = None
    result: np.ndarray | None = None
    files: tuple[str, ...] | None = None


class _Hooks:
    """The stylizer's hooks of one job: report to ``events``, stop when ``cancel`` is set."""

    def __init__(self, events: queue.Queue, cancel: threading.Event):
        self.events, self.cancel = events, cancel
        self.total: int | None = None
        self.first: tuple[int, float] | None = None  # (step, time) of the first report: rates skip compiling

    def _check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled

    def on_plan(self, total_steps: int) -> None:
        self.total = total_steps

    def progress(self, step: int, losses: dict[str, float]) -> None:
        self._check()
        now = time.perf_counter()
        if self.first is None:
            self.first = (step, now)
        done, since = step - self.first[0], now - self.first[1]
        rate = done / since if done and since > 0 else None
        self.events.put(("progress", (step, self.total, dict(losses), rate)))

    def on_frame(self, step: int, indices: list[int], images: list[np.ndarray]) -> None:
        self._check()
        if len(images) and images[0] is not None:  # images: a list or an (N, H, W, 3) array
            self.events.put(("frame", np.asarray(images[0])))

    def take(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("on_plan", "progress", "on_frame") if name in names}


class Runner:
    """Runs jobs one at a time on this process' devices; keeps the last ``cache`` stylizers
    loaded (loading a method's networks and compiling its programs is most of a small job)."""

    def __init__(self, out_root: str | Path | None = None, cache: int = 2, sheet_height: int = 512):
        self.out_root = Path(out_root or tempfile.mkdtemp(prefix="jaxstyle-serve-"))
        self.cache = cache
        self.sheet_height = sheet_height
        self._device = threading.Lock()
        self._stylizers: OrderedDict[Any, Any] = OrderedDict()

    # ------------------------------------------------------------------ the page's side

    def run(self, request: Request, heartbeat: float = 0.5) -> Iterator[Update]:
        """Run ``request``; yield an :class:`Update` per frame and progress report (progress
        reports that pile up are merged), and one every ``heartbeat`` s while there is none.
        The last update carries the result and the files to download; an error raises
        :class:`JobError` (one line). Closing the generator cancels the job."""
        events: queue.Queue = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(target=self._work, args=(request, events, cancel), daemon=True,
                                  name=f"jaxstyle-job-{request.name}")
        t0 = time.perf_counter()
        status, report = "waiting for the device", ""
        worker.start()
        try:
            while True:
                try:
                    kind, data = events.get(timeout=heartbeat)
                except queue.Empty:
                    kind, data = "heartbeat", None
                if kind == "error":
                    raise JobError(data)
                if kind == "done":
                    result, files = data
                    last = f" · {report}" if report else ""
                    yield Update(f"done in {time.perf_counter() - t0:.1f} s{last}", preview=result, result=result,
                                 files=files)
                    # Asked for more, the page has copied the files into its own cache: these can go.
                    shutil.rmtree(Path(files[0]).parent, ignore_errors=True)
                    return
                if kind == "progress":  # only the newest of the reports that piled up
                    while _peek_kind(events) == "progress":
                        _, data = events.get_nowait()
                    status = report = _progress_text(*data)
                elif kind == "status":
                    status = data
                yield Update(f"{status} ({time.perf_counter() - t0:.0f} s)", preview=data if kind == "frame" else None)
        finally:
            cancel.set()  # a no-op once the worker is done

    # ------------------------------------------------------------------ the worker's side

    def _work(self, request: Request, events: queue.Queue, cancel: threading.Event) -> None:
        try:
            with self._device:  # one job at a time on the devices
                if cancel.is_set():
                    return
                events.put(("status", "loading the method"))
                stylizer = self._stylizer(request.entry, request.options)
                events.put(("status", "compiling" if stylizer.engine_controls else "running"))
                hooks = _Hooks(events, cancel)  # feed-forward networks run in one call: nothing to report
                style = None if request.style is None else [request.style]
                result = stylizer.stylize([request.content], style, **request.controls,
                                          **hooks.take(stylizer.hooks if stylizer.engine_controls else ()))[0]
                events.put(("done", self._write(stylizer, request, result)))
        except Cancelled:
            log.info("job %s cancelled", request.name)
        except JaxstyleError as e:
            events.put(("error", str(e)))
        except Exception as e:  # the page gets one line; the server's log the traceback
            log.exception("job %s failed", request.name)
            events.put(("error", f"internal error ({type(e).__name__}: {first_line(e)})"))

    def _stylizer(self, entry: Entry, options: dict[str, Any]) -> Any:
        from jaxstyle.methods import load_stylizer

        key = (entry, tuple(sorted(options.items())))
        if key in self._stylizers:
            self._stylizers.move_to_end(key)
            return self._stylizers[key]
        stylizer = load_stylizer(entry.method, None if entry.source is None else list(entry.source), **options)
        self._stylizers[key] = stylizer
        while len(self._stylizers) > self.cache:
            self._stylizers.popitem(last=False)
        return stylizer

    def _write(self, stylizer: Any, request: Request, result: Any) -> tuple[np.ndarray, tuple[str, ...]]:
        """The result's files (the stylizer's ``output_files``: result first, then side outputs
        and the sheet) written as PNGs into a folder of this job; (main image, paths)."""
        from jaxstyle.io import save_image

        folder = Path(tempfile.mkdtemp(prefix="job-", dir=self.out_root))
        shown = [request.content] + ([] if request.style is None else [request.style])
        size = request.controls.get("size", self.sheet_height)
        files = stylizer.output_files(request.name, shown, result, request.controls, min(size, self.sheet_height))
        paths = tuple(str(save_image(folder / f"{stem}.png", image)) for stem, image in files)
        return files[0][1], paths

    def close(self) -> None:
        """Delete every job's files."""
        shutil.rmtree(self.out_root, ignore_errors=True)


def _peek_kind(events: queue.Queue) -> str | None:
    with events.mutex:  # a look at the head without taking it
        return events.queue[0][0] if events.queue else None


def _progress_text(step: int, total: int | None, losses: dict[str, float], rate: float | None) -> str:
    parts = [f"step {step}" + (f"/{total}" if total else "")]
    if rate:
        parts.append(f"{rate:.1f} steps/s")
    parts += [f"{name} {value:.3g}" for name, value in losses.items()]
    return " · ".join(parts)
