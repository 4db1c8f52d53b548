"""Neural Best-Buddies (jaxstyle.ops.nbb) and DST's clean-up (jaxstyle.correspond).

The search and warp pieces are checked against plain numpy loops written from the official
code's semantics (reflect padding, search box clipped to the map, mean of overlapping
patches); the whole hierarchy against a translated copy of a photo, whose correspondences
are known. The default suite runs NBB at 64 px with 10 inversion steps (one ~8 s compile,
shared with tests/test_cli_correspond.py); 128 px with the official inversion is slow-marked.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.correspond import (
    Buddies,
    NBBConfig,
    aligned_style,
    apply_transform,
    clean_correspondences,
    find_correspondences,
    greedy_pick,
    nbb_buddies,
    segments_cross,
    umeyama,
    uncrossed,
)
from jaxstyle.errors import InputError
from jaxstyle.ops import nbb

RNG = np.random.default_rng(0)
SHIFT = (8, -4)  # (x, y) pixels: style(p) = content(p + SHIFT)
FAST = dict(image_size=64, invert_steps=10)  # the default suite's NBB config (one compile)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _reflect(x, d):
    return np.pad(x, ((d, d), (d, d), (0, 0)), mode="reflect")


def _score(ap, bp, p, q, k):
    """Sum over the k x k window of dot products, A at p, B at q (unpadded coords)."""
    return float(np.sum(ap[p[0] : p[0] + k, p[1] : p[1] + k] * bp[q[0] : q[0] + k, q[1] : q[1] + k]))


def translated_pair(images_dir, size: int):
    """Two size x size crops of a photo, the style one moved by SHIFT."""
    from jaxstyle.io import load_image, resize

    img = load_image(images_dir / "content" / "tubingen.jpg")
    h = size + 24
    img = resize(img, (h, round(img.shape[1] * h / img.shape[0])))
    y0, x0 = 12, 20
    content = img[y0 : y0 + size, x0 : x0 + size]
    style = img[y0 + SHIFT[1] : y0 + SHIFT[1] + size, x0 + SHIFT[0] : x0 + SHIFT[0] + size]
    return content, style


def shift_recovered(content_pts, style_pts, tol: float = 1.0) -> float:
    """Fraction of pairs with style = content - SHIFT within ``tol`` px per coordinate."""
    d = np.asarray(style_pts) - np.asarray(content_pts) + np.asarray(SHIFT, np.float32)
    return float(np.mean(np.all(np.abs(d) <= tol, axis=1)))


# ----------------------------------------------------------------------------- search


def test_search_global_finds_the_highest_patch_correlation():
    a, b, k = _rand(5, 6, 4), _rand(4, 7, 4), 3
    got = np.asarray(jax.jit(nbb.search_global, static_argnums=2)(a, b, k))
    ap, bp = _reflect(a, 1), _reflect(b, 1)
    for i in range(5):
        for j in range(6):
            scores = [[_score(ap, bp, (i, j), (y, x), k) for x in range(7)] for y in range(4)]
            assert tuple(got[i, j]) == np.unravel_index(np.argmax(scores), (4, 7))


@pytest.mark.parametrize("patch,radius", [(3, 1), (5, 2)])
def test_search_local_matches_brute_force_within_the_clipped_box(patch, radius):
    a, b = _rand(6, 7, 3), _rand(6, 7, 3)
    init = np.stack([RNG.integers(0, 6, (6, 7)), RNG.integers(0, 7, (6, 7))], -1).astype(np.int32)
    got = np.asarray(jax.jit(nbb.search_local, static_argnums=(3, 4))(a, b, init, patch, radius))
    d = patch // 2
    ap, bp = _reflect(a, d), _reflect(b, d)
    for i in range(6):
        for j in range(7):
            y0, x0 = init[i, j]
            box = [(y, x) for y in range(max(0, y0 - radius), min(6, y0 + radius + 1))
                   for x in range(max(0, x0 - radius), min(7, x0 + radius + 1))]
            scores = [_score(ap, bp, (i, j), q, patch) for q in box]
            assert tuple(got[i, j]) == box[int(np.argmax(scores))]


def test_identical_features_are_all_their_own_best_buddies():
    @jax.jit
    def buddies(f):
        f = nbb.normalize_per_pixel(f)
        a_to_b = nbb.search_global(f, f, 3)
        return a_to_b, nbb.mutual_nearest(a_to_b, a_to_b)

    a_to_b, mutual = buddies(_rand(6, 6, 8))
    assert np.array_equal(np.asarray(a_to_b), np.asarray(nbb.identity_map(6, 6)))
    assert bool(mutual.all())


def test_mutual_nearest_marks_only_cycle_consistent_pixels():
    a_to_b = np.zeros((2, 2, 2), np.int32)
    b_to_a = np.zeros((2, 2, 2), np.int32)
    a_to_b[0, 0], b_to_a[1, 1] = (1, 1), (0, 0)  # (0,0) <-> (1,1): buddies
    a_to_b[0, 1], b_to_a[0, 0] = (0, 0), (1, 1)  # (0,1) -> (0,0) -> (1,1): not
    a_to_b[1, 0], b_to_a[0, 1] = (0, 1), (0, 0)  # (1,0) -> (0,1) -> (0,0): not
    a_to_b[1, 1], b_to_a[1, 0] = (1, 0), (1, 1)  # (1,1) <-> (1,0): buddies
    got = np.asarray(nbb.mutual_nearest(jnp.asarray(a_to_b), jnp.asarray(b_to_a)))
    assert got.tolist() == [[True, False], [False, True]]


# ----------------------------------------------------------------------------- common appearance


def test_warp_by_patches_averages_the_mapped_patches():
    b, k = _rand(5, 6, 2), 3
    mapping = np.stack([RNG.integers(0, 5, (4, 5)), RNG.integers(0, 6, (4, 5))], -1).astype(np.int32)
    got = np.asarray(jax.jit(nbb.warp_by_patches, static_argnums=2)(b, mapping, k))
    bp = _reflect(b, 1)
    total, count = np.zeros((6, 7, 2)), np.zeros((6, 7, 1))
    for i in range(4):  # paste each mapped window, then crop the padding and divide
        for j in range(5):
            y, x = mapping[i, j]
            total[i : i + 3, j : j + 3] += bp[y : y + 3, x : x + 3]
            count[i : i + 3, j : j + 3] += 1
    np.testing.assert_allclose(got, (total / np.maximum(count, 1))[1:5, 1:6], rtol=1e-5, atol=1e-6)
    same = nbb.warp_by_patches(jnp.asarray(b), nbb.identity_map(5, 6), 5)
    np.testing.assert_allclose(np.asarray(same), b, rtol=1e-5, atol=1e-6)


def test_invert_features_finds_a_preimage_and_stops_on_the_plateau():
    target = jnp.asarray(np.abs(_rand(4, 4, 3)))

    def forward(x):  # a conv-like affine map, a ReLU and a 2x2 pool, as in a VGG block
        return jax.nn.relu(2.0 * x + 0.1).reshape(2, 2, 2, 2, 3).max(axis=(1, 3))

    x, steps = nbb.invert_features(forward, target[:2, :2], (4, 4, 3), max_steps=2000)
    assert float(jnp.mean((forward(x) - target[:2, :2]) ** 2)) < 1e-2
    assert 5 <= int(steps) < 2000  # stopped on the plateau, not the cap
    capped, steps = nbb.invert_features(forward, target[:2, :2], (4, 4, 3), max_steps=3)
    assert int(steps) == 3 and float(jnp.mean((forward(capped) - target[:2, :2]) ** 2)) > 1e-2


# ----------------------------------------------------------------------------- buddies


def test_children_inherit_only_from_parents_holding_both_points():
    parent = nbb.LevelState(
        alive=jnp.zeros((4, 4), bool).at[1, 1].set(True),
        activation=jnp.zeros((4, 4)).at[1, 1].set(0.7),
        partner=jnp.zeros((4, 4, 2), jnp.int32).at[1, 1].set(jnp.array([2, 2])),
    )
    a_to_b = jnp.broadcast_to(jnp.array([4, 4], jnp.int32), (8, 8, 2))  # all map to 2*(2,2)
    inherit = jax.jit(nbb.inherit_activation, static_argnums=2)
    got = np.asarray(inherit(parent, a_to_b, 2))
    rows, cols = np.nonzero(np.isfinite(got))
    assert rows.min() == 0 and rows.max() == 4 and cols.min() == 0 and cols.max() == 4  # 2*(1,1) ± 2
    assert np.allclose(got[np.isfinite(got)], 0.7)
    far = jnp.broadcast_to(jnp.array([7, 7], jnp.int32), (8, 8, 2))  # B point outside 2*(2,2) ± 2
    assert not np.isfinite(np.asarray(inherit(parent, far, 2))).any()


def test_buddies_need_strong_pixels_and_accumulate_activation():
    f = np.abs(_rand(4, 4, 3)) + 0.5
    f[0, 0] = 0.0  # a dead pixel: below tau, never a buddy
    ident = nbb.identity_map(4, 4)
    level = jax.jit(nbb.level_buddies, static_argnums=(4, 6))
    top = level(f, f, ident, ident, 0.05, None, 2)
    assert not bool(top.alive[0, 0]) and bool(top.alive[1:, 1:].all())
    own = np.asarray(nbb.response(jnp.asarray(f)))
    np.testing.assert_allclose(np.asarray(top.activation)[1:, 1:], own[1:, 1:], rtol=1e-6)
    fine = np.abs(_rand(8, 8, 3)) + 0.5
    child = level(fine, fine, nbb.identity_map(8, 8), nbb.identity_map(8, 8), 0.05, top, 2)
    own = np.asarray(nbb.response(jnp.asarray(fine)))
    # pixel (4, 4): parents (1..3, 1..3) within ±2 of 2P are all alive -> max parent activation
    best = max(float(top.activation[y, x]) for y in (1, 2, 3) for x in (1, 2, 3))
    assert float(child.activation[4, 4]) == pytest.approx(own[4, 4] + best, rel=1e-6)


# ----------------------------------------------------------------------------- clean-up


def test_greedy_pick_takes_the_strongest_and_suppresses_its_box():
    pts = np.array([[0, 0], [10, 10], [10.5, 0], [30, 30], [19.5, 30], [20, 20]], np.float64)
    act = np.array([5, 4, 3, 2, 1.5, 1.0])
    pick = greedy_pick(pts, act, max_points=10, box=10)
    assert pick.tolist() == [0, 2, 3, 4]  # (10,10) in (0,0)'s box, (20,20) on (30,30)'s edge
    for i in pick:
        for j in pick:
            assert i == j or np.abs(pts[i] - pts[j]).max() > 10
    assert greedy_pick(pts, act, max_points=2, box=10).tolist() == [0, 2]


def test_umeyama_recovers_a_similarity():
    src = RNG.uniform(0, 100, (12, 2))
    angle, scale, shift = 0.4, 1.7, np.array([5.0, -3.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    t = umeyama(src, dst)
    np.testing.assert_allclose(t[:2, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(apply_transform(t, src), dst, atol=1e-9)
    back = aligned_style(src, dst, (1000, 1000))  # style mapped back onto the content frame
    np.testing.assert_allclose(back, np.clip(src, 1, 999), atol=1e-9)


def test_crossing_pairs_are_removed_in_order():
    assert segments_cross(np.array([0.0, 0]), np.array([2.0, 2]), np.array([0.0, 2]), np.array([2.0, 0]))
    assert not segments_cross(np.array([0.0, 0]), np.array([1.0, 0]), np.array([0.0, 1]), np.array([1.0, 1]))
    start = np.array([[0, 0], [0, 10], [20, 0], [5, 5], [25, -5]], np.float64)
    end = np.array([[10, 10], [10, 0], [30, 0], [6, 6], [25, 5]], np.float64)
    kept = uncrossed(start, end)
    # 1 crosses 0, 4 crosses 2; 3 is collinear with 0: parallel lines never cross (as DST)
    assert kept.tolist() == [0, 2, 3]
    for i in kept:
        for j in kept:
            assert i == j or not segments_cross(start[i], end[i], start[j], end[j])


def test_clean_up_keeps_strong_consistent_pairs():
    content = RNG.uniform(20, 230, (200, 2)).astype(np.float32)
    style = (content * 0.5 + 3).astype(np.float32)  # a 512 px content vs a 256 px style
    act = RNG.uniform(0.5, 3.0, 200).astype(np.float32)
    points, kept_act = clean_correspondences(
        Buddies(content * 2, style, act), (512, 512), (256, 256), NBBConfig(max_points=30)
    )
    assert 0 < len(points.content) <= 30 and (kept_act >= 1).all()
    assert np.all(np.diff(kept_act) <= 0)  # greedy order: strongest first
    np.testing.assert_allclose(points.style, (points.content / 2) * 0.5 + 3, atol=1e-3)


def test_config_refuses_frames_nbb_cannot_run():
    with pytest.raises(InputError, match="multiple of 16"):
        NBBConfig(image_size=100)
    with pytest.raises(InputError, match="max_points"):
        NBBConfig(max_points=0)


def test_pairs_within_7px_of_the_frame_border_are_dropped(monkeypatch):
    """The official rule (x < 7 or x > size - 7 dropped, either image's point, either axis),
    on a hierarchy result given directly: every relu2_1 pixel alive, its partner one column
    to the right, so some pairs lose only their style point to the border."""
    from jaxstyle.correspond import nbb_buddies

    size, grid = 64, 32  # relu2_1 of a 64 px frame; pixel (r, c) covers frame px 2r..2r+1
    rows, cols = np.mgrid[0:grid, 0:grid]
    partner = np.stack([rows, np.minimum(cols + 1, grid - 1)], -1).astype(np.int32)
    state = nbb.LevelState(jnp.ones((grid, grid), bool), jnp.asarray((rows * grid + cols) / grid**2, jnp.float32),
                       jnp.asarray(partner))
    monkeypatch.setattr(nbb, "best_buddies", lambda *args, **kwargs: (state, None))
    image = np.zeros((size, size, 3), np.float32)  # the frame's own size: points are frame pixels

    def kept(border: int) -> set:
        found = nbb_buddies(image, image, encoder=object(), config=NBBConfig(image_size=size, border=border))
        return {tuple(p) for p in np.round(found.content, 3)}

    centre = lambda i: 2 * i + 0.5  # noqa: E731 - frame x of level column i (its two pixels' centre)
    inside = lambda *xs: all(7 <= x <= size - 7 for x in xs)  # noqa: E731
    want = {(centre(c), centre(r)) for r in range(grid) for c in range(grid)
            if inside(centre(c), centre(r), centre(min(c + 1, grid - 1)))}
    assert NBBConfig().border == 7 and kept(7) == want and len(want) == 24 * 25
    assert len(kept(0)) == grid * grid  # without the rule nothing is dropped: the check can fail


def test_relu5_1_is_searched_near_the_same_place_by_default(monkeypatch):
    """The official code searches ±2 relu5_1 cells around the identity, not the whole map (the
    paper's text). Searched globally, chicago x starry_night paired the middle of a tower with the
    sky half the image away, and DST bent the tower toward it (docs/methods/dst.md)."""
    seen = []

    def record(encoder, image_a, image_b, **kwargs):
        seen.append(kwargs["top_radius"])
        raise _Stop

    monkeypatch.setattr(nbb, "best_buddies", record)
    image = np.zeros((32, 32, 3), np.float32)
    for config in (NBBConfig(image_size=32), NBBConfig(image_size=32, top_radius=None)):
        with pytest.raises(_Stop):
            find_correspondences(image, image, encoder=object(), config=config)
    assert seen == [2, None]
    with pytest.raises(InputError, match="top_radius"):
        NBBConfig(top_radius=-1)


class _Stop(Exception):
    pass


def test_images_of_wrong_shape_are_one_line_errors():
    with pytest.raises(InputError, match="content must be an"):
        find_correspondences(np.zeros((8, 8)), np.zeros((8, 8, 3)), encoder=object())


# ----------------------------------------------------------------------------- the hierarchy


@pytest.mark.slow  # ~9 s of CPU (one compile); the CLI test checks the same in the default suite
def test_nbb_recovers_a_translation(images_dir, vgg16):
    content, style = translated_pair(images_dir, 64)
    buddies = nbb_buddies(content, style, encoder=vgg16, config=NBBConfig(**FAST))
    assert len(buddies.content) >= 50
    assert shift_recovered(buddies.content, buddies.style) >= 0.9
    points = find_correspondences(content, style, encoder=vgg16, config=NBBConfig(**FAST))  # jit cache hit
    assert len(points.content) >= 3 and shift_recovered(points.content, points.style) >= 0.9


@pytest.mark.slow  # ~4-5 min of the loaded 2-core box
def test_nbb_recovers_a_translation_at_128px_down_to_relu1_1_with_the_official_inversion(images_dir, vgg16):
    content, style = translated_pair(images_dir, 128)
    config = NBBConfig(image_size=128, fast=False)
    buddies = nbb_buddies(content, style, encoder=vgg16, config=config)
    assert shift_recovered(buddies.content, buddies.style) >= 0.9
    points, _ = clean_correspondences(buddies, content.shape[:2], style.shape[:2], config)
    assert len(points.content) >= 5 and shift_recovered(points.content, points.style) >= 0.9


def test_nbb_on_vgg19_exports_for_gpu_and_tpu():
    """The paper's VGG19 (generated weights: 4 convs in blocks 3-5), down to relu1_1: the
    program traces, and has no host callbacks or CPU-only custom calls for CUDA/TPU."""
    from jaxstyle.models.encoder import Encoder
    from jaxstyle.models.vgg import VGGWeights, param_shapes

    params = {k: {n: np.zeros(s, np.float32) for n, s in v.items()} for k, v in param_shapes("vgg19").items()}
    leaves, tree = jax.tree.flatten(Encoder.from_weights(VGGWeights("vgg19", params)))

    def program(*args):
        return nbb.best_buddies(jax.tree.unflatten(tree, args[:-2]), args[-2], args[-1], final_level=1)

    img = jax.ShapeDtypeStruct((32, 32, 3), jnp.float32)
    abstract = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves] + [img, img]
    exported = jax.export.export(jax.jit(program), platforms=("cuda", "tpu"))(*abstract)
    assert [a.shape for a in exported.out_avals] == [(32, 32), (32, 32), (32, 32, 2), (4, 2)]
    text = exported.mlir_module()
    assert "callback" not in text and "lapack" not in text


def test_vgg_segment_continues_the_forward_pass(vgg16):
    """The block NBB inverts (relu2_1 -> relu3_1) run alone equals the full forward's relu3_1."""
    from jaxstyle.models.vgg import vgg_segment

    @jax.jit
    def both(enc, img):
        feats = enc(img, ("relu2_1", "relu3_1"))
        return vgg_segment(enc.params, feats["relu2_1"], "relu2_1", "relu3_1", enc.config), feats["relu3_1"]

    got, want = both(vgg16, jnp.asarray(RNG.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="does not come after"):
        vgg_segment(vgg16.params, jnp.zeros((1, 4, 4, 256)), "relu3_1", "relu2_1", vgg16.config)
