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
from jaxstyle.models.vgg import VGGConfig, VGGWeights, param_shapes, vgg_features
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

    def __call__(self, images: jax.Array, layers: Sequence[str] = ("relu4_2",),
                 valid: jax.Array | None = None) -> dict[str, jax.Array]:
        return self.apply(self.params, images, layers, valid)

    @property
    def pads_exactly(self) -> bool:
        """Whether features of a padded canvas with ``valid`` equal those of its valid corner
        alone (VGG with zero padding: every activation outside the corner is zeroed)."""
        return isinstance(self.config, VGGConfig) and self.config.padding == "zero"

    def apply(self, params, images: jax.Array, layers: Sequence[str],
              valid: jax.Array | None = None) -> dict[str, jax.Array]:
        """Pure form: features of ``images`` under ``params`` (for grads w.r.t. params).

        ``valid`` ((N,2) or (2,) ``[rows, cols]``): the images are the top-left corners of padded
        canvases (:mod:`jaxstyle.shapes`); where :attr:`pads_exactly`, the features inside the
        corners are those of the corners alone, elsewhere the padding is seen as image.
        """
        layers = tuple(layers)
        arch = self.architecture
        taps = tuple(arch.resolve(name) for name in layers)
        if valid is not None and self.pads_exactly:
            feats = vgg_features(params, images, tuple(dict.fromkeys(taps)), self.config, valid)
            return {name: feats[tap] for name, tap in zip(layers, taps, strict=True)}
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


def init_params(shapes: Any, rng: int | jax.Array = 0, *, gain: float = 1.0) -> Any:
    """Parameters for a pytree of ``ShapeDtypeStruct``: truncated-normal ``kernel``s, zero biases.

    Kernels get std ``sqrt(gain / fan_in)`` (``fan_in`` = all but the last axis; ``gain`` 1 is
    Flax's LeCun default, 2 is He), truncated at 2 std like ``variance_scaling``. With an int
    ``rng`` the draw is NumPy (nothing to compile); with a JAX key (e.g. inside the trainer's
    jitted init) it is ONE ``truncated_normal`` call sliced into kernels — a separate random op
    per kernel, as Flax's init does, costs ~30 s of XLA compile time on a CPU.
    """
    leaves, tree = jax.tree.flatten(shapes)
    is_kernel = [
        getattr(path[-1], "key", "") == "kernel"
        for path, _ in jax.tree_util.tree_flatten_with_path(shapes)[0]
    ]
    sizes = [int(np.prod(x.shape)) if k else 0 for x, k in zip(leaves, is_kernel, strict=True)]
    total = sum(sizes)
    if isinstance(rng, int | np.integer):
        gen = np.random.default_rng(int(rng))
        z = gen.standard_normal(total)
        while np.any(bad := np.abs(z) > 2):  # resample outside +-2 std (truncated normal)
            z[bad] = gen.standard_normal(int(bad.sum()))
        z = jnp.asarray(z, jnp.float32)
    else:
        z = jax.random.truncated_normal(rng, -2.0, 2.0, (total,), jnp.float32)
    out, offset = [], 0
    for x, k, n in zip(leaves, is_kernel, sizes, strict=True):
        if not k:
            out.append(jnp.zeros(x.shape, x.dtype))
            continue
        fan_in = int(np.prod(x.shape[:-1]))
        std = np.sqrt(gain / fan_in) / 0.87962566  # a unit normal truncated at +-2 has std 0.8796
        out.append((z[offset : offset + n].reshape(x.shape) * std).astype(x.dtype))
        offset += n
    return jax.tree.unflatten(tree, out)


def random_vgg_encoder(
    seed: int | jax.Array = 0, arch: str = "vgg19", width: float = 1.0, *, padding: str = "reflect"
):
    """A VGG :class:`~jaxstyle.Encoder` with He-initialised random weights and scaled widths.

    For tests and benchmarks only (no pretrained weights are needed offline): the features are
    meaningless for style, but every shape and code path is the real one.
    """
    shapes, cin = {}, 3
    for name, shape in param_shapes(arch).items():
        cout = max(1, int(round(shape["kernel"][-1] * width)))
        shapes[name] = {
            "kernel": jax.ShapeDtypeStruct((3, 3, cin, cout), jnp.float32),
            "bias": jax.ShapeDtypeStruct((cout,), jnp.float32),
        }
        cin = cout
    params = init_params(shapes, seed, gain=2.0)
    return Encoder(
        params=params, config=VGGConfig(arch=arch, padding=padding, normalization="none")
    )
