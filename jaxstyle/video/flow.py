"""Optical flow, warping, consistency masks and the warping error, on the host (numpy + OpenCV).

Conventions (docs/video.md, specs in Ruder et al. 2016 and Lai et al. 2018):

- A flow ``w`` ``(H, W, 2)`` float32 (x then y, pixels) stored on frame A's grid towards frame B
  says pixel ``x`` of A is at ``x + w(x)`` in B. ``flow(a, b)`` (OpenCV DIS) is such a flow:
  ``a(y, x) ~ b(y + w[y, x, 1], x + w[y, x, 0])``.
- ``warp(b, w)`` samples ``b`` at ``x + w(x)``: with ``w = flow(a, b)`` it carries ``b`` onto
  A's grid (bilinear). So Ruder's initialisation of frame t is ``warp(out[t-1], flow(c[t], c[t-1]))``
  and Lai's metric compares ``warp(out[t], flow(c[t-1], c[t]))`` with ``out[t-1]``.
"""

from __future__ import annotations

import cv2
import numpy as np

PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


def gray_u8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] (or uint8) -> (H, W) uint8 luma, what DIS takes."""
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Dense flow from frame ``a`` to frame ``b`` (H, W, 3) -> (H, W, 2) float32 on ``a``'s grid.

    OpenCV's DIS flow (Kroeger et al. 2016) with variational refinement; ``preset`` trades
    speed for accuracy (ultrafast, fast, medium).
    """
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    return dis.calc(gray_u8(a), gray_u8(b), None)


def _sample_map(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, wd = w.shape[:2]
    ys, xs = np.mgrid[0:h, 0:wd].astype(np.float32)
    return xs + w[..., 0], ys + w[..., 1]


def warp(image: np.ndarray, w: np.ndarray, border: str = "replicate") -> np.ndarray:
    """``image`` (H, W, C) sampled bilinearly at ``x + w(x)`` -> (H, W, C) on ``w``'s grid.

    ``border``: ``replicate`` clamps samples that leave the image to its edge (Lai et al.'s
    ``Resample2d``); ``zero`` fills them with 0.
    """
    map_x, map_y = _sample_map(w)
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    out = cv2.remap(np.ascontiguousarray(image, np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=mode)
    return out.reshape(image.shape)


def _gradient_energy(w: np.ndarray, central: bool) -> np.ndarray:
    """u_x^2 + u_y^2 + v_x^2 + v_y^2 of flow ``w`` (H, W, 2) -> (H, W)."""
    if central:  # [-0.5, 0, 0.5], edges replicated (Ruder's CFilter)
        p = np.pad(w, ((1, 1), (1, 1), (0, 0)), mode="edge")
        dx = 0.5 * (p[1:-1, 2:] - p[1:-1, :-2])
        dy = 0.5 * (p[2:, 1:-1] - p[:-2, 1:-1])
    else:  # forward differences, last column/row 0 (Lai's utils.py)
        dx = np.zeros_like(w)
        dy = np.zeros_like(w)
        dx[:, :-1] = w[:, 1:] - w[:, :-1]
        dy[:-1] = w[1:] - w[:-1]
    return np.sum(dx * dx + dy * dy, axis=-1)


def occlusion_lai(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Lai et al.'s occlusion mask on frame t's grid -> (H, W) bool (True: occluded).

    ``forward`` = flow(t -> t+1) on t's grid, ``backward`` = flow(t+1 -> t). Occluded where the
    round trip fails, ``|F + B~|^2 > 0.01 (|F|^2 + |B~|^2) + 0.5`` with ``B~(x) = B(x + F(x))``,
    or at a motion boundary, ``|grad F|^2 > 0.01 |F|^2 + 0.002`` (forward differences).
    """
    back = warp(backward, forward)
    f2 = np.sum(forward * forward, -1)
    round_trip = np.sum((forward + back) ** 2, -1) > 0.01 * (f2 + np.sum(back * back, -1)) + 0.5
    boundary = _gradient_energy(forward, central=False) > 0.01 * f2 + 0.002
    return round_trip | boundary


def reliability_ruder(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Ruder et al.'s per-pixel weights c on frame t's grid for the temporal loss -> (H, W) in [0, 1].

    ``backward`` = flow(t -> t-1) on t's grid (what warps the previous output onto frame t),
    ``forward`` = flow(t-1 -> t). 0 where ``x + backward(x)`` leaves the image or sits at a
    motion boundary (central differences, ``> 0.01 |w|^2 + 0.002``), -1 where the round trip
    fails (``>= 0.01 (|w1|^2 + |w2(b)|^2) + 0.5``), else 1; then a Gaussian of sigma 0.8 (5 taps)
    spreads the -1 of disocclusions outwards, and the result is clipped to [0, 1].
    """
    h, w = backward.shape[:2]
    map_x, map_y = _sample_map(backward)
    x1, y1 = np.floor(map_x), np.floor(map_y)
    inside = (x1 >= 0) & (x1 + 1 < w) & (y1 >= 0) & (y1 + 1 < h)
    there = warp(forward, backward)
    b2 = np.sum(backward * backward, -1)
    round_trip = np.sum((backward + there) ** 2, -1) >= 0.01 * (b2 + np.sum(there * there, -1)) + 0.5
    boundary = _gradient_energy(backward, central=True) > 0.01 * b2 + 0.002
    c = np.where(round_trip, -1.0, np.where(boundary, 0.0, 1.0)).astype(np.float32)
    c[~inside] = 0.0
    c = cv2.GaussianBlur(c, (5, 5), 0.8, borderType=cv2.BORDER_REPLICATE)
    return np.clip(c, 0.0, 1.0)


def warping_error_pair(prev_out: np.ndarray, out: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> float:
    """Lai et al.'s E_t: masked mean over pixels and channels of ``(warp(out, F) - prev_out)^2``.

    ``forward`` = flow(c[t-1] -> c[t]), ``backward`` = flow(c[t] -> c[t-1]), both on the input
    frames; the mask is 1 - :func:`occlusion_lai`. With no unoccluded pixel the denominator is
    H*W*3, as in ``evaluate_WarpError.py``.
    """
    valid = (~occlusion_lai(forward, backward)).astype(np.float32)[..., None]
    diff = valid * (warp(out, forward) - prev_out)
    total = float(valid.sum()) * out.shape[-1]
    return float(np.sum(diff * diff) / (total if total > 0 else diff.size))


def endpoint_error(estimate: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean Euclidean distance between two flows (H, W, 2), over ``valid`` (H, W) pixels if given."""
    err = np.sqrt(np.sum((estimate - truth) ** 2, -1))
    return float(err[valid].mean() if valid is not None else err.mean())
