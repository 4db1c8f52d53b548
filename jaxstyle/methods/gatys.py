"""Gatys et al. (2016) and Lapstyle as registered methods (the optimization-method example).

There is no trained model: ``load_stylizer(objective="gatys", steps=..., ...)`` builds a
:class:`~jaxstyle.optimize.StylizeConfig` (its fields are this loader's options), the
objective with its encoder, and an :class:`~jaxstyle.methods.optimization.OptimizationStylizer`
that optimizes every pair in one sharded program per shape. ``size`` defaults to 512 here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxstyle import optimize
from jaxstyle.errors import InputError
from jaxstyle.methods.optimization import OptimizationStylizer
from jaxstyle.methods.stylizer import GENERIC_CONTROLS
from jaxstyle.optimize.gatys import objective_with_networks
from jaxstyle.weights.encoders import default_layers, load_encoder


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
      encoder, weights, pool: the encoder (any of :mod:`jaxstyle.models.zoo`), its weights
        file and pooling.
      **config: any other :class:`~jaxstyle.optimize.StylizeConfig` field (steps, optimizer,
        lr, layers, loss weights, scales, seed, remat, ...). Layers not given are the
        encoder's default Gatys taps (:func:`jaxstyle.weights.encoders.default_layers`).
    """
    if source is not None:
        raise InputError(f"{objective} optimizes each image; it has no trained model to load (--checkpoint)")
    unknown = sorted(set(config) - set(_config_fields()))
    if unknown:
        raise InputError(f"{objective} does not take {', '.join(unknown)}")
    content_layers, style_layers = default_layers(encoder)
    defaults = {"content_layers": content_layers, "style_layers": style_layers}
    cfg = optimize.StylizeConfig(method=objective, **{**defaults, **config})
    enc = load_encoder(encoder, weights, pooling=pool, remat=cfg.remat)
    return OptimizationStylizer(objective_with_networks(cfg, enc), cfg)


# ``load_stylizer`` takes **config: these are the options it accepts (for the registry/CLI).
OPTIONS = ("encoder", "weights", "pool", *(f for f in _config_fields() if f not in GENERIC_CONTROLS))
