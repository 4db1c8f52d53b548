"""The public encoder object: frozen VGG parameters + config, a pytree with a pure apply."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxstyle.errors import WeightsError
from jaxstyle.models.vgg import ARCHS, VGGConfig, check_layers, vgg_features


@struct.dataclass
class Encoder:
    """A frozen feature extractor.

    ``enc(images, layers=("relu1_2", "relu4_2"))`` with ``images`` NHWC float32 RGB in [0, 1]
    returns ``{layer: features}``. ``Encoder`` is a pytree whose leaves are the parameters
    (the config is static), so it can be passed into ``jax.jit``/``vmap``/``grad`` as an
    argument — pass it rather than closing over it, or XLA embeds ~60 MB of constants.
    """

    params: dict[str, dict[str, jax.Array]]
    config: VGGConfig = struct.field(pytree_node=False)

    def __call__(self, images: jax.Array, layers: Sequence[str] = ("relu4_2",)) -> dict[str, jax.Array]:
        return vgg_features(self.params, images, tuple(layers), self.config)

    def apply(self, params, images: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """Pure form: features of ``images`` under ``params`` (for grads w.r.t. params)."""
        return vgg_features(params, images, tuple(layers), self.config)

    def check_layers(self, layers: Sequence[str]) -> None:
        check_layers(self.config.arch, layers)

    def with_options(self, **changes: Any) -> Encoder:
        """Same weights, other options (``pooling``, ``padding``, ``remat``...)."""
        return self.replace(config=self.config.__class__(**{**self.config.__dict__, **changes}))


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
      pooling: ``max`` or ``avg`` (Gatys et al. prefer ``avg`` for image synthesis).
      padding, normalization: override what the weights file records
        (``zero``/``reflect``; ``torch``/``caffe``/``none``).
      remat: wrap each block in ``jax.checkpoint`` to save activation memory.
    """
    from jaxstyle.weights.registry import resolve_weights

    if name not in ARCHS:
        raise WeightsError(f"unknown encoder {name!r}; expected one of {', '.join(ARCHS)}")
    w = resolve_weights(name, weights)
    if w.arch != name:
        raise WeightsError(f"{w.source}: holds {w.arch} weights, but encoder {name!r} was asked for")
    config = VGGConfig(
        arch=w.arch,
        pooling=pooling,
        padding=padding or w.padding,
        normalization=normalization or w.normalization,
        remat=remat,
    )
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), w.params)
    return Encoder(params=params, config=config)
