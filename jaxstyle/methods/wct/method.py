"""WCT (Li et al. 2017, "Universal Style Transfer via Feature Transforms"): training of its five
decoders on the shared trainer, and the multi-level coarse-to-fine stylization.

Training (``TRAINER``; ``configs/wct.py``): one VGG-mirror :class:`Decoder` per level relu1_1 ..
relu5_1, each a parameter group ``decoder_reluK_1`` with its own Adam, trained to invert the
frozen encoder at its level on content images only::

    L = sum_k pixel * MSE(D_k(f_k(I)), I) + feature * MSE(f_k(D_k(f_k(I))), f_k(I))

The levels' losses share nothing but the encoder pass of ``I``, so summing them and taking one
gradient trains each decoder on its own loss, all in one jitted step.

Test time (:func:`stylize_multilevel`, as the official ``test_wct.lua``): for each level from
the coarsest to the finest, encode the current image (the content, then each level's decoded
output), whiten-and-colour its features with the style's features at that level (always from
the original style image), blend with ``alpha``, decode. ``--wct-swap5``: at relu5_1, style swap
(3x3 patches, stride 1) between the whitened content and the whitened style, then colour.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxstyle import losses
from jaxstyle.errors import InputError
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.base.stylizer import (
    FeedForwardStylizer,
    check_alpha_and_mixing,
)
from jaxstyle.methods.wct import METHOD
from jaxstyle.models.decoder import LEVELS, Decoder, fit_image
from jaxstyle.models.encoder import Encoder
from jaxstyle.ops.wct import wct_mix
from jaxstyle.weights.encoders import load_encoder, resolve_encoder_name

DEFAULT_ALPHA = 0.6  # official test_wct.lua; applied at every level
SWAP_LEVEL = "relu5_1"


def group_name(level: str) -> str:
    """The parameter group of the decoder for ``level``: ``decoder_relu4_1``."""
    return f"decoder_{level}"


def parse_levels(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"relu5_1,relu4_1"`` (any order) -> levels ordered fine to coarse; InputError if unknown."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [n for n in names if n not in LEVELS]
    if unknown or not names:
        raise InputError(f"unknown WCT level(s) {unknown or names}; expected some of {', '.join(LEVELS)}")
    return tuple(lv for lv in LEVELS if lv in names)


def _decoder(level: str, width: float, dtype: Any = jnp.float32) -> Decoder:
    return Decoder(layer=level, width=width, dtype=dtype)


# ------------------------------------------------------------------------------------------
# Training: the five decoders as parameter groups of one method.
# ------------------------------------------------------------------------------------------
class WCT(OneLossPlugin):
    """The WCT decoders' training plug-in (see :mod:`jaxstyle.methods.base.plugin`)."""

    streams = ("content",)  # reconstruction: no style images

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.levels = parse_levels(cfg.model.levels)
        dtype = jnp.dtype(cfg.model.dtype)
        self.decoders = {lv: _decoder(lv, float(cfg.model.decoder_width), dtype) for lv in self.levels}
        self.weights = {"pixel": float(cfg.loss.pixel), "feature": float(cfg.loss.feature)}

    def load_frozen(self) -> dict[str, Any]:
        m = self.cfg.model
        name = resolve_encoder_name(m.encoder)
        with self.cfg.unlocked():
            m.encoder = name  # recorded in the checkpoint's config for test time
        return {"vgg": load_encoder(name, m.encoder_weights or None)}

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Mapping[str, Any]) -> dict:
        feats = jax.eval_shape(lambda x: frozen["vgg"](x, self.levels), batch["content"])
        rngs = jax.random.split(rng, len(self.levels))
        return {
            group_name(lv): self.decoders[lv].init(r, jnp.zeros(feats[lv].shape, jnp.float32))["params"]
            for lv, r in zip(self.levels, rngs, strict=True)
        }

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        return {group_name(lv): optax.adam(self.cfg.optim.lr) for lv in self.levels}

    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Sum over levels of the weighted pixel + feature reconstruction losses; terms per level."""
        del rng
        vgg: Encoder = frozen["vgg"]
        image = batch["content"]
        feats = vgg(image, self.levels)
        terms, weights = {}, {}
        for lv in self.levels:
            out = self.decoders[lv].apply({"params": params[group_name(lv)]}, feats[lv])
            if self.weights["pixel"]:
                terms[f"pixel_{lv}"], weights[f"pixel_{lv}"] = losses.content_loss(out, image), self.weights["pixel"]
            if self.weights["feature"]:
                terms[f"feature_{lv}"] = losses.content_loss(vgg(out, (lv,))[lv], feats[lv])
                weights[f"feature_{lv}"] = self.weights["feature"]
        return weighted_loss(terms, weights)

    def sample(self, params, batch, frozen) -> jax.Array:
        """Reconstructions of the content by the coarsest decoder (the hardest to train)."""
        lv = self.levels[-1]
        feats = frozen["vgg"](batch["content"], (lv,))[lv]
        return jnp.clip(self.decoders[lv].apply({"params": params[group_name(lv)]}, feats), 0.0, 1.0)


TRAINER = WCT


# ------------------------------------------------------------------------------------------
# Test time: the multi-level transform.
# ------------------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("levels", "width", "swap5"))
def stylize_multilevel(
    params: Mapping[str, Any],
    vgg: Encoder,
    content: jax.Array,
    styles: tuple[jax.Array, ...],
    weights: jax.Array | None,
    masks: jax.Array | None,
    alpha: jax.Array,
    *,
    levels: tuple[str, ...],
    width: float,
    swap5: bool = False,
) -> jax.Array:
    """Coarse-to-fine WCT of a batch of pairs.

    Args:
      params: ``{decoder_reluK_1: params}`` for every level in ``levels``.
      vgg: the encoder the decoders were trained on.
      content: (P, H, W, 3) in [0, 1]; styles: K arrays (P, h_k, w_k, 3).
      weights: (K,) style interpolation weights, or None with ``masks`` (P, K, H, W) in [0, 1].
      alpha: the blend with the content's features at every level (scalar).
      levels: the levels to run, any order (run from the coarsest).
      width: the decoders' width multiplier; swap5: style swap at relu5_1 (if in ``levels``).

    Returns:
      (P, H, W, 3) in [0, 1].
    """
    style_feats = [vgg(s, levels) for s in styles]  # always from the original style images
    image = content
    for lv in reversed(levels):  # coarse to fine
        fc = vgg(image, (lv,))[lv]
        fs = tuple(f[lv] for f in style_feats)
        swap = _swap_fn() if swap5 and lv == SWAP_LEVEL else None
        t = transform_pairs(fc, fs, weights, masks, alpha, swap)
        # the next level's encoder reads an image: at the content's size, in [0, 1]
        image = fit_image(_decoder(lv, width).apply({"params": params[group_name(lv)]}, t), content.shape[1:3])
    return image


def transform_pairs(content: jax.Array, styles: tuple[jax.Array, ...], weights: jax.Array | None,
                    masks: jax.Array | None, alpha: jax.Array, swap: Any = None) -> jax.Array:
    """:func:`~jaxstyle.ops.wct.wct_mix` over the pair axis: (P, H, W, C) features, K style maps
    (P, h_k, w_k, C), weights (K,) or masks (P, K, H0, W0) at any size (nearest-resized here)."""
    transform = functools.partial(wct_mix, alpha=alpha, swap=swap)
    if masks is None:
        return jax.vmap(lambda c, s: transform(c, s, weights=weights))(content, styles)
    m = jax.image.resize(masks, masks.shape[:2] + content.shape[1:3], "nearest")
    return jax.vmap(lambda c, s, m: transform(c, s, masks=m))(content, styles, m)


def _swap_fn():
    """Style swap with the official -swap5 settings (3x3 patches, stride 1), one pair."""
    from jaxstyle.ops.style_swap import style_swap

    return functools.partial(style_swap, patch=3, stride=1)


class WCTStylizer(FeedForwardStylizer):
    """Trained WCT decoders + their encoder, run coarse to fine.

    Controls: ``alpha`` (default 0.6 as the official code: the blend of the transformed and
    the content's features at every level), ``style_weights`` (K weights interpolating the K
    styles' coloured features, normalised to sum 1), ``masks`` (K masks: style k where mask k
    is white, the content whitened with that region's statistics), ``wct_swap5`` (style swap
    in the whitened relu5_1 space), plus ``size`` (default 512) and ``preserve_color``.
    """

    spec = METHOD

    batch_size = 2  # five encoder passes and decoders per pair: keep a call's memory modest
    # Exact shapes only: the whitening is a covariance over every position, so a padded canvas
    # would whiten with the padding's statistics (and its eigendecomposition did not return on a
    # 48 px image in a 64 px canvas, jax 0.10.2 CPU).
    fits = ()

    def __init__(self, decoder_params: Mapping[str, Any], encoder: Encoder, width: float = 1.0):
        self.levels = parse_levels([lv for lv in LEVELS if group_name(lv) in decoder_params])
        self.params = {group_name(lv): jax.tree.map(jnp.asarray, decoder_params[group_name(lv)]) for lv in self.levels}
        self.encoder = encoder
        self.width = width

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        check_alpha_and_mixing(controls, n_styles)
        if controls.get("wct_swap5") and SWAP_LEVEL not in self.levels:
            raise InputError(f"--wct-swap5 needs the relu5_1 decoder; this model has {', '.join(self.levels)}")

    def apply(self, contents, styles, masks, *, alpha: float = DEFAULT_ALPHA,
              style_weights: Sequence[float] | None = None, wct_swap5: bool = False) -> jax.Array:
        weights = None
        if masks is None:
            weights = jnp.asarray(style_weights if style_weights is not None else [1.0] * len(styles), jnp.float32)
        return stylize_multilevel(self.params, self.encoder, contents, tuple(styles), weights, masks,
                                  jnp.float32(alpha), levels=self.levels, width=self.width, swap5=bool(wct_swap5))


def load_stylizer(source: str | Path | None) -> WCTStylizer:
    """A :class:`WCTStylizer` from a ``jaxstyle train`` workdir or checkpoint step directory of
    ``configs/wct.py`` (every level it trained is used, coarse to fine)."""
    if source is None:
        raise InputError("wct needs trained decoders: a training workdir (--checkpoint)")
    from jaxstyle.checkpoint import load_method_checkpoint

    params, config = load_method_checkpoint(source, "wct")
    model = ml_collections.ConfigDict(config).get("model", ml_collections.ConfigDict())
    encoder = load_encoder(resolve_encoder_name(model.get("encoder", "auto")), model.get("encoder_weights") or None)
    return WCTStylizer(params, encoder, float(model.get("decoder_width", 1.0)))
