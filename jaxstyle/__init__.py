"""jaxstyle: neural style transfer at accelerator scale in JAX/Flax.

``Encoder`` and ``load_encoder`` are imported on first use, so ``import jaxstyle`` (and
``jaxstyle --help``, the declarations of ``jaxstyle methods``) load no JAX.
"""

from jaxstyle.errors import InputError, JaxstyleError, WeightsError

__version__ = "0.1.0"

__all__ = ["Encoder", "InputError", "JaxstyleError", "WeightsError", "__version__", "load_encoder",
           "stylize_collection"]


def __getattr__(name: str):
    if name == "Encoder":
        from jaxstyle.models.encoder import Encoder

        return Encoder
    if name == "load_encoder":
        from jaxstyle.weights.encoders import load_encoder

        return load_encoder
    if name == "stylize_collection":
        from jaxstyle.collection.job import stylize_collection

        return stylize_collection
    raise AttributeError(f"module 'jaxstyle' has no attribute {name!r}")
