"""Multimodal Transfer (Wang et al. 2017): one style learned by a 256 -> 512 -> 1024 px hierarchy
of style, enhance and refine subnets, trained on the shared trainer."""

from jaxstyle.methods.base.declaration import PRESERVE_COLOR, SIZE, SOURCE, Method
from jaxstyle.options import Option

METHOD = Method(
    "multimodal", "feed-forward, one style per network: Multimodal Transfer's 256/512/1024 hierarchy (Wang et al. 2017)",
    kind="feed-forward", needs="a trained workdir", loader="jaxstyle.methods.multimodal.method:load_stylizer",
    options=(SOURCE.with_default(None, required=True),),
    controls=(SIZE.with_default(1024), PRESERVE_COLOR.with_default("none", choices=("none", "luminance")),
              Option("all_scales", "bool", False, "also write each subnet's output (NAME_256.png, NAME_512.png "
                     "at --size 1024)", group="controls")),
    style_images=False, trainer="jaxstyle.methods.multimodal.method:TRAINER",
)
