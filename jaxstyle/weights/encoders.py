"""Encoders by name: :func:`load_encoder` finds VGG weights and builds the encoder.

The model layer builds an :class:`~jaxstyle.models.encoder.Encoder` from weights in memory;
turning a name or a file into those weights (the embedded VGG16, imported files in the cache,
importable files on disk; see :mod:`jaxstyle.weights.registry`) is this layer's job.
Re-exported as ``jaxstyle.load_encoder``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp

from jaxstyle.errors import WeightsError
from jaxstyle.models.encoder import Encoder
from jaxstyle.models.vgg import ARCHS
from jaxstyle.weights.registry import resolve_weights


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
    """Load a VGG encoder.

    Args:
      name: ``vgg16`` or ``vgg19``.
      weights: a jaxstyle weights file (or any importable format, converted on the fly);
        ``None`` picks the embedded VGG16 for ``vgg16`` and the imported VGG19 for ``vgg19``.
      pooling, padding, normalization, remat, dtype: as for :meth:`Encoder.from_weights`
        (``padding`` and ``normalization`` default to what the weights file records).
    """
    if name not in ARCHS:
        raise WeightsError(f"unknown encoder {name!r}; expected one of {', '.join(ARCHS)}")
    w = resolve_weights(name, weights)
    if w.arch != name:
        raise WeightsError(f"{w.source}: holds {w.arch} weights, but encoder {name!r} was asked for")
    return Encoder.from_weights(
        w, pooling=pooling, padding=padding, normalization=normalization, remat=remat, dtype=dtype
    )
