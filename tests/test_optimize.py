"""Gatys/Lapstyle optimization: it optimizes, batching and sharding change nothing, resume is exact."""

import numpy as np
import pytest
from conftest import FAST_COMPILE, run_python

from jaxstyle.io import load_image, resize_long_side
from jaxstyle.optimize import StylizeConfig, make_pairs, stylize

SIZE = 48


@pytest.fixture(scope="module")
def images(content_paths, style_paths):
    contents = [resize_long_side(load_image(p), 96) for p in content_paths[:2]]
    styles = [resize_long_side(load_image(p), 96) for p in style_paths[:2]]
    return contents, styles


def _record():
    losses = []
    return losses, lambda step, parts: losses.append((step, parts))


@pytest.mark.parametrize("method", ["gatys", "lapstyle"])
def test_loss_falls_and_result_differs_from_inputs(images, vgg16, method):
    contents, styles = images
    losses, progress = _record()
    # L-BFGS for gatys (shares its compiled program with the resume test), Adam for lapstyle.
    opt = {"optimizer": "lbfgs"} if method == "gatys" else {"optimizer": "adam", "lr": 0.05}
    cfg = StylizeConfig(objective_name=method, size=SIZE, steps=30, chunk=5, **opt)
    (out,) = stylize(contents[:1], styles[:1], cfg, encoder=vgg16, progress=progress)
    first, last = losses[0][1]["total"], losses[-1][1]["total"]
    assert last < 0.2 * first, losses
    if method == "lapstyle":
        assert "lap" in losses[-1][1]
    content = resize_long_side(contents[0], SIZE)
    assert out.shape == content.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(out - content).mean() > 0.02  # not the content
    assert np.abs(out - resize_long_side(styles[0], SIZE)[: out.shape[0], : out.shape[1]]).mean() > 0.02


def test_lpips_content_loss_runs_and_falls(images, vgg16):
    contents, styles = images
    losses, progress = _record()
    cfg = StylizeConfig(size=SIZE, steps=10, chunk=5, content_loss="lpips", optimizer="adam", lr=0.05)
    stylize(contents[:1], styles[:1], cfg, encoder=vgg16, progress=progress)
    assert losses[-1][1]["total"] < 0.5 * losses[0][1]["total"], losses


def test_batched_equals_per_pair(images, vgg16):
    contents, styles = images
    cfg = StylizeConfig(size=SIZE, steps=8, chunk=4, optimizer="adam")  # sgd at lr 0.05 ran to NaN (now refused)
    # One content x two styles: one bucket, one program for both pairs (two compiles in all;
    # pairs of other shapes in other buckets: test_bucketing_keeps_aspect_ratio).
    batched = stylize(contents[:1], styles, cfg, encoder=vgg16)
    assert len(batched) == 2
    pairs = make_pairs(contents[:1], styles)
    for k, pair in enumerate(pairs):
        (single,) = stylize([pair.content], [pair.style], cfg, encoder=vgg16)
        np.testing.assert_allclose(batched[k], single, atol=1e-4, equal_nan=False)


def test_bucketing_keeps_aspect_ratio(vgg16):
    wide = np.random.default_rng(0).random((40, 80, 3)).astype(np.float32)
    tall = np.random.default_rng(1).random((80, 40, 3)).astype(np.float32)
    style = np.random.default_rng(2).random((50, 50, 3)).astype(np.float32)
    planned, steps = [], []
    out = stylize([wide, tall], [style], StylizeConfig(size=SIZE, steps=2, optimizer="adam"), encoder=vgg16,
                  on_plan=planned.append, progress=lambda step, _: steps.append(step))
    assert out[0].shape == (24, 48, 3) and out[1].shape == (48, 24, 3)
    # Two shapes, two programs: progress counts on across them up to the planned total.
    assert planned == [4] and steps == [0, 2, 2, 4]


def test_styles_of_other_shapes_share_one_program(vgg16):
    """One content x two styles of different sizes: Gram targets agree in shape, so one program."""
    rng = np.random.default_rng(3)
    content = rng.random((40, 40, 3)).astype(np.float32)
    styles = [rng.random((40, 60, 3)).astype(np.float32), rng.random((60, 30, 3)).astype(np.float32)]
    cfg = StylizeConfig(size=32, steps=2, optimizer="adam")
    planned = []
    batched = stylize([content], styles, cfg, encoder=vgg16, on_plan=planned.append)
    assert planned == [2]  # one bucket: 2 steps in all, not 2 x 2
    for k, style in enumerate(styles):
        (single,) = stylize([content], [style], cfg, encoder=vgg16)
        np.testing.assert_allclose(batched[k], single, atol=1e-4, equal_nan=False)


def test_resume_after_interruption_equals_uninterrupted(images, vgg16, tmp_path):
    contents, styles = images
    cfg = StylizeConfig(size=SIZE, steps=20, chunk=5)  # same program as the gatys test above
    (reference,) = stylize(contents[:1], styles[:1], cfg, encoder=vgg16)

    class Interrupt(Exception):
        pass

    def interrupt_at_12(step, _):
        if step >= 12:
            raise Interrupt

    with pytest.raises(Interrupt):
        stylize(contents[:1], styles[:1], cfg, encoder=vgg16, progress=interrupt_at_12,
                checkpoint_dir=tmp_path, checkpoint_every=5)
    seen = []
    (resumed,) = stylize(contents[:1], styles[:1], cfg, encoder=vgg16,
                         progress=lambda s, _: seen.append(s), checkpoint_dir=tmp_path, checkpoint_every=5)
    assert seen[0] == 15  # resumed from the step-10 checkpoint (no step-0 report), not from scratch
    np.testing.assert_array_equal(resumed, reference)
    assert np.isfinite(reference).all()  # (array_equal takes NaN == NaN)


SHARDED = """
import numpy as np, jax
assert jax.device_count() == 4, jax.devices()
from jaxstyle.io import load_image, resize_long_side
from jaxstyle.optimize import StylizeConfig, stylize
c = [resize_long_side(load_image(p), 96) for p in {contents!r}]
s = [resize_long_side(load_image(p), 96) for p in {styles!r}]
out = stylize(c, s, StylizeConfig(size={size}, steps=6, chunk=3, optimizer="adam"))  # sgd at lr 0.05 ran to NaN (now refused)
np.savez({out!r}, *out)
"""


@pytest.mark.slow  # the default suite keeps the engine's (test_engine) and feed-forward (test_methods) 4-device checks
def test_sharded_over_4_devices_equals_single_device(content_paths, style_paths, vgg16, tmp_path):
    contents = [str(p) for p in content_paths[:3]]
    styles = [str(p) for p in style_paths[:1]]
    out = tmp_path / "sharded.npz"
    proc = run_python(
        SHARDED.format(contents=contents, styles=styles, size=SIZE, out=str(out)),
        env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=4 {FAST_COMPILE}"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = np.load(out)
    sharded = [sharded[f"arr_{i}"] for i in range(len(sharded.files))]
    c = [resize_long_side(load_image(p), 96) for p in contents]
    s = [resize_long_side(load_image(p), 96) for p in styles]
    single = stylize(c, s, StylizeConfig(size=SIZE, steps=6, chunk=3, optimizer="adam"), encoder=vgg16)
    assert len(sharded) == len(single) == 3
    for a, b in zip(sharded, single, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-4)


@pytest.mark.slow
def test_lbfgs_with_line_search_also_converges(images, vgg16):
    contents, styles = images
    losses, progress = _record()
    cfg = StylizeConfig(size=SIZE, steps=20, chunk=5, line_search=True)
    stylize(contents[:1], styles[:1], cfg, encoder=vgg16, progress=progress)
    assert losses[-1][1]["total"] < 0.2 * losses[0][1]["total"], losses
