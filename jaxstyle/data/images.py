"""Per-image work of the input pipeline: decode, resize the shorter side, random crop, flip.

Everything here runs at uint8 on the CPU (in grain worker threads or processes); the
conversion to float32 happens once per batch, at the end of the pipeline.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps

from jaxstyle.errors import InputError
from jaxstyle.io import IMAGE_EXTENSIONS, decode_image

__all__ = ["IMAGE_EXTENSIONS", "BadImageWarning", "decode_rgb", "load_for_crop"]


class BadImageWarning(UserWarning):
    """A file was skipped because it is not a readable image (or is too small)."""


class SmallImageError(ValueError):
    """The image's shorter side is below the crop size and ``small_images="skip"``."""


def short_reason(exc: BaseException, name: str = "") -> str:
    """One line saying why ``name`` could not be read (without repeating the name)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if name and text.startswith(f"{name}: "):
        text = text[len(name) + 2 :]
    return text if len(text) <= 160 else text[:157] + "..."


def _decode_jpeg_draft(data: bytes, min_side: int) -> np.ndarray | None:
    """Decode a large JPEG at a reduced DCT scale, or None if that would not help."""
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "JPEG":
            return None
        w, h = im.size
        scale = min_side / min(w, h)
        if scale > 0.5:  # libjpeg scales by 1/2, 1/4, 1/8 only
            return None
        # draft() picks the smallest scale whose size is still >= the requested size.
        im.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
        im = ImageOps.exif_transpose(im)  # decodes (raises on truncated data) and orients
        return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


def decode_rgb(data: bytes, name: str, min_side: int = 0) -> np.ndarray:
    """Decode image bytes to uint8 (H, W, 3) RGB.

    Uses :func:`jaxstyle.io.decode_image` (EXIF orientation, alpha over white, 16-bit
    sources, one-line InputErrors), except for JPEGs at least twice as large as needed:
    those are decoded by libjpeg at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``), which is
    3x faster on a 1500px painting cropped from a 512 resize, and JPEG has no alpha or
    16-bit data for the two paths to disagree on.

    Args:
      data: the encoded file (JPEG, PNG, ...).
      name: file or record name for error messages.
      min_side: shorter side the caller needs; 0 decodes at full size.

    Raises:
      InputError: empty, non-image, truncated or corrupt data (from jaxstyle.io).
    """
    if not data:
        raise InputError(f"{name}: empty file (0 bytes), not an image")
    if min_side > 0:
        try:
            image = _decode_jpeg_draft(data, min_side)
        except Exception:  # let the full decoder produce its precise one-line error
            image = None
        if image is not None:
            return image
    return decode_image(data, name)


def resize_shorter_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 so that min(H, W) == size, keeping the aspect ratio."""
    h, w = image.shape[:2]
    if min(h, w) == size:
        return image
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR)
    return np.asarray(resized)


def load_for_crop(
    data: bytes, name: str, *, load_size: int, crop_size: int, small_images: str
) -> np.ndarray:
    """Decode and resize one image so that a ``crop_size`` square fits.

    Args:
      data: encoded image bytes.
      name: file or record name for messages.
      load_size: shorter side after resizing; 0 keeps the decoded size.
      crop_size: side of the random crop taken later.
      small_images: ``"upscale"`` or ``"skip"`` for images whose shorter side is below
        ``crop_size`` before any resizing.

    Raises:
      SmallImageError: the image is smaller than the crop and ``small_images == "skip"``.
    """
    image = decode_rgb(data, name, min_side=max(load_size, crop_size))
    short = min(image.shape[:2])
    if short < crop_size and small_images == "skip":
        raise SmallImageError(f"{name}: {image.shape[1]}x{image.shape[0]} < crop {crop_size}")
    target = load_size if load_size > 0 else max(short, crop_size)
    return resize_shorter_side(image, target)


def random_crop_flip(
    image: np.ndarray, crop_size: int, flip: bool, rng: np.random.Generator
) -> np.ndarray:
    """Random ``crop_size`` square from (H, W, 3) uint8, mirrored with probability 1/2."""
    h, w = image.shape[:2]
    top = int(rng.integers(0, h - crop_size + 1))
    left = int(rng.integers(0, w - crop_size + 1))
    crop = image[top : top + crop_size, left : left + crop_size]
    if flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def warn_skipped(name: str, reason: str) -> None:
    """Emit the one warning per skipped file that users see."""
    warnings.warn(f"skipped {name}: {reason}", BadImageWarning, stacklevel=2)
