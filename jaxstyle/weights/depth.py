"""Depth networks by name, for the depth loss (:mod:`jaxstyle.losses.depth`).

``cfg.depth.network`` names a loader, ``cfg.depth.weights`` is what the loader reads.
``"monodepth2"`` ships (a release model folder, see :mod:`jaxstyle.weights.monodepth_import`);
any other network mapping NHWC RGB in [0, 1] to NHWC depth (or disparity) plugs in with::

    register_depth_network("mynet", loader)   # loader(weights) -> DepthNetwork

Loading lives here, in the weights layer, so that the loss is a pure function of the frozen
network it is handed and ``jaxstyle.losses`` never reads files.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxstyle.errors import WeightsError
from jaxstyle.losses.depth import DepthNetwork
from jaxstyle.models.monodepth import disparity
from jaxstyle.weights.monodepth_import import load_monodepth2

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
            "with jaxstyle.weights.depth.register_depth_network and import its weights"
        )
    return _LOADERS[name](weights)


def _monodepth2(weights: str) -> DepthNetwork:
    """monodepth2's full-resolution sigmoid disparity; ``weights`` is a release model folder."""
    params = jax.tree.map(jnp.asarray, load_monodepth2(weights))
    return DepthNetwork(params=params, apply_fn=disparity)


register_depth_network("monodepth2", _monodepth2)
