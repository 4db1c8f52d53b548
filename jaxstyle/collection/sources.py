"""The images of a collection, listed without loading them.

An :class:`ImageRef` is one input image: its name (the stem of the files written for it), a key
that changes when the file does (the manifest compares it), its shape read from the file's
header (Pillow opens lazily; EXIF rotations applied) and :meth:`ImageRef.load`, which decodes
it. :func:`image_refs` expands what ``--content``/``--style`` take:

- files, folders (their image files, sorted), globs and ``sample:NAME``, as
  :func:`jaxstyle.io.expand_image_paths`;
- ``@list.txt``: a text file of such specs, one a line (blank lines and ``#`` comments
  skipped; relative paths are relative to the list's folder);
- ``tfds:NAME[:SPLIT]`` (``tfds:coco/2017:validation``): the images of a prepared TFDS
  dataset (:class:`jaxstyle.data.sources.TfdsImageSource`, array_record, never downloaded).

From Python, :func:`image_refs` also takes arrays ``(H, W, 3)`` and any random-access image
source (``__len__`` + ``__getitem__``, e.g. a ``grain.MapDataset`` or a TFDS data source)
whose records are arrays or ``{"image": bytes-or-array, "name": ...}``.

The same image given twice (or two files with the same name, which would write the same
outputs) is refused in one line, never merged silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import InputError

TFDS_PREFIX = "tfds:"
ORIENTATION_TAG = 0x0112  # EXIF: 5-8 swap width and height


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """One input image, not loaded (see the module docstring).

    ``hw``: its (height, width) as decoded (upright), from the header; ``key``: what the manifest
    compares to tell whether a done output is still current (path, size and mtime of a file).
    """

    name: str
    label: str
    key: str
    hw: tuple[int, int]
    loader: Callable[[], np.ndarray] = dataclasses.field(repr=False, compare=False)

    def load(self) -> np.ndarray:
        """The image, float32 (H, W, 3) in [0, 1]."""
        return self.loader()


def image_refs(specs: Any, what: str = "--content", threads: int = 8) -> list[ImageRef]:
    """The images ``specs`` name, in order, headers read (on ``threads`` threads), not decoded.

    ``specs``: path specs (see the module docstring), arrays, or one random-access source.
    One-line :class:`InputError` for what is not there, not an image, or given twice.
    """
    if _is_source(specs):
        refs = _source_refs(specs, what)
    else:
        items = [specs] if isinstance(specs, str | Path) or _is_array(specs) else list(specs)
        refs = []
        pending: list[Path] = []
        for item in items:
            if isinstance(item, ImageRef):  # listed already
                refs.append(item)
            elif _is_array(item):
                refs.append(_array_ref(np.asarray(item, np.float32), f"{what.lstrip('-')}{len(refs) + len(pending)}"))
            elif str(item).startswith(TFDS_PREFIX):
                refs.extend(_tfds_refs(str(item)[len(TFDS_PREFIX):], what))
            else:
                pending.extend(_expand(str(item)))
        if pending:
            with ThreadPoolExecutor(max(1, threads)) as pool:
                refs.extend(pool.map(_file_ref, pending))
    _refuse_repeats(refs, what)
    if not refs:
        raise InputError(f"{what}: no images given")
    return refs


# --------------------------------------------------------------------------- files


def _expand(spec: str, base: Path | None = None) -> list[Path]:
    """Files of one spec; ``@list.txt`` expands each of its lines (relative to the list)."""
    from jaxstyle.io import expand_image_paths

    if spec.startswith("@"):
        listing = Path(spec[1:]).expanduser()
        if base is not None and not listing.is_absolute():
            listing = base / listing
        try:
            lines = listing.read_text().splitlines()
        except OSError as e:
            raise InputError(f"{spec}: cannot read the list ({e.strerror or e})") from None
        out: list[Path] = []
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.extend(_expand(line, listing.parent))
        if not out:
            raise InputError(f"{spec}: the list names no images")
        return out
    if base is not None and not spec.startswith("sample:") and not Path(spec).expanduser().is_absolute():
        spec = str(base / spec)
    return expand_image_paths([spec], unique=False)


def _load_file(path: Path) -> np.ndarray:
    from jaxstyle.io import load_image

    return load_image(path)


def _file_ref(path: Path) -> ImageRef:
    try:
        stat = path.stat()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    return ImageRef(_stem(path.name), str(path), f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}",
                    _header_hw(lambda: path, str(path)), lambda: _load_file(path))


def _header_hw(open_fp: Callable[[], Any], label: str) -> tuple[int, int]:
    """(height, width) of an encoded image as it will decode (EXIF rotation applied); reads the
    header only. One-line InputError for a file that is not an image."""
    from PIL import Image

    try:
        with Image.open(open_fp()) as im:
            w, h = im.size
            try:
                turned = im.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8)
            except Exception:  # a malformed EXIF block: the decoder ignores it too
                turned = False
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except Exception as e:  # Pillow reports unreadable headers with many exception types
        raise InputError(f"{label}: not an image file (or a format Pillow cannot read): {type(e).__name__}") from None
    return (w, h) if turned else (h, w)


def _stem(filename: str) -> str:
    return Path(filename).stem.replace(" ", "_")


# --------------------------------------------------------------------------- arrays and sources


def _is_array(x: Any) -> bool:
    return getattr(x, "ndim", None) == 3


def _is_source(x: Any) -> bool:
    """A random-access source (len + getitem), not a list of specs/arrays or an array batch."""
    return (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not isinstance(x, list | tuple | str)
            and getattr(x, "ndim", None) is None)


def _array_ref(image: np.ndarray, name: str) -> ImageRef:
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"{name} must be (H, W, 3), got shape {image.shape}")
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()[::97]).hexdigest()[:16]
    return ImageRef(name, name, f"array:{image.shape}:{digest}", image.shape[:2], lambda: image)


def _record_image(record: Any, label: str) -> np.ndarray:
    """A source record (array, encoded bytes, or ``{"image": ...}``) as float32 (H, W, 3)."""
    from jaxstyle.io import decode_image

    image = record["image"] if isinstance(record, dict) else record
    if isinstance(image, bytes | bytearray):
        return decode_image(bytes(image), label).astype(np.float32) / 255.0
    arr = np.asarray(image)
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def _record_hw(record: Any, label: str) -> tuple[int, int]:
    image = record["image"] if isinstance(record, dict) else record
    if isinstance(image, bytes | bytearray):
        return _header_hw(lambda: io.BytesIO(bytes(image)), label)
    return tuple(np.shape(image)[:2])


def _source_refs(source: Any, what: str, prefix: str = "") -> list[ImageRef]:
    """One ref per record of a random-access source (records read once for their headers)."""
    refs = []
    for index in range(len(source)):
        record = source[index]
        label = f"{prefix or what.lstrip('-')}[{index}]"
        if isinstance(record, dict) and record.get("error"):
            raise InputError(f"{record.get('name', label)}: {record['error']}")
        name = record.get("name") if isinstance(record, dict) else None
        # A record's file name (the last word of a TFDS record name) names its outputs.
        stem = _stem(os.path.basename(str(name).split(" ")[-1])) if name else f"{prefix or 'image'}{index}"
        refs.append(ImageRef(stem, label, label, _record_hw(record, label),
                             lambda index=index, label=label: _record_image(source[index], label)))
    return refs


def _tfds_refs(spec: str, what: str) -> list[ImageRef]:
    """``NAME[:SPLIT]`` of a prepared TFDS dataset (its records named by their file names, or
    ``NAME_INDEX``)."""
    from jaxstyle.data.sources import TfdsImageSource

    name, _, split = spec.partition(":")
    source = TfdsImageSource(name, split=split or "train", data_dir=os.environ.get("TFDS_DATA_DIR") or None)
    return _source_refs(source, what, prefix=f"{name.replace('/', '_')}_{split or 'train'}_")


# --------------------------------------------------------------------------- repeats


def _refuse_repeats(refs: Sequence[ImageRef], what: str) -> None:
    """One line when an image is given twice, or two images would write files of one name."""
    by_name: dict[str, ImageRef] = {}
    for ref in refs:
        other = by_name.setdefault(ref.name, ref)
        if other is ref:
            continue
        if other.key == ref.key:
            raise InputError(f"{what}: {ref.label} is given twice (each image once: repeats would write "
                             "the same outputs)")
        raise InputError(f"{what}: {other.label} and {ref.label} would both write outputs named "
                         f"{ref.name!r} (rename one, or stylize them in two runs)")
