"""STROTSS (Kolkin et al. 2019): relaxed-EMD + self-similarity losses on sampled hypercolumns.

Its objective is shared with DST (:mod:`jaxstyle.optimize.strotss`, losses in
:mod:`jaxstyle.losses.strotss`); ``method.py`` registers it with the official schedule.
"""

from jaxstyle.methods.base.declaration import (
    OPTIMIZATION_CONTROLS,
    STROTSS_OPTIONS,
    STROTSS_SCHEDULE,
    Method,
)

METHOD = Method(
    "strotss", "optimization: relaxed-EMD + self-similarity hypercolumn losses on a Laplacian pyramid "
    "(Kolkin et al. 2019)", kind="optimization", needs="nothing (the embedded VGG16)",
    loader="jaxstyle.methods.strotss.method:load_stylizer", options=(*STROTSS_SCHEDULE, *STROTSS_OPTIONS),
    controls=OPTIMIZATION_CONTROLS, runs_offline=True,
)
