"""The thin-plate-spline warp of DST (jaxstyle.ops.tps): identity, exact keypoints, masking,
differentiability, vmap, and the similarity alignment of the targets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.ops import tps

HW = (24, 32)
SIDE = 20  # border points per side (80 in real runs): a smaller system keeps the test fast


@jax.jit
def flow(src, dst, mask=None):
    return tps.tps_flow(src, dst, mask, HW, per_side=SIDE)


warp = jax.jit(tps.warp_image)


def _points(seed: int = 0, k: int = 5):
    """K distinct integer source points moved to distinct integer destinations inside HW."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(4 * 6, k, replace=False)  # one point per 4x4 cell of a 16x24 inner area
    src = np.stack([4 + 4 * (cells % 6), 4 + 4 * (cells // 6)], 1).astype(np.float32)
    dst = src + rng.integers(-1, 2, (k, 2)).astype(np.float32) * np.array([[1.0, 1.0]], np.float32)
    return jnp.asarray(src), jnp.asarray(dst)


def _image(seed: int = 1) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(*HW, 3)).astype(np.float32))


def test_zero_displacement_is_the_identity_warp():
    src, _ = _points()
    f = flow(src, src)
    assert float(jnp.abs(f).max()) == 0.0
    img = _image()
    np.testing.assert_array_equal(np.asarray(warp(img, f)), np.asarray(img))


def test_spline_maps_each_source_keypoint_exactly_onto_its_target():
    src, dst = _points()
    f = flow(src, dst)
    xs, ys = np.asarray(dst, int).T
    # The backward flow at each destination is dst - src (to float32 solve precision) ...
    np.testing.assert_allclose(np.asarray(f)[ys, xs], np.asarray(dst - src), atol=2e-3)
    # ... so the warped image at dst_i is the input at src_i.
    img = _image()
    warped = warp(img, f)
    np.testing.assert_allclose(np.asarray(warped)[ys, xs], np.asarray(img)[np.asarray(src, int)[:, 1],
                                                                             np.asarray(src, int)[:, 0]], atol=2e-3)


@pytest.mark.slow
def test_border_points_have_zero_flow():
    src, dst = _points()
    s, d = tps.to_frame(src, HW), tps.to_frame(dst, HW)
    fixed = jnp.asarray(tps.border_points(HW, SIDE))
    assert len(fixed) == 4 + 4 * SIDE and len(np.unique(np.asarray(fixed), axis=0)) == len(fixed)
    centers = jnp.concatenate([d, fixed])
    w, v = tps.fit_tps(centers, jnp.concatenate([d - s, jnp.zeros_like(fixed)]))
    assert float(jnp.abs(tps.eval_tps(fixed, centers, w, v)).max()) < 1e-4


def test_masked_padding_points_change_nothing():
    src, dst = _points()
    pad = jnp.asarray([[0.0, 0.0], [3.0, 3.0], [0.0, 0.0]])  # duplicates too: singular if not removed
    mask = jnp.asarray([True] * len(src) + [False] * len(pad))
    padded = flow(jnp.concatenate([src, pad]), jnp.concatenate([dst, pad + 7.0]), mask)
    np.testing.assert_allclose(np.asarray(padded), np.asarray(flow(src, dst)), atol=1e-3)
    w, _ = jax.jit(tps.fit_tps)(jnp.concatenate([src, pad]) / 56, jnp.ones((len(src) + len(pad), 2)), mask)
    assert float(jnp.abs(w[len(src):]).max()) == 0.0


@pytest.mark.slow
def test_warp_is_differentiable_in_theta_and_image_and_vmaps_over_pairs():
    src, dst = _points()
    img = _image()

    def loss(theta, image, src):
        return jnp.mean(tps.warp_image(image, tps.tps_flow(src, src + theta, None, HW, per_side=SIDE)) ** 2)

    g_theta, g_img = jax.jit(jax.grad(loss, argnums=(0, 1)))(dst - src, img, src)
    assert np.isfinite(np.asarray(g_theta)).all() and float(jnp.abs(g_theta).sum()) > 0
    assert float(jnp.abs(g_img).sum()) > 0
    src2, dst2 = _points(seed=3)
    batched = jax.jit(jax.vmap(flow))(jnp.stack([src, src2]), jnp.stack([dst, dst2]))
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(flow(src2, dst2)), atol=1e-4)


@pytest.mark.slow
def test_one_frame_gives_the_same_warp_at_a_coarser_scale():
    src, dst = _points()
    fine = flow(src, dst)
    half = (HW[0] // 2, HW[1] // 2)
    coarse = tps.tps_flow(src, dst, None, half, frame_hw=HW, per_side=SIDE)
    # Coarse pixel p is fine pixel 2p + 0.5 (pixel centres); its flow is the fine one halved.
    ys, xs = np.meshgrid(np.arange(half[0]), np.arange(half[1]), indexing="ij")
    at = jnp.asarray(np.stack([xs, ys], -1) * 2 + 0.5, jnp.float32)
    np.testing.assert_allclose(np.asarray(coarse), np.asarray(tps.bilinear_sample(fine, at)) / 2, atol=0.05)


@pytest.mark.parametrize("reflect", [False, True])
def test_similarity_align_removes_the_global_pose(reflect):
    src, _ = _points(k=6)
    src = np.asarray(src)
    angle = 0.4
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    style = 1.7 * src @ rot.T + np.array([30.0, -12.0])
    np.testing.assert_allclose(tps.similarity_align(src, style), src, atol=1e-3)
    bent = style.copy()
    bent[0] += 5.0  # a shape difference survives the alignment
    moved = tps.similarity_align(src, bent)
    assert np.abs(moved - src).max() > 0.5
    if reflect:  # a mirrored layout is not a similarity: it stays mirrored (no reflection introduced)
        mirrored = src * np.array([-1.0, 1.0])
        moved = tps.similarity_align(src, mirrored)
        fit = np.linalg.lstsq(np.c_[mirrored, np.ones(len(src))], moved, rcond=None)[0]  # moved = [dst 1] @ fit
        assert np.isfinite(moved).all() and np.linalg.det(fit[:2]) > 0  # a rotation, not a mirror
        assert np.abs(moved - src).max() > 1.0  # a reflection would have undone the mirror exactly
