"""Paired grain pipeline: shapes and values, epochs, exact resume (also via Orbax), bad data.

Most tests use tiny solid-colour PNGs whose colour encodes the record id, so every crop
tells which file it came from (bilinear resizes and crops of a constant image are exact).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxstyle.data import (
    BadImageWarning,
    build_paired_iterator,
    default_data_config,
    iterator_checkpoint_args,
    to_global_batch,
)
from jaxstyle.errors import InputError

CROP = 16


def _colour(i: int) -> tuple[int, int, int]:
    return (10 + 20 * i, 250 - 20 * i, 128)


def make_id_images(folder: Path, n: int, size=(40, 30), start: int = 0) -> Path:
    """``n`` solid PNGs; record ``i`` has colour ``_colour(i)`` (i < 12)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.new("RGB", size, _colour(i)).save(folder / f"img_{i:03d}.png")
    return folder


def ids_of(batch: np.ndarray) -> list[int]:
    """Record ids of a float batch of solid crops (asserts every crop is solid)."""
    u8 = np.rint(batch * 255).astype(int)
    assert (u8 == u8[:, :1, :1, :]).all(), "crop is not a single colour"
    return [int(round((c[0] - 10) / 20)) for c in u8[:, 0, 0, :]]


def cfg_for(content: Path, style: Path, **kw):
    cfg = default_data_config()
    cfg.content_dir, cfg.style_dir = str(content), str(style)
    cfg.load_size, cfg.crop_size = 0, CROP
    cfg.read_threads = 2
    cfg.prefetch_buffer_size = 8
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture()
def id_dirs(tmp_path):
    return make_id_images(tmp_path / "content", 6), make_id_images(tmp_path / "style", 5)


def take(it, n):
    return [next(it) for _ in range(n)]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys() == {"content", "style"}
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_real_photos_shapes_dtype_range(content_paths, style_paths):
    cfg = default_data_config()
    cfg.content_dir = str(content_paths[0].parent)
    cfg.style_dir = str(style_paths[0].parent)
    cfg.load_size, cfg.crop_size = 96, 64
    cfg.read_threads = 2
    it = build_paired_iterator(cfg, global_batch=4, seed=0)
    batches = take(it, 3)
    for b in batches:
        for k in ("content", "style"):
            x = b[k]
            assert x.shape == (4, 64, 64, 3) and x.dtype == np.float32
            assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05
    # Random crops of real photos: no two crops in the stream are the same.
    crops = np.concatenate([b["content"] for b in batches]).reshape(12, -1)
    assert len({c.tobytes() for c in crops}) == 12
    it.close()


def test_epochs_cover_each_record_once_and_reshuffle(id_dirs):
    it = build_paired_iterator(cfg_for(*id_dirs), global_batch=6, seed=3)
    content = [ids_of(b["content"]) for b in take(it, 4)]
    # Each epoch of content (6 records) is a permutation; epochs are shuffled differently.
    assert all(sorted(e) == list(range(6)) for e in content)
    assert len({tuple(e) for e in content}) > 1
    it2 = build_paired_iterator(cfg_for(*id_dirs), global_batch=5, seed=3)
    style_epochs = [ids_of(b["style"]) for b in take(it2, 4)]
    assert all(sorted(e) == list(range(5)) for e in style_epochs)
    it.close()
    it2.close()


def test_seeds_are_independent_per_stream_and_run(id_dirs):
    content_dir, _ = id_dirs
    # Same folder for both streams: with one shared shuffle they would be identical.
    a = take(build_paired_iterator(cfg_for(content_dir, content_dir), 6, seed=0), 4)
    assert [ids_of(b["content"]) for b in a] != [ids_of(b["style"]) for b in a]
    b = take(build_paired_iterator(cfg_for(content_dir, content_dir), 6, seed=1), 4)
    assert [ids_of(x["content"]) for x in a] != [ids_of(x["content"]) for x in b]
    again = take(build_paired_iterator(cfg_for(content_dir, content_dir), 6, seed=0), 4)
    assert_same_batches(a, again)


def test_resume_sees_exactly_the_uninterrupted_batches(content_paths, style_paths):
    cfg = default_data_config()
    cfg.content_dir, cfg.style_dir = str(content_paths[0].parent), str(style_paths[0].parent)
    cfg.load_size, cfg.crop_size, cfg.read_threads = 64, 48, 2
    full = take(build_paired_iterator(cfg, global_batch=3, seed=7), 6)  # crosses epochs

    first = build_paired_iterator(cfg, global_batch=3, seed=7)
    assert_same_batches(take(first, 2), full[:2])
    state = first.get_state()
    first.close()
    resumed = build_paired_iterator(cfg, global_batch=3, seed=7)
    resumed.set_state(state)
    assert_same_batches(take(resumed, 4), full[2:])
    resumed.close()


def test_orbax_checkpoint_roundtrip_of_iterator_state(id_dirs, tmp_path):
    import orbax.checkpoint as ocp

    cfg = cfg_for(*id_dirs, flip=True)
    it = build_paired_iterator(cfg, global_batch=4, seed=11)
    take(it, 3)
    params = {"w": np.arange(6, dtype=np.float32)}
    mngr = ocp.CheckpointManager(tmp_path / "ckpt")
    mngr.save(
        3,
        args=ocp.args.Composite(
            params=ocp.args.StandardSave(params), data=iterator_checkpoint_args(it)
        ),
    )
    mngr.wait_until_finished()
    expected = take(it, 4)
    it.close()

    fresh = build_paired_iterator(cfg, global_batch=4, seed=11)
    restored = mngr.restore(
        mngr.latest_step(),
        args=ocp.args.Composite(
            params=ocp.args.StandardRestore(params),
            data=iterator_checkpoint_args(fresh, restore=True),
        ),
    )
    np.testing.assert_array_equal(restored["params"]["w"], params["w"])
    assert restored["data"] is fresh
    assert_same_batches(take(fresh, 4), expected)
    fresh.close()
    mngr.close()


def test_worker_process_matches_in_process_and_resumes(id_dirs):
    """One grain worker process (needs absl flags parsed, done inside jaxstyle)."""
    cfg0 = cfg_for(*id_dirs)
    cfg1 = cfg_for(*id_dirs, workers=1)
    expected = take(build_paired_iterator(cfg0, global_batch=4, seed=5), 4)
    it = build_paired_iterator(cfg1, global_batch=4, seed=5)
    assert_same_batches(take(it, 2), expected[:2])
    state = it.get_state()
    it.close()
    resumed = build_paired_iterator(cfg1, global_batch=4, seed=5)  # a fresh one, as after a restart
    resumed.set_state(state)
    assert_same_batches(take(resumed, 2), expected[2:])
    resumed.close()


def test_bad_files_are_skipped_counted_and_named(style_paths, tmp_path):
    folder = tmp_path / "style"
    folder.mkdir()
    for p in style_paths:
        shutil.copy(p, folder)
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not a jpeg")
    data = style_paths[0].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("not listed: no image extension")
    bad = {"zero.jpg", "text.jpg", "truncated.jpg"}
    cfg = cfg_for(style_paths[0].parent, folder, load_size=64, crop_size=48, max_bad_fraction=0.5)
    it = build_paired_iterator(cfg, global_batch=5, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = take(it, 4)  # 20 style records: two epochs of the 10 files
    named = {
        Path(str(w.message).split(":")[0].split()[-1]).name
        for w in caught
        if w.category is BadImageWarning
    }
    assert named == bad
    counts = it.data_counts["style"]
    assert counts.read == 20 and counts.bad == 6 and counts.small == 0  # 3 bad x 2 epochs
    assert it.data_counts["content"].bad == 0
    for b in batches:  # every slot still holds a real crop
        assert b["style"].shape == (5, 48, 48, 3) and (b["style"].std(axis=(1, 2, 3)) > 0.02).all()
    it.close()


def test_too_many_bad_files_stop_with_a_clear_error(id_dirs):
    content_dir, style_dir = id_dirs
    (style_dir / "broken_a.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (style_dir / "broken_b.png").write_bytes(b"")
    cfg = cfg_for(content_dir, style_dir, max_bad_fraction=0.1)  # 2 of 7 bad
    it = build_paired_iterator(cfg, global_batch=7, seed=0)
    with pytest.warns(BadImageWarning), pytest.raises(InputError) as e:
        take(it, 2)
    msg = str(e.value)
    assert (
        "\n" not in msg and "max_bad_fraction" in msg and "data.style" in msg and "broken_" in msg
    )
    it.close()


def test_all_bad_stream_raises_instead_of_spinning(tmp_path, id_dirs):
    content_dir, _ = id_dirs
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(3):
        (junk / f"j{i}.jpg").write_text("junk")
    it = build_paired_iterator(cfg_for(content_dir, junk, max_bad_fraction=1.0), 2, seed=0)
    with pytest.raises(InputError, match="no usable image"):
        next(it)
    it.close()


@pytest.mark.parametrize("mode", ["upscale", "skip"])
def test_small_images_upscaled_or_skipped(tmp_path, mode):
    content = make_id_images(tmp_path / "content", 4)
    style = make_id_images(tmp_path / "style", 3)  # 40x30: large enough
    make_id_images(tmp_path / "style", 2, size=(12, 9), start=3)  # ids 3, 4: below the crop
    it = build_paired_iterator(cfg_for(content, style, small_images=mode), global_batch=5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        batches = take(it, 4)
    assert all(b["style"].shape == (5, CROP, CROP, 3) for b in batches)
    seen = sum((ids_of(b["style"]) for b in batches), [])
    if mode == "upscale":
        assert set(seen) == {0, 1, 2, 3, 4}
        assert it.data_counts["style"].small == 0
    else:
        assert set(seen) == {0, 1, 2}
        assert it.data_counts["style"].small == 8 and it.data_counts["style"].bad == 0
    it.close()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"content_tfds": "coco/2017"}, "exactly one"),
        ({"style_dir": ""}, "exactly one"),
        ({"load_size": 8}, "smaller than crop_size"),
        ({"small_images": "drop"}, "small_images"),
        ({"content_dir": "/nonexistent/dir"}, "not a directory"),
    ],
)
def test_bad_config_is_a_one_line_input_error(id_dirs, change, match):
    with pytest.raises(InputError, match=match):
        build_paired_iterator(cfg_for(*id_dirs, **change), global_batch=2, seed=0)


def test_tfds_name_that_is_not_prepared_is_an_input_error(id_dirs, tmp_path):
    cfg = cfg_for(*id_dirs, style_dir="", style_tfds="wikiart", tfds_data_dir=str(tmp_path))
    with pytest.raises(InputError, match="not prepared"):
        build_paired_iterator(cfg, global_batch=2, seed=0)


def test_to_global_batch_on_a_data_mesh(id_dirs):
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    it = build_paired_iterator(cfg_for(*id_dirs), global_batch=2 * jax.device_count(), seed=0)
    local = next(it)
    garr = to_global_batch(local, sharding)
    assert set(garr) == {"content", "style"}
    assert garr["content"].shape == local["content"].shape and garr["content"].sharding == sharding
    np.testing.assert_array_equal(np.asarray(garr["style"]), local["style"])
    it.close()


@pytest.mark.parametrize("short_side", [256, 512])
def test_window_resize_matches_full_resize_then_crop(style_paths, short_side):
    """The pipeline resamples only the crop window; it must equal resize-then-crop."""
    from jaxstyle.data.images import decode_rgb, resized_crop, resized_shape

    image = decode_rgb(style_paths[0].read_bytes(), "x")
    new_h, new_w = resized_shape(*image.shape[:2], short_side)
    assert min(new_h, new_w) == short_side
    full = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    for top, left in [(0, 0), (new_h - 200, new_w - 200), ((new_h - 200) // 3, (new_w - 200) // 5)]:
        window = resized_crop(image, short_side, 200, top, left)
        diff = np.abs(window.astype(int) - full[top : top + 200, left : left + 200].astype(int))
        assert window.shape == (200, 200, 3) and diff.max() <= 1 and diff.mean() < 0.01
