"""Keypoint correspondences between a content and a style image: the file format and helpers.

A points file is JSON ``{"content": [[x, y], ...], "style": [[x, y], ...]}``: pair ``i`` is
row ``i`` of both lists, coordinates are pixels of each image *as given* (x to the right,
y down; convention below). ``jaxstyle
correspond`` writes it; ``jaxstyle stylize --method dst --points FILE`` reads it, so a user
can edit or hand-make keypoints.

Coordinate convention: pixel ``(x, y)`` is the centre of column ``x``, row ``y`` (integers
are pixel centres), so an image of width W spans ``x`` in ``[-0.5, W - 0.5]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.files import write_text_atomic


class Correspondences(NamedTuple):
    """K matched points: ``content`` (K,2) and ``style`` (K,2), float32 pixel (x, y)."""

    content: np.ndarray
    style: np.ndarray


def _as_points(value: object, key: str, name: str) -> np.ndarray:
    """``value`` as a (K,2) float32 array of finite (x, y), or a one-line error."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {key!r} must be a list of [x, y] number pairs") from None
    if arr.size == 0:
        raise InputError(f"{name}: {key!r} has no points")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"{name}: {key!r} must be a list of [x, y] pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: {key!r} has a non-finite coordinate")
    return arr.astype(np.float32)


def parse_points(data: object, name: str = "points") -> Correspondences:
    """Validated correspondences from the decoded JSON ``data`` (``name`` labels errors)."""
    if not isinstance(data, dict) or set(data) != {"content", "style"}:
        raise InputError(f'{name}: expected an object with exactly "content" and "style" lists')
    content = _as_points(data["content"], "content", name)
    style = _as_points(data["style"], "style", name)
    if len(content) != len(style):
        raise InputError(f"{name}: {len(content)} content points but {len(style)} style points")
    return Correspondences(content, style)


def load_points(path: str | Path) -> Correspondences:
    """Read a points file (format in the module docstring); any defect is one InputError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read points file {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    return parse_points(data, str(path))


def save_points(path: str | Path, points: Correspondences) -> Path:
    """Write ``points`` as a points file, atomically; pair i on its own line."""
    rows = ",\n".join(
        f"  {json.dumps(k)}: [\n"
        + ",\n".join(f"    [{x:.2f}, {y:.2f}]" for x, y in np.asarray(arr, np.float64))
        + "\n  ]"
        for k, arr in (("content", points.content), ("style", points.style))
    )
    write_text_atomic(path, "{\n" + rows + "\n}\n")
    return Path(path)


def check_inside(points: np.ndarray, hw: tuple[int, int], what: str) -> None:
    """One-line error unless every (x, y) of ``points`` (K,2) lies inside an (H, W) image."""
    h, w = hw
    x, y = points[:, 0], points[:, 1]
    bad = np.flatnonzero((x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{what} point {i} ({x[i]:.1f}, {y[i]:.1f}) lies outside the {w}x{h} image"
            + (f" ({bad.size} points outside)" if bad.size > 1 else "")
        )


def rescale(points: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """(K,2) pixel (x, y) of an image of size ``from_hw`` mapped onto one of ``to_hw``.

    Pixel-centre convention: edges map to edges (``(x + 0.5) * W'/W - 0.5``).
    """
    scale = np.array([to_hw[1] / from_hw[1], to_hw[0] / from_hw[0]], np.float32)
    return ((points + 0.5) * scale - 0.5).astype(np.float32)


def pad_points(sets: Sequence[np.ndarray], k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair point sets of different sizes as one batch: ``(P,K,2)`` zeros-padded and a
    ``(P,K)`` bool mask (True = a real point). ``k`` defaults to the largest set."""
    k = max(len(s) for s in sets) if k is None else k
    if any(len(s) > k for s in sets):
        raise InputError(f"a pair has more than {k} keypoints")
    padded = np.zeros((len(sets), k, 2), np.float32)
    mask = np.zeros((len(sets), k), bool)
    for i, s in enumerate(sets):
        padded[i, : len(s)] = s
        mask[i, : len(s)] = True
    return padded, mask
