"""Gatys et al. (2016) and Lapstyle (Li et al. 2017): content + Gram style losses, optimized.

The objectives are shared building blocks (:mod:`jaxstyle.optimize.gatys`: DST, the studies and
tiled runs use them too); this folder registers them as methods (``method.py``).
"""

from jaxstyle.methods.base.declaration import (
    ENGINE_OPTIONS,
    GATYS_LOSSES,
    OPTIMIZATION_CONTROLS,
    SCHEDULE,
    TILE,
    TILE_OVERLAP,
    Method,
)
from jaxstyle.options import with_defaults

_COMMON = dict(
    kind="optimization", needs="nothing (the embedded VGG16)", loader="jaxstyle.methods.gatys.method:load_stylizer",
    # 150 steps: the CLI's first run takes about a minute on a 2-core CPU (StylizeConfig's own default is 300).
    options=(*with_defaults(ENGINE_OPTIONS, steps=150), SCHEDULE, *GATYS_LOSSES),
    controls=(*OPTIMIZATION_CONTROLS, TILE, TILE_OVERLAP), runs_offline=True,
)
METHOD = Method("gatys", "optimization: content + Gram style losses (Gatys et al. 2016)", fixed={"objective": "gatys"},
               **_COMMON)
LAPSTYLE = Method("lapstyle", "optimization: Gatys + Laplacian loss (Li et al. 2017)",
                  fixed={"objective": "lapstyle"}, **_COMMON)
