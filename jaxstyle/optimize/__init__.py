"""Optimization-based stylization (Gatys et al. 2016, Lapstyle, LPIPS content loss, style swap), batched.

Many (content, style) pairs are optimized in ONE jitted program: the per-pair objective is a
pure function of one pair's variables, ``jax.vmap`` maps it (and the optimizer update) over
the pair axis, and that axis is sharded over every device of every process with a
``NamedSharding``. Pairs whose inputs have the same shapes after resizing form a *bucket*
and share one program; aspect ratios are never changed to make shapes match.

- :mod:`jaxstyle.optimize.engine`: the generic engine, :func:`optimize_pairs` under an
  :class:`EngineConfig` (its docstring shows how to write an objective);
- :mod:`jaxstyle.optimize.objective`: the :class:`Objective` protocol;
- :mod:`jaxstyle.optimize.gatys`: the Gatys and Lapstyle objectives (:data:`OBJECTIVES`) and
  their front end :class:`StylizeConfig` + :func:`stylize`;
- :mod:`jaxstyle.optimize.tiled`: one image larger than memory, optimized in overlapping
  windows at random grid offsets (:func:`optimize_tiled` under a :class:`TileConfig`);
- :mod:`jaxstyle.methods.styleswap.objective`: style swap's inversion (relu3_1 features matched to the
  swapped ones), the second objective family, written against the same protocol.

Python API::

    from jaxstyle.optimize import StylizeConfig, stylize
    results = stylize([content_img], [style_img], StylizeConfig(steps=200))

The registered methods ``gatys`` and ``lapstyle`` (:mod:`jaxstyle.methods.gatys.method`) run
:func:`stylize` behind the one stylizer call of every method.
"""

from jaxstyle.optimize.engine import (
    INITS,
    OPTIMIZERS,
    Bucket,
    EngineConfig,
    PairResult,
    optimize_pairs,
)
from jaxstyle.optimize.gatys import (
    CONTENT_LOSSES,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    OBJECTIVES,
    Gatys,
    Lapstyle,
    StylizeConfig,
    stylize,
)
from jaxstyle.optimize.objective import Objective
from jaxstyle.optimize.tiled import TileConfig, optimize_tiled
from jaxstyle.pairs import Pair, make_pairs

__all__ = [
    "CONTENT_LOSSES",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_STYLE_LAYERS",
    "INITS",
    "OBJECTIVES",
    "OPTIMIZERS",
    "Bucket",
    "EngineConfig",
    "Gatys",
    "Lapstyle",
    "Objective",
    "Pair",
    "PairResult",
    "StylizeConfig",
    "TileConfig",
    "make_pairs",
    "optimize_pairs",
    "optimize_tiled",
    "stylize",
]
