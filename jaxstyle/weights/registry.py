"""Which weights a name means: the embedded VGG16, imported files in the cache, explicit paths."""

from __future__ import annotations

from pathlib import Path

from jaxstyle.errors import WeightsError
from jaxstyle.weights.store import VGGWeights, cache_dir, ensure_embedded, load_vgg_weights


def imported_path(arch: str) -> Path:
    """Where ``jaxstyle weights import`` puts the default weights for ``arch``."""
    return cache_dir() / f"{arch}.safetensors"


def resolve_weights(arch: str, weights: str | Path | None) -> VGGWeights:
    """Weights for ``arch``: an explicit file, else the cached/imported default."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found")
        if path.suffix == ".safetensors":
            try:
                return load_vgg_weights(path)
            except WeightsError:
                pass  # maybe a torchvision .safetensors state_dict: let the importers try
        from jaxstyle.weights.importers import import_weights

        return import_weights(path, arch=arch)
    if arch == "vgg16":
        vgg_path, _ = ensure_embedded()
        return load_vgg_weights(vgg_path)
    path = imported_path(arch)
    if not path.is_file():
        raise WeightsError(
            f"no {arch} weights imported yet: run `jaxstyle weights import FILE` with a torchvision, "
            f"vgg_normalised or Keras {arch} file (or `jaxstyle weights download {arch}`)"
        )
    return load_vgg_weights(path)
