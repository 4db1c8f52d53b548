"""Encoders by name: :func:`load_encoder` finds a zoo network's weights and builds the encoder.

The model layer builds an :class:`~jaxstyle.models.encoder.Encoder` from weights in memory
(:mod:`jaxstyle.models.zoo` lists the networks); turning a name or a file into those weights
(the embedded VGG16 and AlexNet, imported files in the cache, importable files on disk; see
:mod:`jaxstyle.weights.registry`) is this layer's job. :func:`available_encoders` says which
networks can be loaded now, :func:`default_layers` which taps Gatys uses on each.
Re-exported as ``jaxstyle.load_encoder``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp

from jaxstyle.errors import InputError, WeightsError
from jaxstyle.models import zoo
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.registry import EMBEDDED_NAMES, imported_path, resolve_weights

ENCODER_NAMES = tuple(zoo.ARCHITECTURES)


def load_encoder(
    name: str = "vgg16",
    weights: str | Path | None = None,
    *,
    pooling: str = "max",
    padding: str | None = None,
    normalization: str | None = None,
    remat: bool = False,
    dtype: Any = jnp.float32,
) -> Encoder:
    """Load an encoder of the zoo.

    Args:
      name: ``vgg16`` (embedded), ``alexnet`` (embedded), ``vgg19``, ``vgg16_bn``,
        ``vgg19_bn``, ``resnet50``, ``densenet121`` or ``efficientnet_b0`` (imported with
        ``jaxstyle weights import FILE``).
      weights: a jaxstyle weights file or cache name (or any importable file, converted on
        the fly); ``None`` picks the embedded weights for ``vgg16``/``alexnet`` and the
        imported ``name`` otherwise.
      pooling, padding, normalization, remat, dtype: as for :meth:`Encoder.from_weights`
        (``padding`` and ``normalization`` default to what the weights file records).
    """
    if name not in zoo.ARCHITECTURES:
        raise WeightsError(f"unknown encoder {name!r}; expected one of {', '.join(ENCODER_NAMES)}")
    # Options first: a refused option should not cost reading a file.
    zoo.make_config(name, pooling=pooling, padding=padding or "zero",
                    normalization=normalization or "torch", remat=remat)
    w = resolve_weights(name, weights)
    if w.arch != name:
        raise WeightsError(f"{w.source}: holds {w.arch} weights, but encoder {name!r} was asked for")
    return Encoder.from_weights(
        w, pooling=pooling, padding=padding, normalization=normalization, remat=remat, dtype=dtype
    )


def available_encoders() -> list[str]:
    """Encoder names :func:`load_encoder` can load now without a ``weights`` argument.

    The embedded ones (``vgg16``, ``alexnet``) always; the others once their file is imported
    into the cache (``jaxstyle weights import FILE``). Zoo order (VGGs, AlexNet, ResNet,
    DenseNet, EfficientNet).
    """
    return [name for name in ENCODER_NAMES if name in EMBEDDED_NAMES or imported_path(name).is_file()]


def default_layers(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(content_layers, style_layers)`` Gatys uses on encoder ``name`` by default."""
    try:
        return zoo.default_layers(name)
    except InputError as e:
        raise WeightsError(str(e)) from None


def resolve_encoder_name(name: str) -> str:
    """``auto`` -> ``vgg19`` when VGG19 weights were imported, else the embedded ``vgg16``."""
    if name != "auto":
        return name
    return "vgg19" if imported_path("vgg19").is_file() else "vgg16"
