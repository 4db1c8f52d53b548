"""Networks: frozen encoders (VGG), and the trainable parts of feed-forward methods."""

from jaxstyle.models.encoder import Encoder, load_encoder
from jaxstyle.models.vgg import VGGConfig, layer_names

__all__ = ["Encoder", "VGGConfig", "layer_names", "load_encoder"]
