"""Describe an image source (folder or prepared TFDS dataset) and draw a sample grid.

Backs ``jaxstyle data inspect``. A folder is checked file by file (every image decoded,
large JPEGs at reduced DCT scale, in threads); a TFDS dataset is described from its
``dataset_info.json`` and, for datasets prepared by jaxstyle (WikiArt), the
``metadata.json`` written at prepare time, so it costs no pass over the records.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.data.images import (
    center_resized_crop,
    decode_for_crop,
    decode_rgb,
    short_reason,
)
from jaxstyle.data.sources import ImageFolderSource, TfdsImageSource, tfds_builder_dir
from jaxstyle.errors import InputError
from jaxstyle.io import make_grid_rows, save_image


def _check_file(path: str) -> str:
    """ "" if ``path`` decodes as an image, else why not."""
    try:
        with open(path, "rb") as f:
            decode_rgb(f.read(), path, min_side=64)
        return ""
    except Exception as e:  # any failure is a property of the file
        return short_reason(e, path) or "unreadable"


def inspect_folder(folder: str | Path) -> dict[str, Any]:
    """Decode every image under ``folder``; count readable, skipped and per-folder labels."""
    source = ImageFolderSource(folder)
    skipped = [{"file": f, "reason": "not an image file"} for f in source.non_images]
    labels: collections.Counter = collections.Counter()
    paths = [os.path.join(source.root, f) for f in source.files]
    with concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:
        reasons = list(pool.map(_check_file, paths))
    ok = 0
    for i, (rel, reason) in enumerate(zip(source.files, reasons, strict=True)):
        if reason:
            skipped.append({"file": rel, "reason": reason})
            continue
        ok += 1
        label = source.label_of(i)
        if label is not None:
            labels[label] += 1
    return {
        "source": source.root,
        "kind": "folder",
        "num_records": ok,
        "num_skipped": len(skipped),
        "skipped": skipped,
        "labels": {"folder": dict(sorted(labels.items()))} if labels else {},
    }


def inspect_tfds(name: str, *, data_dir: str | None = None, split: str = "train") -> dict[str, Any]:
    """Records of ``split`` and, where jaxstyle prepared it, skipped files and label counts."""
    builder_dir = tfds_builder_dir(name, data_dir)
    if builder_dir is None:
        where = data_dir or "the default TFDS data dir"
        raise InputError(
            f"{name}: not a folder, and no prepared TFDS dataset of that name in {where}"
        )
    try:
        info = json.loads((builder_dir / "dataset_info.json").read_text())
    except (OSError, ValueError) as e:
        raise InputError(
            f"{builder_dir}/dataset_info.json: unreadable ({short_reason(e)})"
        ) from None
    splits = {
        s["name"]: sum(int(n) for n in s.get("shardLengths", [])) for s in info.get("splits", [])
    }
    if split not in splits:
        raise InputError(f"{name}: no split {split!r} (has {', '.join(sorted(splits)) or 'none'})")
    meta_path = builder_dir / "metadata.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    out = {
        "source": name,
        "kind": "tfds",
        "builder_dir": str(builder_dir),
        "file_format": info.get("fileFormat", "tfrecord"),
        "split": split,
        "splits": splits,
        "num_records": splits[split],
        "num_skipped": int(meta.get("num_skipped", 0)),
        "skipped": list(meta.get("skipped", [])),
        "labels": dict(meta.get("label_counts", {})),
    }
    if "layout" in meta:
        out["layout"] = meta["layout"]
    return out


def inspect_source(
    source: str, *, data_dir: str | None = None, split: str = "train"
) -> dict[str, Any]:
    """Folder if ``source`` is a directory, else a prepared TFDS dataset name."""
    if Path(source).expanduser().is_dir():
        return inspect_folder(Path(source).expanduser())
    return inspect_tfds(source, data_dir=data_dir, split=split)


def write_sample_grid(
    source: str,
    path: str | Path,
    *,
    data_dir: str | None = None,
    split: str = "train",
    count: int = 16,
    size: int = 128,
) -> tuple[Path, int]:
    """Save a grid of ``count`` records spread over the source (center ``size`` crops).

    Returns:
      (path written, images in the grid). Unreadable records are left out.
    """
    if Path(source).expanduser().is_dir():
        src: Any = ImageFolderSource(Path(source).expanduser())
    else:
        src = TfdsImageSource(source, split=split, data_dir=data_dir)
    picks = sorted({int(i) for i in np.linspace(0, len(src) - 1, min(count, len(src)))})
    tiles = []
    for i in picks:
        record = src[i]
        try:
            img = decode_for_crop(
                record["image"],
                record["name"],
                load_size=size,
                crop_size=size,
                small_images="upscale",
            )
        except Exception:  # a sample grid shows what can be read; inspect lists the rest
            continue
        tiles.append(center_resized_crop(img, size, size))
    if not tiles:
        raise InputError(f"{source}: none of the {len(picks)} sampled records could be read")
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = [tiles[r : r + cols] for r in range(0, len(tiles), cols)]
    return save_image(path, make_grid_rows(rows, height=size, pad=4)), len(tiles)
