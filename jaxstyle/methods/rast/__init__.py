"""RAST (Ma et al. 2023): restorable arbitrary style transfer, with multi-restoration,
idempotency and low-resolution losses, trained adversarially on the shared trainer.

Its own code: the network (``model.py``), the losses (``losses.py``), the stylizer and trainer
(``method.py``) and the official-release importer (``importer.py``).
"""

from jaxstyle.methods.base.declaration import PRESERVE_COLOR, SIZE, SOURCE, Method
from jaxstyle.options import Option

METHOD = Method(
    "rast", "feed-forward: restorable arbitrary style transfer (Ma et al. 2023)", kind="feed-forward",
    needs="a trained workdir, or the official transformer.pth + decoder.pth (+ vgg_normalised.pth)",
    loader="jaxstyle.methods.rast.method:load_stylizer",
    options=(SOURCE.with_default(None, required=True),
             Option("vgg", "path", None, "official vgg_normalised.pth for the official files (default: the "
                    "imported VGG19)", path="file", group="method")),
    controls=(SIZE, PRESERVE_COLOR), trainer="jaxstyle.methods.rast.method:TRAINER",
)
