"""STROTSS losses (jaxstyle.losses.strotss) against a NumPy transcription of the official
formulas, the Laplacian pyramid, hypercolumn sampling, and a tiny end-to-end run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import FAST_COMPILE

from jaxstyle.losses import strotss as L
from jaxstyle.optimize.strotss import lap_pyramid, lap_synthesize, level_shapes


def _sets(seed: int = 0, n: int = 12, m: int = 17, d: int = 6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(m, d)).astype(np.float32)


# The official formulas (futscdav/strotss loss.py), written out in NumPy float64.
def _cos(x, y):
    return 1 - (x @ y.T) / np.linalg.norm(x, axis=1)[:, None] / np.linalg.norm(y, axis=1)[None]


def _l2(x, y):
    sq = (x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T
    return np.sqrt(np.clip(sq, 1e-5, 1e5) / x.shape[1])


def _remd(x, y, cost):
    c = cost(x, y)
    return max(c.min(1).mean(), c.min(0).mean())


@jax.jit
def _all_losses(x, y, x2):
    """Every loss at once: one compiled program instead of many eagerly dispatched ops."""
    return {"remd": L.remd_loss(x, y), "remd_l2": L.remd_loss(x, y, cosine=False), "moments": L.moment_loss(x, y),
            "selfsim": L.self_similarity_loss(x, x2), "color": L.color_remd_loss(x[:, :3], y[:, :3]),
            "zero_selfsim": L.self_similarity_loss(x, x), "zero_remd": L.remd_loss(x, x),
            "zero_moments": L.moment_loss(x, x)}


def test_losses_match_the_official_formulas_and_vanish_on_identical_sets():
    x, y = (a.astype(np.float64) for a in _sets())
    x2 = x + 0.3 * np.random.default_rng(5).normal(size=x.shape)
    got = {k: float(v) for k, v in _all_losses(*(jnp.asarray(a, jnp.float32) for a in (x, y, x2))).items()}
    np.testing.assert_allclose(got["remd"], _remd(x, y, _cos), rtol=1e-5)
    np.testing.assert_allclose(got["remd_l2"], _remd(x, y, _l2), rtol=1e-5)
    mx, my = x.mean(0), y.mean(0)
    cx = (x - mx).T @ (x - mx) / (len(x) - 1)
    cy = (y - my).T @ (y - my) / (len(y) - 1)
    np.testing.assert_allclose(got["moments"], np.abs(mx - my).mean() + np.abs(cx - cy).mean(), rtol=1e-5)
    m1, m2 = _cos(x, x), _cos(x2, x2)
    selfsim = np.abs(m1 / m1.sum(0, keepdims=True) - m2 / m2.sum(0, keepdims=True)).mean() * len(x)
    np.testing.assert_allclose(got["selfsim"], selfsim, rtol=1e-4)
    yuv = np.asarray(L.YUV, np.float64)
    np.testing.assert_allclose(yuv @ yuv.T, np.eye(3), atol=1e-5)  # orthonormal
    np.testing.assert_allclose(got["color"], _remd(x[:, :3] @ yuv.T, y[:, :3] @ yuv.T, _l2), rtol=1e-5)
    assert got["zero_selfsim"] == 0.0 and abs(got["zero_remd"]) < 1e-6 and got["zero_moments"] == 0.0


def test_pyramid_synthesis_inverts_decomposition_and_coarse_parts_are_smaller_images():
    img = jnp.asarray(np.random.default_rng(0).uniform(size=(37, 50, 3)).astype(np.float32))
    pyr, full, coarse = jax.jit(lambda x: (p := lap_pyramid(x, 4), lap_synthesize(p), lap_synthesize(p[2:])))(img)
    assert [p.shape[:2] for p in pyr] == level_shapes((37, 50), 4)
    np.testing.assert_allclose(np.asarray(full), np.asarray(img), atol=1e-5)
    assert coarse.shape == (9, 12, 3)


def _ramp_sampling_error(points: np.ndarray) -> float:
    """Hypercolumns of an 8x8 image with a 4x4 map holding its own coordinates (channel 0: the
    column, channel 1: 10 x the row), against where pixel (x, y) lies on that map: pixel
    centres, ``(p + 0.5) / 2 - 0.5``. Bilinear sampling reproduces a linear ramp exactly, so any
    other location shows as an error of a quarter map pixel or more."""
    rows, cols = np.mgrid[0:4, 0:4].astype(np.float32)
    ramp = jnp.asarray(np.stack([cols, 10 * rows], -1))
    rgb = jnp.zeros((8, 8, 3), jnp.float32)
    got = np.asarray(jax.jit(lambda p: L.hypercolumns(rgb, {"a": ramp}, ("a",), p))(jnp.asarray(points)))[:, 3:]
    where = (points + 0.5) / 2 - 0.5  # (x, y) on the map
    return float(np.abs(got - where * np.array([1.0, 10.0])).max())


def test_hypercolumns_sample_each_map_at_the_same_image_location(monkeypatch):
    rng = np.random.default_rng(0)
    rgb = jnp.asarray(rng.uniform(size=(8, 8, 3)).astype(np.float32))
    pts = jnp.asarray([[1.0, 3.0], [6.0, 2.0]])
    cols = jax.jit(lambda p: L.hypercolumns(rgb, {}, (), p))(pts)
    np.testing.assert_array_equal(np.asarray(cols), np.asarray(rgb)[[3, 2], [1, 6]])  # RGB at the pixel itself
    # Every pixel of the image whose map location stays inside the map (0.5 <= x, y <= 6.5).
    inner = np.stack(np.meshgrid(np.arange(1, 7), np.arange(1, 7)), -1).reshape(-1, 2).astype(np.float32)
    assert _ramp_sampling_error(inner) < 1e-5
    # A wrong sampling location is caught: the map sampled at p / 2 (corner convention, a
    # quarter map pixel off), or one image pixel off.
    real = L.bilinear_sample
    monkeypatch.setattr(L, "bilinear_sample", lambda image, p: real(image, p if image.shape[0] == 8 else p + 0.25))
    assert _ramp_sampling_error(inner) >= 0.25 - 1e-6
    monkeypatch.setattr(L, "bilinear_sample", lambda image, p: real(image, p if image.shape[0] == 8 else p + 0.5))
    assert _ramp_sampling_error(inner) >= 0.5 - 1e-6
    where = jax.jit(L.sample_points, static_argnums=(1, 2))(jax.random.key(0), (5, 7), 100)
    assert where.shape == (35, 2) and len(np.unique(np.asarray(where), axis=0)) == 35


def _tiny_encoder():
    from jaxstyle.models.encoder import random_vgg_encoder

    return random_vgg_encoder(0, "vgg16", width=1 / 16)


def run_and_resume(checkpoint_dir: str) -> dict[str, np.ndarray]:
    """A tiny STROTSS run (9 steps at 32 px), and the same run stopped at step 6 (its step-6
    report comes before that checkpoint) and resumed from step 3: both images, the style losses
    the first run reported and the steps the resumed run reported."""
    from jaxstyle.optimize.engine import optimize_pairs
    from jaxstyle.optimize.strotss import StrotssConfig
    from jaxstyle.pairs import make_pairs

    rng = np.random.default_rng(0)
    content = rng.uniform(size=(24, 32, 3)).astype(np.float32)
    style = np.clip(rng.normal(0.6, 0.2, (32, 32, 3)), 0, 1).astype(np.float32)
    cfg = StrotssConfig(size=32, steps=9, scales=1, pyramid_levels=2, samples=64, style_samples=80, lr=0.05, chunk=3)
    objective, pairs, seen = cfg.objective(_tiny_encoder()), make_pairs([content], [style], "zip"), []
    (reference,) = optimize_pairs(objective, pairs, cfg.engine(), progress=lambda step, losses: seen.append(losses["style"]))

    class Stop(Exception):
        pass

    def stop_at_6(step, _):
        if step >= 6:
            raise Stop

    try:
        optimize_pairs(objective, pairs, cfg.engine(), progress=stop_at_6, checkpoint_dir=checkpoint_dir, checkpoint_every=3)
    except Stop:
        pass
    steps = []
    (resumed,) = optimize_pairs(objective, pairs, cfg.engine(), checkpoint_dir=checkpoint_dir, checkpoint_every=3,
                                progress=lambda step, _: steps.append(step))
    return {"content": content, "reference": reference.image, "resumed": resumed.image,
            "style_losses": np.asarray(seen, np.float32), "resumed_steps": np.asarray(steps)}


def test_strotss_runs_end_to_end_and_resumes_bit_exactly(tmp_path):
    """One subprocess with XLA's backend optimisation off (compiling the STROTSS step is nearly
    all of the cost; this halves it): the run lowers its style loss, and a run resumed from
    step 3 draws the same samples (a key folded with the step) and ends bit-identical. The
    slow tests below run the five-level pyramid and the two-scale schedule."""
    from conftest import assert_bitwise_equal, run_python

    out = tmp_path / "strotss.npz"
    code = ("import sys; sys.path.insert(0, 'tests'); import numpy as np; from test_strotss import run_and_resume; "
            f"np.savez({str(out)!r}, **run_and_resume({str(tmp_path / 'ckpt')!r}))")
    proc = run_python(code, env={"XLA_FLAGS": FAST_COMPILE})
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = np.load(out)
    assert r["style_losses"][-1] < r["style_losses"][0], r["style_losses"]
    assert np.isfinite(r["reference"]).all() and np.abs(r["reference"] - r["content"]).max() > 1e-3
    assert list(r["resumed_steps"]) == [6, 9]  # resumed from step 3, not from scratch
    assert_bitwise_equal(r["resumed"], r["reference"])


@pytest.mark.slow  # the default suite runs a two-level-pyramid version of this above, and resumes it
def test_strotss_tiny_run_end_to_end_lowers_its_loss():
    from jaxstyle.optimize.engine import optimize_pairs
    from jaxstyle.optimize.strotss import StrotssConfig
    from jaxstyle.pairs import make_pairs

    rng = np.random.default_rng(0)
    content = rng.uniform(size=(24, 32, 3)).astype(np.float32)
    style = np.clip(rng.normal(0.6, 0.2, (32, 32, 3)), 0, 1).astype(np.float32)
    cfg = StrotssConfig(size=32, steps=9, scales=1, samples=64, style_samples=80, lr=0.05, chunk=6)
    seen = []
    results = optimize_pairs(cfg.objective(_tiny_encoder()), make_pairs([content], [style], "zip"), cfg.engine(),
                             progress=lambda step, losses: seen.append(losses["style"]))
    assert results[0].image.shape == (24, 32, 3) and np.isfinite(results[0].image).all()
    assert seen[-1] < seen[0]


@pytest.mark.slow
def test_strotss_schedule_switches_scale_and_resamples_every_step():
    from jaxstyle.optimize.strotss import Strotss

    obj = Strotss(scales=2, steps_per_scale=3, pyramid_levels=2, samples=32, style_samples=40, encoder=_tiny_encoder())
    img = np.random.default_rng(0).uniform(size=(32, 32, 3)).astype(np.float32)
    inputs = {"content": jnp.asarray(img)[None], "style": jnp.asarray(img)[None]}
    targets = jax.tree.map(lambda a: a[0], obj.prepare(obj.frozen(), inputs))
    variables = obj.init({}, np.random.default_rng(0), img)
    loss = jax.jit(lambda v, s: obj.loss(v, targets, obj.frozen(), s)[1]["content"])
    # content vs itself: 0 at every scale; a perturbed image differs by scale and by step
    assert float(loss(variables, 0)) == pytest.approx(0.0, abs=1e-5)
    moved = jax.tree.map(lambda a: a + 0.1 * np.random.default_rng(1).normal(size=a.shape).astype(np.float32),
                         variables)
    values = [float(loss(moved, s)) for s in range(6)]
    assert len(set(values)) == 6


def _steps(optimizer, params, loss, n=3):
    """``n`` steps of ``optimizer`` on ``loss`` from ``params``, as one compiled program."""

    @jax.jit
    def run(params):
        state = optimizer.init(params)
        for _ in range(n):
            updates, state = optimizer.update(jax.grad(loss)(params), state, params)
            params = optax.apply_updates(params, updates)
        return params

    return run(params)


def test_default_rates_take_the_official_steps_on_the_official_minus_one_to_one_image():
    """The official code (DST job_example.sh) runs SGD lr 0.3 on a pyramid of the image in
    [-1, 1] and on θ (px); ours holds the image in [0, 1]. Three steps of STROTSS' and DST's
    default optimizers must land on the image (and θ) the official steps reach. At lr 0.3 on
    ours the image moved 4x as far per step (the lost-content runs of docs/methods/strotss.md)."""
    from jaxstyle.methods.dst.objective import DSTConfig
    from jaxstyle.optimize.strotss import StrotssConfig

    rng = np.random.default_rng(0)
    image = jnp.asarray(rng.uniform(size=(16, 12, 3)).astype(np.float32))
    goal = jnp.asarray(rng.uniform(size=(16, 12, 3)).astype(np.float32))
    theta0 = jnp.asarray(rng.normal(size=(4, 2)).astype(np.float32))

    def loss01(img, theta):  # any smooth function of the [0, 1] image and θ
        return (jnp.sum(jnp.sin(3 * img) * goal) + jnp.sum((img - goal) ** 2) + 0.1 * jnp.sum(theta**2)
                + 0.01 * jnp.sum(img) * jnp.sum(jnp.cos(theta)))

    official = _steps(optax.sgd(0.3, momentum=0.9), {"pyramid": lap_pyramid(2 * image - 1, 3), "theta": theta0},
                      lambda v: loss01((lap_synthesize(v["pyramid"]) + 1) / 2, v["theta"]))
    official_image = (lap_synthesize(official["pyramid"]) + 1) / 2

    ours = _steps(StrotssConfig().engine().make_optimizer(), {"pyramid": lap_pyramid(image, 3)},
                  lambda v: loss01(lap_synthesize(v["pyramid"]), theta0))
    dst = _steps(DSTConfig().engine().make_optimizer(), {"pyramid": lap_pyramid(image, 3), "theta": theta0},
                 lambda v: loss01(lap_synthesize(v["pyramid"]), v["theta"]))
    np.testing.assert_allclose(lap_synthesize(dst["pyramid"]), official_image, atol=1e-4)
    np.testing.assert_allclose(dst["theta"], official["theta"], atol=1e-4)
    # STROTSS alone: the official run without θ takes the same image steps
    alone = _steps(optax.sgd(0.3, momentum=0.9), {"pyramid": lap_pyramid(2 * image - 1, 3)},
                   lambda v: loss01((lap_synthesize(v["pyramid"]) + 1) / 2, theta0))
    np.testing.assert_allclose(lap_synthesize(ours["pyramid"]), (lap_synthesize(alone["pyramid"]) + 1) / 2, atol=1e-4)


def test_sizes_below_the_official_coarsest_scale_warn_and_below_32_px_are_refused():
    """At --size 96 over 3 scales the coarsest style image (15 px high for starry_night) has no
    relu5_1 position: its targets were NaN and the run stopped at step 1. At 128 px the run
    works but its 32 px coarsest scale is half the official one: one warning line."""
    from jaxstyle.errors import InputError
    from jaxstyle.optimize.strotss import size_note

    with pytest.raises(InputError, match="--scales 3 is too many for --size 96"):
        size_note("strotss", 96, 3)
    note = size_note("strotss", 128, 3)
    assert "coarsest scale is 32 px" in note and "--size 256 or --scales 2" in note and "\n" not in note
    assert size_note("dst", 256, 3) is None and size_note("strotss", 128, 2) is None
