"""The public encoder object: frozen parameters + config, a pytree with a pure apply.

One class for every network of the zoo (:mod:`jaxstyle.models.zoo`: VGG16/19 and their BN
variants, AlexNet, ResNet-50, DenseNet-121, EfficientNet-B0). The interface:

- ``enc(images, layers)`` -> ``{layer: NHWC features}`` for ``images`` NHWC float32 RGB in
  [0, 1]; ``layers`` are the network's tap names (``relu4_2`` for VGG, ``layer2`` for
  ResNet, ...) or their aliases (torchvision module paths), and the result is keyed by the
  names given. The forward stops after the deepest tap asked for.
- ``enc.apply(params, images, layers)``: the same as a pure function of the parameters.
- ``enc.check_layers(layers)``: a one-line InputError for a name the network does not have.
- ``enc.default_layers()``: the (content, style) taps Gatys uses on this network by default.
- ``enc.with_options(pooling=..., padding=..., normalization=..., remat=...)``: same
  weights, other static options (refused where the network cannot honour them).

Built from weights already in memory (:meth:`Encoder.from_weights`); finding weights by name
or file is the weights layer's job (:func:`jaxstyle.load_encoder`, in
:mod:`jaxstyle.weights.encoders`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxstyle.models.netlib import Architecture
from jaxstyle.models.vgg import VGGWeights
from jaxstyle.models.zoo import architecture, make_config, random_params


@struct.dataclass
class Encoder:
    """A frozen feature extractor (see the module docstring).

    ``Encoder`` is a pytree whose leaves are the parameters (the config is static), so it can
    be passed into ``jax.jit``/``vmap``/``grad`` as an argument — pass it rather than closing
    over it, or XLA embeds the weights (~60 MB for VGG) as constants.
    """

    params: dict[str, Any]
    config: Any = struct.field(pytree_node=False)  # VGGConfig or NetConfig: arch + options

    @property
    def arch(self) -> str:
        return self.config.arch

    @property
    def architecture(self) -> Architecture:
        return architecture(self.config.arch)

    def __call__(self, images: jax.Array, layers: Sequence[str] = ("relu4_2",)) -> dict[str, jax.Array]:
        return self.apply(self.params, images, layers)

    def apply(self, params, images: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
        """Pure form: features of ``images`` under ``params`` (for grads w.r.t. params)."""
        layers = tuple(layers)
        arch = self.architecture
        taps = tuple(arch.resolve(name) for name in layers)
        feats = arch.features(params, images, tuple(dict.fromkeys(taps)), self.config)
        return {name: feats[tap] for name, tap in zip(layers, taps, strict=True)}

    def check_layers(self, layers: Sequence[str]) -> None:
        for name in layers:
            self.architecture.resolve(name)

    def default_layers(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(content_layers, style_layers)``: this network's default Gatys taps."""
        arch = self.architecture
        return arch.content_layers, arch.style_layers

    def with_options(self, **changes: Any) -> Encoder:
        """Same weights, other options (``pooling``, ``padding``, ``normalization``, ``remat``)."""
        options = {**self.config.__dict__, **changes}
        return self.replace(config=make_config(**options))

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
          weights: parameters of ``weights.arch`` plus the padding and normalization they
            were trained with.
          pooling: ``max`` or ``avg`` (Gatys et al. prefer ``avg`` for image synthesis);
            networks without max pools (EfficientNet) take ``max`` only.
          padding, normalization: override what ``weights`` records
            (``zero``/``reflect``; ``torch``/``none``, VGG also ``caffe``).
          remat: wrap each block in ``jax.checkpoint`` to save activation memory.
        """
        config = make_config(
            weights.arch,
            pooling=pooling,
            padding=padding or weights.padding,
            normalization=normalization or weights.normalization,
            remat=remat,
        )
        # One device_put for the whole tree: a jnp.asarray per leaf costs ~10 ms each on a busy
        # CPU, seconds for the ~300 tensors of ResNet-50 or EfficientNet.
        params = jax.device_put(jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), weights.params))
        return cls(params=params, config=config)

    @classmethod
    def random(cls, arch: str, seed: int = 0, **options: Any) -> Encoder:
        """An ``arch`` encoder with random He-initialised weights
        (:func:`~jaxstyle.models.zoo.random_params`): tests, benchmarks and offline smoke runs
        only, its features mean nothing for style. ``options`` as :meth:`with_options`."""
        params = jax.device_put(random_params(arch, seed))  # one call: per-leaf asarray costs ~10 ms each
        return cls(params=params, config=make_config(arch, **options))
