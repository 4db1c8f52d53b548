"""Clips in and out: video files through the FFmpeg that imageio-ffmpeg ships, or folders of frames.

Frames stream one at a time (FFmpeg pipes raw RGB): a clip is never held whole in memory.
Frame rate and audio carry over: :func:`write_video` muxes the input file's audio track
(re-encoded to AAC) into the output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from jaxstyle.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """What a clip is: frame rate, frame size (W, H), whether it has audio, its file (None: a folder)."""

    fps: float
    size: tuple[int, int]
    audio: bool
    path: Path


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def frame_paths(folder: str | Path) -> list[Path]:
    """The image files of a folder of frames, in name order."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def probe(path: str | Path, fps: float | None = None) -> ClipInfo:
    """A clip's :class:`ClipInfo`, reading only its header; one-line :class:`InputError` for a
    file FFmpeg cannot read, a folder without frames, or a missing path. ``fps`` is the rate of a
    folder of frames (default 25)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        frames = frame_paths(path)
        if not frames:
            raise InputError(f"{path}: a folder with no frames (no image files)")
        from jaxstyle.collection.sources import image_refs

        h, w = image_refs([str(frames[0])])[0].hw
        return ClipInfo(fps or 25.0, (w, h), False, path)
    meta = _meta(path)
    return ClipInfo(float(meta.get("fps") or fps or 25.0), tuple(meta["size"]), "audio_codec" in meta, path)


def _meta(path: Path) -> dict:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        return next(reader)
    except (OSError, RuntimeError, StopIteration):
        raise InputError(f"{path}: not a video FFmpeg can read") from None
    finally:
        reader.close()


def read_frames(info: ClipInfo) -> Iterator[np.ndarray]:
    """The clip's frames, one at a time: (H, W, 3) float32 in [0, 1]."""
    if info.path.is_dir():
        from jaxstyle.io import load_image

        for p in frame_paths(info.path):
            yield load_image(p)
        return
    import imageio_ffmpeg

    w, h = info.size
    reader = imageio_ffmpeg.read_frames(str(info.path))
    try:
        next(reader)  # the meta data
        for raw in reader:
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(np.float32) / 255.0
    finally:
        reader.close()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, audio_from: Path | None = None,
                quality: int = 8) -> int:
    """Encode ``frames`` ((H, W, 3) in [0, 1], streamed) as an H.264 file at ``fps``; the audio of
    ``audio_from`` carried over when given. Written to a temporary name and renamed, so a killed
    encode leaves no half file. Returns the number of frames written."""
    import imageio_ffmpeg

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer = None
    n = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = imageio_ffmpeg.write_frames(
                    str(tmp), (w, h), fps=fps, quality=quality, macro_block_size=2,
                    audio_path=None if audio_from is None else str(audio_from),
                    audio_codec=None if audio_from is None else "aac")
                writer.send(None)
            writer.send(np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8).tobytes())
            n += 1
    finally:
        if writer is not None:
            writer.close()
    if n:
        tmp.replace(path)
    return n
