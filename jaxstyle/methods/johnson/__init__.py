"""Johnson et al. (2016): one network per style (pytorch/examples' TransformerNet), trained on
the shared trainer; pytorch/examples' saved models (candy.pth & co.) import directly.

Its own code: the network (``model.py``), the stylizer and trainer (``method.py``), the
importer (``importer.py``). The transformer net itself is shared (:mod:`jaxstyle.models.transformer_net`).
"""

from jaxstyle.methods.base.declaration import PRESERVE_COLOR, SIZE, SOURCE, Method

METHOD = Method(
    "johnson", "feed-forward, one style per network: Johnson et al. 2016 (imports pytorch/examples' candy.pth & co.)",
    kind="feed-forward", needs="a trained workdir, or pytorch/examples' candy.pth & co.",
    loader="jaxstyle.methods.johnson.method:load_stylizer", options=(SOURCE.with_default(None, required=True),),
    controls=(SIZE, PRESERVE_COLOR.with_default("none", choices=("none", "luminance"))),
    style_images=False, trainer="jaxstyle.methods.johnson.method:TRAINER",
)
