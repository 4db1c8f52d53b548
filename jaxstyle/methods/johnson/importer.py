"""Import pytorch/examples' ``fast_neural_style`` saved models (``candy.pth``, ``mosaic.pth``,
``rain_princess.pth``, ``udnie.pth``) into :class:`~jaxstyle.methods.johnson.model.JohnsonNet` params.

The files are 2017 ``torch.save(state_dict)`` pickles (legacy, non-zip format), read with
torch's ``weights_only`` loader, or a ``.safetensors`` copy with the same keys (no torch
needed). Their 30 legacy ``in*.running_mean/var`` buffers are dropped, as the reference's
``stylize()`` does; any other unexpected key is an error. Mapping: ``conv1..3``/``in1..3`` ->
``contract_0..2``, ``res{i}.conv{j}``/``res{i}.in{j}`` -> ``res_{i-1}_{j-1}``,
``deconv1..2``/``in4..5`` -> ``expand_0..1``, ``deconv3`` -> ``expand_2``; conv weights
OIHW -> HWIO, instance-norm ``weight``/``bias`` -> ``scale``/``bias``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.methods.johnson.model import JOHNSON
from jaxstyle.weights.importers import conv_from_state_dict, read_state_dict

HINT = "not a pytorch/examples fast_neural_style TransformerNet"
LEGACY_BUFFER = re.compile(r"in\d+\.running_(mean|var)$")


def torch_names() -> dict[str, tuple[str, str | None]]:
    """jaxstyle layer -> (torch conv prefix, torch instance-norm prefix or None)."""
    names = {f"contract_{i}": (f"conv{i + 1}.conv2d", f"in{i + 1}") for i in range(3)}
    for i in range(JOHNSON.residual_blocks):
        for j in range(2):
            names[f"res_{i}_{j}"] = (f"res{i + 1}.conv{j + 1}.conv2d", f"res{i + 1}.in{j + 1}")
    names["expand_0"] = ("deconv1.conv2d", "in4")
    names["expand_1"] = ("deconv2.conv2d", "in5")
    names["expand_2"] = ("deconv3.conv2d", None)
    return names


def params_from_state_dict(state: dict[str, np.ndarray], source: str) -> dict:
    """A pytorch/examples TransformerNet state_dict (numpy) -> ``{"net": {layer: ...}}`` params."""
    state = {k.removeprefix("module."): v for k, v in state.items() if not LEGACY_BUFFER.search(k)}
    net, used, cin = {}, set(), 3
    names = torch_names()
    for layer, cout, k in _layer_shapes():
        conv, norm = names[layer]
        layer_params = {"conv": conv_from_state_dict(state, conv, (cout, cin, k, k), source, HINT)}
        used |= {f"{conv}.weight", f"{conv}.bias"}
        if norm is not None:
            layer_params.update(_norm(state, norm, cout, source))
            used |= {f"{norm}.weight", f"{norm}.bias"}
        net[layer] = layer_params
        cin = cout
    extra = sorted(set(state) - used)
    if extra:
        raise WeightsError(f"{source}: unexpected keys {', '.join(extra[:4])}{'...' if len(extra) > 4 else ''} ({HINT})")
    return {"net": net}


def _layer_shapes() -> list[tuple[str, int, int]]:
    """(layer, out channels, kernel) of :data:`JOHNSON`, in forward order."""
    kernels = [k for _, k, _ in JOHNSON.contract] + [3] * (2 * JOHNSON.residual_blocks)
    kernels += [k for _, k, _ in JOHNSON.expand]
    return [(name, c, k) for (name, c, _), k in zip(JOHNSON.layers(), kernels, strict=True)]


def _norm(state: dict[str, np.ndarray], prefix: str, c: int, source: str) -> dict[str, np.ndarray]:
    w, b = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
    if w is None or b is None:
        raise WeightsError(f"{source}: missing {prefix}.weight/{prefix}.bias ({HINT})")
    if w.shape != (c,) or b.shape != (c,):
        raise WeightsError(f"{source}: {prefix}.weight has shape {w.shape}, expected ({c},) ({HINT})")
    return {"scale": np.asarray(w, np.float32), "bias": np.asarray(b, np.float32)}


def load_official(path: str | Path) -> dict:
    """Read ``candy.pth`` & co. (or a ``.safetensors`` copy) into :class:`JohnsonNet` params."""
    return params_from_state_dict(read_state_dict(path, "Johnson TransformerNet"), str(path))
