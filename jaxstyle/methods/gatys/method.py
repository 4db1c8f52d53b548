"""Gatys et al. (2016) and Lapstyle as registered methods (the optimization-method example).

There is no trained model: ``load_stylizer(objective="gatys", steps=..., ...)`` builds a
:class:`~jaxstyle.optimize.StylizeConfig` (its fields are this loader's options, declared in
:mod:`jaxstyle.methods.gatys`), the objective with its encoder, and an
:class:`~jaxstyle.methods.base.optimization.OptimizationStylizer` that optimizes every pair in
one sharded program per shape.
"""

from __future__ import annotations

from typing import Any

from jaxstyle import optimize
from jaxstyle.errors import InputError
from jaxstyle.methods.base.optimization import OptimizationStylizer, build_config
from jaxstyle.optimize.gatys import objective_with_networks
from jaxstyle.weights.encoders import default_layers, load_encoder

# The CLI's first run takes about a minute on a 2-core CPU at 150 steps (StylizeConfig's own
# default, for direct use of the engine, is 300).
DEFAULT_STEPS = 150


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
      encoder, weights, pool: the encoder (any of :mod:`jaxstyle.models.zoo`), its weights
        file and pooling.
      **config: any other :class:`~jaxstyle.optimize.StylizeConfig` field (steps, optimizer,
        lr, layers, loss weights, scales, seed, remat, ...). Layers not given are the
        encoder's default Gatys taps (:func:`jaxstyle.weights.encoders.default_layers`).
    """
    if source is not None:
        raise InputError(f"{objective} optimizes each image; it has no trained model to load (--checkpoint)")
    content_layers, style_layers = default_layers(encoder)
    defaults = {"content_layers": content_layers, "style_layers": style_layers, "steps": DEFAULT_STEPS}
    cfg = build_config(optimize.StylizeConfig, objective, {**defaults, **config, "objective_name": objective})
    enc = load_encoder(encoder, weights, pooling=pool, remat=cfg.remat)
    return OptimizationStylizer(objective_with_networks(cfg, enc), cfg, optimizer_chosen="optimizer" in config)
