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

from jaxstyle.errors import InputError, one_line
from jaxstyle.io import IMAGE_EXTENSIONS, decode_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "BadImageWarning",
    "decode_for_crop",
    "decode_rgb",
    "random_resized_crop",
]


class BadImageWarning(UserWarning):
    """A file was skipped because it is not a readable image (or is too small)."""


class SmallImageError(ValueError):
    """The image's shorter side is below the crop size and ``small_images="skip"``."""


def short_reason(exc: BaseException, name: str = "") -> str:
    """One line saying why ``name`` could not be read (without repeating the name)."""
    text = one_line(exc)
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


def crop_short_side(short: int, *, load_size: int, crop_size: int) -> int:
    """Shorter side to resize an image with shorter side ``short`` to before cropping."""
    return load_size if load_size > 0 else max(short, crop_size)


def decode_for_crop(
    data: bytes, name: str, *, load_size: int, crop_size: int, small_images: str
) -> np.ndarray:
    """Decode one image for :func:`random_resized_crop`, enforcing ``small_images``.

    Args:
      data: encoded image bytes.
      name: file or record name for messages.
      load_size: shorter side the crop is taken from; 0 keeps the decoded size (only
        images smaller than the crop are upscaled).
      crop_size: side of the crop.
      small_images: ``"upscale"`` or ``"skip"`` for images whose shorter side is below
        ``crop_size``.

    Returns:
      uint8 (H, W, 3), large JPEGs already reduced (never below what the resize needs).

    Raises:
      SmallImageError: the image is smaller than the crop and ``small_images == "skip"``.
    """
    image = decode_rgb(data, name, min_side=max(load_size, crop_size))
    if min(image.shape[:2]) < crop_size and small_images == "skip":
        raise SmallImageError(f"{name}: {image.shape[1]}x{image.shape[0]} < crop {crop_size}")
    return image


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) after resizing so that min(H, W) == short_side, keeping the aspect ratio."""
    scale = short_side / min(height, width)
    return max(short_side, round(height * scale)), max(short_side, round(width * scale))


def resized_crop(image: np.ndarray, short_side: int, size: int, top: int, left: int) -> np.ndarray:
    """The ``size`` square at (top, left) of ``image`` resized to ``short_side``.

    Only that window is resampled (Pillow's ``resize(box=...)`` maps output pixels to the
    same source positions as a full resize, within 1/255), which is 4x cheaper than
    resizing a 640x480 photo to 683x512 and then cropping 256x256.
    """
    h, w = image.shape[:2]
    new_h, new_w = resized_shape(h, w, short_side)
    if (new_h, new_w) == (h, w):
        return image[top : top + size, left : left + size]
    sy, sx = h / new_h, w / new_w
    box = (left * sx, top * sy, min(w, (left + size) * sx), min(h, (top + size) * sy))
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR, box=box))


def random_resized_crop(
    image: np.ndarray, short_side: int, size: int, flip: bool, rng: np.random.Generator
) -> np.ndarray:
    """Resize the shorter side to ``short_side``, take a random ``size`` square, maybe mirror it."""
    new_h, new_w = resized_shape(*image.shape[:2], short_side)
    top = int(rng.integers(0, new_h - size + 1))
    left = int(rng.integers(0, new_w - size + 1))
    crop = resized_crop(image, short_side, size, top, left)
    if flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def center_resized_crop(image: np.ndarray, short_side: int, size: int) -> np.ndarray:
    """The central ``size`` square after resizing the shorter side to ``short_side``."""
    new_h, new_w = resized_shape(*image.shape[:2], short_side)
    return np.ascontiguousarray(
        resized_crop(image, short_side, size, (new_h - size) // 2, (new_w - size) // 2)
    )


def warn_skipped(name: str, reason: str) -> None:
    """Emit the one warning per skipped file that users see."""
    warnings.warn(f"skipped {name}: {reason}", BadImageWarning, stacklevel=2)
