"""Gatys et al. 2016 and Lapstyle (Li et al. 2017) as engine objectives, and their front end.

Per pair, the one variable is the image ``{"image": (H,W,3)}``, compared with
- the content: feature MSE at ``content_layers`` (:func:`jaxstyle.losses.content_loss`, mean
  over layers), or LPIPS as a perceptual content loss (``content_loss="lpips"``);
- the style: the Gatys Gram loss at ``style_layers`` (:func:`jaxstyle.losses.gram_style_loss`,
  mean over layers);
- itself: squared total variation; and, for Lapstyle, the Laplacian loss against the content
  (:func:`jaxstyle.losses.laplacian_loss`). A term whose weight is 0 is not computed.

:class:`StylizeConfig` and :func:`stylize` are the front end the CLI uses: one flat config
(engine settings + objective settings) and images in, images out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.losses import (
    content_loss,
    gram_matrix,
    gram_style_loss,
    laplacian_loss,
    total_variation,
)
from jaxstyle.metrics import LPIPS, default_lpips
from jaxstyle.models.encoder import Encoder
from jaxstyle.optimize.engine import EngineConfig, FrameFn, ProgressFn, check_fields, optimize_pairs
from jaxstyle.pairs import Pair, make_pairs
from jaxstyle.weights.encoders import load_encoder

CONTENT_LOSSES = ("mse", "lpips")
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)


@dataclasses.dataclass(frozen=True)
class Gatys:
    """Gatys et al. 2016: content + Gram style + total variation on the image.

    Default weights are for images in [0, 1] and VGG16/VGG19 with torchvision normalisation,
    chosen by eye on the bundled samples and the shared test photos at 256-512 px with L-BFGS
    (README "Defaults"). ``content_weight`` None: 1 for feature MSE, 20 for LPIPS.
    ``encoder`` (and ``lpips`` for the LPIPS content loss) are the frozen networks; they are
    left out of equality (the engine passes them into jit as arguments), so objectives that
    differ only in their networks' parameter values share compiled programs.
    """

    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_loss: str = "mse"
    content_weight: float | None = None
    style_weight: float = 1e5
    tv_weight: float = 1.0
    lap_weight: float = 0.0
    lap_pool: int = 4  # average pooling before the Laplacian
    encoder: Encoder | None = dataclasses.field(default=None, compare=False, repr=False)
    lpips: LPIPS | None = dataclasses.field(default=None, compare=False, repr=False)

    extra_inputs: ClassVar[tuple[str, ...]] = ()

    def weight(self, term: str) -> float:
        """The weight of loss term ``term`` (content, style, tv, lap)."""
        if term == "content" and self.content_weight is None:
            return 20.0 if self.content_loss == "lpips" else 1.0
        return float(getattr(self, f"{term}_weight"))

    def frozen(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "lpips": self.lpips}

    def prepare(self, frozen: dict[str, Any], inputs: dict[str, jax.Array]) -> dict[str, Any]:
        """Targets of P pairs: ``style_grams`` {layer: (P,C,C)}, the ``content`` (P,H,W,3), and
        ``content_feats`` {layer: (P,h,w,C)} (feature MSE) or ``lpips_feats`` [(P,h,w,c)] (LPIPS)."""
        return {**self.content_targets(frozen, inputs["content"]), **self.style_targets(frozen, inputs["style"])}

    # The two halves of ``prepare``, split so tiled optimization (jaxstyle.optimize.tiled) can
    # take the style's Grams once from the whole style and the content targets per tile.

    def content_targets(self, frozen: dict[str, Any], content: jax.Array) -> dict[str, Any]:
        """The targets taken from the content (P,H,W,3): ``content`` and its features."""
        if self.content_loss == "mse":
            return {"content": content, "content_feats": frozen["encoder"](content, self.content_layers)}
        return {"content": content, "lpips_feats": frozen["lpips"].features(content)}

    def style_targets(self, frozen: dict[str, Any], style: jax.Array, weight: jax.Array | None = None) -> dict[str, Any]:
        """``style_grams`` {layer: (P,C,C)} of the style (P,h,w,3): means over positions.

        ``weight`` (P,h,w), optional: a per-pixel weight, area-pooled to each layer's grid, making
        each Gram a weighted mean (tiles of a large style add up to its Gram this way).
        """
        feats = frozen["encoder"](style, self.style_layers)
        if weight is None:
            return {"style_grams": {layer: gram_matrix(feats[layer]) for layer in self.style_layers}}
        return {"style_grams": {layer: _weighted_gram(feats[layer], weight) for layer in self.style_layers}}

    def deepest_stride(self) -> int:
        """Image pixels per position of the deepest encoder layer this objective reads."""
        layers = self.style_layers + (self.content_layers if self.content_loss == "mse" else ())
        return max(_layer_stride(layer) for layer in layers)

    def init(self, inputs: dict[str, np.ndarray], rng: np.random.Generator, image: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": image}

    def loss(self, variables: dict[str, jax.Array], targets: dict[str, Any], frozen: dict[str, Any]):
        """One pair: ``(total, {term: weighted loss})``, scalars; the terms are means (see module doc)."""
        x = variables["image"][None]
        mse_content = self.content_loss == "mse"
        layers = tuple(dict.fromkeys(self.style_layers + (self.content_layers if mse_content else ())))
        feats = frozen["encoder"](x, layers)
        parts = {}
        if mse_content:
            parts["content"] = sum(
                content_loss(feats[layer], targets["content_feats"][layer]) for layer in self.content_layers
            ) / len(self.content_layers)
        else:
            lpips = frozen["lpips"]
            parts["content"] = lpips.distance_from_features(lpips.features(x), targets["lpips_feats"])[0]
        parts["style"] = sum(
            gram_style_loss(feats[layer], targets["style_grams"][layer]) for layer in self.style_layers
        ) / len(self.style_layers)
        if self.weight("tv") > 0:
            parts["tv"] = total_variation(x)
        if self.weight("lap") > 0:
            parts["lap"] = laplacian_loss(x, targets["content"][None], self.lap_pool)
        weighted = {term: self.weight(term) * value for term, value in parts.items()}
        return sum(weighted.values()), weighted

    def image(self, variables: dict[str, jax.Array]) -> jax.Array:
        return variables["image"]


def _layer_stride(layer: str) -> int:
    """Pixels per position of VGG tap ``layer`` (``relu3_1``: 4, ``pool3``: 8)."""
    block = int(layer[-3] if layer[-2] == "_" else layer[-1])
    return 2 ** (block - (0 if layer.startswith("pool") else 1))


def _weighted_gram(f: jax.Array, weight: jax.Array) -> jax.Array:
    """Weighted Gram ``sum_k w_k F_ki F_kj / sum_k w_k``: (P,h,w,C), pixel weights (P,H,W) -> (P,C,C).

    The weights are averaged over each feature position's ``s x s`` pixels (``s = H // h``).
    """
    p, h, w, c = f.shape
    s = weight.shape[1] // h
    pooled = weight[:, : h * s, : w * s].reshape(p, h, s, w, s).mean(axis=(2, 4))
    g = jnp.einsum("pk,pki,pkj->pij", pooled.reshape(p, -1), f.reshape(p, -1, c), f.reshape(p, -1, c),
                   precision=jax.lax.Precision.HIGHEST)
    return g / jnp.sum(pooled, axis=(1, 2))[:, None, None]


@dataclasses.dataclass(frozen=True)
class Lapstyle(Gatys):
    """Gatys + the Laplacian loss of Li et al. 2017 ("Laplacian-Steered Neural Style Transfer")."""

    lap_weight: float = 1e3


# The objectives StylizeConfig.method names.
OBJECTIVES: dict[str, type[Gatys]] = {"gatys": Gatys, "lapstyle": Lapstyle}


@dataclasses.dataclass(frozen=True)
class StylizeConfig(EngineConfig):
    """Everything that defines a Gatys-family run (the CLI flags map 1:1 onto these fields):
    the engine's settings (:class:`EngineConfig`) and the objective's.

    Loss weights are for images in [0, 1]; ``None`` weights take the defaults of the objective
    ``method`` names (:data:`OBJECTIVES`; README "Defaults").
    """

    method: str = "gatys"
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    lap_weight: float | None = None
    lap_pool: int = 4
    content_loss: str = "mse"
    remat: bool = False  # jax.checkpoint around encoder blocks (less memory, more compute)

    def __post_init__(self):
        super().__post_init__()
        check_fields(
            self,
            choices={"method": tuple(OBJECTIVES), "content_loss": CONTENT_LOSSES},
            positive=("lap_pool",),
            non_negative=("content_weight", "style_weight", "tv_weight", "lap_weight"),
        )
        if not self.style_layers:
            raise InputError("at least one style layer is needed (--style-layers)")
        if not self.content_layers and self.content_loss == "mse" and self.weight("content") > 0:
            raise InputError("at least one content layer is needed (--content-layers), or --content-weight 0")

    def objective(self, encoder: Encoder | None = None, lpips: LPIPS | None = None) -> Gatys:
        """The objective ``method`` names with this config's layers, losses and weights."""
        settings = [f.name for f in dataclasses.fields(Gatys) if f.compare]  # not the networks
        given = {name: getattr(self, name) for name in settings if getattr(self, name) is not None}
        return OBJECTIVES[self.method](encoder=encoder, lpips=lpips, **given)

    def weight(self, term: str) -> float:
        """The weight of loss term ``term`` (content, style, tv, lap) in this run."""
        return self.objective().weight(term)


def stylize(
    contents: Sequence[np.ndarray],
    styles: Sequence[np.ndarray],
    cfg: StylizeConfig | None = None,
    *,
    encoder: Encoder | None = None,
    pairs: str | list[Pair] = "product",
    progress: ProgressFn | None = None,
    save_every: int = 0,
    on_frame: FrameFn | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 50,
    on_plan: Callable[[int], None] | None = None,
) -> list[np.ndarray | None]:
    """Stylize every pair; returns results (H,W,3 float32 [0,1]) in pair order.

    ``pairs``: ``product`` or ``zip`` of ``contents`` and ``styles``, or the pairs themselves.
    ``encoder``: default VGG16. The hooks and the return value are those of
    :func:`jaxstyle.optimize.engine.optimize_pairs` (``None`` for pairs other processes own).
    """
    cfg = cfg or StylizeConfig()
    pair_list = pairs if isinstance(pairs, list) else make_pairs(contents, styles, pairs)
    results = optimize_pairs(
        objective_with_networks(cfg, encoder), pair_list, cfg, progress=progress, save_every=save_every,
        on_frame=on_frame, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, on_plan=on_plan,
    )
    return [None if result is None else result.image for result in results]


def objective_with_networks(cfg: StylizeConfig, encoder: Encoder | None) -> Gatys:
    """``cfg``'s objective with ``encoder`` (default VGG16; remat as ``cfg`` asks) and LPIPS if used."""
    encoder = encoder or load_encoder("vgg16", remat=cfg.remat)
    if cfg.remat and not encoder.config.remat:
        encoder = encoder.with_options(remat=True)
    encoder.check_layers(cfg.style_layers + cfg.content_layers)
    return cfg.objective(encoder, default_lpips() if cfg.content_loss == "lpips" else None)
