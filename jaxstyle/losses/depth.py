"""Depth loss through a pluggable monocular depth network (AdaIN + depth, seed doc 002).

``L_depth = mean((d(output) - d(content))^2)`` where ``d`` is a frozen depth network applied
to images in [0, 1]. The seed document uses monodepth2, which ships as ``"monodepth2"``
(:mod:`jaxstyle.models.monodepth`, every ResNet depth of the release). Its weights are the
user's: ``--config.depth.weights`` names a release model folder (``mono_640x192/`` with
``encoder.pth`` and ``depth.pth``, or ``.safetensors`` copies); nothing is downloaded.
Networks are loaded by name in the weights layer (:mod:`jaxstyle.weights.depth`), where any
other network mapping NHWC RGB in [0, 1] to NHWC depth (or disparity) plugs in the same way;
this module only defines the frozen network's type and the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


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

