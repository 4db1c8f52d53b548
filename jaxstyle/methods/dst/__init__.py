"""Deformable Style Transfer (Kim et al. 2020): the image and a keypoint-guided warp, jointly.

Its own code: the objective (``objective.py``) and the stylizer (``method.py``). It builds on
shared blocks: STROTSS' objective (:mod:`jaxstyle.optimize.strotss`), the Gatys terms
(:mod:`jaxstyle.optimize.gatys`), thin-plate splines (:mod:`jaxstyle.ops.tps`) and Neural
Best-Buddies (:mod:`jaxstyle.correspond`).
"""

from jaxstyle.methods.base.declaration import (
    CONTENT_LAYERS,
    OPTIMIZATION_CONTROLS,
    STROTSS_OPTIONS,
    STROTSS_SCHEDULE,
    STYLE_LAYERS,
    Method,
)
from jaxstyle.options import Option, with_defaults

_DST = "deformable style transfer"
DST_OPTIONS = (
    Option("dst_loss", "str", "strotss", "the content/style losses: STROTSS' (the official) or Gram + feature "
           "MSE", choices=("strotss", "gatys"), group=_DST),
    Option("points", "path", None, "keypoints JSON {content: [[x,y],...], style: [[x,y],...]} for the one pair "
           "(default: found by Neural Best-Buddies)", path="file", metavar="FILE", group=_DST),
    Option("warp_weight", "float", 0.5, "beta, keypoints to their targets", minimum=0.0, group=_DST),
    Option("reg_weight", "float", 50.0, "gamma, total variation of the warp field", minimum=0.0, group=_DST),
    Option("warp_lr", "float", None, "learning rate of the keypoint displacements (px per Adam step; default "
           "0.1 with --dst-loss gatys, the official SGD 0.3 with strotss)", minimum=0.0, group=_DST),
    Option("style_weight", "float", None, "style loss weight (default per --dst-loss)", minimum=0.0, group=_DST),
    CONTENT_LAYERS.with_default(None, group=_DST, help="--dst-loss gatys: content taps (default relu4_2)"),
    STYLE_LAYERS.with_default(None, group=_DST, help="--dst-loss gatys: style taps (default relu1_1..relu5_1)"),
)
# STROTSS' schedule; optimizer and rate depend on --dst-loss (SGD 0.075 on the image and 0.3 on θ for
# strotss, the official run; Adam 2e-3 on the image for gatys: docs/methods/dst.md).
_SCHEDULE = with_defaults(STROTSS_SCHEDULE, optimizer=None, lr=None)
_STROTSS = with_defaults(STROTSS_OPTIONS, content_weight=None)

METHOD = Method(
    "dst", "optimization: Deformable Style Transfer, the image and a keypoint-guided warp jointly "
    "(Kim et al. 2020)", kind="optimization", needs="nothing (keypoints by Neural Best-Buddies, or --points)",
    loader="jaxstyle.methods.dst.method:load_stylizer", options=(*_SCHEDULE, *_STROTSS, *DST_OPTIONS),
    controls=OPTIMIZATION_CONTROLS, runs_offline=True,
)
