"""Deformable Style Transfer (Kim et al. 2020) as a registered optimization method.

Keypoints matched between content and style (``--points FILE``, the
:mod:`jaxstyle.points` format, or Neural Best-Buddies via :mod:`jaxstyle.correspond` when
none are given) guide a thin-plate-spline warp optimised jointly with the stylized image
(:mod:`jaxstyle.methods.dst.objective`). Each pair returns ``(warped result, unwarped stylization,
keypoint sheet)``; the CLI writes them as ``NAME.png``, ``NAME_unwarped.png`` and
``NAME_keypoints.png``. ``--save-every`` frames are warped results, so they show the
deformation growing.

Defaults (``--dst-loss strotss``): the official ``job_example.sh`` run: α 8, β 0.5, γ 50,
SGD momentum 0.9 lr 0.3 on θ and 0.075 on the image (the official 0.3 on its [-1, 1] image),
150 steps per scale over 3 scales (64 -> 128 -> 256 px at --size
256). ``--dst-loss gatys`` (no official code; the paper gives no weights): α 1e5 and Gram style
weight 1e5 (α 1, the Gatys balance, lost the content under Adam), both terms divided by the content image's own weighted Gram
loss so the style terms start at 1 like the STROTSS ones and the official β 0.5, γ 50 keep
their meaning; Adam, lr 2e-3 on the image (0.02 left red/green speckle: docs/methods/dst.md)
and ``--warp-lr`` 0.1 px per step on θ (one rate
cannot suit pixels in [0, 1] and displacements in px; SGD at lr 0.3 diverges on Gram losses,
and L-BFGS, its curvature set by the image, left θ in place); same schedule.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.losses.strotss import STROTSS_LAYERS
from jaxstyle.methods.base.optimization import OptimizationStylizer, build_config
from jaxstyle.methods.dst import METHOD
from jaxstyle.methods.dst.objective import DST, DSTConfig, keypoint_inputs, pad_inputs
from jaxstyle.models.encoder import Encoder
from jaxstyle.optimize import EngineConfig, Pair, PairResult
from jaxstyle.optimize.strotss import check_size, lap_synthesize
from jaxstyle.points import Correspondences, load_points, rescale
from jaxstyle.weights.encoders import load_encoder


class DSTStylizer(OptimizationStylizer):
    """DST over pairs; ``points`` (one pair's correspondences) or NBB per pair."""

    spec = METHOD

    side_outputs = ("unwarped", "keypoints")

    def __init__(self, objective: DST, settings: EngineConfig, points: Correspondences | None = None,
                 points_name: str = "points", nbb: Any = None):
        super().__init__(objective, settings)
        self.points = points
        self.points_name = points_name
        self.nbb = nbb  # a jaxstyle.correspond.NBBConfig, None: its defaults (the official pipeline)

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        super().validate(controls, n_styles)
        check_size("dst", controls.get("size", self.settings.size), self.objective.scales)

    def correspondences(self, pair: Pair) -> Correspondences:
        """The given points, or Neural Best-Buddies between the pair's images as given."""
        if self.points is not None:
            return self.points
        # NBB (the other half of DST), imported here: only runs without --points need it
        from jaxstyle.correspond import NBBConfig, find_correspondences

        return find_correspondences(pair.content, pair.style, encoder=self.objective.encoder,
                                    config=self.nbb or NBBConfig())

    def pair_inputs(self, pairs: list[Pair]) -> dict[str, list[Any]]:
        """Each pair's keypoints (checked, style points aligned), padded to one K."""
        if self.points is not None and len(pairs) != 1:
            raise InputError(f"--points gives the keypoints of one pair; got {len(pairs)} pairs "
                             "(run one content with one style, or leave --points out to match each pair)")
        self._inputs = [keypoint_inputs(self.correspondences(p), p.content.shape[:2], p.style.shape[:2],
                                        self.points_name) for p in pairs]
        return pad_inputs(self._inputs)

    def outputs(self, index: int, result: PairResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(warped, unwarped, keypoint sheet)`` of pair ``index``."""
        unwarped = np.clip(np.asarray(jax.jit(lap_synthesize)(result.variables["pyramid"])), 0.0, 1.0)
        return result.image, unwarped, keypoint_sheet(self._inputs[index], result, unwarped)


def keypoint_sheet(inputs: dict[str, np.ndarray], result: PairResult, unwarped: np.ndarray) -> np.ndarray:
    """unwarped stylization with source → target arrows | warped result with source → reached
    arrows: circles at the sources, squares at the targets (aligned style points), dots at
    where the warp took each source."""
    from PIL import Image, ImageDraw

    from jaxstyle.io import make_grid

    hw = result.image.shape[:2]
    src = rescale(inputs["keypoints"][:, :2], tuple(inputs["content_hw"]), hw)
    target = rescale(inputs["keypoints"][:, 2:], tuple(inputs["content_hw"]), hw)
    reached = src + result.variables["theta"][: len(src)]
    panels = []
    for img, ends in ((unwarped, target), (result.image, reached)):
        scale = max(1, 512 // max(hw))  # draw on an upsampled copy so marks stay legible
        pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).resize(
            (hw[1] * scale, hw[0] * scale), Image.NEAREST)
        draw = ImageDraw.Draw(pil)
        r = 2 * scale + 1
        for k, ((x0, y0), (x1, y1)) in enumerate(zip((src + 0.5) * scale, (ends + 0.5) * scale, strict=True)):
            color = tuple(int(c) for c in np.random.default_rng(k).integers(64, 256, 3))
            draw.line([(x0, y0), (x1, y1)], fill=color, width=max(1, scale))
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], outline=color, width=max(1, scale))
            draw.rectangle([x1 - r / 2, y1 - r / 2, x1 + r / 2, y1 + r / 2], fill=color)
        panels.append(np.asarray(pil, np.float32) / 255.0)
    return make_grid(panels, labels=["unwarped: source -> target", "warped: source -> reached"])


def load_stylizer(source: Any = None, *, encoder: str = "vgg16", weights: str | None = None, pool: str = "max",
                  points: str | None = None, **config: Any) -> DSTStylizer:
    """A DST stylizer.

    Args:
      source: must be None (nothing is trained).
      encoder, weights, pool: the VGG encoder (embedded VGG16 by default), its weights, pooling.
      points: a keypoints file (:mod:`jaxstyle.points` format) for the one pair; None: Neural
        Best-Buddies finds them for each pair.
      **config: any :class:`~jaxstyle.methods.dst.objective.DSTConfig` field (dst_loss, content_weight,
        style_weight, warp_weight, reg_weight, steps, scales, optimizer, lr, ...).
    """
    if source is not None:
        raise InputError("dst optimizes each image; it has no trained model to load (--checkpoint)")
    given = load_points(points) if points is not None else None  # a bad file fails before any work
    cfg = build_config(DSTConfig, "dst", config)
    enc: Encoder = load_encoder(encoder, weights, pooling=pool, remat=cfg.remat)
    enc.check_layers(STROTSS_LAYERS if cfg.dst_loss == "strotss" else cfg.content_layers + cfg.style_layers)
    return DSTStylizer(cfg.objective(enc), cfg.engine(), given, str(points) if points else "points")

