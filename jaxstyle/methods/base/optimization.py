"""Optimization methods behind the one stylizer call: any objective of the engine.

:class:`OptimizationStylizer` runs an :class:`~jaxstyle.optimize.Objective` under an
:class:`~jaxstyle.optimize.EngineConfig` with :func:`~jaxstyle.optimize.optimize_pairs`:
every pair optimized in one sharded program per shape. An optimization method's module
builds its objective and settings in ``load_stylizer`` and returns one of these (see
:mod:`jaxstyle.methods.gatys.method`); ``size`` and ``preserve_color`` are engine settings here
(coarse-to-fine scales count down from ``size``; colour is prepared at each scale).
``tile`` (and ``tile_overlap``) optimize the scales larger than a tile in overlapping tiles
(:mod:`jaxstyle.optimize.tiled`), for objectives that can be tiled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxstyle.errors import InputError, flag
from jaxstyle.methods.base.stylizer import (
    GENERIC_CONTROLS,
    Stylizer,
    as_images,
    stack_if_array,
    style_sets,
)
from jaxstyle.optimize import EngineConfig, Objective, Pair, PairResult, make_pairs, optimize_pairs
from jaxstyle.optimize.engine import check_intervals
from jaxstyle.optimize.tiled import TileConfig, check_tiling, optimize_tiled
from jaxstyle.shapes import AS_GIVEN, Batching

TILE_CONTROLS = ("tile", "tile_overlap")


class OptimizationStylizer(Stylizer):
    """Optimizes each pair's variables under ``objective`` with the engine ``settings``.

    ``optimizer_chosen`` False: the optimizer is the method's default, so a tiled run (which
    L-BFGS cannot do: random tile offsets change the objective every step) takes Adam instead;
    an L-BFGS the user chose is refused with ``--tile``.
    """

    hooks = ("progress", "on_plan", "on_frame")
    engine_controls = True

    def __init__(self, objective: Objective, settings: EngineConfig, optimizer_chosen: bool = True):
        self.objective = objective
        self.settings = settings
        self.optimizer_chosen = optimizer_chosen

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        check_intervals(**{k: controls[k] for k in ("save_every", "checkpoint_every") if k in controls})
        tiling = _tiling(controls)
        if tiling is not None:
            check_tiling(self.objective, self._tiled_settings(controls), tiling)

    def _tiled_settings(self, controls: dict[str, Any]) -> EngineConfig:
        """The settings of a tiled run: the controls' size and colour, Adam for a default L-BFGS."""
        settings = dataclasses.replace(self.settings, **{k: controls[k] for k in GENERIC_CONTROLS if k in controls})
        if not self.optimizer_chosen and settings.optimizer == "lbfgs":
            settings = dataclasses.replace(settings, optimizer="adam", lr=None, line_search=False)
        return settings

    @property
    def fits(self) -> tuple[str, ...]:
        return tuple(getattr(self.objective, "fits", ()))

    def stylize(self, contents: Any, styles: Any, *, batching: Batching = AS_GIVEN, **controls: Any) -> list:
        controls = {k: v for k, v in controls.items() if v is not None}
        self.check_controls(controls)
        tiling = _tiling(controls)
        settings = self._tiled_settings(controls) if tiling is not None else dataclasses.replace(
            self.settings, **{k: controls[k] for k in GENERIC_CONTROLS if k in controls})
        controls = {k: v for k, v in controls.items() if k not in (*GENERIC_CONTROLS, *TILE_CONTROLS)}
        images = as_images(contents, "content")
        style_images = [s for (s,) in style_sets(styles, len(images), mixing=False)]
        # Pair i is (images[i], style_images[i]); the engine resizes each distinct image once.
        pairs = make_pairs(images, style_images, "zip")
        if tiling is None:
            results = optimize_pairs(self.objective, pairs, settings, extra_inputs=self.pair_inputs(pairs),
                                     batching=batching, **controls)
        else:  # tiles are one shape already
            results = optimize_tiled(self.objective, pairs, settings, tiling, **controls)
        return stack_if_array(contents, [None if r is None else self.outputs(i, r) for i, r in enumerate(results)])

    def pair_inputs(self, pairs: list[Pair]) -> dict[str, list[Any]]:
        """The objective's ``extra_inputs`` for these pairs (images as given); none by default."""
        return {}

    def outputs(self, index: int, result: PairResult) -> Any:
        """What pair ``index`` returns: its image, or ``(image, *side outputs)``."""
        return result.image


def _tiling(controls: dict[str, Any]) -> TileConfig | None:
    """The tiling ``controls`` ask for (None: untiled); one-line errors for what cannot be tiled."""
    if "tile" not in controls:
        if "tile_overlap" in controls:
            raise InputError("--tile-overlap needs --tile")
        return None
    if "checkpoint_dir" in controls:
        raise InputError("--tile runs do not checkpoint (--checkpoint-dir): leave one of them out")
    return TileConfig(controls["tile"], controls.get("tile_overlap"))


def build_config(cls: type, method: str, config: dict[str, Any]):
    """``cls(**config)``, refusing (one line) options it has no field for: the one way a loader's
    options (checked against the method's declaration by the registry) become its config."""
    unknown = sorted(set(config) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise InputError(f"{method} does not take {', '.join(map(flag, unknown))}")
    return cls(**config)
