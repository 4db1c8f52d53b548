"""Image files in and out: robust loading, resizing, atomic saving and contact sheets.

Arrays are ``float32`` ``HxWx3`` RGB in ``[0, 1]`` unless a function says otherwise
(:func:`decode_image` returns ``uint8`` for the input pipeline). Every problem with a
user's file raises :class:`jaxstyle.errors.InputError` with a one-line message that
starts with the file name, e.g. ``"x.jpg: truncated or corrupt image (...)"``.

Colour handling: images are assumed to be sRGB (embedded ICC profiles are ignored),
transparency is composited over white, EXIF orientation is applied, and 16-bit
PNG/TIFF files keep their 16-bit precision (Pillow alone reads 16-bit colour as 8 bit;
see :func:`_decode_low_bytes` and :func:`_decode_tiff16`).
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageFile, ImageFont, ImageOps

from jaxstyle.errors import InputError, one_line
from jaxstyle.files import write_bytes_atomic
from jaxstyle.samples import SAMPLE_PREFIX, sample_path

# Files a folder or glob spec expands to (lower-case; matched case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")

# Pillow's own hard limit (2x MAX_IMAGE_PIXELS); the default keeps both limits aligned.
DEFAULT_MAX_PIXELS = 178_956_970
# The largest long side a result may have (--size), in px: 16384^2 RGB float32 images are
# 3 GiB each, and an optimization holds several (and VGG features at full resolution).
# A larger value is refused before anything is allocated.
MAX_SIZE = 16384

SAVE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}

_GLOB_MAGIC = re.compile(r"[*?[]")
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_GRAY16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

# The byte-swapped twin of a 16-bit raw mode: decoding with it makes Pillow's 8-bit
# unpacker keep the low byte instead of the high one (see _decode_low_bytes).
_NATIVE_SWAP = ";16B" if sys.byteorder == "little" else ";16L"
_SWAP_16 = {";16B": ";16L", ";16L": ";16B", ";16N": _NATIVE_SWAP}


# --------------------------------------------------------------------------- errors


def _pixels(n: int) -> str:
    """Human-readable pixel count: exact when small, ``2.1e9`` style when large."""
    if n < 1_000_000:
        return str(n)
    mantissa, exponent = f"{n:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _bomb_error(name: str, width: int | None, height: int | None, n: int, limit: int) -> InputError:
    dims = f"{width}x{height} = " if width is not None else ""
    return InputError(
        f"{name}: image has {dims}{_pixels(n)} pixels, more than the limit {_pixels(limit)} "
        "(decompression bomb?)"
    )


# --------------------------------------------------------------------------- decoding


def _raw_mode(tile: ImageFile._Tile) -> str | None:
    args = tile.args
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _with_raw_mode(tile: ImageFile._Tile, rawmode: str) -> ImageFile._Tile:
    args = tile.args
    new_args: Any = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    return tile._replace(args=new_args)


def _is_16bit_colour(im: Image.Image) -> bool:
    """True when Pillow is about to squeeze 16-bit RGB(A) samples into 8 bits.

    Only for the codecs where the low-byte trick is proven: PNG ("zip") and raw data.
    """
    if im.mode not in ("RGB", "RGBA") or not im.tile:
        return False
    for tile in im.tile:
        raw = _raw_mode(tile)
        if tile.codec_name not in ("zip", "raw") or raw is None:
            return False
        if raw[-4:] not in _SWAP_16 or not raw.startswith("RGB"):
            return False
    return True


def _decode_low_bytes(
    open_fp: Callable[[], Path | BinaryIO], tiles: list[ImageFile._Tile]
) -> Image.Image:
    """Decode the file again, keeping the LOW byte of every 16-bit sample.

    Pillow has no 48/64-bit image mode, so 16-bit RGB(A) PNGs come back as 8-bit (high
    byte only). Decoding a second time with the byte-swapped raw mode (``;16B`` <->
    ``;16L``) makes the same unpacker pick the other byte; PNG unfiltering depends only on
    the sample size, which is unchanged. The two decodes together hold all 16 bits, with
    all decoding done by Pillow's C code.
    """
    with Image.open(open_fp()) as im:
        if len(im.tile) != len(tiles):
            raise ValueError("tile layout changed between decodes")
        swapped = []
        for tile in tiles:
            raw = _raw_mode(tile) or ""
            swapped.append(_with_raw_mode(tile, raw[:-4] + _SWAP_16[raw[-4:]]))
        im.tile = swapped
        im.load()
        _exif_transpose(im, "")
        return im


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an array, as ImageOps.exif_transpose does to images."""
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return arr if op is None else np.ascontiguousarray(op(arr))


def _exif_transpose(im: Image.Image, name: str) -> None:
    """Turn ``im`` upright in place (no copy when it already is)."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception as e:  # malformed EXIF: the pixels are still good, keep them as stored
        if name:
            warnings.warn(f"{name}: EXIF orientation ignored ({one_line(e)})", stacklevel=5)


def _tiff_16bit_colour(im: Image.Image) -> bool:
    bits = im.tag_v2.get(258, (8,)) if im.format == "TIFF" else (8,)
    bits = bits if isinstance(bits, tuple) else (bits,)
    return im.mode in ("RGB", "RGBA") and max(bits) == 16


def _decode_tiff16(open_fp: Callable[[], Path | BinaryIO], orientation: int) -> np.ndarray | None:
    """16-bit RGB(A) TIFF via tifffile (scikit-image's own TIFF reader), as uint16 RGB.

    Pillow reads these at 8 bits and decodes planar (one plane per channel) ones wrongly,
    so tifffile reads the pixels. Returns None when tifffile lacks the codec (it would need
    the optional imagecodecs package, e.g. for LZW); Pillow's 8-bit path is used then.
    """
    try:
        import tifffile
    except ImportError:
        return None
    with tifffile.TiffFile(open_fp()) as tif:
        page = tif.pages[0]
        if page.photometric != tifffile.PHOTOMETRIC.RGB or page.dtype != np.uint16:
            return None
        try:
            arr = page.asarray()
        except KeyError:  # tifffile's "requires the 'imagecodecs' package"
            return None
        extrasamples = tuple(page.extrasamples)
        if page.axes.startswith("S"):  # planar: SYX -> YXS
            arr = np.moveaxis(arr, 0, -1)
    if arr.ndim != 3 or arr.shape[2] < 3:
        return None
    rgb = arr[..., :3]
    if arr.shape[2] > 3 and extrasamples[:1] in ((1,), (2,)):
        if extrasamples[0] == 1:  # associated (premultiplied) alpha: add the white share
            out = rgb.astype(np.float32) + (65535.0 - arr[..., 3:4].astype(np.float32))
            rgb = np.rint(np.clip(out, 0, 65535)).astype(np.uint16)
        else:
            rgb = _composite_over_white(rgb, arr[..., 3], 65535.0)
    return _orient(np.ascontiguousarray(rgb), orientation)


def _composite_over_white(rgb: np.ndarray, alpha: np.ndarray, peak: float) -> np.ndarray:
    """``rgb`` (HxWx3) over a white background, in ``rgb``'s integer dtype."""
    a = alpha.astype(np.float32)[..., None] / peak
    out = rgb.astype(np.float32) * a + peak * (1.0 - a)
    return np.rint(out).astype(rgb.dtype)


def _gray16_to_rgb(im: Image.Image) -> np.ndarray:
    """16-bit (or 32-bit int) grayscale -> uint16 HxWx3, honouring a tRNS colour key."""
    values = np.asarray(im)
    if im.mode == "I":  # Pillow's 'I' holds 16-bit sources as 0..65535; wider ints are clipped
        values = np.clip(values, 0, 65535)
    gray = values.astype(np.uint16)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    key = im.info.get("transparency")
    if isinstance(key, int):
        rgb = _composite_over_white(rgb, np.where(gray == key, 0, 65535), 65535.0)
    return rgb


def _to_array(im: Image.Image, low: Image.Image | None) -> np.ndarray:
    """A decoded Pillow image as RGB: uint8, uint16 (16-bit sources) or float32 ('F')."""
    mode = im.mode
    if low is not None:  # 16-bit colour: high bytes in `im`, low bytes in `low`
        full = (np.asarray(im).astype(np.uint16) << 8) | np.asarray(low)
        rgb = full[..., :3]
        if full.shape[2] == 4:
            return _composite_over_white(rgb, full[..., 3], 65535.0)
        key = im.info.get("transparency")
        if isinstance(key, tuple) and len(key) == 3:
            alpha = np.where((rgb == np.asarray(key, np.uint16)).all(axis=2), 0, 65535)
            rgb = _composite_over_white(rgb, alpha, 65535.0)
        return np.ascontiguousarray(rgb)
    if mode in _GRAY16_MODES:
        return _gray16_to_rgb(im)
    if mode == "F":  # float data is taken to be in [0, 1] already
        values = np.nan_to_num(np.asarray(im, np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.repeat(np.clip(values, 0.0, 1.0)[..., None], 3, axis=2)
    if mode in _ALPHA_MODES or "transparency" in im.info:
        if mode == "La":  # premultiplied; Pillow cannot convert it directly
            im = im.convert("LA")
        rgba = np.asarray(im.convert("RGBA"))
        return _composite_over_white(rgba[..., :3], rgba[..., 3], 255.0)
    return np.asarray(im if mode == "RGB" else im.convert("RGB"))


def _decode_pillow(
    im: Image.Image, open_fp: Callable[[], Path | BinaryIO], name: str
) -> np.ndarray:
    """Decode an opened (header-checked) image to RGB in the source's precision."""
    if _tiff_16bit_colour(im):
        arr = _decode_tiff16(open_fp, int(im.getexif().get(ExifTags.Base.Orientation, 1)))
        if arr is not None:
            return arr
    if im.mode == "RGBA" and im.tile and _raw_mode(im.tile[0]) == "LA;16B":
        # 16-bit gray+alpha PNG: read the four raw bytes (Lhi Llo Ahi Alo) instead.
        im.tile = [_with_raw_mode(t, "RGBA") for t in im.tile]
        im.load()
        _exif_transpose(im, name)
        raw = np.asarray(im).astype(np.uint16)
        gray, alpha = raw[..., 0] << 8 | raw[..., 1], raw[..., 2] << 8 | raw[..., 3]
        return _composite_over_white(np.repeat(gray[..., None], 3, axis=2), alpha, 65535.0)
    tiles = list(im.tile) if _is_16bit_colour(im) else None  # load() clears im.tile
    # load() raises on truncated data: LOAD_TRUNCATED_IMAGES stays False on purpose.
    im.load()
    _exif_transpose(im, name)
    low = None
    if tiles:
        try:
            low = _decode_low_bytes(open_fp, tiles)
        except Exception as e:  # a layout this trick does not cover: keep 8 bits
            warnings.warn(
                f"{name}: 16-bit colour read at 8-bit precision ({one_line(e)})", stacklevel=4
            )
    return _to_array(im, low)


def _decode(open_fp: Callable[[], Path | BinaryIO], name: str, max_pixels: int) -> np.ndarray:
    """The one decoder behind load_image and decode_image.

    Returns RGB ``HxWx3`` in the source's precision: uint8, uint16 or float32 in [0, 1].
    ``open_fp`` gives the source afresh (16-bit colour files are read twice); a Path is
    passed to Pillow as is, so Pillow owns and closes the file handle.
    """
    try:
        with Image.open(open_fp()) as im:
            width, height = im.size
            # Header size only: nothing has been decompressed yet.
            if width * height > max_pixels:
                raise _bomb_error(name, width, height, width * height, max_pixels)
            return _decode_pillow(im, open_fp, name)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a folder, not an image file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except Image.UnidentifiedImageError:
        raise InputError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as e:
        # Pillow's own check fires inside Image.open, before ours, for huge headers.
        found = re.search(r"\((\d+) pixels\)", str(e))
        n = int(found.group(1)) if found else 0
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0)) or max_pixels
        raise _bomb_error(name, None, None, n, limit) from None
    except MemoryError:
        raise InputError(f"{name}: image too large to decode in memory") from None
    except Exception as e:  # Pillow signals corrupt data with many exception types
        raise InputError(f"{name}: truncated or corrupt image ({one_line(e)})") from None


def resolve_image_path(path: str | Path) -> Path:
    """``path`` as a Path, with ``sample:NAME`` resolved to the bundled sample file."""
    text = str(path)
    if text.startswith(SAMPLE_PREFIX) and not Path(text).exists():
        return sample_path(text[len(SAMPLE_PREFIX) :])
    return Path(path).expanduser()


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as float32 ``HxWx3`` RGB in ``[0, 1]``.

    Args:
        path: any file Pillow reads (JPEG, PNG, WebP, TIFF, ...), or ``sample:NAME``.
        max_pixels: refuse images whose header claims more pixels (decompression bombs),
            before decoding anything. Pillow's own limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``,
            the default here) applies too; raise that as well to go beyond it.

    Raises:
        InputError: ``"<path>: <what is wrong>"`` for missing, empty, non-image,
            truncated/corrupt or oversized files.
    """
    path = resolve_image_path(path)
    name = str(path)
    if path.is_dir():
        raise InputError(f"{name}: is a folder, not an image file")
    if not path.exists():
        raise InputError(f"{name}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{name}: empty file (0 bytes), not an image")
    arr = _decode(lambda: path, name, max_pixels)
    return _to_float(arr)


def decode_image(
    data: bytes, name: str = "<bytes>", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode encoded image bytes to uint8 ``HxWx3`` RGB (16-bit sources are rounded).

    Same decoder and errors as :func:`load_image`; ``name`` labels error messages.
    """
    if not data:
        raise InputError(f"{name}: empty file (0 bytes), not an image")
    data = bytes(data)
    arr = _decode(lambda: io.BytesIO(data), name, max_pixels)
    if arr.dtype == np.uint8:
        # Arrays viewing Pillow's bytes are read-only; pipelines may augment in place.
        return arr if arr.flags.writeable else arr.copy()
    if arr.dtype == np.uint16:
        return np.rint(arr / 257.0).astype(np.uint8)
    return np.rint(arr * 255.0).astype(np.uint8)


def _to_float(arr: np.ndarray) -> np.ndarray:
    # One pass, no float64 temporary (this runs on every image the library reads).
    if arr.dtype == np.uint8:
        return np.divide(arr, np.float32(255), dtype=np.float32)
    if arr.dtype == np.uint16:  # full 16-bit precision, not truncated to 8 bit
        return np.divide(arr, np.float32(65535), dtype=np.float32)
    return np.array(arr, np.float32)


# --------------------------------------------------------------------------- resizing


def check_long_side(size: int) -> None:
    """One-line error unless ``size`` (a requested long side, ``--size``) is in 1..MAX_SIZE:
    checked before anything allocates a ``size x size`` image."""
    if not 1 <= size <= MAX_SIZE:
        raise InputError(f"--size must be in 1..{MAX_SIZE} px, got {size}")


def _check_size(size: Any, what: str) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise InputError(f"{what} must be a positive integer, got {size!r}")
    return int(size)


def _round_half_up(x: float) -> int:
    return max(1, math.floor(x + 0.5))


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to exactly ``(height, width)``: float32 in, float32 out, antialiased.

    Each channel goes through Pillow's float ('F') Lanczos filter, so nothing is quantized
    to 8 bit; the result is clipped to the input's value range (Lanczos overshoots at edges).
    """
    if len(size) != 2:
        raise InputError(f"resize size must be (height, width), got {size!r}")
    h, w = _check_size(size[0], "height"), _check_size(size[1], "width")
    arr = np.asarray(img, np.float32)
    if arr.ndim not in (2, 3):
        raise InputError(f"expected an HxW or HxWxC image, got shape {arr.shape}")
    if arr.shape[:2] == (h, w):
        return arr.copy()
    planes = arr[..., None] if arr.ndim == 2 else arr
    out = np.empty((h, w, planes.shape[2]), np.float32)
    for c in range(planes.shape[2]):
        channel = Image.fromarray(np.ascontiguousarray(planes[..., c]))  # float32 -> "F"
        out[..., c] = np.asarray(channel.resize((w, h), Image.Resampling.LANCZOS))
    if arr.size:
        np.clip(out, arr.min(), arr.max(), out=out)
    return out[..., 0] if arr.ndim == 2 else out


def long_side_shape(hw: Sequence[int], size: int) -> tuple[int, int]:
    """The ``(height, width)`` :func:`resize_long_side` gives an image of shape ``hw``."""
    h, w = int(hw[0]), int(hw[1])
    scale = size / max(h, w)
    return _round_half_up(h * scale), _round_half_up(w * scale)


def resize_long_side(img: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longer side is ``size`` pixels, keeping the aspect ratio."""
    size = _check_size(size, "size")
    return resize(img, long_side_shape(np.shape(img)[:2], size))


def resize_short_side(img: np.ndarray, size: int) -> np.ndarray:
    """Resize so the shorter side is ``size`` pixels, keeping the aspect ratio."""
    size = _check_size(size, "size")
    h, w = np.shape(img)[:2]
    scale = size / min(h, w)
    return resize(img, (_round_half_up(h * scale), _round_half_up(w * scale)))


# --------------------------------------------------------------------------- saving


def _to_uint8(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr
    # bfloat16 (ml_dtypes, from JAX) is not an np.floating subtype, so match it by name.
    if not (np.issubdtype(arr.dtype, np.floating) or arr.dtype.name == "bfloat16"):
        raise InputError(f"cannot save an image of dtype {arr.dtype}: use float in [0, 1] or uint8")
    arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_image(path: str | Path, img: np.ndarray, *, quality: int = 95) -> bytes:
    """``img`` encoded in the format named by ``path``'s extension, in memory (see
    :func:`save_image`); nothing is written. One-line InputError for an unknown extension."""
    path = Path(str(path))
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(SAVE_FORMATS)
        raise InputError(f"{path}: unknown image extension {path.suffix!r} (use one of {known})")
    if (
        isinstance(quality, bool)
        or not isinstance(quality, (int, np.integer))
        or not 1 <= quality <= 100
    ):
        raise InputError(f"{path}: quality must be an integer in 1..100, got {quality!r}")
    arr = _to_uint8(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or 0 in arr.shape:
        raise InputError(
            f"{path}: cannot save an image of shape {np.shape(img)}; expected HxWx3 or HxW"
        )
    pil = Image.fromarray(np.ascontiguousarray(arr))  # uint8 HxW -> "L", HxWx3 -> "RGB"
    options: dict[str, Any] = {}
    if fmt == "JPEG":
        # Full-resolution chroma at high quality: 4:2:0 smears the fine colour texture
        # that stylized images are made of.
        options = {"quality": int(quality), "subsampling": 0 if quality >= 90 else 2}
    elif fmt == "WEBP":
        options = {"quality": int(quality)}
    buffer = io.BytesIO()
    try:
        # Encode fully in memory first, so an encoder error never touches the target.
        pil.save(buffer, format=fmt, **options)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot encode as {fmt} ({one_line(e)})") from None
    return buffer.getvalue()


def save_image(path: str | Path, img: np.ndarray, *, quality: int = 95) -> Path:
    """Write ``img`` atomically, in the format named by the file extension.

    Args:
        path: ``.png``, ``.jpg``/``.jpeg``, ``.webp`` or ``.tif``/``.tiff``; parent folders
            are created.
        img: float ``HxWx3`` / ``HxW`` in [0, 1] (values outside are clipped) or uint8.
        quality: JPEG/WebP quality, 1..100.

    Returns:
        The path written. A failure leaves any existing file at ``path`` untouched.
    """
    path = Path(path).expanduser()
    data = encode_image(path, img, quality=quality)
    try:
        write_bytes_atomic(path, data)
    except OSError as e:
        raise InputError(f"{path}: cannot write file ({one_line(e)})") from None
    return path


# --------------------------------------------------------------------------- contact sheets


def _as_rgb_float(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or 0 in arr.shape:
        raise InputError(f"expected an HxW, HxWx1 or HxWx3 image, got shape {np.shape(img)}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.clip(arr[..., :3], 0.0, 1.0)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError, AttributeError):  # Pillow without FreeType
        return ImageFont.load_default()


def _label_strip(text: str, width: int, height: int, font: Any, background: float) -> np.ndarray:
    """A ``height x width x 3`` strip with ``text`` centred, truncated to fit."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    if draw.textlength(text, font=font) > width - 4:
        while text and draw.textlength(text + "...", font=font) > width - 4:
            text = text[:-1]
        text = text + "..." if text else ""
    draw.text((width / 2, height / 2), text, fill=255, font=font, anchor="mm")
    ink = 0.0 if background >= 0.5 else 1.0  # dark text on light sheets, light on dark
    alpha = np.asarray(mask, np.float32)[..., None] / 255.0
    return np.broadcast_to(background * (1.0 - alpha) + ink * alpha, (height, width, 3))


def _row(
    images: Sequence[np.ndarray],
    height: int,
    pad: int,
    labels: Sequence[str] | None,
    background: float,
    label_height: int,
    font: Any,
) -> np.ndarray:
    """One row of a sheet, without its outer margin."""
    tiles = []
    for i, img in enumerate(images):
        arr = _as_rgb_float(img)
        h, w = arr.shape[:2]
        tile = arr if h == height else resize(arr, (height, _round_half_up(w * height / h)))
        if labels is not None:
            strip = _label_strip(str(labels[i]), tile.shape[1], label_height, font, background)
            tile = np.concatenate([tile, strip], axis=0)
        tiles.append(tile)
    total_h = tiles[0].shape[0]
    gap = np.full((total_h, pad, 3), background, np.float32)
    parts: list[np.ndarray] = []
    for i, tile in enumerate(tiles):
        if i:
            parts.append(gap)
        parts.append(tile)
    return np.concatenate(parts, axis=1)


def make_grid_rows(
    rows: Sequence[Sequence[np.ndarray]],
    *,
    height: int | None = None,
    pad: int = 8,
    labels: Sequence[Sequence[str] | None] | None = None,
    background: float = 1.0,
) -> np.ndarray:
    """Stack several side-by-side rows into one float32 sheet (a gallery).

    Args:
        rows: each row a sequence of images (float [0,1] or uint8, HxWx3 or HxW).
        height: common image height; default the smallest input height (never upsamples
            everything to fit one huge input).
        pad: gap between images and rows, and the outer margin, in pixels.
        labels: per row, one caption per image (or None for that row).
        background: grey level of gaps and margins (1.0 = white).
    """
    if not rows or any(len(r) == 0 for r in rows):
        raise InputError("make_grid needs at least one image in every row")
    if labels is not None and len(labels) != len(rows):
        raise InputError(f"got {len(labels)} label rows for {len(rows)} image rows")
    for r, row_labels in zip(rows, labels or [None] * len(rows), strict=True):
        if row_labels is not None and len(row_labels) != len(r):
            raise InputError(f"got {len(row_labels)} labels for {len(r)} images")
    pad = max(0, int(pad))
    if height is None:
        height = min(int(np.shape(img)[0]) for r in rows for img in r)
    height = _check_size(height, "grid height")
    font_size = max(10, min(32, height // 16))
    font = _font(font_size)
    label_height = font_size + max(4, pad)
    built = [
        _row(r, height, pad, row_labels, float(background), label_height, font)
        for r, row_labels in zip(rows, labels or [None] * len(rows), strict=True)
    ]
    width = max(b.shape[1] for b in built) + 2 * pad
    total = sum(b.shape[0] for b in built) + pad * (len(built) + 1)
    sheet = np.full((total, width, 3), background, np.float32)
    y = pad
    for b in built:  # rows are left-aligned; shorter ones leave background on the right
        sheet[y : y + b.shape[0], pad : pad + b.shape[1]] = b
        y += b.shape[0] + pad
    return sheet


def make_grid(
    images: Sequence[np.ndarray],
    *,
    height: int | None = None,
    pad: int = 8,
    labels: Sequence[str] | None = None,
    background: float = 1.0,
) -> np.ndarray:
    """Side-by-side float32 sheet (e.g. content | style | result), with optional captions.

    Images are resized to a common ``height`` (default: the smallest input height) keeping
    their aspect ratio, separated and surrounded by ``pad`` pixels of ``background``.
    """
    return make_grid_rows(
        [images],
        height=height,
        pad=pad,
        labels=None if labels is None else [labels],
        background=background,
    )


# --------------------------------------------------------------------------- path specs


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def expand_image_paths(specs: Sequence[str | Path], unique: bool = True) -> list[Path]:
    """Expand files, globs, folders and ``sample:NAME`` specs into image paths.

    A folder gives the image files directly inside it (by extension, sorted); a glob gives
    its matching image files (sorted). Order is preserved; with ``unique`` duplicates are
    removed (``jaxstyle stylize`` keeps them, and refuses them: :mod:`jaxstyle.collection.sources`).

    Raises:
        InputError: a spec that matches nothing, or an unknown sample name.
    """
    if isinstance(specs, (str, Path)):  # a lone spec is a common slip; treat it as one
        specs = [specs]
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if not unique or key not in seen:
            seen.add(key)
            out.append(p)

    for spec in specs:
        text = str(spec)
        path = Path(text).expanduser()
        if text.startswith(SAMPLE_PREFIX) and not path.exists():
            add(sample_path(text[len(SAMPLE_PREFIX) :]))
        elif path.is_file():  # an explicit file is taken whatever its extension
            add(path)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_image_file(p))
            if not found:
                exts = " ".join(IMAGE_EXTENSIONS)
                raise InputError(f"{text}: folder has no image files ({exts})")
            for p in found:
                add(p)
        else:
            found = (
                sorted(
                    Path(m)
                    for m in glob.glob(os.path.expanduser(text), recursive=True)
                    if _is_image_file(Path(m))
                )
                if _GLOB_MAGIC.search(text)
                else []
            )
            if not found:
                raise InputError(f"{text}: no such file, folder or matching images")
            for p in found:
                add(p)
    return out
