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

# Extensions a folder source lists; anything else in an image folder is not an image.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


class BadImageWarning(UserWarning):
    """A file was skipped because it is not a readable image (or is too small)."""


class SmallImageError(ValueError):
    """The image's shorter side is below the crop size and ``small_images="skip"``."""


def short_reason(exc: BaseException) -> str:
    """One-line description of why a file could not be read, for warnings and reports."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def decode_rgb(data: bytes, name: str, min_side: int = 0) -> np.ndarray:
    """Decode image bytes to a uint8 (H, W, 3) array, honouring EXIF orientation.

    Args:
      data: the encoded file (JPEG, PNG, ...).
      name: file or record name, only used in error messages.
      min_side: if > 0, JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8)
        whose shorter side is still >= ``min_side``; a 4000px painting cropped at
        512 then decodes ~10x faster. 0 decodes at full size.

    Raises:
      ValueError: empty data. PIL raises ``OSError``/``UnidentifiedImageError`` for
        corrupt or truncated data; callers treat any exception as a bad record.
    """
    if not data:
        raise ValueError(f"{name}: empty file")
    with Image.open(io.BytesIO(data)) as im:
        if min_side > 0 and im.format == "JPEG":
            w, h = im.size
            scale = min_side / min(w, h)
            if scale < 1:
                # draft() picks the smallest scale whose size is >= the requested size.
                im.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
        im = ImageOps.exif_transpose(im)  # also forces the full decode (catches truncation)
        if im.mode != "RGB":
            im = im.convert("RGB")
        return np.asarray(im)


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
