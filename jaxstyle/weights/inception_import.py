"""The Inception-v3 files FID and ArtFID use -> jaxstyle's cache (``jaxstyle weights import FILE``).

=================  ====================================================  ========  ==================
cache name         file users have                                       variant   input
=================  ====================================================  ========  ==================
``pt_inception``   pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``  ``fid``   299 px, [-1, 1]
                   (TF's 2015 Inception ported; ``fc`` has 1008 classes)
``art_inception``  ArtFID's ``art_inception.pth`` (torchvision layout,    ``tv``    own size, [0, 1]
                   heads ``fc1``/``fc2``, ``AuxLogits1``/``AuxLogits2``)
=================  ====================================================  ========  ==================

Both are torchvision ``Inception3`` state_dicts; which one a file is comes from its keys and the
shape of its head, never its name (torchvision's own ImageNet Inception, 1000 classes, is refused:
it is not either network). The pytorch-fid file is read with torch's safe loader
(``weights_only``), like every ``.pth`` (:func:`jaxstyle.weights.importers.read_state_dict`).
Batch norms (eps 1e-3) are folded into their convs; the heads are never read. The result is a
``jaxstyle-net`` safetensors file (:mod:`jaxstyle.weights.pretrained`'s format) named after the
network; :func:`load_inception` reads it back.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.models.inception import conv_specs
from jaxstyle.weights.importers import detect_format, read_state_dict
from jaxstyle.weights.pretrained import cache_path, read_net, save_net

BN_EPS = 1e-3  # Inception's BasicConv2d: BatchNorm2d(eps=0.001)
_MARKER = b"Mixed_7c.branch_pool."  # a key only an Inception-v3 state_dict has


@dataclasses.dataclass(frozen=True)
class InceptionNet:
    """One importable Inception and how its input is prepared (:mod:`jaxstyle.metrics.fid`)."""

    name: str
    variant: str  # jaxstyle.models.inception.VARIANTS
    resize: int | None  # bilinear resize to resize x resize first (None: the image's own size)
    scale_to_pm1: bool  # map [0, 1] to [-1, 1] (2x - 1) before the network
    file: str
    url: str
    summary: str

    def missing(self) -> str:
        """What to do when it is not imported (one line)."""
        return f"{self.name} is not imported: download {self.file} ({self.url}) and run `jaxstyle weights import {self.file}`"


INCEPTION_NETS: dict[str, InceptionNet] = {
    "art_inception": InceptionNet(
        "art_inception", "tv", None, False, "art_inception.pth",
        "https://huggingface.co/matthias-wright/art_inception/resolve/main/art_inception.pth",
        "ArtFID's Inception-v3 trained on art (Wright & Ommer 2022), torchvision blocks"),
    "pt_inception": InceptionNet(
        "pt_inception", "fid", 299, True, "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "pytorch-fid's FID Inception (TF inception-2015-12-05), FIDInceptionA/C/E blocks"),
}


def is_inception_file(path: str | Path) -> bool:
    """Whether ``path`` holds an Inception-v3 state_dict, from its bytes (no tensor is read).

    The keys sit in a zip ``.pth``'s ``data.pkl``, at the start of a legacy ``.pth`` (before the
    tensor data) and in a safetensors header.
    """
    path = Path(path)
    try:
        fmt = detect_format(path)
        if fmt == "torch-zip":
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                return name is not None and _MARKER in z.read(name)
        if fmt in ("torch-legacy", "safetensors"):
            with open(path, "rb") as f:
                return _MARKER in f.read(2**20)
    except (WeightsError, OSError, zipfile.BadZipFile):
        return False  # the encoder importers report what is wrong with it
    return False


def detect_net(state: dict[str, np.ndarray], source: str) -> str:
    """``pt_inception`` or ``art_inception`` from a state_dict's head; refuse other Inceptions."""
    if "fc1.weight" in state or "fc2.weight" in state:
        return "art_inception"
    fc = state.get("fc.weight")
    if fc is not None and np.shape(fc)[0] == 1008:
        return "pt_inception"
    classes = "no fc head" if fc is None else f"an fc head of {np.shape(fc)[0]} classes"
    raise WeightsError(
        f"{source}: an Inception-v3 with {classes}, neither pytorch-fid's FID network (1008 classes) nor "
        "ArtFID's art_inception (fc1/fc2); torchvision's ImageNet Inception gives FIDs no paper reports"
    )


def _tensor(state: dict[str, np.ndarray], key: str, shape: tuple[int, ...], source: str) -> np.ndarray:
    value = state.get(key)
    if value is None:
        raise WeightsError(f"{source}: missing tensor {key} (Inception-v3)")
    if tuple(np.shape(value)) != shape:
        raise WeightsError(f"{source}: {key} has shape {tuple(np.shape(value))}, expected {shape} (Inception-v3)")
    return np.asarray(value, np.float64)


def params_from_state_dict(state: dict[str, np.ndarray], source: str) -> dict[str, Any]:
    """Every BasicConv2d's conv and batch norm -> ``{"kernel": HWIO, "bias"}`` with the BN folded."""
    params: dict[str, Any] = {}
    for path, (cin, cout, (kh, kw), _, _) in conv_specs().items():
        weight = _tensor(state, f"{path}.conv.weight", (cout, cin, kh, kw), source)
        gamma, beta, mean, var = (_tensor(state, f"{path}.bn.{t}", (cout,), source)
                                  for t in ("weight", "bias", "running_mean", "running_var"))
        scale = gamma / np.sqrt(var + BN_EPS)
        node = params
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = {
            "kernel": np.ascontiguousarray((weight * scale[:, None, None, None]).transpose(2, 3, 1, 0), np.float32),
            "bias": (beta - mean * scale).astype(np.float32),
        }
    return params


def import_inception(path: str | Path) -> tuple[str, dict[str, Any], str]:
    """``(name, params, source)`` of an Inception file (validated, BN folded)."""
    path = Path(path)
    state = read_state_dict(path, "Inception-v3")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    name = detect_net(state, str(path))
    return name, params_from_state_dict(state, str(path)), f"{INCEPTION_NETS[name].file} ({path})"


def save_inception(name: str, params: dict[str, Any], source: str) -> Path:
    """Write imported ``params`` into the cache as ``NAME.safetensors`` (atomically)."""
    return save_net(cache_path(name), name, params, source)


def load_inception(name: str) -> dict[str, Any]:
    """The imported parameters of ``name``; a one-line WeightsError saying how to import them."""
    net = INCEPTION_NETS.get(name)
    if net is None:
        raise WeightsError(f"unknown Inception {name!r}; expected one of {', '.join(INCEPTION_NETS)}")
    path = cache_path(name)
    if not path.is_file():
        raise WeightsError(net.missing())
    return read_net(path, name)


def status(name: str) -> str:
    """``available`` or ``not imported`` (for ``jaxstyle weights list``)."""
    return "available" if cache_path(name).is_file() else "not imported"
