"""Depth loss through a pluggable monocular depth network (AdaIN + depth, seed doc 002).

``L_depth = mean((d(output) - d(content))^2)`` where ``d`` is a frozen depth network applied
to images in [0, 1]. The seed document uses monodepth2; any network that maps NHWC RGB in
[0, 1] to NHWC depth (or disparity) can be plugged in::

    register_depth_network("mynet", loader)   # loader(weights_path) -> DepthNetwork

What works offline: the interface, the loss and the training plumbing. jaxstyle ships no
depth weights (nothing is downloaded); a real network (monodepth2 ...) needs a loader
registered for it and weights the user has. The built-in ``"random_conv"`` network (random
frozen convolutions, a seed as "weights") exists only to exercise the plumbing in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxstyle.errors import WeightsError


@struct.dataclass
class DepthNetwork:
    """A frozen depth estimator: a pytree of ``params`` plus a static pure ``apply_fn``.

    ``net(images)`` with images (N, H, W, 3) in [0, 1] returns depth (N, h, w, 1). Like the
    VGG ``Encoder``, pass it into jitted functions as an argument rather than closing over it.
    """

    params: Any
    apply_fn: Callable[[Any, jax.Array], jax.Array] = struct.field(pytree_node=False)

    def __call__(self, images: jax.Array) -> jax.Array:
        return self.apply_fn(self.params, images)


def depth_loss(net: DepthNetwork, output: jax.Array, content: jax.Array) -> jax.Array:
    """MSE between depth maps of ``output`` and ``content`` (N,H,W,3) -> scalar (mean)."""
    target = jax.lax.stop_gradient(net(content))
    return jnp.mean((net(output) - target) ** 2)


_LOADERS: dict[str, Callable[[str], DepthNetwork]] = {}


def register_depth_network(name: str, loader: Callable[[str], DepthNetwork]) -> None:
    """Make ``name`` usable as ``cfg.depth.network``; ``loader(weights) -> DepthNetwork``."""
    _LOADERS[name] = loader


def load_depth_network(name: str, weights: str = "") -> DepthNetwork:
    """The depth network registered as ``name`` with the user's ``weights``."""
    if name not in _LOADERS:
        known = ", ".join(sorted(_LOADERS)) or "none"
        raise WeightsError(
            f"depth network {name!r} is not available (registered: {known}); register a loader "
            "with jaxstyle.losses.depth.register_depth_network and import its weights"
        )
    return _LOADERS[name](weights)


def _random_conv_apply(params, images):
    x = images
    for i, p in enumerate(params):
        x = jax.lax.conv_general_dilated(
            x, p, (2, 2) if i == 0 else (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = jnp.tanh(x) if i < len(params) - 1 else jax.nn.softplus(x)
    return x


def _random_conv(weights: str) -> DepthNetwork:
    """Test stand-in: three frozen random 3x3 convs; ``weights`` is an integer seed."""
    key = jax.random.key(int(weights or 0))
    shapes = [(3, 3, 3, 8), (3, 3, 8, 8), (3, 3, 8, 1)]
    keys = jax.random.split(key, len(shapes))
    params = [jax.random.normal(k, s) / jnp.sqrt(9.0 * s[2]) for k, s in zip(keys, shapes, strict=True)]
    return DepthNetwork(params=params, apply_fn=_random_conv_apply)


register_depth_network("random_conv", _random_conv)
