"""Image I/O: every odd file kind decodes correctly, bad files fail with one clear line,
saving is atomic, resizing keeps aspect without quantizing, path specs expand."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from jaxstyle import samples
from jaxstyle.errors import InputError
from jaxstyle.io import (
    IMAGE_EXTENSIONS,
    decode_image,
    expand_image_paths,
    load_image,
    make_grid,
    make_grid_rows,
    resize,
    resize_long_side,
    resize_short_side,
    save_image,
)

# ---------------------------------------------------------------------------- helpers


def _input_error(fn, name, fragment: str) -> str:
    """Run ``fn``; assert it raises a one-line InputError naming ``name`` and ``fragment``."""
    with pytest.raises(InputError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{name}: "), msg
    assert fragment in msg, msg
    return msg


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16(arr: np.ndarray, color_type: int) -> bytes:
    """Minimal 16-bit PNG encoder (Pillow cannot write 16-bit colour), cycling all five
    row filters so the decoder's unfiltering is exercised, Paeth included."""
    h, w, c = arr.shape
    rows = arr.astype(">u2").reshape(h, w * c).view(np.uint8).astype(np.int32)
    bpp = 2 * c
    prev = np.zeros_like(rows[0])
    body = b""
    for i, row in enumerate(rows):
        a = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        up = prev
        c_ = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        p = a + up - c_
        pa, pb, pc = abs(p - a), abs(p - up), abs(p - c_)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, up, c_))
        predictor = [0, a, up, (a + up) // 2, paeth][i % 5]
        body += bytes([i % 5]) + ((row - predictor) % 256).astype(np.uint8).tobytes()
        prev = row
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(body))
        + _chunk(b"IEND", b"")
    )


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------- decoding


def test_grayscale_png_becomes_three_equal_channels(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (6, 8, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.repeat(gray[..., None], 3, 2) / 255.0, atol=1e-7)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_over_white(tmp_path, mode):
    im = Image.new("RGBA", (3, 1))
    im.putdata([(255, 0, 0, 0), (255, 0, 0, 128), (0, 0, 255, 255)])
    im.convert(mode).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    np.testing.assert_allclose(out[0, 0], [1, 1, 1], atol=1 / 255)  # invisible -> white, not red
    if mode == "RGBA":
        np.testing.assert_allclose(out[0, 1], [1, 127 / 255, 127 / 255], atol=1.5 / 255)
        np.testing.assert_allclose(out[0, 2], [0, 0, 1], atol=1e-6)
    else:  # red and blue in L are 76 and 29
        np.testing.assert_allclose(out[0, 2], [29 / 255] * 3, atol=1e-6)


def test_palette_with_and_without_transparency(tmp_path):
    im = Image.new("P", (2, 2))
    im.putpalette([10, 200, 30, 0, 0, 0] + [0] * (256 * 3 - 6))
    im.putdata([0, 1, 1, 0])
    im.save(tmp_path / "opaque.png")
    im.save(tmp_path / "clear.png", transparency=1)
    assert Image.open(tmp_path / "clear.png").mode == "P"
    opaque, clear = load_image(tmp_path / "opaque.png"), load_image(tmp_path / "clear.png")
    np.testing.assert_allclose(opaque[0, 0], np.array([10, 200, 30]) / 255, atol=1e-6)
    np.testing.assert_allclose(opaque[0, 1], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(clear[0, 1], [1, 1, 1], atol=1e-6)  # transparent index -> white
    np.testing.assert_allclose(clear[1, 1], np.array([10, 200, 30]) / 255, atol=1e-6)


def test_16bit_gray_png_keeps_16bit_precision(tmp_path):
    values = np.array([[0, 1000, 40000, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    np.testing.assert_allclose(out[0, :, 1], values[0] / 65535.0, rtol=0, atol=1e-7)
    # 1000/65535 lies between two 8-bit levels, so an 8-bit read could not give it.
    assert abs(out[0, 1, 0] * 255 - round(out[0, 1, 0] * 255)) > 0.1
    # decode_image is the uint8 view of the same decoder.
    small = decode_image((tmp_path / "g16.png").read_bytes())
    assert small.dtype == np.uint8
    np.testing.assert_array_equal(small[0, :, 0], np.rint(values[0] / 257.0))


@pytest.mark.parametrize("color_type", [2, 6])
def test_16bit_colour_png_keeps_16bit_precision(tmp_path, color_type):
    rng = np.random.default_rng(1)
    channels = 3 if color_type == 2 else 4
    arr = rng.integers(0, 65536, (9, 11, channels), dtype=np.uint16)
    if channels == 4:
        arr[..., 3] = 65535  # opaque, so the colour must come back exactly
    (tmp_path / "c16.png").write_bytes(_png16(arr, color_type))
    out = load_image(tmp_path / "c16.png")
    np.testing.assert_array_equal(np.rint(out * 65535).astype(np.uint16), arr[..., :3])


def test_16bit_gray_alpha_png(tmp_path):
    arr = np.array([[[30000, 65535], [30000, 0]]], np.uint16)  # opaque grey, then invisible
    (tmp_path / "la16.png").write_bytes(_png16(arr, 4))
    out = load_image(tmp_path / "la16.png")
    np.testing.assert_allclose(out[0, 0], [30000 / 65535] * 3, atol=1e-7)
    np.testing.assert_allclose(out[0, 1], [1, 1, 1], atol=1e-7)


def test_16bit_colour_tiff_keeps_16bit_precision(tmp_path):
    tifffile = pytest.importorskip("tifffile")  # scikit-image's own dependency
    arr = np.random.default_rng(2).integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    # Planar (one plane per channel) is the layout Pillow alone decodes wrongly.
    tifffile.imwrite(
        tmp_path / "p.tif",
        arr.transpose(2, 0, 1).copy(),
        photometric="rgb",
        planarconfig="separate",
    )
    tifffile.imwrite(tmp_path / "c.tif", arr, photometric="rgb", compression="zlib")
    for name in ("p.tif", "c.tif"):
        out = load_image(tmp_path / name)
        np.testing.assert_array_equal(np.rint(out * 65535).astype(np.uint16), arr, err_msg=name)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    out = load_image(tmp_path / "cmyk.jpg")
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out[8, 8], [1, 0, 0], atol=0.05)  # pure red


def test_exif_orientation_is_applied(tmp_path):
    stored = np.full((20, 40, 3), 128, np.uint8)  # 20 high, 40 wide as stored
    stored[:8, :8] = (255, 0, 0)  # red block in the stored top-left corner
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "rot.jpg")
    assert out.shape == (40, 20, 3)
    np.testing.assert_allclose(out[3, -4], [1, 0, 0], atol=0.1)  # top-left went top-right
    np.testing.assert_allclose(out[-4, 3], [128 / 255] * 3, atol=0.1)


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_and_tiff_round_trip(tmp_path):
    arr = _noise(12, 10)
    Image.fromarray(arr).save(tmp_path / "x.webp", lossless=True)
    Image.fromarray(arr).save(tmp_path / "x.tif")
    for name in ("x.webp", "x.tif"):
        np.testing.assert_array_equal(np.rint(load_image(tmp_path / name) * 255), arr)


def test_decode_image_matches_load_image(content_paths):
    data = content_paths[0].read_bytes()
    as_uint8 = decode_image(data, "photo")
    assert as_uint8.dtype == np.uint8 and as_uint8.ndim == 3 and as_uint8.shape[2] == 3
    assert as_uint8.flags.writeable  # pipelines may augment in place
    np.testing.assert_array_equal(as_uint8, np.rint(load_image(content_paths[0]) * 255))


def test_sample_spec_loads_directly():
    assert load_image("sample:chelsea").shape == (300, 451, 3)


# ---------------------------------------------------------------------------- bad files


def test_bad_files_raise_one_line_input_errors(tmp_path, content_paths):
    text = tmp_path / "notes.jpg"
    text.write_text("these are not pixels\n")
    _input_error(lambda: load_image(text), text, "not an image file")

    half = tmp_path / "half.jpg"
    data = content_paths[0].read_bytes()
    half.write_bytes(data[: len(data) // 2])
    _input_error(lambda: load_image(half), half, "truncated or corrupt image")
    _input_error(lambda: decode_image(half.read_bytes(), "half"), "half", "truncated or corrupt")

    png = tmp_path / "half.png"
    Image.fromarray(_noise(64, 64)).save(png)
    png.write_bytes(png.read_bytes()[:3000])
    _input_error(lambda: load_image(png), png, "truncated or corrupt image")

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _input_error(lambda: load_image(empty), empty, "empty file")
    _input_error(lambda: decode_image(b"", "e.png"), "e.png", "empty file")

    missing = tmp_path / "nope.jpg"
    _input_error(lambda: load_image(missing), missing, "file not found")
    _input_error(lambda: load_image(tmp_path), tmp_path, "folder")


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    small = tmp_path / "small.png"
    Image.fromarray(_noise(10, 20)).save(small)
    msg = _input_error(lambda: load_image(small, max_pixels=100), small, "decompression bomb")
    assert "20x10 = 200 pixels" in msg and "limit 100" in msg
    _input_error(lambda: decode_image(small.read_bytes(), "s", max_pixels=100), "s", "bomb")

    # A 57-byte PNG whose header claims 100000 x 100000 pixels.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b""))
    msg = _input_error(lambda: load_image(huge), huge, "decompression bomb")
    assert "1.0e10 pixels" in msg


# ---------------------------------------------------------------------------- saving


@pytest.mark.parametrize(
    "ext, fmt",
    [
        (".png", "PNG"),
        (".jpg", "JPEG"),
        (".jpeg", "JPEG"),
        (".webp", "WEBP"),
        (".tif", "TIFF"),
        (".tiff", "TIFF"),
    ],
)
def test_save_image_format_from_extension(tmp_path, ext, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    out = save_image(tmp_path / "deep" / "dir" / f"out{ext}", np.full((8, 6, 3), 0.5, np.float32))
    assert out == tmp_path / "deep" / "dir" / f"out{ext}"
    with Image.open(out) as im:
        assert im.format == fmt and im.size == (6, 8)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp files left behind


def test_save_image_round_trip_and_clipping(tmp_path):
    arr = _noise(5, 7)
    save_image(tmp_path / "u8.png", arr)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "u8.png")), arr)
    floats = np.array([[[-0.5, 0.5, 2.0]]], np.float32)
    save_image(tmp_path / "f.png", floats)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), [[[0, 128, 255]]])
    save_image(tmp_path / "gray.png", np.zeros((4, 3), np.float32))
    assert Image.open(tmp_path / "gray.png").mode == "L"


def test_failed_saves_leave_existing_file_untouched(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")
    img = np.zeros((4, 4, 3), np.float32)

    odd = tmp_path / "keep.gif"
    odd.write_bytes(b"precious")
    _input_error(lambda: save_image(odd, img), odd, "unknown image extension")
    assert odd.read_bytes() == b"precious"

    def broken_encoder(self, *args, **kwargs):
        raise OSError("encoder exploded")

    with monkeypatch.context() as m:
        m.setattr(Image.Image, "save", broken_encoder)
        _input_error(lambda: save_image(target, img), target, "encoder exploded")
    assert target.read_bytes() == b"precious"

    def broken_rename(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", broken_rename)
        _input_error(lambda: save_image(target, img), target, "disk full")
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.gif", "keep.png"]  # no temp files


# ---------------------------------------------------------------------------- resizing


def test_resize_keeps_aspect_and_precision():
    img = np.linspace(0, 1, 30 * 60 * 3, dtype=np.float32).reshape(30, 60, 3)
    long = resize_long_side(img, 20)
    short = resize_short_side(img, 20)
    assert long.shape == (10, 20, 3) and short.shape == (20, 40, 3)
    assert long.dtype == short.dtype == np.float32
    assert resize_long_side(np.zeros((33, 100, 3), np.float32), 50).shape == (17, 50, 3)  # 16.5 up
    assert resize_long_side(np.zeros((1, 1000, 3), np.float32), 10).shape == (1, 10, 3)  # >= 1 px
    assert resize(img, (7, 5)).shape == (7, 5, 3)
    # Not quantized to 8 bit: most values fall between 1/255 levels.
    off_grid = np.abs(long * 255 - np.rint(long * 255)) > 0.01
    assert off_grid.mean() > 0.5
    assert long.min() >= 0.0 and long.max() <= 1.0


def test_resize_is_antialiased():
    checker = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)
    small = resize(np.repeat(checker[..., None], 3, 2), (8, 8))
    # A point-sampled checkerboard would be all 0 or all 1; a filtered one is flat grey.
    np.testing.assert_allclose(small, 0.5, atol=0.05)


@pytest.mark.parametrize(
    "call",
    [
        lambda img: resize_long_side(img, 0),
        lambda img: resize_short_side(img, -3),
        lambda img: resize(img, (0, 4)),
    ],
)
def test_resize_rejects_non_positive_sizes(call):
    with pytest.raises(InputError):
        call(np.zeros((4, 4, 3), np.float32))


# ---------------------------------------------------------------------------- path specs


def test_expand_image_paths(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.jpg", "C.TIFF", "sub/inner.png"):
        (folder / name).write_bytes(b"x")
    (folder / "notes.txt").write_text("not an image")

    expected_folder = sorted([folder / "b.png", folder / "a.jpg", folder / "C.TIFF"])
    assert expand_image_paths([folder]) == expected_folder
    assert expand_image_paths([str(folder / "*.png")]) == [folder / "b.png"]
    assert expand_image_paths([str(folder / "**" / "*.png")]) == sorted(
        [folder / "b.png", folder / "sub" / "inner.png"]
    )
    # Order preserved, duplicates removed (even when spelled differently).
    got = expand_image_paths([folder / "a.jpg", "sample:chelsea", folder, f"{folder}/./a.jpg"])
    assert got[0] == folder / "a.jpg"
    assert got[1] == samples.sample_path("chelsea") and got[1].is_file()
    assert got[2:] == [p for p in expected_folder if p.name != "a.jpg"]
    # An explicit file is taken even without an image extension.
    assert expand_image_paths([folder / "notes.txt"]) == [folder / "notes.txt"]

    for spec in (tmp_path / "missing.jpg", str(folder / "*.gif"), "nowhere/*.jpg"):
        _input_error(
            lambda s=spec: expand_image_paths([s]), spec, "no such file, folder or matching"
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    _input_error(lambda: expand_image_paths([empty]), empty, "no image files")
    _input_error(lambda: expand_image_paths(["sample:dog"]), "sample:dog", "chelsea")
    assert ".jpg" in IMAGE_EXTENSIONS and ".tiff" in IMAGE_EXTENSIONS


# ---------------------------------------------------------------------------- samples


def test_samples_are_bundled_and_load():
    import skimage

    bundled = {Path(skimage.__file__).parent / "data", Path(samples.__file__).parent / "sample_images"}
    assert samples.DEFAULT_CONTENT in samples.SAMPLES and samples.DEFAULT_STYLE in samples.SAMPLES
    assert (Path(samples.__file__).parent / "sample_images" / "NOTICE.md").is_file()
    for name in samples.SAMPLES:
        path = samples.sample_path(name)
        assert path.parent in bundled and path.is_file()
        img = load_image(f"sample:{name}")
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.float32
        assert img.std() > 0.05  # a real picture, not a blank
    _input_error(lambda: samples.sample_path("dog"), "sample:dog", "astronaut")


# ---------------------------------------------------------------------------- contact sheets


def test_make_grid_shapes_and_placement():
    a = np.random.default_rng(0).random((20, 30, 3), dtype=np.float32)
    b = np.zeros((40, 40, 3), np.float32)
    c = np.full((20, 10), 255, np.uint8)  # grayscale uint8 is accepted
    sheet = make_grid([a, b, c], pad=8)  # default height: the smallest, 20
    assert sheet.dtype == np.float32
    assert sheet.shape == (20 + 2 * 8, 30 + 20 + 10 + 4 * 8, 3)
    np.testing.assert_allclose(sheet[8:28, 8:38], a)  # unresized images land untouched
    np.testing.assert_allclose(sheet[8:28, 46:66], 0.0, atol=1e-6)  # b, resized to 20x20
    assert (sheet[:8] == 1.0).all()  # white margin

    tall = make_grid([a, b], height=40, pad=4, labels=["content", "style"])
    assert tall.shape[1] == 60 + 40 + 3 * 4 and tall.shape[0] > 40 + 2 * 4
    strip = tall[4 + 40 :, 4 : 4 + 60]
    assert strip.min() < 0.5  # dark caption pixels were drawn under the image

    rows = make_grid_rows([[a, a], [a]], pad=2, background=0.0)
    assert rows.shape == (2 * 20 + 3 * 2, 2 * 30 + 3 * 2, 3)
    assert (rows[24:44, 34:] == 0.0).all()  # the shorter row is padded with background
    with pytest.raises(InputError):
        make_grid([a, b], labels=["only one"])


def test_encoded_bytes_decode_without_files():
    buffer = io.BytesIO()
    Image.fromarray(_noise(6, 5)).save(buffer, format="PNG")
    np.testing.assert_array_equal(decode_image(buffer.getvalue()), _noise(6, 5))


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    import stat

    from jaxstyle.io import save_image

    umask = os.umask(0o022)
    try:
        path = save_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
