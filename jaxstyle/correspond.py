"""Keypoint correspondences between a content and a style image: Neural Best-Buddies + DST's clean-up.

:func:`find_correspondences` is what ``jaxstyle correspond`` and ``stylize --method dst``
(without ``--points``) call. Two stages:

1. :func:`nbb_buddies`: both images resized to one square ``image_size`` frame (as the
   official NBB does, aspect ratio not kept), Neural Best-Buddies on the frozen encoder
   (:func:`jaxstyle.ops.nbb.best_buddies`, one jitted program), border pairs removed, points
   mapped back to each input's pixels.
2. :func:`clean_correspondences`: DST's ``cleanpoints.py`` in each image's aspect-preserving
   long-edge ``image_size`` frame: drop accumulated activation < 1, greedily keep the highest
   up to ``max_points`` while suppressing the others inside a ±``suppress`` px box around each
   pick (in the content frame), then twice: align the style points to the content with a
   Umeyama similarity and drop pairs whose content -> aligned-style segments cross a segment
   kept before them.

Points are pixel (x, y) of each input image as given, pixel-centre convention of
:mod:`jaxstyle.points`. Host-side numpy for stage 2: it is a few hundred points.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.points import Correspondences, rescale


@dataclasses.dataclass(frozen=True)
class NBBConfig:
    """Neural Best-Buddies and clean-up settings; defaults are the official DST pipeline's.

    image_size: side of the square frame both images are resized to (multiple of 16, >= 32).
    fast: stop at relu2_1 (official ``--fast``, DST's setting); False runs down to relu1_1.
    patch_sizes, radii: patch side and search radius per level 1..5.
    tau: response threshold of a buddy's two pixels. border: pairs closer than this to the
    frame edge are dropped (square-frame px). top_radius: the relu5_1 search box, ±2 cells
    around the same place (the official code's), so pairs join nearby parts; None searches the
    whole map (the paper's text), which pairs unrelated objects across the image
    (docs/correspond.md).
    invert_*: the common-appearance feature inversion (Adam, official lr 0.05, beta1 0.5,
    plateau threshold 1e-3) with a cap of ``invert_steps`` iterations per level.
    min_activation, max_points, suppress: DST's clean-up (activation >= 1, 80 points, ±10 px).
    remove_crossing: DST's removal of crossing pairs (done twice).
    """

    image_size: int = 256
    fast: bool = True
    patch_sizes: tuple[int, ...] = (5, 5, 3, 3, 3)
    radii: tuple[int, ...] = (3, 3, 2, 2, 2)
    tau: float = 0.05
    border: int = 7
    top_radius: int | None = 2
    invert_steps: int = 400
    invert_lr: float = 0.05
    invert_b1: float = 0.5
    invert_threshold: float = 1e-3
    min_activation: float = 1.0
    max_points: int = 80
    suppress: float = 10.0
    remove_crossing: bool = True

    def __post_init__(self):
        s = self.image_size
        if isinstance(s, bool) or not isinstance(s, int) or s < 32 or s % 16:
            raise InputError(f"NBB image size must be a multiple of 16 and at least 32, got {s!r}")
        if len(self.patch_sizes) != 5 or len(self.radii) != 5:
            raise InputError("NBB patch_sizes and radii need one value per level (5)")
        if any(p < 1 or p % 2 == 0 for p in self.patch_sizes) or any(r < 0 for r in self.radii):
            raise InputError("NBB patch sizes must be odd and positive, radii non-negative")
        if self.max_points < 1:
            raise InputError(f"max_points must be at least 1, got {self.max_points}")
        if self.top_radius is not None and self.top_radius < 0:
            raise InputError(f"top_radius must be non-negative or None, got {self.top_radius}")
        if self.invert_steps < 1:
            raise InputError(f"invert_steps must be at least 1, got {self.invert_steps}")

    @property
    def final_level(self) -> int:
        return 2 if self.fast else 1


class Buddies(NamedTuple):
    """N best-buddy pairs: ``content`` and ``style`` (N, 2) float32 pixel (x, y), ``activation`` (N,)."""

    content: np.ndarray
    style: np.ndarray
    activation: np.ndarray


# ----------------------------------------------------------------------------- NBB


def _check_image(img: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(img, np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise InputError(f"{what} must be an (H, W, 3) image, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{what} has non-finite pixels")
    return arr


def level_to_frame(rc: np.ndarray, level: int) -> np.ndarray:
    """(N, 2) (row, col) grid indices of an NBB level -> (N, 2) (x, y) pixels of the frame.

    A level-L pixel covers ``2**(L-1)`` frame pixels per axis; its centre is returned (the
    official code returns the first covered pixel, ``2**(L-1) * index``: half a pixel less).
    """
    f = 2.0 ** (level - 1)
    return (f * (rc[:, ::-1].astype(np.float32) + 0.5) - 0.5).astype(np.float32)


def nbb_buddies(content: np.ndarray, style: np.ndarray, *, encoder=None, config: NBBConfig = NBBConfig()) -> Buddies:
    """All Neural Best-Buddies of two images, in each input's pixels, by falling activation.

    ``content`` (H, W, 3), ``style`` (h, w, 3) float32 in [0, 1]; ``encoder`` a
    :class:`~jaxstyle.models.encoder.Encoder` (None: the embedded VGG16).
    """
    import jax.numpy as jnp

    from jaxstyle.io import resize
    from jaxstyle.ops.nbb import best_buddies

    content, style = _check_image(content, "content"), _check_image(style, "style")
    if encoder is None:
        from jaxstyle.weights.encoders import load_encoder

        encoder = load_encoder("vgg16")
    s = config.image_size
    state, _ = best_buddies(
        encoder,
        jnp.asarray(resize(content, (s, s))),
        jnp.asarray(resize(style, (s, s))),
        final_level=config.final_level,
        patch_sizes=tuple(config.patch_sizes),
        radii=tuple(config.radii),
        tau=config.tau,
        top_radius=config.top_radius,
        invert_steps=config.invert_steps,
        invert_lr=config.invert_lr,
        invert_b1=config.invert_b1,
        invert_threshold=config.invert_threshold,
    )
    alive = np.asarray(state.alive)
    rows, cols = np.nonzero(alive)
    a = level_to_frame(np.stack([rows, cols], 1), config.final_level)
    b = level_to_frame(np.asarray(state.partner)[rows, cols], config.final_level)
    act = np.asarray(state.activation)[rows, cols].astype(np.float32)
    lo, hi = config.border, s - config.border  # official: drop x < 7 or x > size - 7
    keep = np.all((a >= lo) & (a <= hi) & (b >= lo) & (b <= hi), axis=1)
    order = np.argsort(-act[keep], kind="stable")
    a, b, act = a[keep][order], b[keep][order], act[keep][order]
    return Buddies(
        rescale(a, (s, s), content.shape[:2]), rescale(b, (s, s), style.shape[:2]), act
    )


# ----------------------------------------------------------------------------- clean-up


def greedy_pick(points: np.ndarray, activation: np.ndarray, max_points: int, box: float) -> np.ndarray:
    """Indices of up to ``max_points`` points, highest activation first, none within another's box.

    Each pick removes every point with ``|dx| <= box`` and ``|dy| <= box`` from it (itself
    included). Stops when nothing is left (the official loop keeps taking index 0 once all
    activations are zeroed, then drops consecutive repeats, which can let a suppressed point
    back in).
    """
    act = np.where(np.isfinite(activation), activation, -np.inf).astype(np.float64)
    left = np.ones(len(points), bool)
    picked: list[int] = []
    while len(picked) < max_points and left.any():
        i = int(np.argmax(np.where(left, act, -np.inf)))
        picked.append(i)
        left &= ~np.all(np.abs(points - points[i]) <= box, axis=1)
    return np.asarray(picked, np.int64)


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """(3, 3) similarity ``T`` (rotation, uniform scale, translation) minimising
    ``sum ||dst - T src||^2`` over (N, 2) point sets (Umeyama 1991; no reflection)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(dc.T @ sc / len(src))
    d = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ np.diag(d) @ vt
    var = sc.var(0).sum()
    scale = float(sig @ d / var) if estimate_scale and var > 0 else 1.0
    t = np.eye(3)
    t[:2, :2] = scale * rot
    t[:2, 2] = mu_d - scale * rot @ mu_s
    return t


def apply_transform(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points through the (3, 3) homogeneous transform ``t``."""
    return (points @ t[:2, :2].T + t[:2, 2]).astype(np.float64)


def segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """Whether segment p1-p2 meets segment q1-q2 (endpoints count; parallel ones never do,
    as in DST's ``cleanpoints.py``)."""
    r, s = p2 - p1, q2 - q1
    denom = r[0] * s[1] - r[1] * s[0]
    if denom == 0:
        return False
    w = q1 - p1
    t = (w[0] * s[1] - w[1] * s[0]) / denom
    u = (w[0] * r[1] - w[1] * r[0]) / denom
    return 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0


def uncrossed(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Indices kept when, in order, every segment start[j]->end[j] crossing a kept earlier
    segment i (j > i) is dropped. (N, 2) each -> (M,) int."""
    kept = list(range(len(start)))
    i = 0
    while i < len(kept):
        a = kept[i]
        kept = kept[: i + 1] + [b for b in kept[i + 1 :] if not segments_cross(start[a], end[a], start[b], end[b])]
        i += 1
    return np.asarray(kept, np.int64)


def aligned_style(content: np.ndarray, style: np.ndarray, content_hw: tuple[float, float]) -> np.ndarray:
    """Style points mapped into the content frame by the inverse of the Umeyama similarity
    content -> style, clamped to ``[1, size - 1]`` as in DST. (N, 2) -> (N, 2)."""
    t = umeyama(content, style)
    out = apply_transform(np.linalg.inv(t), style)
    h, w = content_hw
    return np.stack([np.clip(out[:, 0], 1, w - 1), np.clip(out[:, 1], 1, h - 1)], axis=1)


def _long_edge_hw(hw: tuple[int, int], size: int) -> tuple[float, float]:
    scale = size / max(hw)
    return hw[0] * scale, hw[1] * scale


def clean_correspondences(
    buddies: Buddies, content_hw: tuple[int, int], style_hw: tuple[int, int], config: NBBConfig = NBBConfig()
) -> tuple[Correspondences, np.ndarray]:
    """DST's clean-up of ``buddies`` (input pixels): kept pairs (input pixels) and their activations.

    Works in each image's long-edge ``config.image_size`` frame, where the ±10 px box and the
    crossing test were tuned.
    """
    cf, sf = _long_edge_hw(content_hw, config.image_size), _long_edge_hw(style_hw, config.image_size)
    a = rescale(buddies.content, content_hw, cf).astype(np.float64)
    b = rescale(buddies.style, style_hw, sf).astype(np.float64)
    act = np.asarray(buddies.activation, np.float64)
    keep = act >= config.min_activation
    a, b, act = a[keep], b[keep], act[keep]
    pick = greedy_pick(a, act, config.max_points, config.suppress)
    a, b, act = a[pick], b[pick], act[pick]
    if config.remove_crossing and len(a) >= 2:
        for _ in range(2):  # again: re-aligning the survivors can make new crossings
            kept = uncrossed(a, aligned_style(a, b, cf))
            a, b, act = a[kept], b[kept], act[kept]
    points = Correspondences(
        rescale(a.astype(np.float32), cf, content_hw).reshape(-1, 2),
        rescale(b.astype(np.float32), sf, style_hw).reshape(-1, 2),
    )
    return points, act.astype(np.float32)


def find_correspondences(
    content: np.ndarray, style: np.ndarray, *, encoder=None, config: NBBConfig = NBBConfig()
) -> Correspondences:
    """Keypoint pairs for DST: NBB then the clean-up, (x, y) pixels of each input as given.

    ``content`` (H, W, 3), ``style`` (h, w, 3) float32 in [0, 1], any sizes; ``encoder`` None
    uses the embedded VGG16 (pass ``load_encoder("vgg19")`` for the paper's network). Pair i is
    row i of both arrays, highest activation first; K <= ``config.max_points`` and K may be 0
    (then both arrays are (0, 2)) when no pair survives.
    """
    buddies = nbb_buddies(content, style, encoder=encoder, config=config)
    points, _ = clean_correspondences(buddies, np.shape(content)[:2], np.shape(style)[:2], config)
    return points


# ----------------------------------------------------------------------------- picture


def _colour(i: int) -> tuple[int, int, int]:
    """Well-separated colours: hues stepped by the golden ratio."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_pairs(
    content: np.ndarray, style: np.ndarray, points: Correspondences, *, height: int = 512, pad: int = 8
) -> np.ndarray:
    """A float32 sheet: content | style at ``height`` px, pair i numbered i in colour i on both."""
    from PIL import Image, ImageDraw, ImageFont

    from jaxstyle.io import resize

    tiles, offsets, x0 = [], [], pad
    for img, pts in ((content, points.content), (style, points.style)):
        h, w = np.shape(img)[:2]
        new_w = max(1, round(w * height / h))
        tiles.append(resize(np.clip(np.asarray(img, np.float32), 0, 1), (height, new_w)))
        offsets.append((x0, pad, rescale(np.asarray(pts, np.float32).reshape(-1, 2), (h, w), (height, new_w))))
        x0 += new_w + pad
    sheet = np.ones((height + 2 * pad, x0, 3), np.float32)
    for tile, (ox, oy, _) in zip(tiles, offsets, strict=True):
        sheet[oy : oy + height, ox : ox + tile.shape[1]] = tile
    im = Image.fromarray(np.rint(sheet * 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    radius = max(3, height // 100)
    try:
        font = ImageFont.load_default(size=max(10, height // 40))
    except (ImportError, OSError, TypeError, AttributeError):  # Pillow without FreeType
        font = ImageFont.load_default()
    for ox, oy, pts in offsets:
        for i, (x, y) in enumerate(pts):
            cx, cy, col = ox + x + 0.5, oy + y + 0.5, _colour(i)  # pixel centre -> PIL corner coords
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=col, outline=(255, 255, 255))
            draw.text((cx + radius + 1, cy), str(i), fill=col, font=font, anchor="lm",
                      stroke_width=1, stroke_fill=(0, 0, 0))
    return np.asarray(im, np.float32) / 255.0
