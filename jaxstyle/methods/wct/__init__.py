"""WCT (Li et al. 2017): whitening and colouring at five VGG levels, coarse to fine, one trained
decoder per level. The transform is a shared op (:mod:`jaxstyle.ops.wct`)."""

from jaxstyle.methods.base.declaration import (
    ALPHA,
    MASKS,
    PRESERVE_COLOR,
    SIZE,
    SOURCE,
    STYLE_WEIGHTS,
    Method,
)
from jaxstyle.options import Option

METHOD = Method(
    "wct", "feed-forward: whitening and colouring at five VGG levels, coarse to fine (Li et al. 2017)",
    kind="feed-forward", needs="a trained workdir (five decoders)", loader="jaxstyle.methods.wct.method:load_stylizer",
    options=(SOURCE.with_default(None, required=True),),
    controls=(SIZE.with_default(512), PRESERVE_COLOR, ALPHA.with_default(0.6), STYLE_WEIGHTS, MASKS,
              Option("wct_swap5", "bool", False, "at relu5_1, style swap (3x3, stride 1) between the whitened "
                     "content and style, then colour", group="controls")),
    mixing=("style_weights", "masks"), trainer="jaxstyle.methods.wct.method:TRAINER",
)
