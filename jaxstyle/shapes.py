"""Canonical bucket shapes: a few canvas shapes per size, so a collection compiles a few programs.

Every distinct input shape is its own compiled program, and a photo collection has dozens to
hundreds of them. With ``buckets`` N, an image of shape ``(h, w)`` at its working size (long
side ``size``) is placed on one of at most ``2N - 1`` canvases: the long side stays, the short
side goes to a multiple of ``size / N`` (so ``N = 4`` gives, per orientation, short sides of
1/4, 1/2, 3/4 and all of the long side; 4:3, 3:2 and 16:9 photos share the 3/4 canvas). The
orientation is kept: images are never rotated or cropped.

Two ways to take a canvas (:data:`FITS`):

- ``pad``: the image sits in the top-left corner and the canvas is filled by mirroring it
  (``numpy.pad(mode="symmetric")``); the result is cropped back. Losses that honour the valid
  region (:func:`jaxstyle.losses.valid_mask`) see exactly the image's own positions; only what
  the networks' receptive fields see across the border differs from an exact-shape run. Canvases
  are multiples of :data:`ALIGN` px so every VGG map holds whole valid positions. The short side
  goes *up* to the next bucket.
- ``resize``: the image is resized to the canvas and the result resized back: no wasted pixels,
  but the picture is stretched by up to half a bucket step along its short side while it is
  stylized. The short side goes to the *nearest* bucket.

``height_multiple`` rounds the canvas height up (padding, never cropping) so ``--spatial-shards
N`` can split any image. This module is pure numpy.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

FITS = ("pad", "resize")
ALIGN = 16  # px: VGG's relu5_1 is 16 px per position; a padded canvas holds whole positions
DEFAULT_BUCKETS = 4


def _ceil_to(x: float, multiple: int) -> int:
    return int(math.ceil(x / multiple - 1e-9) * multiple)


def canvas_shape(hw: tuple[int, int], buckets: int | None, fit: str = "pad",
                 height_multiple: int = 1) -> tuple[int, int]:
    """The canvas ``(H, W)`` an image of shape ``hw`` (at its working size) is placed on.

    ``buckets`` None: the image's own shape (only the height rounded up to ``height_multiple``).
    """
    h, w = int(hw[0]), int(hw[1])
    if buckets is None:
        return _ceil_to(h, height_multiple), w
    long, short = max(h, w), min(h, w)
    step = long / buckets
    if fit == "pad":  # up to the next bucket, whole VGG positions
        short = min(_ceil_to(math.ceil(short / step - 1e-9) * step, ALIGN), _ceil_to(long, ALIGN))
        long = _ceil_to(long, ALIGN)
    else:  # the nearest bucket
        short = min(long, int(round(max(1, round(short / step)) * step)))
    canvas = (long, short) if h >= w else (short, long)
    return _ceil_to(canvas[0], height_multiple), canvas[1]


@dataclasses.dataclass(frozen=True)
class Placement:
    """How one image of shape ``valid`` takes its ``canvas`` (``fit``: pad or resize)."""

    valid: tuple[int, int]
    canvas: tuple[int, int]
    fit: str = "pad"

    @property
    def identity(self) -> bool:
        return self.valid == self.canvas

    @property
    def padded(self) -> bool:
        """Whether the canvas holds positions that are not the image's (masked losses)."""
        return self.fit == "pad" and not self.identity

    def place(self, image: np.ndarray) -> np.ndarray:
        """An image of shape ``valid`` (H, W[, C]) on the canvas."""
        if self.identity:
            return image
        if self.fit == "pad":
            extra = [(0, self.canvas[0] - self.valid[0]), (0, self.canvas[1] - self.valid[1])]
            return np.pad(image, extra + [(0, 0)] * (image.ndim - 2), mode="symmetric")
        from jaxstyle.io import resize

        return resize(image, self.canvas)

    def unplace(self, image: np.ndarray) -> np.ndarray:
        """A canvas-shaped image back at the image's own shape (cropped or resized back)."""
        if self.identity:
            return image
        if self.fit == "pad":
            return image[: self.valid[0], : self.valid[1]]
        from jaxstyle.io import resize

        return resize(np.asarray(image, np.float32), self.valid)

    def valid_input(self) -> np.ndarray:
        """``(2,)`` int32 ``[h, w]``: the valid corner of the canvas (the ``valid`` input of
        objectives that mask their losses)."""
        return np.asarray(self.valid, np.int32)


def placement(hw: tuple[int, int], buckets: int | None, fit: str = "pad", height_multiple: int = 1) -> Placement:
    """The :class:`Placement` of an image of shape ``hw`` (see :func:`canvas_shape`)."""
    hw = (int(hw[0]), int(hw[1]))
    canvas = canvas_shape(hw, buckets, fit, height_multiple)
    return Placement(hw, canvas, fit if canvas != hw else "pad")


def check_buckets(buckets: int | None, fit: str) -> None:
    """One-line InputError for a bucket count below 1 or an unknown fit."""
    from jaxstyle.errors import InputError

    if buckets is not None and (isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1):
        raise InputError(f"--shape-buckets must be a positive integer or 'exact', got {buckets!r}")
    if fit not in FITS:
        raise InputError(f"--fit must be one of {', '.join(FITS)}, got {fit!r}")


@dataclasses.dataclass(frozen=True)
class Batching:
    """How a stylizer call lays out its images and pairs (a job setting, not a method control).

    ``buckets``: canonical canvases per size (:func:`canvas_shape`), None for exact shapes;
    ``fit``: pad or resize (a method that cannot pad resizes, one that can do neither keeps
    exact shapes); ``min_pairs``: every program runs at least this many pairs (a short last
    batch is padded to the others' size and runs their compiled program); ``memory_budget``:
    bytes one device may hold for an optimization program (a larger one is refused before it
    runs, :class:`jaxstyle.optimize.engine.TooManyPairs`), None: unchecked.
    """

    buckets: int | None = None
    fit: str = "pad"
    min_pairs: int = 1
    memory_budget: int | None = None

    def __post_init__(self):
        check_buckets(self.buckets, self.fit)

    def fit_for(self, supported: tuple[str, ...]) -> str | None:
        """The fit used for a method or objective that supports ``supported`` (None: exact)."""
        if self.fit in supported:
            return self.fit
        return supported[0] if supported else None


AS_GIVEN = Batching()
