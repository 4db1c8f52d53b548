"""Style swap's optimization inversion (Chen & Schmidt 2016) as an engine objective.

Per pair the one variable is the image ``{"image": (H,W,3)}``. Its target is the style-swapped
feature map ``style_swap(Phi(content), Phi(style))`` at ``swap_layer``
(:mod:`jaxstyle.ops.style_swap`), computed once per pair in :meth:`StyleSwap.prepare` (vmapped
over the bucket's pairs); the loss is the feature MSE to it at that layer
(:func:`jaxstyle.losses.content_loss`) plus ``tv_weight`` times the squared total variation of
the image (:func:`jaxstyle.losses.total_variation`; both are means).

The official ``synth()`` runs Adam (lr 0.05) for 100 iterations from the content image, with
TV weight 1e-7 on *summed* squares and a content loss whose gradient is divided by its L1
norm. Adam is invariant to a rescaled gradient (up to its epsilon), so plain MSE under Adam is
the same optimisation; the defaults and how they were chosen are in
:mod:`jaxstyle.methods.styleswap.method`.

With ``start_input`` the objective takes a per-pair extra input ``start`` (an image, resized to
the content's shape at each scale) as its starting point: the inverse network's output refined
by a few steps (``jaxstyle stylize --method styleswap --checkpoint DIR --refine-steps N``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.io import resize
from jaxstyle.losses import (
    content_loss,
    masked_content_loss,
    masked_total_variation,
    total_variation,
    valid_mask,
)
from jaxstyle.models.encoder import Encoder
from jaxstyle.ops.style_swap import DEFAULT_CHUNK, style_swap
from jaxstyle.optimize.engine import EngineConfig, check_fields
from jaxstyle.shapes import Placement

DEFAULT_SWAP_LAYER = "relu3_1"
DEFAULT_TV_WEIGHT = 10.0  # on mean squared differences; see jaxstyle.methods.styleswap.method


def swap_latents(vgg: Encoder, contents: jax.Array, styles: jax.Array, layer: str, patch: int, stride: int,
                 chunk: int = DEFAULT_CHUNK, valid: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(Phi(c), Phi(s), SS(Phi(c), Phi(s)))`` at ``layer`` for P pairs: (P,H,W,3), (P,h,w,3) -> features
    (``valid`` (P,2): the contents are the corners of padded canvases)."""
    fc = vgg(contents, (layer,), valid)[layer]
    fs = vgg(styles, (layer,))[layer]
    swap = functools.partial(style_swap, patch=patch, stride=stride, chunk=chunk)
    return fc, fs, jax.vmap(swap)(fc, fs)


@dataclasses.dataclass(frozen=True)
class StyleSwap:
    """Match the style-swapped features of each pair at ``swap_layer``, plus TV on the image.

    ``encoder`` is the frozen network (left out of equality, passed into jit as an argument).
    ``swap_chunk`` only bounds the swap's memory (never changes a result).
    """

    swap_layer: str = DEFAULT_SWAP_LAYER
    patch_size: int = 3
    swap_stride: int = 1
    swap_chunk: int = DEFAULT_CHUNK
    swap_weight: float = 1.0
    tv_weight: float = DEFAULT_TV_WEIGHT
    start_input: bool = False
    encoder: Encoder | None = dataclasses.field(default=None, compare=False, repr=False)

    fits = ("pad", "resize")  # canonical canvases (jaxstyle.shapes): padding masked out of both terms

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        return ("start",) if self.start_input else ()

    def frozen(self) -> dict[str, Any]:
        return {"encoder": self.encoder}

    def swap_targets(self, encoder: Encoder, contents: jax.Array, styles: jax.Array,
                     valid: jax.Array | None = None) -> jax.Array:
        """Swapped features of P pairs: (P,H,W,3), (P,h,w,3) in [0, 1] -> (P,H',W',C) at ``swap_layer``
        (``valid`` (P,2): the contents are the corners of padded canvases)."""
        return swap_latents(encoder, contents, styles, self.swap_layer, self.patch_size, self.swap_stride,
                            self.swap_chunk, valid)[2]

    def prepare(self, frozen: dict[str, Any], inputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Targets of P pairs: ``swapped`` (P,H',W',C) (and the canvas' ``valid`` corner when padded).

        On a padded canvas the padding's patches are swapped too but never compared (the loss
        is masked), and style patches come from the style image alone.
        """
        targets = {"swapped": self.swap_targets(frozen["encoder"], inputs["content"], inputs["style"],
                                                inputs.get("valid"))}
        if "valid" in inputs:
            targets["valid"] = inputs["valid"]
        return targets

    def init(self, inputs: dict[str, np.ndarray], rng: np.random.Generator, image: np.ndarray) -> dict[str, np.ndarray]:
        if self.start_input:
            start = np.asarray(inputs["start"], np.float32)
            canvas = inputs["content"].shape[:2]
            if "valid" in inputs:  # the start at the image's own shape, padded like the content
                valid = tuple(int(v) for v in inputs["valid"])
                image = Placement(valid, canvas).place(resize(start, valid))
            else:
                image = resize(start, canvas)
        return {"image": image}

    def loss(self, variables: dict[str, jax.Array], targets: dict[str, jax.Array], frozen: dict[str, Any]):
        """One pair: ``(total, {"swap": weighted feature MSE, "tv": weighted TV})``, scalars."""
        x = variables["image"][None]
        valid = targets.get("valid")
        feats = frozen["encoder"](x, (self.swap_layer,), None if valid is None else valid[None])[self.swap_layer]
        if valid is None:
            swap, tv = content_loss(feats, targets["swapped"][None]), total_variation(x)
        else:
            swap = masked_content_loss(feats, targets["swapped"][None], valid_mask(valid, feats.shape[1:3], x.shape[1:3]))
            tv = masked_total_variation(x, valid)
        parts = {"swap": self.swap_weight * swap}
        if self.tv_weight > 0:
            parts["tv"] = self.tv_weight * tv
        return sum(parts.values()), parts

    def image(self, variables: dict[str, jax.Array]) -> jax.Array:
        return variables["image"]


@dataclasses.dataclass(frozen=True)
class StyleSwapConfig(EngineConfig):
    """Engine settings plus the objective's (the CLI flags map 1:1 onto these fields).

    Defaults differ from the engine's where style swap wants other ones (Adam from the
    content, as the official code; :mod:`jaxstyle.methods.styleswap.method` says why these values).
    """

    steps: int = 100
    optimizer: str = "adam"
    lr: float | None = 0.05
    swap_layer: str = DEFAULT_SWAP_LAYER
    patch_size: int = 3
    swap_stride: int = 1
    swap_chunk: int = DEFAULT_CHUNK
    swap_weight: float = 1.0
    tv_weight: float = DEFAULT_TV_WEIGHT
    remat: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, choices={}, positive=("patch_size", "swap_stride", "swap_chunk", "swap_weight"),
                     non_negative=("tv_weight",))
        if self.swap_stride > self.patch_size:
            raise InputError(f"--swap-stride {self.swap_stride} > --patch-size {self.patch_size} leaves "
                             "feature pixels no patch covers")

    def objective(self, encoder: Encoder | None = None, start_input: bool = False) -> StyleSwap:
        names = [f.name for f in dataclasses.fields(StyleSwap) if f.compare and f.name != "start_input"]
        return StyleSwap(encoder=encoder, start_input=start_input, **{n: getattr(self, n) for n in names})

    def engine(self) -> EngineConfig:
        """The engine's fields of this config (what the engine reads)."""
        return self.engine_settings()
