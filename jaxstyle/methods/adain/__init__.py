"""AdaIN (Huang & Belongie 2017) and its Laplacian and depth variants: a decoder of
adaptive-instance-normalised VGG features, trained on the shared trainer.

Its own code: the AdaIN op (``model.py``) and the stylizer and trainer (``method.py``). The
official pytorch-AdaIN file readers are shared with RAST (:mod:`jaxstyle.weights.adain_import`).
"""

from jaxstyle.methods.base.declaration import MIXING, PRESERVE_COLOR, SIZE, SOURCE, Method
from jaxstyle.options import Option

VGG = Option("vgg", "path", None, "official vgg_normalised.pth for official files (default: beside them, or "
             "the imported VGG19)", path="file", group="method")
METHOD = Method(
    "adain", "feed-forward: AdaIN decoder (Huang & Belongie 2017), + Laplacian/depth variants",
    kind="feed-forward", needs="a trained workdir, or the official decoder.pth + vgg_normalised.pth",
    loader="jaxstyle.methods.adain.method:load_stylizer", options=(SOURCE.with_default(None, required=True), VGG),
    controls=(SIZE, PRESERVE_COLOR, *MIXING), mixing=("style_weights", "masks"),
    trainer="jaxstyle.methods.adain.method:TRAINER",
)
