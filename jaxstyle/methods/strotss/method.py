"""STROTSS (Kolkin et al. 2019) as a registered optimization method.

Self-similarity content loss and relaxed-EMD + moment + colour style loss over sampled VGG16
hypercolumns (:mod:`jaxstyle.losses.strotss`), on a Laplacian-pyramid image optimised coarse
to fine (:mod:`jaxstyle.optimize.strotss`). Defaults are the official DST ``job_example.sh``
run (STROTSS is DST without the warp there): SGD momentum 0.9, lr 0.075 (the official 0.3 on
its image in [-1, 1]), 150 steps per scale,
3 scales (64 -> 128 -> 256 px at ``--size 256``), α 8. ``--steps`` and ``--scales`` are the
schedule's; the engine runs them as one program of steps x scales steps.
"""

from __future__ import annotations

from typing import Any

from jaxstyle.errors import InputError
from jaxstyle.losses.strotss import STROTSS_LAYERS
from jaxstyle.methods.base.optimization import OptimizationStylizer, build_config
from jaxstyle.optimize.strotss import StrotssConfig, check_size
from jaxstyle.weights.encoders import load_encoder


class StrotssStylizer(OptimizationStylizer):
    """The engine's stylizer + a one-line warning (refusal below 32 px) for sizes whose coarsest
    scale is below the official one (:func:`~jaxstyle.optimize.strotss.size_note`)."""

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        super().validate(controls, n_styles)
        check_size("strotss", controls.get("size", self.settings.size), self.objective.scales)


def load_stylizer(source: Any = None, *, encoder: str = "vgg16", weights: str | None = None, pool: str = "max",
                  **config: Any) -> OptimizationStylizer:
    """A STROTSS stylizer.

    Args:
      source: must be None (nothing is trained).
      encoder, weights, pool: the VGG encoder (the official code uses torchvision VGG16, which
        the embedded weights are), its weights file and pooling.
      **config: any :class:`~jaxstyle.optimize.strotss.StrotssConfig` field (steps, scales, lr,
        optimizer, content_weight, samples, style_samples, pyramid_levels, seed, ...).
    """
    if source is not None:
        raise InputError("strotss optimizes each image; it has no trained model to load (--checkpoint)")
    cfg = build_config(StrotssConfig, "strotss", config)
    enc = load_encoder(encoder, weights, pooling=pool, remat=cfg.remat)
    enc.check_layers(STROTSS_LAYERS)
    return StrotssStylizer(cfg.objective(enc), cfg.engine())

