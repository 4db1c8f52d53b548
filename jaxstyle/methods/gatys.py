"""Gatys et al. (2016) and Lapstyle as registered methods: the optimization engine behind the stylizer call.

There is no trained model: ``load_stylizer(objective="gatys", steps=..., ...)`` builds a
:class:`~jaxstyle.optimize.StylizeConfig` (its fields are this loader's options) and an
encoder, and ``stylize`` optimizes every pair in one sharded program per shape
(:func:`jaxstyle.optimize.stylize`). ``size`` resizes to that long side (default 512 here;
coarse-to-fine scales count down from it) and ``preserve_color`` runs inside the engine.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxstyle import optimize
from jaxstyle.errors import InputError
from jaxstyle.methods.stylizer import (
    GENERIC_CONTROLS,
    Stylizer,
    as_images,
    stack_if_array,
    style_sets,
)
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.encoders import load_encoder


class OptimizationStylizer(Stylizer):
    """Optimizes each pair's image under a :class:`~jaxstyle.optimize.StylizeConfig`."""

    controls = GENERIC_CONTROLS
    hooks = ("progress", "on_plan", "on_frame", "save_every", "checkpoint_dir", "checkpoint_every")

    def __init__(self, cfg: optimize.StylizeConfig, encoder: Encoder):
        self.cfg = cfg
        self.encoder = encoder

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        if controls.get("save_every", 0) < 0 or controls.get("checkpoint_every", 1) <= 0:
            raise InputError("--save-every must be >= 0 and --checkpoint-every positive")

    def stylize(self, contents: Any, styles: Any, **controls: Any) -> list:
        controls = {k: v for k, v in controls.items() if v is not None}
        self.check_controls(controls)
        # size and preserve_color are StylizeConfig fields: the engine does them (scales count
        # down from size; colour is prepared per scale).
        engine = {k: controls.pop(k) for k in GENERIC_CONTROLS if k in controls}
        cfg = dataclasses.replace(self.cfg, **engine)
        images = as_images(contents, "content")
        style_images = [s for (s,) in style_sets(styles, len(images), mixing=False)]
        # Pair i is (images[i], style_images[i]); the engine resizes each distinct image once.
        results = optimize.stylize(images, style_images, cfg, encoder=self.encoder, pairs="zip", **controls)
        return stack_if_array(contents, results)


def _config_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(optimize.StylizeConfig) if f.name != "method")


def load_stylizer(
    source: Any = None,
    *,
    objective: str = "gatys",
    encoder: str = "vgg16",
    weights: str | None = None,
    pool: str = "max",
    **config: Any,
) -> OptimizationStylizer:
    """An optimization stylizer.

    Args:
      source: must be None (nothing is trained).
      objective: ``gatys`` or ``lapstyle`` (default weights differ, see StylizeConfig).
      encoder, weights, pool: the VGG encoder, its weights file and pooling.
      **config: any other :class:`~jaxstyle.optimize.StylizeConfig` field (steps, optimizer,
        lr, layers, loss weights, scales, seed, remat, ...).
    """
    if source is not None:
        raise InputError(f"{objective} optimizes each image; it has no trained model to load (--checkpoint)")
    unknown = sorted(set(config) - set(_config_fields()))
    if unknown:
        raise InputError(f"{objective} does not take {', '.join(unknown)}")
    cfg = optimize.StylizeConfig(method=objective, **config)
    enc = load_encoder(encoder, weights, pooling=pool, remat=cfg.remat)
    enc.check_layers(cfg.content_layers + cfg.style_layers)
    return OptimizationStylizer(cfg, enc)


# ``load_stylizer`` takes **config: these are the options it accepts (for the registry/CLI).
OPTIONS = ("encoder", "weights", "pool", *(f for f in _config_fields() if f not in GENERIC_CONTROLS))
