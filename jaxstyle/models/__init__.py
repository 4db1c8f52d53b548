"""Networks: frozen encoders (VGG), and the trainable parts of feed-forward methods.

Models never read files: :mod:`jaxstyle.weights` loads weights and builds encoders from them
(``jaxstyle.load_encoder``).
"""

from jaxstyle.models.encoder import Encoder
from jaxstyle.models.vgg import VGGConfig, VGGWeights, layer_names

__all__ = ["Encoder", "VGGConfig", "VGGWeights", "layer_names"]
