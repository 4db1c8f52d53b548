"""Style swap (Chen & Schmidt 2016): every content patch replaced by its closest style patch.

Its own code: the inversion objective (``objective.py``), the inverse network's stylizer and
trainer (``method.py``) and irasin/Pytorch_Style_Swap's decoder importer (``importer.py``). The
swap itself is a shared op (:mod:`jaxstyle.ops.style_swap`; WCT's ``--wct-swap5`` uses it).
"""

from jaxstyle.methods.base.declaration import (
    ENGINE_OPTIONS,
    OPTIMIZATION_CONTROLS,
    SOURCE,
    TV_WEIGHT,
    Method,
)
from jaxstyle.options import Option, with_defaults

_SWAP = "style swap"
SWAP_OPTIONS = (
    Option("swap_layer", "str", "relu3_1", "encoder tap whose patches are swapped", group=_SWAP),
    Option("patch_size", "int", 3, "swap patch size in feature pixels", minimum=1, maximum=64, group=_SWAP),
    Option("swap_stride", "int", 1, "stride between swap patches (at most --patch-size)", minimum=1, maximum=64,
           group=_SWAP),
    Option("swap_chunk", "int", 1024, "style patches scored at once (memory)", minimum=1, maximum=10**7,
           group=_SWAP),
    Option("swap_weight", "float", 1.0, "weight of the feature loss to the swapped features", exclusive_minimum=0.0,
           group=_SWAP),
    TV_WEIGHT.with_default(10.0, help="total-variation weight (on mean squared differences)"),
    Option("refine_steps", "int", None, "with --checkpoint (inverse network): N optimization steps from its "
           "output (default 0)", minimum=0, maximum=10**7, metavar="N", group=_SWAP),
)
# The official synth(): Adam lr 0.05 from the content, 100 steps. The encoder default depends on
# the mode (VGG16 to optimize; the training run's, or VGG19 for irasin's file).
_ENGINE = with_defaults(ENGINE_OPTIONS, steps=100, optimizer="adam", lr=0.05, encoder=None)
METHOD = Method(
    "styleswap", "optimization or inverse network: patch-based style swap at relu3_1 (Chen & Schmidt 2016)",
    kind="optimization", needs="nothing to optimize; a trained workdir or irasin's model_state.pth for the "
    "inverse network", loader="jaxstyle.methods.styleswap.method:load_stylizer",
    options=(SOURCE.with_default(None, help="an inverse network: a training workdir, or irasin/Pytorch_Style_Swap's "
                                 "model_state.pth (default: optimize)"), *_ENGINE, *SWAP_OPTIONS),
    controls=OPTIMIZATION_CONTROLS, trainer="jaxstyle.methods.styleswap.method:TRAINER", runs_offline=True,
)
