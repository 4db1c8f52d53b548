"""A differentiable thin-plate-spline image warp (Deformable Style Transfer's W(X, θ)).

Keypoints ``src`` (K,2) move to ``dst = src + θ``. The *backward* flow ``f`` with
``f(dst_i) = dst_i - src_i`` is interpolated over the image by a polyharmonic spline of order
2 (the thin-plate spline, kernel ``φ(r²) = ½ r² log max(r², 1e-10)``) with its affine part,
solved exactly (``jnp.linalg.solve`` on the (N+3)x(N+3) system, no regulariser); the warped
image samples the input bilinearly at ``grid - f``. So the output at ``dst_i`` is the input at
``src_i`` exactly: each source keypoint lands on its destination. Fixed points of zero flow on
the image border (4 corners + ``border`` per side) keep the frame in place, as the official
DST code (``warp.py``, a port of ``tf.contrib.image.sparse_image_warp``; 4 + 4x80 points).

Coordinates. Keypoints and flows are pixel ``(x, y)`` in the pixel-centre convention of
:mod:`jaxstyle.points` (an image of width W spans ``x`` in [-0.5, W - 0.5]). The spline is
solved in a normalised frame ``u = (p + 0.5) / L`` (L the long side) so the system is well
conditioned; a thin-plate spline with an affine part is invariant to uniform scaling of its
frame, so this frame changes nothing but rounding, and one set of keypoints in that frame
gives the same warp at every pyramid scale (:func:`tps_flow`'s ``frame_hw``). The border
points lie on the image's edge (u = 0 and u = W/L), not on the outermost pixel centres, so
they too are the same at every scale. The official code normalises x and y by different
factors (W-1, H-1), which makes its spline anisotropic on non-square images; this one is not.

Padding. Per pair keypoints are padded to a fixed K with a mask (``jaxstyle.points.
pad_points``) so pairs vmap. A masked point is taken out of the system exactly: its row and
column of the kernel block and its affine row are replaced by those of an identity, and its
value by 0, so its weight is 0 and the other unknowns solve the unpadded system.

Everything here is one pair, pure, jit/vmap/grad-able in θ (through ``dst``) and the image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

BORDER_POINTS = 80  # fixed zero-flow points per image side (official border_num_pts)
PHI_EPS = 1e-10  # official: log(max(r², 1e-10))


def phi(r2: jax.Array) -> jax.Array:
    """The thin-plate kernel on squared distances: ``½ r² log max(r², 1e-10)``, elementwise."""
    return 0.5 * r2 * jnp.log(jnp.maximum(r2, PHI_EPS))


def _sq_dists(a: jax.Array, b: jax.Array) -> jax.Array:
    """(M,2), (N,2) -> (M,N) squared distances, from coordinate differences (no cancellation)."""
    d = a[:, None, :] - b[None, :, :]
    return jnp.sum(d * d, axis=-1)


def fit_tps(centers: jax.Array, values: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Exact thin-plate interpolant through ``values`` (N,D) at ``centers`` (N,2).

    Solves ``[[Φ, B], [Bᵀ, 0]] [w; v] = [values; 0]`` with ``Φ_ij = φ(|c_i - c_j|²)`` and
    ``B = [c, 1]``. ``mask`` (N,) bool: False rows are left out exactly (module docstring).
    Returns ``w`` (N,D) kernel weights (0 at masked centres) and ``v`` (3,D) affine weights.
    """
    n = centers.shape[0]
    keep = jnp.ones((n,), bool) if mask is None else mask.astype(bool)
    kernel = phi(_sq_dists(centers, centers))
    both = keep[:, None] & keep[None, :]
    kernel = jnp.where(both, kernel, jnp.eye(n, dtype=kernel.dtype))  # masked: identity row/column
    affine = jnp.where(keep[:, None], jnp.concatenate([centers, jnp.ones((n, 1), centers.dtype)], 1), 0.0)
    lhs = jnp.block([[kernel, affine], [affine.T, jnp.zeros((3, 3), kernel.dtype)]])
    rhs = jnp.concatenate([jnp.where(keep[:, None], values, 0.0), jnp.zeros((3, values.shape[1]), values.dtype)])
    sol = jnp.linalg.solve(lhs, rhs)
    return sol[:n], sol[n:]


def eval_tps(query: jax.Array, centers: jax.Array, w: jax.Array, v: jax.Array) -> jax.Array:
    """The interpolant of :func:`fit_tps` at ``query`` (M,2) -> (M,D)."""
    return phi(_sq_dists(query, centers)) @ w + query @ v[:2] + v[2]


def border_points(hw: tuple[int, int], per_side: int = BORDER_POINTS) -> np.ndarray:
    """The fixed zero-flow points on the edge of an (H, W) image, in the normalised frame.

    4 corners and ``per_side`` evenly spaced points strictly inside each side (4 + 4 x
    per_side, all distinct): (N,2) float32 ``u = (p + 0.5) / L`` (module docstring).
    """
    h, w = hw
    long_side = float(max(h, w))
    xs, ys = w / long_side, h / long_side  # the far edges
    t = (np.arange(per_side, dtype=np.float64) + 1) / (per_side + 1)
    corners = [[0.0, 0.0], [xs, 0.0], [0.0, ys], [xs, ys]]
    sides = np.concatenate([
        np.stack([t * xs, np.zeros_like(t)], 1), np.stack([t * xs, np.full_like(t, ys)], 1),
        np.stack([np.zeros_like(t), t * ys], 1), np.stack([np.full_like(t, xs), t * ys], 1),
    ])
    return np.concatenate([np.asarray(corners), sides]).astype(np.float32)


def to_frame(points: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """Pixel (x, y) of an (H, W) image -> the normalised frame ``(p + 0.5) / max(H, W)``."""
    return (points + 0.5) / max(hw)


def from_frame(u: jax.Array, hw: tuple[int, int]) -> jax.Array:
    """The inverse of :func:`to_frame`."""
    return u * max(hw) - 0.5


def tps_flow(src: jax.Array, dst: jax.Array, mask: jax.Array | None, hw: tuple[int, int],
             frame_hw: tuple[int, int] | None = None, per_side: int = BORDER_POINTS) -> jax.Array:
    """The backward flow field (H,W,2) in pixels of an (H, W) image moving ``src`` onto ``dst``.

    ``src``, ``dst`` (K,2): pixel (x, y) of an image of size ``frame_hw`` (default ``hw``;
    give the full size to evaluate at a smaller pyramid scale of the same image); ``mask``
    (K,) bool or None. ``flow[y, x]`` is the displacement (in (H, W) pixels) such that the
    warped image at ``(x, y)`` is the input at ``(x, y) - flow``; it is ``dst_i - src_i`` at
    every ``dst_i`` (rescaled) and 0 on the border.
    """
    frame_hw = hw if frame_hw is None else frame_hw
    s, d = to_frame(src, frame_hw), to_frame(dst, frame_hw)
    fixed = jnp.asarray(border_points(frame_hw, per_side))
    centers = jnp.concatenate([d, fixed])
    values = jnp.concatenate([d - s, jnp.zeros_like(fixed)])
    full_mask = None if mask is None else jnp.concatenate([mask.astype(bool), jnp.ones(len(fixed), bool)])
    w, v = fit_tps(centers, values, full_mask)
    h, wd = hw
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=src.dtype), jnp.arange(wd, dtype=src.dtype), indexing="ij")
    grid = to_frame(jnp.stack([xs, ys], -1).reshape(-1, 2), hw)
    return (eval_tps(grid, centers, w, v) * max(hw)).reshape(h, wd, 2)


def bilinear_sample(image: jax.Array, points: jax.Array) -> jax.Array:
    """``image`` (H,W,C) at pixel (x, y) ``points`` (...,2) -> (...,C), bilinear, edges clamped."""
    h, w = image.shape[:2]
    x = jnp.clip(points[..., 0], 0.0, w - 1.0)
    y = jnp.clip(points[..., 1], 0.0, h - 1.0)
    x0 = jnp.clip(jnp.floor(x), 0, max(w - 2, 0)).astype(jnp.int32)
    y0 = jnp.clip(jnp.floor(y), 0, max(h - 2, 0)).astype(jnp.int32)
    x1, y1 = jnp.minimum(x0 + 1, w - 1), jnp.minimum(y0 + 1, h - 1)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - ax) + image[y0, x1] * ax
    bottom = image[y1, x0] * (1 - ax) + image[y1, x1] * ax
    return top * (1 - ay) + bottom * ay


def warp_image(image: jax.Array, flow: jax.Array) -> jax.Array:
    """Backward warp: ``out[y, x] = image at (x, y) - flow[y, x]`` (bilinear). (H,W,C), (H,W,2) -> (H,W,C)."""
    h, w = image.shape[:2]
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=flow.dtype), jnp.arange(w, dtype=flow.dtype), indexing="ij")
    return bilinear_sample(image, jnp.stack([xs, ys], -1) - flow)


def flow_tv(flow: jax.Array) -> jax.Array:
    """DST's smoothness term on a flow (H,W,2): mean squared difference to the right, down and
    both diagonal neighbours, averaged over the 4 directions (official ``loss.TV``)."""
    terms = [
        flow[1:, :] - flow[:-1, :], flow[:, 1:] - flow[:, :-1],
        flow[1:, 1:] - flow[:-1, :-1], flow[1:, :-1] - flow[:-1, 1:],
    ]
    return sum(jnp.mean(jnp.square(t)) for t in terms) / 4.0


def similarity_align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``dst`` (K,2) mapped back onto ``src``'s frame by the inverse of the least-squares
    similarity (rotation, uniform scale, translation; Umeyama 1991) taking ``src`` to ``dst``.

    DST's targets: the style keypoints with the global pose difference removed, so the warp
    moves only what differs in shape. Host numpy, float64 inside; (K,2) float32 out. Fewer
    than 2 distinct points: ``dst`` translated onto ``src``'s mean.
    """
    a, b = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = a - ma, b - mb
    var_a = (ca**2).sum() / len(a)
    if var_a < 1e-12 or (cb**2).sum() < 1e-12:
        return (b - mb + ma).astype(np.float32)
    cov = cb.T @ ca / len(a)
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection: flip the weakest axis
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sv * d).sum() / var_a
    # dst ≈ scale * rot @ src + t  =>  src ≈ rot.T @ (dst - t) / scale
    t = mb - scale * rot @ ma
    return ((b - t) @ rot / scale).astype(np.float32)
