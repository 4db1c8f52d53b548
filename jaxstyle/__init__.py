"""jaxstyle: neural style transfer at accelerator scale in JAX/Flax."""

from jaxstyle.errors import InputError, JaxstyleError, WeightsError
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.encoders import load_encoder

__version__ = "0.1.0"

__all__ = ["Encoder", "InputError", "JaxstyleError", "WeightsError", "__version__", "load_encoder"]
