"""RAST as a plug-in of the shared trainer, and its test-time API.

Parameter groups: ``generator`` (transform, decoder, projection heads), ``disc_style`` and
``disc_content`` (the two multi-scale LSGAN discriminators), each with its own Adam. One
jitted :meth:`RAST.train_step` runs every pass of :func:`jaxstyle.methods.rast.losses.rast_losses`,
updates the generator, and updates both discriminators on the same stylized images
(stop-gradient). With ``loss.adversarial = 0`` the discriminators are neither run nor updated.

Test time::

    stylizer = load_stylizer("runs/rast")                           # workdir or step dir
    stylizer = load_stylizer(("transformer_iter_160000.pth", "decoder_iter_160000.pth"))
    outs = stylizer.stylize(contents, styles)                       # T(c, s) in [0, 1]
    restored = stylizer.restore(outs, contents)                     # T(T(c, s), c)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxstyle.errors import InputError
from jaxstyle.methods.base.plugin import apply_updates
from jaxstyle.methods.base.stylizer import FeedForwardStylizer
from jaxstyle.methods.rast import METHOD
from jaxstyle.methods.rast.losses import RASTLossWeights, discriminator_losses, rast_losses
from jaxstyle.methods.rast.model import RASTModel, feature_channels
from jaxstyle.models.decoder import fit_image
from jaxstyle.models.encoder import random_vgg_encoder
from jaxstyle.schedules import inverse_time_decay

GENERATOR = "generator"
DISCRIMINATORS = ("disc_style", "disc_content")


def _pretrained(name: str) -> Callable[[Any], Any]:
    def load(m):
        from jaxstyle.weights.encoders import load_encoder

        return load_encoder(name, m.encoder_weights or None)

    return load


def _random_vgg(arch: str) -> Callable[[Any], Any]:
    return lambda m: random_vgg_encoder(0, arch, width=float(m.encoder_width))


def _random_zoo(arch: str) -> Callable[[Any], Any]:
    from jaxstyle.models.encoder import Encoder

    return lambda m: Encoder.random(arch, 0)


# ``cfg.model.encoder`` -> loader(cfg.model) returning a frozen encoder pytree. Register another
# backbone here (e.g. an imported EfficientNet); the interface is documented in models/rast.py.
ENCODERS: dict[str, Callable[[Any], Any]] = {
    "vgg16": _pretrained("vgg16"),
    "vgg19": _pretrained("vgg19"),
    "random_vgg16": _random_vgg("vgg16"),
    "random_vgg19": _random_vgg("vgg19"),
    # EfficientNet-B0 (seed 000's encoder swap; taps in configs/rast.py:efficientnet): imported
    # torchvision weights, or random ones for offline smoke runs (tiny_efficientnet).
    "efficientnet_b0": _pretrained("efficientnet_b0"),
    "random_efficientnet_b0": _random_zoo("efficientnet_b0"),
}


def build_encoder(model_cfg: Any):
    name = model_cfg.encoder
    if name not in ENCODERS:
        raise InputError(f"unknown RAST encoder {name!r}; expected one of {', '.join(ENCODERS)}")
    return ENCODERS[name](model_cfg)


def build_model(model_cfg: Any, encoder: Any) -> RASTModel:
    """The static :class:`RASTModel` of a config, sized from the encoder's channels."""
    layers = tuple(x.strip() for x in str(model_cfg.layers).split(","))
    return RASTModel(
        channels=feature_channels(encoder, layers),
        decoder_width=float(model_cfg.decoder_width),
        disc_width=float(model_cfg.disc_width),
        proj_dim=int(model_cfg.proj_dim),
        layers=layers,
        dtype=jnp.dtype(model_cfg.dtype),
    )


class RAST:
    """The RAST method (see :mod:`jaxstyle.methods` for the interface)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.weights = RASTLossWeights.from_config(cfg.loss)
        self.model: RASTModel | None = None

    # -- frozen networks ------------------------------------------------------------------
    def load_frozen(self) -> dict[str, Any]:
        encoder = build_encoder(self.cfg.model)
        self.model = build_model(self.cfg.model, encoder)
        return {"encoder": encoder}

    def _model(self, frozen: Mapping[str, Any]) -> RASTModel:
        if self.model is None:
            self.model = build_model(self.cfg.model, frozen["encoder"])
        return self.model

    # -- parameters and optimizers ----------------------------------------------------------
    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Mapping[str, Any]) -> dict:
        crop = int(batch["content"].shape[1])
        if crop % 16:
            raise InputError(
                f"RAST needs crops that are multiples of 16 (relu5_1 is 1/16), got {crop}"
            )
        return self._model(frozen).init(rng, crop)

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        o = self.cfg.optim

        schedule = inverse_time_decay(o.lr, o.lr_decay)
        txs = {GENERATOR: optax.adam(schedule, b1=o.b1, b2=o.b2)}
        if self.weights.adversarial != 0.0:  # otherwise the discriminators stay frozen
            txs |= {d: optax.adam(schedule, b1=o.disc_b1, b2=o.b2) for d in DISCRIMINATORS}
        return txs

    # -- training -------------------------------------------------------------------------
    def train_step(self, params, opt_states, batch, frozen, rng, step):
        del rng, step  # deterministic given the batch; the schedule lives in the optimizer state
        model, encoder = self._model(frozen), frozen["encoder"]
        txs = self.optimizers()
        disc = {d: params[d] for d in DISCRIMINATORS}

        def gen_loss(gen):
            total, terms, images = rast_losses(
                gen,
                disc,
                batch["content"],
                batch["style"],
                model=model,
                encoder=encoder,
                weights=self.weights,
            )
            return total, (terms, images)

        (loss, (terms, images)), grads = jax.value_and_grad(gen_loss, has_aux=True)(
            params[GENERATOR]
        )
        new_params, new_states = dict(params), dict(opt_states)
        new_params[GENERATOR], new_states[GENERATOR] = apply_updates(
            txs[GENERATOR], grads, opt_states[GENERATOR], params[GENERATOR]
        )
        metrics = {"loss": loss}
        metrics |= {f"loss/{k}": v for k, v in terms.items() if getattr(self.weights, k) != 0.0}
        if self.weights.adversarial != 0.0:
            (d_loss, d_terms), d_grads = jax.value_and_grad(
                lambda d: discriminator_losses(d, images, model=model), has_aux=True
            )(disc)
            for d in DISCRIMINATORS:
                new_params[d], new_states[d] = apply_updates(
                    txs[d], d_grads[d], opt_states[d], params[d]
                )
            metrics |= {f"loss/{k}": v for k, v in d_terms.items()}
        return new_params, new_states, metrics

    def sample(self, params, batch, frozen) -> jax.Array:
        model = self._model(frozen)
        out = model.stylize(params[GENERATOR], frozen["encoder"], batch["content"], batch["style"])
        return jnp.clip(out, 0.0, 1.0)


# ------------------------------------------------------------------------------------------
# Test time.
# ------------------------------------------------------------------------------------------
class RASTStylizer(FeedForwardStylizer):
    """A trained (or imported) RAST generator + encoder: ``T(c, s)`` on batches of pairs.

    RAST is restorable: :meth:`restore` runs ``T(stylized, reference)``; with the original
    content as the reference that is the paper's restoration ``T(T(c, s), c)``. Image sides
    are rounded to multiples of 16 (relu5_1 is 1/16) and the result resized back.
    """

    spec = METHOD

    restorable = True

    def __init__(self, model: RASTModel, generator: Any, encoder: Any):
        self.model = model
        self.generator = jax.tree.map(jnp.asarray, generator)
        self.encoder = encoder
        self._fn = jax.jit(lambda g, e, c, s: model.stylize(g, e, c, s))

    def transfer(self, content: Any, style: Any) -> jax.Array:
        """Raw ``T(c, s)`` (N, H, W, 3), unclipped — what RAST feeds to its own second passes."""
        content, style = jnp.asarray(content, jnp.float32), jnp.asarray(style, jnp.float32)
        for what, x in (("content", content), ("style", style)):
            if x.ndim != 4 or x.shape[-1] != 3:
                raise InputError(f"{what} must be (N, H, W, 3), got shape {x.shape}")
            if x.shape[1] % 16 or x.shape[2] % 16:
                raise InputError(
                    f"{what} sides must be multiples of 16 for RAST, got {x.shape[1:3]}"
                )
        if style.shape[0] == 1 and content.shape[0] > 1:
            style = jnp.broadcast_to(style, (content.shape[0],) + style.shape[1:])
        return self._fn(self.generator, self.encoder, content, style)

    def apply(self, contents, styles, masks) -> jax.Array:
        del masks  # RAST declares no mask control
        (style,) = styles
        shape = contents.shape[1:3]
        content = _to_multiple_of_16(contents)
        return fit_image(self.transfer(content, _to_multiple_of_16(style)), shape)


def _to_multiple_of_16(x: jax.Array) -> jax.Array:
    """Resize (bilinear) so both sides are multiples of 16 (at least 16)."""
    h, w = (max(16, round(n / 16) * 16) for n in x.shape[1:3])
    if (h, w) == x.shape[1:3]:
        return x
    return jax.image.resize(x, (x.shape[0], h, w, 3), "bilinear")


def load_stylizer(
    source: str | Path | Sequence[str | Path] | None, *, vgg: str | Path | None = None
) -> RASTStylizer:
    """A :class:`RASTStylizer` from a training workdir / checkpoint, or the official RAST files.

    Args:
      source: a workdir or checkpoint step directory written by ``jaxstyle train``; or a pair
        ``(transformer.pth, decoder.pth)`` of the official release.
      vgg: for the official files, ``vgg_normalised.pth`` (default: the imported
        ``vgg19_normalised`` weights).
    """
    if source is None:
        raise InputError("rast needs a trained model: a training workdir or the official files (--checkpoint)")
    if isinstance(source, list | tuple):
        if len(source) != 2:
            raise InputError(
                "official RAST weights are two files: transformer .pth and decoder .pth"
            )
        from jaxstyle.methods.rast.importer import load_official_rast

        model, params, encoder = load_official_rast(source[0], source[1], vgg)
        return RASTStylizer(model, params[GENERATOR], encoder)
    import ml_collections

    from jaxstyle.checkpoint import load_method_checkpoint

    params, config = load_method_checkpoint(source, "rast")
    if GENERATOR not in params:
        raise InputError(f"{source}: not a RAST checkpoint (no {GENERATOR} parameters)")
    cfg = ml_collections.ConfigDict(config)
    encoder = build_encoder(cfg.model)
    return RASTStylizer(build_model(cfg.model, encoder), params[GENERATOR], encoder)


TRAINER = RAST
