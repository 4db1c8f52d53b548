"""The public encoder object: frozen VGG parameters + config, a pytree with a pure apply.

Built from weights already in memory (:meth:`Encoder.from_weights`); finding weights by name
or file is the weights layer's job (:func:`jaxstyle.load_encoder`, in
:mod:`jaxstyle.weights.encoders`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxstyle.models.vgg import VGGConfig, VGGWeights, check_layers, vgg_features


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

    @classmethod
    def from_weights(
        cls,
        weights: VGGWeights,
        *,
        pooling: str = "max",
        padding: str | None = None,
        normalization: str | None = None,
        remat: bool = False,
        dtype: Any = jnp.float32,
    ) -> Encoder:
        """An encoder of ``weights`` (numpy or JAX arrays), its parameters cast to ``dtype``.

        Args:
          weights: parameters plus the padding and normalization they were trained with.
          pooling: ``max`` or ``avg`` (Gatys et al. prefer ``avg`` for image synthesis).
          padding, normalization: override what ``weights`` records
            (``zero``/``reflect``; ``torch``/``caffe``/``none``).
          remat: wrap each block in ``jax.checkpoint`` to save activation memory.
        """
        config = VGGConfig(
            arch=weights.arch,
            pooling=pooling,
            padding=padding or weights.padding,
            normalization=normalization or weights.normalization,
            remat=remat,
        )
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), weights.params)
        return cls(params=params, config=config)
