"""Import networks from ONNX files: read the initializers, map them onto Flax parameter trees.

ONNX is a protobuf format: reading it with the ``onnx`` package executes nothing from the file.
Only the initializers (and a few graph attributes that decide the architecture) are read; the
graph itself never runs in jaxstyle (onnxruntime is a test and benchmark reference only).

The shared readers live here; each network's importer (:mod:`jaxstyle.methods.cin.importer`,
:mod:`jaxstyle.methods.ghiasi.importer`) maps its own graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import WeightsError, first_line


def load_onnx(path: str | Path) -> Any:
    """The ``onnx.ModelProto`` in ``path``, or a one-line WeightsError (missing, not ONNX,
    truncated)."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: ONNX file not found")
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError, OSError, RuntimeError) as e:
        raise WeightsError(f"{path}: not a readable ONNX file ({first_line(e)})") from None
    if not model.graph.node:
        raise WeightsError(f"{path}: not an ONNX network (no graph nodes)")
    return model


def initializers(model: Any) -> dict[str, np.ndarray]:
    """``{name: array}`` of every initializer of ``model``'s graph."""
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def constants(model: Any) -> dict[str, np.ndarray]:
    """``{output name: array}`` of the graph's ``Constant`` nodes."""
    from onnx import numpy_helper

    return {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t)
        for n in model.graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
    }


def node_attrs(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (bytes decoded)."""
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    """(O, I, kh, kw) -> (kh, kw, I, O) float32."""
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)), dtype=np.float32)


def check_tree(params: Any, expected: Any, source: str) -> None:
    """Raise a one-line WeightsError naming the first missing, extra or mis-shaped tensor.

    ``expected``: the model's ``jax.eval_shape(init)`` parameter tree.
    """
    import jax

    got = {jax.tree_util.keystr(k): np.shape(v) for k, v in jax.tree_util.tree_leaves_with_path(params)}
    want = {jax.tree_util.keystr(k): tuple(v.shape) for k, v in jax.tree_util.tree_leaves_with_path(expected)}
    for key, shape in want.items():
        if key not in got:
            raise WeightsError(f"{source}: missing tensor {key}")
        if got[key] != shape:
            raise WeightsError(f"{source}: {key} has shape {got[key]}, expected {shape}")
    extra = sorted(set(got) - set(want))
    if extra:
        raise WeightsError(f"{source}: unexpected tensor {extra[0]}")
    from jaxstyle.weights.store import check_finite

    check_finite({jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(params)}, source)
