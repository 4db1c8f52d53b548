"""Pretrained weights: safe loading, the embedded default, importers for user files."""

from jaxstyle.weights.encoders import available_encoders, default_layers, load_encoder
from jaxstyle.weights.registry import imported_path, resolve_weights
from jaxstyle.weights.store import (
    VGGWeights,
    cache_dir,
    ensure_embedded,
    load_lpips_linear,
    load_vgg_weights,
    save_vgg_weights,
)

__all__ = [
    "VGGWeights",
    "available_encoders",
    "cache_dir",
    "default_layers",
    "ensure_embedded",
    "imported_path",
    "load_encoder",
    "load_lpips_linear",
    "load_vgg_weights",
    "resolve_weights",
    "save_vgg_weights",
]
