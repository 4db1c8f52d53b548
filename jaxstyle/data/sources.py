"""Random-access sources of encoded images: image folders and prepared TFDS datasets.

Every source is a grain ``RandomAccessDataSource`` (``__len__`` + ``__getitem__``) whose
records are ``{"image": bytes, "name": str}``: the encoded file and a name for warnings.
Decoding happens later, in the pipeline, so a corrupt record is a per-record event the
pipeline can skip, never an exception out of the source. Sources are picklable (grain's
worker processes receive them by pickle).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jaxstyle.data.images import IMAGE_EXTENSIONS
from jaxstyle.errors import InputError


def _walk_sorted(root: Path) -> Iterator[tuple[str, list[str]]]:
    """``os.walk`` in sorted order, so every host lists the same files in the same order."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, sorted(f for f in filenames if not f.startswith("."))


def scan_image_folder(root: str | Path) -> tuple[list[str], list[str]]:
    """List a folder recursively: (image paths relative to root, other files relative to root).

    Both lists are sorted. Hidden files and folders are ignored. COCO's train2014/ and
    train2017/ are flat folders; WikiArt's folder-per-style layout nests one level.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    images, others = [], []
    for dirpath, filenames in _walk_sorted(root):
        rel_dir = os.path.relpath(dirpath, root)
        for f in filenames:
            rel = f if rel_dir == "." else os.path.join(rel_dir, f)
            (images if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS else others).append(rel)
    return images, others


class ImageFolderSource:
    """All image files under a folder (recursively), read as raw bytes.

    Attributes:
      root: the folder.
      files: sorted paths relative to ``root``; the record index is the position here.
      non_images: files under ``root`` without an image extension (not records).
    """

    def __init__(self, root: str | Path):
        self.root = str(Path(root).resolve())
        self.files, self.non_images = scan_image_folder(self.root)
        if not self.files:
            raise InputError(
                f"{root}: no image files found ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = os.path.join(self.root, self.files[index])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:  # vanished or unreadable file: an empty record the pipeline skips
            return {"image": b"", "name": path, "error": f"cannot read ({e.strerror})"}
        return {"image": data, "name": path}

    def label_of(self, index: int) -> str | None:
        """The first folder level (the style in WikiArt's folder-per-style layout), if any."""
        parts = Path(self.files[index]).parts
        return parts[0] if len(parts) > 1 else None

    def describe(self) -> str:
        return f"folder {self.root} ({len(self)} images)"

    def __repr__(self) -> str:
        return f"ImageFolderSource({self.root!r}, {len(self)} images)"


def tfds_builder_dir(name: str, data_dir: str | None) -> Path | None:
    """Directory of a prepared TFDS dataset (``data_dir/name/version``), if one exists."""
    base = Path(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")).expanduser()
    ds_name, _, config = name.partition("/")
    # "coco/2017" is name/config, "wikiart:1.0.0" name:version; take the newest version dir.
    ds_name, _, version = ds_name.partition(":")
    root = base / ds_name / config if config else base / ds_name
    if version:
        return root / version if (root / version).is_dir() else None
    if not root.is_dir():
        return None
    versions = sorted(
        (p for p in root.iterdir() if p.is_dir() and (p / "dataset_info.json").exists()),
        key=lambda p: tuple(int(x) if x.isdigit() else 0 for x in p.name.split(".")),
    )
    return versions[-1] if versions else None


class TfdsImageSource:
    """Records of a prepared TFDS dataset (ArrayRecord format), images left encoded.

    Reads with ``tfds.data_source(..., download=False)`` so nothing is ever downloaded and
    TensorFlow is never imported; the image feature is read with ``SkipDecoding`` so the
    pipeline gets the JPEG bytes and decodes them itself (with JPEG draft scaling).
    """

    def __init__(
        self,
        name: str,
        *,
        split: str = "train",
        data_dir: str | None = None,
        image_key: str = "image",
    ):
        # Here, not at the top: ~0.5 s that folder sources and `import jaxstyle.data` skip.
        import tensorflow_datasets as tfds

        self.name, self.split, self.data_dir, self.image_key = name, split, data_dir, image_key
        builder_dir = tfds_builder_dir(name, data_dir)
        if builder_dir is None:
            where = data_dir or "the default TFDS data dir"
            raise InputError(f"TFDS dataset {name!r} is not prepared in {where}")
        info = json.loads((builder_dir / "dataset_info.json").read_text())
        formats = {info.get("fileFormat", "tfrecord")}
        if "array_record" not in formats:
            raise InputError(
                f"TFDS dataset {name!r} in {builder_dir} is in {formats.pop()} format; random access "
                "needs array_record (prepare it with file_format='array_record')"
            )
        try:
            self._source = tfds.data_source(
                name,
                split=split,
                data_dir=data_dir,
                download=False,
                decoders={image_key: tfds.decode.SkipDecoding()},
            )
        except Exception as e:  # tfds raises many types (AssertionError, ValueError, ...)
            raise InputError(f"TFDS dataset {name!r} split {split!r}: {e}") from e
        # Name the records after a filename feature when the dataset has one (COCO, WikiArt).
        features = getattr(self._source, "dataset_info", None)
        keys = set(features.features.keys()) if features is not None else set()
        self._name_key = next((k for k in ("image/filename", "filename") if k in keys), None)

    def __len__(self) -> int:
        return len(self._source)

    def _record(self, index: int, example: dict[str, Any]) -> dict[str, Any]:
        name = f"{self.name}[{self.split}][{index}]"
        if self._name_key is not None:
            fname = example.get(self._name_key)
            if isinstance(fname, bytes):
                fname = fname.decode("utf-8", "replace")
            if fname:
                name = f"{name} {fname}"
        return {"image": example[self.image_key], "name": name}

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            example = self._source[index]
        except Exception as e:  # an undeserializable record is a bad record, not a crash
            return {"image": b"", "name": f"{self.name}[{self.split}][{index}]", "error": str(e)}
        return self._record(index, example)

    def describe(self) -> str:
        return f"TFDS {self.name}[{self.split}] ({len(self)} records)"

    def __repr__(self) -> str:
        return f"TfdsImageSource({self.name!r}, split={self.split!r}, {len(self)} records)"


def open_image_source(
    *,
    folder: str = "",
    tfds_name: str = "",
    split: str = "train",
    data_dir: str | None = None,
    image_key: str = "image",
    what: str = "images",
) -> ImageFolderSource | TfdsImageSource:
    """Open exactly one of an image folder or a prepared TFDS dataset."""
    if bool(folder) == bool(tfds_name):
        raise InputError(f"{what}: give exactly one of a folder (*_dir) or a TFDS name (*_tfds)")
    if folder:
        return ImageFolderSource(folder)
    return TfdsImageSource(tfds_name, split=split, data_dir=data_dir or None, image_key=image_key)
