"""Neural Best-Buddies (Aberman et al. 2018): sparse cross-domain correspondences, in pure JAX.

The hierarchy runs from ``relu5_1`` (level 5) down to ``relu2_1`` (level 2, the official
``--fast``) or ``relu1_1`` (level 1). At each level ``L``:

1. *Search*: for every pixel of A the pixel of B whose ``patch`` x ``patch`` window has the
   largest sum of cosines with A's window (per-pixel L2-normalised features, reflect padding);
   the same from B to A. At the top level over the whole map (:func:`search_global`), below it
   within ``±radius`` of an initial map, the coarser map upsampled x2 (:func:`search_local`).
2. *Best buddies*: pixels whose A->B and B->A maps are mutual (:func:`mutual_nearest`).
   Below the top level a buddy must also lie in the receptive field of a surviving buddy of
   the level above: its A pixel within ``±radius`` of ``2 P`` and its B pixel within
   ``±radius`` of ``2 Q`` for a coarser pair ``(P, Q)`` (:func:`inherit_activation`).
3. *Filtering*: both pixels must have a min-max normalised squared-norm response >= ``tau``.
4. *Activation*: the mean of both pixels' min-max stretched L2 responses, added to the
   parent's (accumulated over levels; DST thresholds the sum at 1).
5. *Common appearance* for level ``L-1``: ``F_Am = (F_A^{L-1} + R(warp(F_B^L)))/2`` and the
   same for B, where ``warp`` averages the mapped B patches over each pixel
   (:func:`warp_by_patches`) and ``R`` inverts the VGG block from ``L-1`` to ``L`` by Adam
   (:func:`invert_features`).

Representation. The official code keeps a Python list of pairs and loops over pixels. Here
the state of a level is three dense arrays on the level's grid of A: ``alive`` (H, W) bool,
``activation`` (H, W) float32 and ``partner`` (H, W, 2) int32 (B's (row, col) for each A
pixel). A's pixel determines its buddy (the A->B map is a function), so this holds the pair
set exactly, every shape is static, and the whole hierarchy is one jittable program (no host
round trip between levels). A child pixel reachable from several parents (overlapping
receptive fields) takes the largest parent activation; the official code keeps duplicates
and de-duplicates at the end by list order.

Coordinates inside this module are (row, col) integer grid indices of each level.

Departures from the official code (also in README, "Keypoint correspondences"):
- feature inversion stops on the official plateau criterion inside ``lax.while_loop`` but with
  a cap of ``max_steps`` iterations;
- per-pixel normalisation divides by ``max(norm, 1e-8)`` (the official divides by the norm,
  which is NaN for an all-zero pixel).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxstyle.models.encoder import Encoder
from jaxstyle.models.vgg import vgg_segment
from jaxstyle.ops.style_swap import extract_patches

NORM_EPS = 1e-8
# Official loss history seed: mean |diff| starts at 100, so inversion takes >= 5 steps.
_PLATEAU_SEED = (0.0, 100.0, 200.0, 300.0, 400.0, 500.0)


class LevelState(NamedTuple):
    """Best buddies of one level on A's (H, W) grid.

    alive: (H, W) bool, A pixels with a buddy; activation: (H, W) float32 accumulated
    activation (meaningful where alive); partner: (H, W, 2) int32 (row, col) of the A->B map.
    """

    alive: jax.Array
    activation: jax.Array
    partner: jax.Array


def level_tap(level: int) -> str:
    """VGG tap of NBB level ``level`` (1..5): ``relu{level}_1``."""
    return f"relu{level}_1"


# ----------------------------------------------------------------------------- per-pixel maps


def normalize_per_pixel(features: jax.Array) -> jax.Array:
    """(H, W, C) -> (H, W, C), each pixel's channel vector divided by its L2 norm."""
    norm = jnp.sqrt(jnp.sum(features**2, axis=-1, keepdims=True))
    return features / jnp.maximum(norm, NORM_EPS)


def _stretch(x: jax.Array) -> jax.Array:
    """Min-max stretch over the whole map to [0, 1]; all zeros for a constant map."""
    lo, hi = jnp.min(x), jnp.max(x)
    span = hi - lo
    return jnp.where(span > 0, (x - lo) / jnp.where(span > 0, span, 1.0), 0.0)


def response(features: jax.Array) -> jax.Array:
    """(H, W, C) -> (H, W): per-pixel L2 norm, min-max stretched to [0, 1] over the map."""
    return _stretch(jnp.sqrt(jnp.sum(features**2, axis=-1)))


def strong_pixels(features: jax.Array, tau: float) -> jax.Array:
    """(H, W, C) -> (H, W) bool: min-max normalised squared norm >= ``tau`` (the official M)."""
    return _stretch(jnp.sum(features**2, axis=-1)) >= tau


def identity_map(h: int, w: int) -> jax.Array:
    """(h, w, 2) int32 map of every pixel to its own (row, col)."""
    rows, cols = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
    return jnp.stack([rows, cols], axis=-1).astype(jnp.int32)


def _reflect(features: jax.Array, pad: int) -> jax.Array:
    return jnp.pad(features, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")


def _gather(flat: jax.Array, width: int, rc: jax.Array) -> jax.Array:
    """Rows of ``flat`` (N, C), a (., width, C) map flattened, at (row, col) ``rc`` (..., 2)."""
    return jnp.take(flat, rc[..., 0] * width + rc[..., 1], axis=0)


# ----------------------------------------------------------------------------- search


def search_global(a: jax.Array, b: jax.Array, patch: int) -> jax.Array:
    """A->B nearest patches over all of B: (H, W, C), (h, w, C) -> (H, W, 2) int32 (row, col).

    Score = sum over the ``patch`` x ``patch`` window of per-pixel dot products (sums of
    cosines when the inputs are normalised), reflect-padded so every pixel has a window. One
    (H W x h w) matmul: the top level is small (16 x 16 at 256 px).
    """
    d = patch // 2
    wa = extract_patches(_reflect(a, d), patch).reshape(a.shape[0] * a.shape[1], -1)
    wb = extract_patches(_reflect(b, d), patch).reshape(b.shape[0] * b.shape[1], -1)
    best = jnp.argmax(wa @ wb.T, axis=1).astype(jnp.int32)  # first index wins ties
    return jnp.stack([best // b.shape[1], best % b.shape[1]], axis=-1).reshape(*a.shape[:2], 2)


def _taps(patch: int) -> jax.Array:
    """(patch**2, 2) int32 window taps (dy, dx) in [0, patch), row-major."""
    t = jnp.arange(patch, dtype=jnp.int32)
    return jnp.stack(jnp.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)


def search_local(a: jax.Array, b: jax.Array, init: jax.Array, patch: int, radius: int) -> jax.Array:
    """A->B nearest patches within ``±radius`` (clipped to B) of ``init``: -> (H, W, 2) int32.

    ``a`` (H, W, C), ``b`` (h, w, C), ``init`` (H, W, 2) (row, col) in B. Same score as
    :func:`search_global`. The ``(2 radius + 1)**2`` candidate offsets are mapped over
    (``lax.map``) and each offset's score is a scan over the ``patch**2`` window taps of one
    row gather of B and a product with A's shifted map: memory stays O(H W C) instead of
    materialising patch matrices (25 taps x 64 channels x 65k pixels is 420 MB at relu1_1 of
    256 px), and the program stays small (unrolled taps made XLA's compile several times
    longer). Ties go to the first offset in row-major order.
    """
    d = patch // 2
    (hgt, wid, c), (h, w, _) = a.shape, b.shape
    ap = _reflect(a, d)
    bflat = _reflect(b, d).reshape(-1, c)
    r = jnp.arange(-radius, radius + 1, dtype=jnp.int32)
    offsets = jnp.stack(jnp.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)
    limit = jnp.array([h - 1, w - 1], jnp.int32)

    def score(offset: jax.Array) -> jax.Array:
        q = init + offset
        valid = jnp.all((q >= 0) & (q <= limit), axis=-1)
        q = jnp.clip(q, 0, limit)

        def tap(total, t):
            # A at p + t - d and B at q + t - d, both in padded coordinates
            a_t = jax.lax.dynamic_slice(ap, (t[0], t[1], 0), (hgt, wid, c))
            return total + jnp.sum(a_t * _gather(bflat, w + 2 * d, q + t), axis=-1), None

        total, _ = jax.lax.scan(tap, jnp.zeros((hgt, wid), jnp.float32), _taps(patch))
        return jnp.where(valid, total, -jnp.inf)

    scores = jax.lax.map(score, offsets)  # (O, H, W)
    best = jnp.argmax(scores, axis=0)
    return jnp.clip(init + offsets[best], 0, limit)


def upsample_map(mapping: jax.Array) -> jax.Array:
    """(H, W, 2) -> (2H, 2W, 2): the official initial map of the next level, ``2 * map(p // 2)``."""
    return jnp.repeat(jnp.repeat(2 * mapping, 2, axis=0), 2, axis=1)


# ----------------------------------------------------------------------------- buddies


def mutual_nearest(a_to_b: jax.Array, b_to_a: jax.Array) -> jax.Array:
    """(H, W, 2), (h, w, 2) -> (H, W) bool: A pixels p with ``b_to_a[a_to_b[p]] == p``."""
    back = b_to_a[a_to_b[..., 0], a_to_b[..., 1]]
    return jnp.all(back == identity_map(*a_to_b.shape[:2]), axis=-1)


def pair_activation(resp_a: jax.Array, resp_b: jax.Array, a_to_b: jax.Array) -> jax.Array:
    """(H, W): the mean of A's response at p and B's at ``a_to_b[p]``."""
    return 0.5 * (resp_a + resp_b[a_to_b[..., 0], a_to_b[..., 1]])


def inherit_activation(parent: LevelState, a_to_b: jax.Array, radius: int) -> jax.Array:
    """(H, W) float32: the best activation of a coarser buddy whose receptive field holds p.

    A coarser pair (P, Q) (grid ``parent``, half the size) holds the finer pair
    (p, ``a_to_b[p]``) when ``|p - 2P|`` and ``|a_to_b[p] - 2Q|`` are both <= ``radius`` in
    each coordinate; ``-inf`` where no parent holds p. Candidates are ``P = p // 2 + k`` for
    a small static range of k; ``parent[p // 2 + k]`` is the parent map repeated x2 and
    shifted by 2k, so this is static slices and elementwise work, no gathers.
    """
    hgt, wid = a_to_b.shape[:2]
    span = radius // 2 + 2
    pad = 2 * span

    def up(x, fill):  # parent map x2 (nearest), padded by 2*span fine pixels of ``fill``
        x = jnp.repeat(jnp.repeat(x, 2, axis=0), 2, axis=1)
        widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (x.ndim - 2)
        return jnp.pad(x, widths, constant_values=fill)

    alive, act, partner = up(parent.alive, False), up(parent.activation, 0.0), up(parent.partner, 0)
    p = identity_map(hgt, wid)
    r = jnp.arange(-span, span + 1, dtype=jnp.int32)
    ks = jnp.stack(jnp.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)

    def candidate(best, k):  # a scan, not an unrolled loop: XLA:CPU compiles it ~5x faster
        y, x = pad + 2 * k[0], pad + 2 * k[1]
        near_a = jnp.all(jnp.abs(p - 2 * (p // 2 + k)) <= radius, axis=-1)
        q = jax.lax.dynamic_slice(partner, (y, x, 0), (hgt, wid, 2))
        near_b = jnp.all(jnp.abs(a_to_b - 2 * q) <= radius, axis=-1)
        ok = jax.lax.dynamic_slice(alive, (y, x), (hgt, wid)) & near_a & near_b
        value = jax.lax.dynamic_slice(act, (y, x), (hgt, wid))
        return jnp.where(ok, jnp.maximum(best, value), best), None

    return jax.lax.scan(candidate, jnp.full((hgt, wid), -jnp.inf, jnp.float32), ks)[0]


def level_buddies(
    feat_a: jax.Array,
    feat_b: jax.Array,
    a_to_b: jax.Array,
    b_to_a: jax.Array,
    tau: float,
    parent: LevelState | None,
    radius: int,
) -> LevelState:
    """Best buddies of one level from its two maps: mutual, both pixels strong (``tau``),
    inside a parent's receptive field (below the top level); activation accumulated.

    ``feat_a`` (H, W, C) and ``feat_b`` (h, w, C) are the level's own features (not the
    common-appearance ones), as in the official filtering and activation.
    """
    mutual = mutual_nearest(a_to_b, b_to_a)
    strong_b = strong_pixels(feat_b, tau)[a_to_b[..., 0], a_to_b[..., 1]]
    alive = mutual & strong_pixels(feat_a, tau) & strong_b
    act = pair_activation(response(feat_a), response(feat_b), a_to_b)
    if parent is not None:
        inherited = inherit_activation(parent, a_to_b, radius)
        alive &= jnp.isfinite(inherited)
        act = act + jnp.where(alive, inherited, 0.0)
    return LevelState(alive, jnp.where(alive, act, 0.0).astype(jnp.float32), a_to_b)


# ----------------------------------------------------------------------------- common appearance


def warp_by_patches(b: jax.Array, a_to_b: jax.Array, patch: int) -> jax.Array:
    """B's features rearranged on A's grid: (h, w, C), (H, W, 2) -> (H, W, C).

    Each A pixel p pastes B's ``patch`` window around ``a_to_b[p]`` onto A's window around p
    (B reflect-padded); every pixel is the mean of the windows covering it (fewer at the
    border). The official ``warp``; a scan over the window taps, one row gather each.
    """
    d = patch // 2
    hgt, wid = a_to_b.shape[:2]
    c = b.shape[-1]
    bflat = _reflect(b, d).reshape(-1, c)
    mp = jnp.pad(a_to_b, ((d, d), (d, d), (0, 0)))
    inside = jnp.pad(jnp.ones((hgt, wid, 1), jnp.float32), ((d, d), (d, d), (0, 0)))

    def tap(carry, t):
        total, count = carry
        # the window centred at p - o (o = t - d) covers p at its tap o: B at map(p - o) + o
        src = jax.lax.dynamic_slice(mp, (2 * d - t[0], 2 * d - t[1], 0), (hgt, wid, 2))
        valid = jax.lax.dynamic_slice(inside, (2 * d - t[0], 2 * d - t[1], 0), (hgt, wid, 1))
        vals = _gather(bflat, b.shape[1] + 2 * d, src + t)
        return (total + vals * valid, count + valid), None

    zeros = (jnp.zeros((hgt, wid, c), b.dtype), jnp.zeros((hgt, wid, 1), jnp.float32))
    (total, count), _ = jax.lax.scan(tap, zeros, _taps(patch))
    return total / count


def invert_features(
    forward: Callable[[jax.Array], jax.Array],
    target: jax.Array,
    shape: tuple[int, ...],
    *,
    lr: float = 0.05,
    b1: float = 0.5,
    threshold: float = 1e-3,
    max_steps: int = 400,
) -> tuple[jax.Array, jax.Array]:
    """Features x of ``shape`` with ``forward(x) ≈ target`` (MSE), from zeros, by Adam;
    returns ``(x, steps run)``.

    Stops when the mean |change| of the last six losses falls below ``threshold`` (the
    official plateau rule, seeded so at least five steps run) or after ``max_steps``.
    A ``lax.while_loop``: jittable, vmappable (each batch element stops on its own).
    """
    opt = optax.adam(lr, b1=b1, b2=0.999, eps=1e-8)
    loss_fn = lambda x: jnp.mean((forward(x) - target) ** 2)  # noqa: E731
    grad_fn = jax.value_and_grad(loss_fn)

    def cond(carry):
        _, _, last, step = carry
        return (step < max_steps) & (jnp.mean(jnp.abs(jnp.diff(last))) > threshold)

    def body(carry):
        x, state, last, step = carry
        loss, g = grad_fn(x)
        updates, state = opt.update(g, state, x)
        last = jnp.concatenate([last[1:], loss[None]])
        return optax.apply_updates(x, updates), state, last, step + 1

    x0 = jnp.zeros(shape, jnp.float32)
    carry = (x0, opt.init(x0), jnp.asarray(_PLATEAU_SEED, jnp.float32), jnp.int32(0))
    x, _, _, steps = jax.lax.while_loop(cond, body, carry)
    return x, steps


def common_appearance(
    encoder: Encoder,
    fine_a: jax.Array,
    fine_b: jax.Array,
    coarse_a: jax.Array,
    coarse_b: jax.Array,
    a_to_b: jax.Array,
    b_to_a: jax.Array,
    level: int,
    patch: int,
    invert: dict,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The matching features of level ``level - 1``: ``(F_A + R(warp(F_B)))/2`` and B's.

    ``fine_*`` are the real features of level ``level - 1`` (H', W', C'), ``coarse_*`` those
    of ``level``; ``invert`` holds :func:`invert_features` keywords. Both inversions run as
    one vmapped loop. Also returns the (2,) inversion step counts (A's, B's).
    """
    start, stop = level_tap(level - 1), level_tap(level)
    warp = jax.vmap(functools.partial(warp_by_patches, patch=patch))  # one program for both
    warped = warp(jnp.stack([coarse_b, coarse_a]), jnp.stack([a_to_b, b_to_a]))

    def forward(x):
        return vgg_segment(encoder.params, x[None], start, stop, encoder.config)[0]

    inverted, steps = jax.vmap(lambda t: invert_features(forward, t, fine_a.shape, **invert))(warped)
    return 0.5 * (fine_a + inverted[0]), 0.5 * (fine_b + inverted[1]), steps


# ----------------------------------------------------------------------------- the hierarchy


@functools.partial(
    jax.jit,
    static_argnames=("final_level", "patch_sizes", "radii", "tau", "top_radius", "invert_steps",
                     "invert_lr", "invert_b1", "invert_threshold"),
)
def best_buddies(
    encoder: Encoder,
    image_a: jax.Array,
    image_b: jax.Array,
    *,
    final_level: int = 2,
    patch_sizes: tuple[int, ...] = (5, 5, 3, 3, 3),
    radii: tuple[int, ...] = (3, 3, 2, 2, 2),
    tau: float = 0.05,
    top_radius: int | None = 2,
    invert_steps: int = 400,
    invert_lr: float = 0.05,
    invert_b1: float = 0.5,
    invert_threshold: float = 1e-3,
) -> tuple[LevelState, jax.Array]:
    """NBB from level 5 down to ``final_level``: two (S, S, 3) images in [0, 1] ->
    (buddies of the final level, (5 - final_level, 2) int32 inversion steps run per level).

    ``S`` must be divisible by 16. ``patch_sizes``/``radii`` are indexed by level - 1
    (official ``[5,5,3,3,3]``, ``[3,3,2,2,2]``). ``top_radius`` is the level-5 search box,
    ``±top_radius`` around the identity (the official code: 2); None searches the whole map (the
    paper's text). The returned state lives on the ``final_level`` grid (``S / 2**(final_level-1)``).
    """
    if image_a.shape != image_b.shape or image_a.shape[0] != image_a.shape[1] or image_a.shape[0] % 16:
        raise ValueError(f"best_buddies takes two (S, S, 3) images, S a multiple of 16; got "
                         f"{image_a.shape} and {image_b.shape}")
    taps = [level_tap(lv) for lv in range(final_level, 6)]
    feats = encoder(jnp.stack([image_a, image_b]).astype(jnp.float32), taps)
    invert = dict(lr=invert_lr, b1=invert_b1, threshold=invert_threshold, max_steps=invert_steps)
    fa, fb = feats[level_tap(5)][0], feats[level_tap(5)][1]
    ma, mb = fa, fb  # the matching ("common appearance") features; the real ones at level 5
    state = None
    a_to_b = b_to_a = None
    steps = []
    for level in range(5, final_level - 1, -1):
        patch, radius = patch_sizes[level - 1], radii[level - 1]
        # A->B and B->A as one vmapped program (the frames are the same size): half the compile
        both = jnp.stack([normalize_per_pixel(ma), normalize_per_pixel(mb)])
        others = both[::-1]
        if state is None and top_radius is None:
            maps = jax.vmap(functools.partial(search_global, patch=patch))(both, others)
        else:
            if state is None:
                inits = jnp.broadcast_to(identity_map(*both.shape[1:3]), (2, *both.shape[1:3], 2))
                radius = top_radius
            else:
                inits = jax.vmap(upsample_map)(jnp.stack([a_to_b, b_to_a]))
            search = functools.partial(search_local, patch=patch, radius=radius)
            maps = jax.vmap(search)(both, others, inits)
        a_to_b, b_to_a = maps[0], maps[1]
        state = level_buddies(fa, fb, a_to_b, b_to_a, tau, state, radii[level - 1])
        if level > final_level:
            fine_a = feats[level_tap(level - 1)][0]
            fine_b = feats[level_tap(level - 1)][1]
            ma, mb, run = common_appearance(encoder, fine_a, fine_b, fa, fb, a_to_b, b_to_a, level, patch, invert)
            steps.append(run)
            fa, fb = fine_a, fine_b
    return state, jnp.stack(steps) if steps else jnp.zeros((0, 2), jnp.int32)


__all__ = [
    "LevelState",
    "best_buddies",
    "common_appearance",
    "inherit_activation",
    "invert_features",
    "level_buddies",
    "level_tap",
    "mutual_nearest",
    "normalize_per_pixel",
    "response",
    "search_global",
    "search_local",
    "strong_pixels",
    "upsample_map",
    "warp_by_patches",
]
