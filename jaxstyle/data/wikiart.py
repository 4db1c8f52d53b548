"""WikiArt as a TFDS dataset in ArrayRecord format, built from a manual download.

Two layouts of the manual directory are recognised:

* folder per style (the ArtGAN/WikiArt dump): ``<dir>/<Style>/<artist>_<title>.jpg``;
  labels: ``style`` from the folder, ``artist`` from the file name before the first "_".
* Kaggle "Painter by Numbers": ``<dir>/train/*.jpg`` (and ``test/``) with
  ``all_data_info.csv`` (``new_filename``) or ``train_info.csv`` (``filename``) giving
  ``artist``, ``style`` and ``genre``. Images missing from the CSV keep empty labels.

Every file is decoded once at prepare time (threads; large JPEGs at reduced DCT scale);
corrupt, truncated, zero-byte and non-image files are skipped with a warning naming the
file and counted. The counts, the skipped files and per-label counts are stored in the
dataset's ``metadata.json`` so ``jaxstyle data inspect`` is instant.

Why this needs no TensorFlow (checked in tensorflow-datasets 4.9.10):

* ``tfds.features.Image.encode_example`` only calls ``tf.image.encode_*`` for numpy
  arrays; for ``bytes`` it stores them unchanged. We therefore give it bytes: the
  original file for RGB JPEG/PNG, otherwise a JPEG (quality 95) we encode with Pillow from
  :func:`jaxstyle.io.decode_image` (grayscale, CMYK, alpha, 16-bit, ...), so every record
  decodes to (H, W, 3) uint8 as the feature declares.
* The example serializer and the ArrayRecord writer (``file_format="array_record"``)
  are TF-free; reading uses ``tfds.data_source`` (Pillow/OpenCV decoding, or
  ``SkipDecoding`` for raw bytes as jaxstyle's pipeline does).
* ``dataset_info_from_configs`` reads metadata files next to the builder's module, so
  the info is built with ``tfds.core.DatasetInfo`` directly.
Labels are ``Text`` rather than ``ClassLabel``: the class list is only known after the
scan, and ``_info()`` must not depend on the manual directory (readers call it too).
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds
from etils import epath
from PIL import Image
from tensorflow_datasets.core import utils as tfds_utils

from jaxstyle.data.images import IMAGE_EXTENSIONS, decode_rgb, short_reason, warn_skipped
from jaxstyle.data.sources import tfds_builder_dir
from jaxstyle.errors import InputError
from jaxstyle.io import decode_image

NAME = "wikiart"
LABELS = ("style", "artist", "genre")
_KAGGLE_CSVS = (("all_data_info.csv", "new_filename"), ("train_info.csv", "filename"))
_MAX_LISTED_SKIPS = 1000  # metadata.json keeps the first ones; the count is always exact

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Put WikiArt in the manual directory in one of two layouts:
  (a) folder per style:  <manual_dir>/<Style>/<artist>_<title>.jpg
      (e.g. the wikiart.zip of the ArtGAN project, unzipped)
  (b) Kaggle "Painter by Numbers": <manual_dir>/train/*.jpg (optionally test/*.jpg)
      with <manual_dir>/all_data_info.csv or <manual_dir>/train_info.csv
then run: jaxstyle data prepare wikiart --manual-dir <manual_dir> --data-dir <data_dir>
"""


@dataclasses.dataclass(frozen=True)
class Painting:
    """One candidate file of the manual directory and its labels ("" = unknown)."""

    path: str  # absolute
    key: str  # path relative to the manual directory: unique record key and filename
    style: str = ""
    artist: str = ""
    genre: str = ""


@dataclasses.dataclass
class PrepareReport:
    """What :func:`prepare_wikiart` wrote (also what ``inspect`` prints for it)."""

    builder_dir: str
    layout: str
    num_records: int
    num_skipped: int
    skipped: list[dict[str, str]]
    label_counts: dict[str, dict[str, int]]
    reused: bool = False


def _artist_from_filename(name: str) -> str:
    stem = Path(name).stem
    return stem.split("_", 1)[0] if "_" in stem else ""


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _files_under(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return out


def _read_kaggle_labels(csv_path: Path, name_column: str) -> dict[str, dict[str, str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if name_column not in (reader.fieldnames or []):
                raise InputError(f"{csv_path}: no {name_column!r} column")
            return {
                row[name_column]: {k: (row.get(k) or "").strip() for k in LABELS} for row in reader
            }
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{csv_path}: cannot read ({short_reason(e)})") from None


def scan_manual_dir(manual_dir: str | Path) -> tuple[str, list[Painting], list[dict[str, str]]]:
    """Find the layout, the candidate paintings and the non-image files (skipped).

    Returns:
      ``(layout, paintings, skipped)`` with layout ``"folders"`` or ``"kaggle"`` and
      skipped entries ``{"file": key, "reason": ...}``.
    """
    root = Path(manual_dir).expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"{manual_dir}: manual directory not found")
    paintings: list[Painting] = []
    skipped: list[dict[str, str]] = []

    csv_found = [(root / n, col) for n, col in _KAGGLE_CSVS if (root / n).is_file()]
    if csv_found:
        layout = "kaggle"
        labels = _read_kaggle_labels(*csv_found[0])
        folders = [root / d for d in ("train", "test") if (root / d).is_dir()] or [root]
        for folder in folders:
            for path in _files_under(folder) if folder != root else sorted(root.iterdir()):
                if not path.is_file() or path.name.startswith("."):
                    continue
                key = path.relative_to(root).as_posix()
                if not _is_image(path.name):
                    if folder != root:  # CSVs and notes at the root are not candidates
                        skipped.append({"file": key, "reason": "not an image file"})
                    continue
                row = labels.get(path.name, {})
                paintings.append(Painting(str(path), key, **row))
    else:
        layout = "folders"
        for path in _files_under(root):
            rel = path.relative_to(root)
            key = rel.as_posix()
            style = rel.parts[0] if len(rel.parts) > 1 else ""
            if not _is_image(path.name):
                if style:  # notes or CSVs at the root are not candidates
                    skipped.append({"file": key, "reason": "not an image file"})
                continue
            paintings.append(
                Painting(str(path), key, style=style, artist=_artist_from_filename(path.name))
            )
    if not paintings:
        raise InputError(
            f"{manual_dir}: no images found (expected <Style>/*.jpg folders, or train/*.jpg "
            "with all_data_info.csv or train_info.csv)"
        )
    return layout, paintings, skipped


def _checked_bytes(painting: Painting) -> tuple[bytes | None, str]:
    """Encoded bytes to store for a painting (None if unusable) and the skip reason."""
    try:
        with open(painting.path, "rb") as f:
            data = f.read()
        # Full decode (reduced DCT scale for big JPEGs) catches truncated and corrupt data.
        decode_rgb(data, painting.key, min_side=64)
        with Image.open(io.BytesIO(data)) as im:
            keep = im.format in ("JPEG", "PNG") and im.mode == "RGB"
        if keep:
            return data, ""
        rgb = decode_image(data, painting.key)
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, format="JPEG", quality=95)
        return out.getvalue(), ""
    except Exception as e:  # any failure is a property of the file: skip it
        return None, short_reason(e, painting.key)


class Wikiart(tfds.core.GeneratorBasedBuilder):
    """WikiArt paintings with style / artist / genre labels (manual download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: folder-per-style and Kaggle layouts."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

    @tfds_utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        """This file. tfds 4.9.10 derives it via ``importlib_resources``, a backport it only
        installs on Python < 3.9, and so fails for any builder defined inside a package."""
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="WikiArt paintings for style transfer, labels where the layout has them.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "filename": tfds.features.Text(),
                    "style": tfds.features.Text(),
                    "artist": tfds.features.Text(),
                    "genre": tfds.features.Text(),
                }
            ),
            homepage="https://www.wikiart.org/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        layout, paintings, skipped = scan_manual_dir(dl_manager.manual_dir)
        self.info.metadata.update(layout=layout)
        return {"train": self._generate_examples(Path(dl_manager.manual_dir), paintings, skipped)}

    def _generate_examples(
        self, root: Path, paintings: list[Painting], skipped: list[dict[str, str]]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        for s in skipped:
            warn_skipped(str(root / s["file"]), s["reason"])
        counts: dict[str, collections.Counter] = {k: collections.Counter() for k in LABELS}
        written = 0
        threads = max(2, os.cpu_count() or 1)
        chunk = 16 * threads  # bounded look-ahead: at most `chunk` files in memory
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            for start in range(0, len(paintings), chunk):
                batch = paintings[start : start + chunk]
                for p, (data, reason) in zip(batch, pool.map(_checked_bytes, batch), strict=True):
                    if data is None:
                        skipped.append({"file": p.key, "reason": reason})
                        warn_skipped(p.path, reason)
                        continue
                    written += 1
                    for k in LABELS:
                        if getattr(p, k):
                            counts[k][getattr(p, k)] += 1
                    yield (
                        p.key,
                        {
                            "image": data,
                            "filename": p.key,
                            "style": p.style,
                            "artist": p.artist,
                            "genre": p.genre,
                        },
                    )
        if not written:
            raise InputError("no readable images in the manual directory")
        # Runs before tfds writes dataset_info/metadata.json (the generator is exhausted
        # by the writer first), so the report lands in the prepared dataset.
        self.info.metadata.update(
            num_records=written,
            num_skipped=len(skipped),
            skipped=skipped[:_MAX_LISTED_SKIPS],
            label_counts={k: dict(sorted(c.items())) for k, c in counts.items() if c},
        )


def read_report(builder_dir: str | Path) -> PrepareReport:
    """The :class:`PrepareReport` stored in a prepared WikiArt directory."""
    builder_dir = Path(builder_dir)
    try:
        meta = json.loads((builder_dir / "metadata.json").read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{builder_dir}: no readable metadata.json ({short_reason(e)})") from None
    return PrepareReport(
        builder_dir=str(builder_dir),
        layout=meta.get("layout", ""),
        num_records=int(meta.get("num_records", 0)),
        num_skipped=int(meta.get("num_skipped", 0)),
        skipped=list(meta.get("skipped", [])),
        label_counts=dict(meta.get("label_counts", {})),
    )


def prepare_wikiart(
    manual_dir: str | Path, data_dir: str | Path, *, overwrite: bool = False
) -> PrepareReport:
    """Build (or reuse) the ``wikiart`` ArrayRecord dataset under ``data_dir``.

    Args:
      manual_dir: the downloaded WikiArt, in one of the two layouts of this module.
      data_dir: TFDS data directory; the dataset lands in ``data_dir/wikiart/1.0.0``.
      overwrite: rebuild even if a prepared copy exists (e.g. after adding files).

    Returns:
      The report of records written and files skipped.
    """
    data_dir = Path(data_dir).expanduser()
    existing = tfds_builder_dir(NAME, str(data_dir))
    if existing is not None and not overwrite:
        report = read_report(existing)
        report.reused = True
        return report
    # Scan first so a wrong directory fails with one line before tfds creates anything.
    scan_manual_dir(manual_dir)
    builder = Wikiart(data_dir=str(data_dir), file_format="array_record")
    mode = (
        tfds.download.GenerateMode.FORCE_REDOWNLOAD
        if overwrite
        else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(Path(manual_dir).expanduser().resolve()), download_mode=mode
        )
    )
    return read_report(builder.data_dir)
