"""AdaIN (Huang & Belongie 2017) as a trainer plug-in, plus its test-time stylization API.

Training: a frozen VGG encoder to relu4_1, the AdaIN layer, a trainable :class:`Decoder`;
``L = w_c * MSE(f(g(t)), t) + w_s * sum_l [MSE(mu) + MSE(sigma)](f_l(g(t)), f_l(s))``
(+ ``w_lap * laplacian_loss(g(t), c)`` and ``w_depth * depth_loss`` for the seed doc's
variants), with ``t = AdaIN(f(c), f(s))`` and ``l`` in relu1_1..relu4_1.

Test time::

    stylizer = load_stylizer("runs/adain")            # workdir, checkpoint step dir, or
    stylizer = load_stylizer("decoder.pth")           # official pytorch-AdaIN files
    outs = stylizer.stylize(contents, styles, alpha=0.8, preserve_color="histogram")
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxstyle import losses
from jaxstyle.errors import InputError
from jaxstyle.methods.adain import METHOD
from jaxstyle.methods.adain.model import adain, resize_masks
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.base.stylizer import (
    FeedForwardStylizer,
    check_alpha_and_mixing,
)
from jaxstyle.models.decoder import Decoder, fit_image
from jaxstyle.models.encoder import Encoder
from jaxstyle.schedules import inverse_time_decay
from jaxstyle.weights.encoders import load_encoder, resolve_encoder_name

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_1"


class AdaIN(OneLossPlugin):
    """The AdaIN method (see :mod:`jaxstyle.methods` for the interface)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        dtype = jnp.dtype(cfg.model.dtype)
        self.decoder = Decoder(width=cfg.model.decoder_width, dtype=dtype)
        self.weights = {k: float(cfg.loss[k]) for k in ("content", "style", "laplacian", "depth")}

    # -- frozen networks ------------------------------------------------------------------
    def load_frozen(self) -> dict[str, Any]:
        m = self.cfg.model
        name = resolve_encoder_name(m.encoder)
        with self.cfg.unlocked():
            m.encoder = name  # recorded in the checkpoint's config for test time
        frozen: dict[str, Any] = {
            "vgg": load_encoder(name, m.encoder_weights or None, remat=m.remat)
        }
        if self.weights["depth"]:
            from jaxstyle.weights.depth import load_depth_network

            frozen["depth"] = load_depth_network(self.cfg.depth.network, self.cfg.depth.weights)
        return frozen

    # -- parameters and optimizers ----------------------------------------------------------
    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Mapping[str, Any]) -> dict:
        feats = jax.eval_shape(lambda x: frozen["vgg"](x, (CONTENT_LAYER,))[CONTENT_LAYER], batch["content"])
        params = self.decoder.init(rng, jnp.zeros(feats.shape, jnp.float32))["params"]
        return {"decoder": params}

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        o = self.cfg.optim

        schedule = inverse_time_decay(o.lr, o.lr_decay)
        return {"decoder": optax.adam(schedule, b1=o.b1, b2=o.b2)}

    # -- training -------------------------------------------------------------------------
    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted AdaIN loss of one batch; terms with weight 0 are not computed."""
        del rng
        vgg: Encoder = frozen["vgg"]
        content, style = batch["content"], batch["style"]
        style_feats = vgg(style, STYLE_LAYERS)
        t = adain(vgg(content, (CONTENT_LAYER,))[CONTENT_LAYER], style_feats[CONTENT_LAYER])
        out = self.decoder.apply({"params": params["decoder"]}, t)
        w = self.weights
        terms: dict[str, jax.Array] = {}
        if w["content"] or w["style"]:
            out_feats = vgg(out, STYLE_LAYERS)
            if w["content"]:
                terms["content"] = losses.content_loss(out_feats[CONTENT_LAYER], t)
            if w["style"]:
                terms["style"] = sum(
                    losses.mean_std_style_loss(out_feats[k], style_feats[k]) for k in STYLE_LAYERS
                )
        if w["laplacian"]:
            terms["laplacian"] = losses.laplacian_loss(out, content, pool=self.cfg.loss.laplacian_pool)
        if w["depth"]:
            from jaxstyle.losses.depth import depth_loss

            terms["depth"] = depth_loss(frozen["depth"], out, content)
        return weighted_loss(terms, w)

    def sample(self, params, batch, frozen) -> jax.Array:
        vgg = frozen["vgg"]
        t = adain(vgg(batch["content"], (CONTENT_LAYER,))[CONTENT_LAYER], vgg(batch["style"], (CONTENT_LAYER,))[CONTENT_LAYER])
        return jnp.clip(self.decoder.apply({"params": params["decoder"]}, t), 0.0, 1.0)


# ------------------------------------------------------------------------------------------
# Test time.
# ------------------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("decoder",))
def _stylize_batch(params, vgg, content, styles, weights, masks, alpha, *, decoder: Decoder):
    """Contents (P,H,W,3), K styles (P,h,w,3), weights (K,), masks (P,K,H,W) or None -> (P,H,W,3)."""
    fc = vgg(content, (CONTENT_LAYER,))[CONTENT_LAYER]
    targets = jnp.stack([adain(fc, vgg(s, (CONTENT_LAYER,))[CONTENT_LAYER]) for s in styles])
    if masks is not None:
        m = resize_masks(jnp.swapaxes(masks, 0, 1), fc.shape[1], fc.shape[2])
        t = (m * targets).sum(0)
    else:
        t = jnp.tensordot(weights, targets, axes=1)
    t = alpha * t + (1.0 - alpha) * fc
    return fit_image(decoder.apply({"params": params}, t), content.shape[1:3])


class AdaINStylizer(FeedForwardStylizer):
    """A trained AdaIN decoder + its encoder.

    Controls: ``alpha`` (content-style trade-off in feature space: 0 gives the decoder's
    reconstruction of the content, 1 the full stylization), ``style_weights`` (K weights
    interpolating K styles' AdaIN targets, normalised to sum 1; default equal), ``masks``
    (K masks in [0, 1]: style k applies where mask k is 1; style_weights are then unused),
    plus the generic ``size`` and ``preserve_color``.
    """

    spec = METHOD


    def __init__(self, decoder_params: Any, encoder: Encoder, decoder_width: float = 1.0):
        self.params = jax.tree.map(jnp.asarray, decoder_params)
        self.encoder = encoder
        self.decoder = Decoder(width=decoder_width)

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        check_alpha_and_mixing(controls, n_styles)

    def apply(self, contents, styles, masks, *, alpha: float = 1.0,
              style_weights: Sequence[float] | None = None) -> jax.Array:
        k = len(styles)
        weights = jnp.asarray(style_weights if style_weights is not None else [1.0] * k, jnp.float32)
        return _stylize_batch(self.params, self.encoder, contents, styles, weights / weights.sum(),
                              masks, jnp.float32(alpha), decoder=self.decoder)


def load_stylizer(source: str | Path | Sequence[str | Path] | None, *, vgg: str | Path | None = None) -> AdaINStylizer:
    """A :class:`AdaINStylizer` from a training run or from official pytorch-AdaIN weights.

    Args:
      source: a workdir or checkpoint step directory (``jaxstyle train`` output); or the
        official ``decoder.pth`` (its ``vgg_normalised.pth`` is taken from ``vgg``, else from
        beside it, else from the imported VGG19); or a directory holding both official
        files; or a pair ``(decoder.pth, vgg_normalised.pth)``.
      vgg: the official ``vgg_normalised.pth`` when ``source`` is ``decoder.pth``.
    """
    from jaxstyle.weights import adain_import

    if source is None:
        raise InputError("adain needs a trained model: a training workdir or the official decoder.pth (--checkpoint)")
    if isinstance(source, (list, tuple)):
        if len(source) != 2:
            raise InputError("official AdaIN weights: give (decoder.pth, vgg_normalised.pth)")
        source, vgg = source
    path = Path(source)
    if path.is_dir() and (path / "decoder.pth").is_file():
        vgg = vgg or path / "vgg_normalised.pth"
        path = path / "decoder.pth"
    if path.is_file():
        decoder = adain_import.load_official_decoder(path)
        if vgg is None and (path.parent / "vgg_normalised.pth").is_file():
            vgg = path.parent / "vgg_normalised.pth"
        encoder = adain_import.load_official_encoder(vgg) if vgg else load_encoder("vgg19")
        return AdaINStylizer(decoder, encoder)
    from jaxstyle.checkpoint import load_method_checkpoint

    params, config = load_method_checkpoint(path, "adain")
    model = config.get("model", {})
    name = resolve_encoder_name(model.get("encoder", "auto"))
    encoder = load_encoder(name, model.get("encoder_weights") or None)
    return AdaINStylizer(params["decoder"], encoder, float(model.get("decoder_width", 1.0)))



TRAINER = AdaIN
