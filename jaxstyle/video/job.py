"""``jaxstyle video``: a clip stylized frame by frame, resumable, with an optional temporal mode.

The job works in a folder (OUT itself, or ``OUT.frames/`` beside a video OUT):

1. ``content/NNNNN.png``: the input's frames at the stylized size, decoded one at a time
   (skipped on a re-run once complete).
2. The stylized frames ``NNNNN__STYLE.png``, with the collection manifest beside them
   (docs/collections.md), so a killed run resumes:
   - per frame (every method): the frames are a collection of one shape, stylized in batches
     sharded over the devices, one compiled program for the clip;
   - ``temporal`` with an optimization method: frame after frame, each starting from the
     previous result warped by the optical flow, with Ruder et al.'s temporal loss
     (:class:`jaxstyle.optimize.temporal.Temporal`); the flow of the next frame is computed on
     the host while the device optimizes this one;
   - ``temporal`` with a feed-forward method: the frames stylized per frame as above, then
     ``blended/NNNNN.png``: each output blended with the previous blended output warped onto it,
     on the pixels the flow marks reliable (:func:`blend_frames`).
3. The video OUT, encoded from the final frames at the input's frame rate, with its audio.

Each run ends with the warping error of the result (:func:`jaxstyle.video.metrics.warping_error`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.video.io import ClipInfo, is_video_path, probe, read_frames, write_video

CONTENT_DIR = "content"
BLENDED_DIR = "blended"
COMPLETE = "complete.json"


@dataclasses.dataclass
class VideoPlan:
    """A video job checked before any work: the clip, where everything goes, how it runs."""

    method: str
    clip: ClipInfo
    style: list[str] | None
    work: Path
    video_out: Path | None
    options: dict[str, Any]
    controls: dict[str, Any]
    temporal: bool = False
    temporal_weight: float | None = None
    blend: float = 0.8
    batch: int | None = None
    overwrite: bool = False

    @property
    def content_dir(self) -> Path:
        return self.work / CONTENT_DIR


def plan_video(method: str, source: str | Path, output: str | Path, style: list[str] | None = None, *,
               options: Mapping[str, Any] | None = None, temporal: bool = False,
               temporal_weight: float | None = None, blend: float = 0.8, fps: float | None = None,
               batch: int | None = None, overwrite: bool = False, **controls: Any) -> VideoPlan:
    """Check a video job without JAX: the clip readable (one-line :class:`InputError` for a bad
    file, an empty clip or folder), the output writable. ``output``: a video file (its frames
    kept in ``OUTPUT.frames/`` for resume) or a folder of frames."""
    from jaxstyle.files import check_can_write
    from jaxstyle.methods import get_method

    spec = get_method(method)
    clip = probe(source, fps)
    if not spec.style_images and style is not None:
        raise InputError(f"--method {method} takes no --style (its style is built in or learned)")
    if spec.style_images and not style:
        raise InputError(f"--method {method} needs --style")
    if style is not None and len(style) > 1:
        raise InputError(f"a clip takes one --style, got {len(style)} (run one job per style)")
    output = Path(output)
    video_out = output if is_video_path(output) else None
    if video_out is None and output.suffix and not output.is_dir():
        raise InputError(f"{output}: give a video file ({', '.join(('.mp4', '.mov', '.mkv', '.webm'))}) or a folder")
    work = output.with_name(output.name + ".frames") if video_out else output
    try:
        check_can_write(work / "probe.png")
        if video_out:
            check_can_write(video_out)
    except OSError as e:
        raise InputError(f"{output}: cannot write there ({e.strerror or e})") from None
    if not 0.0 <= blend <= 1.0:
        raise InputError(f"--blend must be in [0, 1], got {blend}")
    if temporal_weight is not None and temporal_weight < 0:
        raise InputError(f"--temporal-weight must be >= 0, got {temporal_weight}")
    controls = {k: v for k, v in controls.items() if v is not None}
    controls.setdefault("size", spec.option("size").default)
    return VideoPlan(method, clip, style, work, video_out, dict(options or {}), controls, temporal, temporal_weight,
                     blend, batch, overwrite)


def check_temporal(stylizer: Any, plan: VideoPlan) -> None:
    """One line for what the temporal mode cannot do with this stylizer and these controls."""
    if not plan.temporal or not getattr(stylizer, "engine_controls", False):
        return
    for name in ("tile", "save_every"):
        if plan.controls.get(name):
            raise InputError(f"--temporal runs one frame after the other: leave out --{name.replace('_', '-')}")
    if plan.controls.get("preserve_color", "none") != "none":
        raise InputError("--temporal compares frames in RGB: leave out --preserve-color")
    if getattr(stylizer.settings, "scales", 1) > 1:
        raise InputError("--temporal starts each frame from the previous one at full size: use --scales 1")


# --------------------------------------------------------------------------- frames


def extract_frames(plan: VideoPlan) -> int:
    """Decode the clip into ``content/NNNNN.png`` at the stylized size, one frame at a time.

    Skipped when a previous run completed it for the same input (path, size, mtime) and size.
    Returns the frame count; a clip with no frames is an :class:`InputError` (nothing kept).
    """
    from jaxstyle.files import write_text_atomic
    from jaxstyle.io import resize_long_side, save_image

    folder = plan.content_dir
    stat = plan.clip.path.stat()
    key = {"input": str(plan.clip.path.resolve()), "bytes": stat.st_size, "mtime": stat.st_mtime,
           "size": plan.controls["size"]}
    marker = folder / COMPLETE
    try:
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in key} == key and len(list(folder.glob("*.png"))) >= done["frames"]:
            return int(done["frames"])
    except (OSError, ValueError, KeyError):
        pass
    n = 0
    for n, frame in enumerate(read_frames(plan.clip), start=1):
        save_image(folder / f"{n:05d}.png", resize_long_side(frame, plan.controls["size"]))
    if n == 0:
        raise InputError(f"{plan.clip.path}: a clip with no frames")
    write_text_atomic(marker, json.dumps({**key, "frames": n}) + "\n")
    return n


def load_frames(folder: Path, n: int) -> Iterator[np.ndarray]:
    from jaxstyle.io import load_image

    for i in range(1, n + 1):
        yield load_image(folder / f"{i:05d}.png")


def flows_between(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(flow(a -> b), flow(b -> a))``: forward and backward flow of consecutive frames."""
    from jaxstyle.video.flow import flow

    return flow(a, b), flow(b, a)


def backward_and_reliability(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For consecutive content frames ``a``, ``b``: the flow b -> a (what warps an output of ``a``
    onto ``b``) and Ruder et al.'s reliability weights (H, W) of that warp."""
    from jaxstyle.video.flow import reliability_ruder

    forward, backward = flows_between(a, b)
    return backward, reliability_ruder(backward, forward)


def reliable_previous(prev_out: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The previous output ``prev_out`` (on content frame ``a``'s grid) warped onto frame ``b``,
    and the reliability weights (H, W) of that warp."""
    from jaxstyle.video.flow import warp

    backward, reliability = backward_and_reliability(a, b)
    return warp(prev_out, backward), reliability


# --------------------------------------------------------------------------- running


@dataclasses.dataclass
class VideoSummary:
    frames: int
    stylized: int
    seconds: float
    compiled: int
    warping_error: float
    final: Path  # the folder of the final frames

    def line(self) -> str:
        rate = self.stylized / max(self.seconds, 1e-9)
        return (f"{self.frames} frames ({self.stylized} stylized, {self.frames - self.stylized} resumed) in "
                f"{self.seconds:.1f} s, {rate:.2f} frames/s, {self.compiled} programs compiled; "
                f"warping error {self.warping_error:.4g}")


def run_video(stylizer: Any, plan: VideoPlan) -> VideoSummary:
    """Run a planned video job with ``stylizer`` (see the module docstring)."""
    from jaxstyle.compiles import CompileCounter

    check_temporal(stylizer, plan)
    n = extract_frames(plan)
    t0 = time.perf_counter()
    with CompileCounter() as compiles:
        if plan.temporal and getattr(stylizer, "engine_controls", False):
            names, stylized = _run_temporal_optimization(stylizer, plan, n)
            final = [plan.work / f"{name}.png" for name in names]
        else:
            names, stylized = _run_per_frame(stylizer, plan, n)
            final = [plan.work / f"{name}.png" for name in names]
            if plan.temporal:
                final, blended = blend_frames(plan, final)
                stylized = max(stylized, blended)
    seconds = time.perf_counter() - t0
    from jaxstyle.video.metrics import warping_error

    error = warping_error(load_frames(plan.content_dir, n), _images(final))
    summary = VideoSummary(n, stylized, seconds, compiles.total, error, final[0].parent)
    (plan.work / "video-metrics.json").write_text(json.dumps({"warping_error": error, "frames": n}) + "\n")
    if plan.video_out is not None:
        audio = plan.clip.path if plan.clip.audio else None
        write_video(plan.video_out, _images(final), plan.clip.fps, audio)
        print(f"wrote {plan.video_out}", flush=True)
    print(summary.line(), flush=True)
    return summary


def _images(paths: list[Path]) -> Iterator[np.ndarray]:
    from jaxstyle.io import load_image

    return (load_image(p) for p in paths)


def _job_plan(plan: VideoPlan, settings_extra: Mapping[str, Any]):
    """The collection job of the frames (its manifest also records ``settings_extra``)."""
    from jaxstyle.collection.job import plan_job
    from jaxstyle.collection.manifest import fingerprint

    # Checked below, once the video's own settings are in the manifest.
    job = plan_job(plan.method, str(plan.content_dir), plan.style, str(plan.work) + "/", options=plan.options,
                   shape_buckets=None, overwrite=True, **plan.controls)
    job.overwrite = plan.overwrite
    job.manifest.settings = {**job.manifest.settings, **settings_extra}
    job.manifest.fingerprint = fingerprint(job.manifest.settings)
    job.manifest.check(plan.overwrite)
    return job


def _run_per_frame(stylizer: Any, plan: VideoPlan, n: int) -> tuple[list[str], int]:
    """Every frame through the collection machinery (one shape: one program per batch size)."""
    from jaxstyle.collection.job import run_job

    job = _job_plan(plan, {"video": "per-frame"})
    summary = run_job(stylizer, job, batch=plan.batch, sheet_height=None)
    names = sorted(item.name for item in _items(job))
    return names, summary.stylized


def _items(job) -> list:
    from jaxstyle.collection.plan import make_items

    return make_items(job.contents, job.styles or [])


def _run_temporal_optimization(stylizer: Any, plan: VideoPlan, n: int) -> tuple[list[str], int]:
    """Frame after frame with the temporal objective; each result written and recorded at once."""
    import jax
    from tqdm import tqdm

    from jaxstyle.io import load_image, save_image
    from jaxstyle.optimize.temporal import Temporal
    from jaxstyle.video.flow import warp

    weight = plan.temporal_weight if plan.temporal_weight is not None else Temporal.weight
    job = _job_plan(plan, {"video": "temporal", "temporal_weight": weight})
    manifest = job.manifest
    manifest.done_path = manifest.folder / f"jaxstyle-done-{jax.process_index()}.jsonl"
    manifest.start(plan.overwrite)
    items = _items(job)
    done = manifest.done()
    first = next((i for i, item in enumerate(items) if item.name not in done), len(items))
    if first:
        print(f"skipping {first} of {len(items)} frames already in {plan.work} ({manifest.path.name})", flush=True)
    style = job.styles[0].load()
    temporal = copy.copy(stylizer)
    temporal.objective = Temporal(stylizer.objective, weight)
    controls = dict(plan.controls)  # size: the frames' own, so the engine resizes nothing
    base_inputs = stylizer.pair_inputs
    frames = [plan.content_dir / f"{i:05d}.png" for i in range(1, n + 1)]
    bar = tqdm(total=len(items), initial=first, unit="frame", file=sys.stderr, dynamic_ncols=True,
               desc=f"{plan.method} --temporal")

    def frame_and_flow(i: int):  # on the host, while the device optimizes frame i-1
        content = load_image(frames[i])
        return content, (None if i == 0 else backward_and_reliability(load_image(frames[i - 1]), content))

    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(frame_and_flow, first)
        prev_out = load_image(plan.work / f"{items[first - 1].name}.png") if first else None
        for i in range(first, len(items)):
            content, flow = ahead.result()
            if i + 1 < len(items):
                ahead = pool.submit(frame_and_flow, i + 1)
            if flow is None:
                previous, reliability = content, np.zeros(content.shape[:2], np.float32)
            else:
                previous, reliability = warp(prev_out, flow[0]), flow[1]
            inputs = {"previous": [previous.astype(np.float32)], "reliability": [reliability]}
            temporal.pair_inputs = lambda pairs, extra=inputs: {**base_inputs(pairs), **extra}
            path = save_image(plan.work / f"{items[i].name}.png", temporal.stylize([content], [style], **controls)[0])
            print(f"wrote {path}", flush=True)
            prev_out = load_image(path)  # as saved (8 bits), as a resumed run reads it: the same next frames
            manifest.mark(items[i].name, [path], [job.contents[items[i].content].key,
                                                 *(job.styles[k].key for k in items[i].styles)])
            bar.update(1)
    bar.close()
    return [item.name for item in items], len(items) - first


def blend_frames(plan: VideoPlan, stylized: list[Path]) -> tuple[list[Path], int]:
    """Feed-forward ``--temporal``: ``out_t = (1 - a c) s_t + a c warp(out_{t-1})``.

    ``s_t``: the per-frame result, ``c``: Ruder et al.'s reliability of the warp of the previous
    blended output onto frame t, ``a``: ``plan.blend``. On reliable pixels each output is thus an
    exponential moving average of the stylizations along the flow's trajectories (a
    post-process; no network is retrained). Frames already blended with the same settings are
    kept (resume). Returns the blended frames' paths and how many were blended now.
    """
    from jaxstyle.files import write_text_atomic
    from jaxstyle.io import load_image, save_image

    folder = plan.work / BLENDED_DIR
    key = {"blend": plan.blend, "frames": [f"{p.name}:{p.stat().st_mtime}" for p in stylized]}
    marker = folder / "settings.json"
    same = marker.is_file() and json.loads(marker.read_text()) == key
    if not same:
        for old in folder.glob("*.png"):
            old.unlink()
        write_text_atomic(marker, json.dumps(key) + "\n")
    out = [folder / f"{i:05d}.png" for i in range(1, len(stylized) + 1)]
    contents = [plan.content_dir / f"{i:05d}.png" for i in range(1, len(stylized) + 1)]
    prev, blended_now = None, 0
    for i, path in enumerate(out):
        if path.is_file():
            continue  # written whole (atomically) by an earlier run with these settings
        s = load_image(stylized[i])
        if i == 0:
            blended = s
        else:
            prev = prev if prev is not None else load_image(out[i - 1])
            warped, c = reliable_previous(prev, load_image(contents[i - 1]), load_image(contents[i]))
            a = plan.blend * c[..., None]
            blended = (1.0 - a) * s + a * warped
        save_image(path, blended)
        prev, blended_now = blended, blended_now + 1
    return out, blended_now
