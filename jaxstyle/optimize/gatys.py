"""Gatys et al. 2016 and Lapstyle (Li et al. 2017) as engine objectives, and their front end.

Per pair, the one variable is the image ``{"image": (H,W,3)}``, compared with
- the content: feature MSE at ``content_layers`` (:func:`jaxstyle.losses.content_loss`, mean
  over layers), or LPIPS as a perceptual content loss (``content_loss="lpips"``);
- the style: the Gatys Gram loss at ``style_layers`` (:func:`jaxstyle.losses.gram_style_loss`,
  mean over layers), or with ``style_loss="w2"`` the Wasserstein-2 distance between the
  Gaussians (mean and covariance) fitted to the features (:func:`jaxstyle.losses.w2_style_loss`);
- itself: squared total variation; and, for Lapstyle, the Laplacian loss against the content
  (:func:`jaxstyle.losses.laplacian_loss`). A term whose weight is 0 is not computed.

Sweeps: with ``traced_weights=True`` the loss weights are per-pair *inputs* of the objective
(:data:`WEIGHT_INPUTS`, built by :meth:`Gatys.weight_inputs`) instead of compile-time
constants, so settings that differ only in their weights (term weights, per-layer weights)
share one compiled program and run as one batch over the engine's pair axis.

:class:`StylizeConfig` and :func:`stylize` are the front end the CLI uses: one flat config
(engine settings + objective settings) and images in, images out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.losses import (
    content_loss,
    gram_matrix,
    gram_style_loss,
    laplacian_loss,
    masked_content_loss,
    masked_gram_style_loss,
    masked_laplacian_loss,
    masked_total_variation,
    total_variation,
    valid_mask,
    w2_style_loss,
    w2_style_target,
)
from jaxstyle.metrics import LPIPS, default_lpips
from jaxstyle.models.encoder import Encoder
from jaxstyle.optimize.engine import EngineConfig, FrameFn, ProgressFn, check_fields, optimize_pairs
from jaxstyle.pairs import Pair, make_pairs
from jaxstyle.weights.encoders import load_encoder

CONTENT_LOSSES = ("mse", "lpips")
COMPUTE_DTYPES = ("float32", "bfloat16")
STYLE_LOSSES = ("gram", "w2")
# Default style weight per style loss (images in [0, 1], VGG16 torch normalisation): at the
# content image, W2's per-layer squared distance (divided by C) is 1.0-2.6x the Gatys Gram loss on
# the four shared photo pairs at 128 px, so 5e4 keeps the style/content balance near Gram's 1e5.
DEFAULT_STYLE_WEIGHTS = {"gram": 1e5, "w2": 5e4}
TERMS = ("content", "style", "tv", "lap")
# The per-pair inputs of an objective with traced weights: the weight of each of TERMS (4,),
# of each style layer (len(style_layers),) and of each content layer (len(content_layers),).
WEIGHT_INPUTS = ("term_weights", "style_layer_weights", "content_layer_weights")
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

    The style (content) loss is the mean over ``style_layers`` (``content_layers``). With
    ``traced_weights`` each pair brings its weights as inputs (:data:`WEIGHT_INPUTS`, see
    :meth:`weight_inputs`): the total is ``sum_t w_t * L_t`` over :data:`TERMS` and the style
    (content) loss ``sum_l w_l * E_l`` over its layers, so uniform layer weights ``1/L`` give
    the untraced objective. The weight fields then only decide which optional terms (tv, lap)
    are in the program (weight > 0) and are :meth:`weight_inputs`' defaults. The content
    layer weights are unused with the LPIPS content loss (LPIPS weighs its own layers).
    """

    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_loss: str = "mse"
    content_weight: float | None = None
    style_weight: float | None = None  # None: DEFAULT_STYLE_WEIGHTS[style_loss]
    tv_weight: float = 1.0
    lap_weight: float = 0.0
    lap_pool: int = 4  # average pooling before the Laplacian
    encoder: Encoder | None = dataclasses.field(default=None, compare=False, repr=False)
    lpips: LPIPS | None = dataclasses.field(default=None, compare=False, repr=False)
    traced_weights: bool = False
    style_loss: str = "gram"
    # The encoder's activations (forward and backward); Grams, losses, the image and the
    # optimizer stay float32.
    compute_dtype: str = "float32"

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        return WEIGHT_INPUTS if self.traced_weights else ()

    @property
    def fits(self) -> tuple[str, ...]:
        """How images take a canonical canvas (:mod:`jaxstyle.shapes`): padded with every term
        masked (feature MSE content), else resized (LPIPS weighs its own positions)."""
        return ("pad", "resize") if self.content_loss == "mse" else ("resize",)

    def weight_inputs(
        self,
        terms: Mapping[str, float] | None = None,
        style_layers: Mapping[str, float] | None = None,
        content_layers: Mapping[str, float] | None = None,
    ) -> dict[str, np.ndarray]:
        """ONE pair's weight inputs (float32 arrays keyed by :data:`WEIGHT_INPUTS`).

        ``terms``: ``{term: weight}`` overriding this objective's weights (:meth:`weight`);
        ``style_layers`` / ``content_layers``: ``{layer: weight}`` for every layer of the
        objective's list (default: uniform ``1/L``, the mean). Unknown names are refused.
        """
        terms = dict(terms or {})
        if unknown := set(terms) - set(TERMS):
            raise InputError(f"unknown loss term(s) {sorted(unknown)}; expected {', '.join(TERMS)}")
        for term, value in terms.items():
            if term in ("tv", "lap") and value > 0 and self.weight(term) == 0:
                raise InputError(f"{term} weight {value} needs a program with that term: give the "
                                 f"objective a nonzero {term}_weight")
        return {
            "term_weights": np.array([terms.get(t, self.weight(t)) for t in TERMS], np.float32),
            "style_layer_weights": _layer_weights(style_layers, self.style_layers, "style"),
            "content_layer_weights": _layer_weights(content_layers, self.content_layers, "content"),
        }

    def weight(self, term: str) -> float:
        """The weight of loss term ``term`` (content, style, tv, lap)."""
        if term == "content" and self.content_weight is None:
            return 20.0 if self.content_loss == "lpips" else 1.0
        if term == "style" and self.style_weight is None:
            return DEFAULT_STYLE_WEIGHTS[self.style_loss]
        return float(getattr(self, f"{term}_weight"))

    def frozen(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "lpips": self.lpips}

    def prepare(self, frozen: dict[str, Any], inputs: dict[str, jax.Array]) -> dict[str, Any]:
        """Targets of P pairs: ``style_grams`` {layer: (P,C,C)}, the ``content`` (P,H,W,3), and
        ``content_feats`` {layer: (P,h,w,C)} (feature MSE) or ``lpips_feats`` [(P,h,w,c)] (LPIPS)."""
        valid = inputs.get("valid")  # a padded canvas: targets and losses of its valid corner
        targets = {**self.content_targets(frozen, inputs["content"], valid),
                   **self.style_targets(frozen, inputs["style"])}
        if valid is not None:
            targets["valid"] = valid
        if self.traced_weights:  # the pair's weights ride along with its targets
            targets["weights"] = {name: inputs[name] for name in WEIGHT_INPUTS}
        return targets

    # The two halves of ``prepare``, split so tiled optimization (jaxstyle.optimize.tiled) can
    # take the style's Grams once from the whole style and the content targets per tile.

    def content_targets(self, frozen: dict[str, Any], content: jax.Array, valid: jax.Array | None = None
                        ) -> dict[str, Any]:
        """The targets taken from the content (P,H,W,3): ``content`` and its features (of the
        ``valid`` (P,2) corners of padded canvases)."""
        if self.content_loss == "mse":
            return {"content": content, "content_feats": frozen["encoder"](content, self.content_layers, valid)}
        return {"content": content, "lpips_feats": frozen["lpips"].features(content)}

    def style_targets(self, frozen: dict[str, Any], style: jax.Array, weight: jax.Array | None = None) -> dict[str, Any]:
        """``style_grams`` {layer: (P,C,C)} of the style (P,h,w,3): means over positions; with
        the W2 style loss ``style_w2`` {layer: :func:`~jaxstyle.losses.w2_style_target`}.

        ``weight`` (P,h,w), optional: a per-pixel weight, area-pooled to each layer's grid, making
        each Gram a weighted mean (tiles of a large style add up to its Gram this way).
        """
        feats = frozen["encoder"](style, self.style_layers)
        if self.style_loss == "w2":
            if weight is not None:
                raise InputError("--style-loss w2 takes the style whole: it cannot be combined with --tile")
            return {"style_w2": {layer: w2_style_target(feats[layer]) for layer in self.style_layers}}
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
        valid = targets.get("valid")
        # On a padded canvas VGG sees its valid corner alone (Encoder.apply), and every term
        # below reads the corner only: the result is the exact-shape one, up to float rounding.
        seen = x.astype(jnp.bfloat16) if self.compute_dtype == "bfloat16" else x
        feats = frozen["encoder"](seen, layers, None if valid is None else valid[None])
        traced = targets.get("weights")
        w2 = self.style_loss == "w2"
        if valid is None:
            layer_content = content_loss
            layer_style = w2_style_loss if w2 else gram_style_loss
        else:  # a padded canvas: every term over the valid corner only
            def mask(f):
                return valid_mask(valid, f.shape[1:3], x.shape[1:3])

            def layer_content(f, t):
                return masked_content_loss(f, t, mask(f))

            def layer_style(f, g):
                return w2_style_loss(f, g, mask(f)) if w2 else masked_gram_style_loss(f, g, mask(f))

        parts = {}
        if mse_content:
            parts["content"] = content_term(feats, targets["content_feats"], self.content_layers,
                                            None if traced is None else traced["content_layer_weights"],
                                            layer_content)
        else:
            lpips = frozen["lpips"]
            parts["content"] = lpips.distance_from_features(lpips.features(x), targets["lpips_feats"])[0]
        parts["style"] = style_term(feats, targets["style_w2" if w2 else "style_grams"], self.style_layers,
                                    None if traced is None else traced["style_layer_weights"], layer_style)
        if self.weight("tv") > 0:
            parts["tv"] = total_variation(x) if valid is None else masked_total_variation(x, valid)
        if self.weight("lap") > 0:
            content = targets["content"][None]
            parts["lap"] = (laplacian_loss(x, content, self.lap_pool) if valid is None
                            else masked_laplacian_loss(x, content, valid, self.lap_pool))
        if traced is None:
            weighted = {term: self.weight(term) * value for term, value in parts.items()}
        else:
            weighted = {term: traced["term_weights"][TERMS.index(term)] * value for term, value in parts.items()}
        return sum(weighted.values()), weighted

    def image(self, variables: dict[str, jax.Array]) -> jax.Array:
        return variables["image"]


def content_term(feats: Mapping[str, jax.Array], targets: Mapping[str, jax.Array], layers: Sequence[str],
                 weights: jax.Array | None = None, loss: Callable = content_loss) -> jax.Array:
    """Gatys' content loss: ``loss`` (feature MSE, :func:`content_loss`) at each of ``layers``, their
    mean (or ``sum_l weights[l] * E_l``); 0 without layers. Features (1,h,w,C), targets broadcast."""
    return _layer_mean([loss(feats[layer], targets[layer]) for layer in layers], weights)


def style_term(feats: Mapping[str, jax.Array], grams: Mapping[str, jax.Array], layers: Sequence[str],
               weights: jax.Array | None = None, loss: Callable = gram_style_loss) -> jax.Array:
    """Gatys' style loss: ``loss`` (the Gram loss, :func:`gram_style_loss`) at each of ``layers``,
    their mean (or ``sum_l weights[l] * E_l``). Features (1,h,w,C), Gram targets (C,C) broadcast."""
    return _layer_mean([loss(feats[layer], grams[layer]) for layer in layers], weights)


def _layer_mean(values: Sequence[jax.Array], weights: jax.Array | None) -> jax.Array:
    """Per-layer losses (scalars) combined: their mean, or ``sum_l weights[l] * values[l]``; 0 if none."""
    if not values:
        return jnp.float32(0.0)
    if weights is None:
        return sum(values) / len(values)
    return sum(weights[i] * value for i, value in enumerate(values))


def _layer_weights(given: Mapping[str, float] | None, layers: Sequence[str], kind: str) -> np.ndarray:
    """``given`` ({layer: weight}, absent layers 0) as a (len(layers),) vector; None: uniform 1/L."""
    if given is None:
        return np.full(len(layers), 1.0 / max(1, len(layers)), np.float32)
    if unknown := set(given) - set(layers):
        raise InputError(f"{kind} layer weight(s) for {sorted(unknown)}, which are not among the objective's "
                         f"{kind} layers ({', '.join(layers)})")
    return np.array([given.get(layer, 0.0) for layer in layers], np.float32)


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


# The objectives StylizeConfig.objective_name names.
OBJECTIVES: dict[str, type[Gatys]] = {"gatys": Gatys, "lapstyle": Lapstyle}


@dataclasses.dataclass(frozen=True)
class StylizeConfig(EngineConfig):
    """Everything that defines a Gatys-family run (the CLI flags map 1:1 onto these fields):
    the engine's settings (:class:`EngineConfig`) and the objective's.

    Loss weights are for images in [0, 1]; ``None`` weights take the defaults of the objective
    ``objective_name`` names (:data:`OBJECTIVES`; README "Defaults").
    """

    objective_name: str = "gatys"  # a key of OBJECTIVES
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    lap_weight: float | None = None
    lap_pool: int = 4
    content_loss: str = "mse"
    style_loss: str = "gram"  # a key of STYLE_LOSSES
    compute_dtype: str = "float32"  # a key of COMPUTE_DTYPES: the encoder's activations
    remat: bool = False  # jax.checkpoint around encoder blocks (less memory, more compute)

    def __post_init__(self):
        super().__post_init__()
        check_fields(
            self,
            choices={"objective_name": tuple(OBJECTIVES), "content_loss": CONTENT_LOSSES,
                     "style_loss": STYLE_LOSSES, "compute_dtype": COMPUTE_DTYPES},
            positive=("lap_pool",),
            non_negative=("content_weight", "style_weight", "tv_weight", "lap_weight"),
        )
        if not self.style_layers:
            raise InputError("at least one style layer is needed (--style-layers)")
        if not self.content_layers and self.content_loss == "mse" and self.weight("content") > 0:
            raise InputError("at least one content layer is needed (--content-layers), or --content-weight 0")

    def objective(self, encoder: Encoder | None = None, lpips: LPIPS | None = None) -> Gatys:
        """The objective ``objective_name`` names with this config's layers, losses and weights."""
        settings = [f.name for f in dataclasses.fields(Gatys) if f.compare]  # not the networks
        # Fields the CLI has no flag for (traced_weights) keep the objective's default.
        given = {name: getattr(self, name) for name in settings if getattr(self, name, None) is not None}
        return OBJECTIVES[self.objective_name](encoder=encoder, lpips=lpips, **given)

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
