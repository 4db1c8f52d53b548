"""Style swap (Chen & Schmidt 2016, "Fast patch-based style transfer of arbitrary style").

Each content feature patch at ``swap_layer`` (relu3_1) is replaced by its most similar style
patch (:func:`jaxstyle.ops.style_swap.style_swap`), and the swapped features are turned back
into an image in one of two ways:

- **optimization** (no ``--checkpoint``): the image whose features match the swapped ones,
  plus TV, optimized by the engine for every pair at once
  (:class:`jaxstyle.methods.styleswap.objective.StyleSwap`): batched, sharded, resumable with
  ``--checkpoint-dir`` like Gatys.
- **inverse network** (``--checkpoint``): the VGG-mirror decoder up to ``swap_layer``
  (:class:`jaxstyle.models.decoder.Decoder`) decodes the swapped features in one forward pass
  (encode, swap, decode); ``--refine-steps N`` then runs N engine steps of the optimization
  objective from the decoder's output. ``--checkpoint`` takes a ``jaxstyle train`` workdir
  (``configs/styleswap.py``) or irasin/Pytorch_Style_Swap's ``model_state.pth``.

Optimization defaults (:class:`~jaxstyle.methods.styleswap.objective.StyleSwapConfig`), chosen by
looking at results on the shared test photos at the CLI's 256 px (README "Style swap"):
Adam, lr 0.05, from the content image, as the official ``synth()``; 100 steps as the official
code (the CLI runs its usual 150: the loss still falls a little, the image barely changes);
TV weight 10 on mean squared neighbour differences: at 1e-3 (near the official 1e-7) the dark
areas of hoovertowernight x the_scream were covered in red/green pixel speckle, which 10
removes while the swapped strokes stay (golden_gate x starry_night looked nearly the same at
1e-3 and 1); the embedded VGG16 (the official code used Caffe VGG19:
``--encoder vgg19 --weights FILE``).

Training (``TRAINER``, ``configs/styleswap.py``): per batch of N (content, style) crops the
latents are ``Phi(c)``, ``Phi(s)`` and the N swaps ``SS(Phi(c_i), Phi(s_i))`` (the official
code takes 2 contents x 2 styles and all 4 swaps; one swap per pair is cheaper and sees as
many pairs). Loss: ``MSE(Phi(D(z)), z)`` over all 3N latents (the paper's feature-space loss)
+ ``tv`` x TV(D(z)) + optionally ``pixel`` x MSE(D(Phi(x)), x) on the unswapped latents
(irasin's image reconstruction term; the official ``--pixelLoss`` is 0 by default, and the
``paper`` config keeps it 0).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxstyle import losses
from jaxstyle.errors import InputError, flag
from jaxstyle.methods.base.optimization import OptimizationStylizer, build_config
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.base.stylizer import FeedForwardStylizer
from jaxstyle.methods.styleswap import METHOD
from jaxstyle.methods.styleswap.objective import StyleSwapConfig, swap_latents
from jaxstyle.models.decoder import Decoder, fit_image
from jaxstyle.models.encoder import Encoder
from jaxstyle.ops.style_swap import DEFAULT_CHUNK
from jaxstyle.optimize import make_pairs, optimize_pairs
from jaxstyle.schedules import inverse_time_decay
from jaxstyle.weights.encoders import load_encoder

# Engine settings a refinement honours (besides --refine-steps); the rest (steps, init, size
# schedule, checkpoints) belong to the optimization-only mode.
REFINE_SETTINGS = ("optimizer", "lr", "line_search", "tv_weight", "swap_weight", "seed", "chunk")


# ------------------------------------------------------------------------------------------
# The inverse network: encode, swap, decode.
# ------------------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("decoder", "layer", "patch", "stride", "chunk"))
def _decode_swapped(params, vgg, contents, styles, *, decoder: Decoder, layer: str, patch: int,
                    stride: int, chunk: int) -> jax.Array:
    """Contents (P,H,W,3), styles (P,h,w,3) -> decoded swaps (P,H,W,3) in [0, 1]."""
    swapped = swap_latents(vgg, contents, styles, layer, patch, stride, chunk)[2]
    return fit_image(decoder.apply({"params": params}, swapped), contents.shape[1:3])


class StyleSwapTrainer(OneLossPlugin):
    """The inverse network's training plug-in (see :mod:`jaxstyle.methods.base.plugin`)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        m = cfg.model
        self.decoder = Decoder(layer=m.swap_layer, width=float(m.decoder_width), dtype=jnp.dtype(m.dtype))
        self.weights = {k: float(cfg.loss[k]) for k in ("feature", "tv", "pixel")}

    def load_frozen(self) -> dict[str, Any]:
        m = self.cfg.model
        vgg = load_encoder(m.encoder, m.encoder_weights or None, remat=m.remat)
        vgg.check_layers((m.swap_layer,))
        return {"vgg": vgg}

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Mapping[str, Any]) -> dict:
        layer = self.cfg.model.swap_layer
        feats = jax.eval_shape(lambda x: frozen["vgg"](x, (layer,))[layer], batch["content"])
        return {"decoder": self.decoder.init(rng, jnp.zeros(feats.shape, jnp.float32))["params"]}

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        o = self.cfg.optim
        return {"decoder": optax.adam(inverse_time_decay(o.lr, o.lr_decay))}

    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Feature reconstruction of Phi(c), Phi(s) and their swap, + TV (+ pixel); terms are means."""
        del rng
        m, vgg = self.cfg.model, frozen["vgg"]
        content, style = batch["content"], batch["style"]
        fc, fs, swapped = swap_latents(vgg, content, style, m.swap_layer, m.patch_size, m.swap_stride)
        latents = jax.lax.stop_gradient(jnp.concatenate([fc, fs, swapped]))
        images = self.decoder.apply({"params": params["decoder"]}, latents)
        w = self.weights
        terms = {"feature": losses.content_loss(vgg(images, (m.swap_layer,))[m.swap_layer], latents)}
        if w["tv"]:
            terms["tv"] = losses.total_variation(images)
        if w["pixel"]:
            n = content.shape[0]
            terms["pixel"] = jnp.mean(jnp.square(images[: 2 * n] - jnp.concatenate([content, style])))
        return weighted_loss(terms, w)

    def sample(self, params, batch, frozen) -> jax.Array:
        m = self.cfg.model
        return _decode_swapped(params["decoder"], frozen["vgg"], batch["content"], batch["style"],
                               decoder=self.decoder, layer=m.swap_layer, patch=int(m.patch_size),
                               stride=int(m.swap_stride), chunk=DEFAULT_CHUNK)


TRAINER = StyleSwapTrainer


class StyleSwapStylizer(FeedForwardStylizer):
    """A trained inverse network: encode, swap, decode; optionally refined by the engine.

    ``refine`` (a :class:`StyleSwapConfig` with ``steps`` > 0, or None): after decoding, run
    that many steps of the optimization objective from each decoded image.
    """

    spec = METHOD


    def __init__(self, decoder_params: Any, encoder: Encoder, decoder: Decoder, patch_size: int = 3,
                 swap_stride: int = 1, swap_chunk: int = DEFAULT_CHUNK, refine: StyleSwapConfig | None = None):
        self.params = jax.tree.map(jnp.asarray, decoder_params)
        self.encoder = encoder
        self.decoder = decoder
        self.swap = {"layer": decoder.layer, "patch": patch_size, "stride": swap_stride, "chunk": swap_chunk}
        self.refine = refine

    def apply(self, contents, styles, masks) -> jax.Array:
        del masks  # no mask control declared
        return _decode_swapped(self.params, self.encoder, contents, styles[0], decoder=self.decoder, **self.swap)

    def _run(self, contents, styles, **controls: Any) -> list:
        decoded = super()._run(contents, styles, **controls)
        if self.refine is None:
            return decoded
        if jax.process_count() > 1:
            raise InputError("--refine-steps runs in a single process (each needs every pair's decoded image)")
        objective = self.refine.objective(self.encoder, start_input=True)
        results: list = [None] * len(contents)
        by_size: dict[int, list[int]] = {}  # the engine resizes to one long side per call
        for i, c in enumerate(contents):
            by_size.setdefault(max(c.shape[:2]), []).append(i)
        for size, members in by_size.items():
            pairs = make_pairs([contents[i] for i in members], [styles[i][0] for i in members], "zip")
            settings = dataclasses.replace(self.refine.engine(), size=size)
            out = optimize_pairs(objective, pairs, settings, extra_inputs={"start": [decoded[i] for i in members]})
            for i, r in zip(members, out, strict=True):
                results[i] = r.image
        return results


# ------------------------------------------------------------------------------------------
# Loading.
# ------------------------------------------------------------------------------------------
def load_stylizer(
    source: Any = None,
    *,
    encoder: str | None = None,
    weights: str | None = None,
    pool: str = "max",
    refine_steps: int | None = None,
    **config: Any,
) -> OptimizationStylizer | StyleSwapStylizer:
    """A style-swap stylizer: optimization (``source`` None) or a trained inverse network.

    Args:
      source: None; or a ``jaxstyle train`` workdir / checkpoint step dir of this method; or
        irasin/Pytorch_Style_Swap's ``model_state.pth`` (decoder only).
      encoder, weights, pool: the VGG encoder, its weights file and pooling. Default: VGG16 for
        optimization, the training run's encoder for a workdir, and for ``model_state.pth``
        VGG19 (imported weights; that decoder was trained on torchvision VGG19 features).
      refine_steps: with ``source``, optimization steps from the decoder's output (default 0).
      **config: any :class:`~jaxstyle.methods.styleswap.objective.StyleSwapConfig` field (steps,
        optimizer, lr, init, swap_layer, patch_size, swap_stride, tv_weight, ...). With
        ``source``: ``patch_size``, ``swap_stride``, ``swap_chunk``, ``swap_layer`` (must be
        the decoder's), and, with ``refine_steps``, the refinement's optimizer settings.
    """
    if source is None:
        if refine_steps is not None:
            raise InputError("--refine-steps refines an inverse network's output: give its --checkpoint")
        cfg = build_config(StyleSwapConfig, "styleswap", config)
        enc = load_encoder(encoder or "vgg16", weights, pooling=pool, remat=cfg.remat)
        enc.check_layers((cfg.swap_layer,))
        return OptimizationStylizer(cfg.objective(enc), cfg)
    return _load_inverse_network(source, encoder, weights, pool, refine_steps or 0, config)


def _load_inverse_network(source, encoder, weights, pool, refine_steps: int, config: dict) -> StyleSwapStylizer:
    if refine_steps < 0:
        raise InputError(f"--refine-steps must be >= 0, got {refine_steps}")
    swap_opts = ("patch_size", "swap_stride", "swap_chunk", "swap_layer", "remat")
    allowed = swap_opts + (REFINE_SETTINGS if refine_steps else ())
    refused = sorted(set(config) - set(allowed))
    if refused:
        hint = " (use --refine-steps N to refine the decoder's output)" if not refine_steps else ""
        raise InputError(f"styleswap with --checkpoint does not use {', '.join(map(flag, refused))}{hint}")
    path = Path(source)
    if path.is_file():
        from jaxstyle.methods.styleswap.importer import load_irasin_decoder

        params, layer, width = load_irasin_decoder(path), "relu3_1", 1.0
        enc_name, enc_weights = encoder or "vgg19", weights
    else:
        from jaxstyle.checkpoint import load_method_checkpoint

        params, saved = load_method_checkpoint(path, "styleswap")
        m = ml_collections.ConfigDict(saved).model
        params, layer, width = params["decoder"], m.swap_layer, float(m.decoder_width)
        enc_name, enc_weights = encoder or m.encoder, weights or (m.encoder_weights or None)
        config.setdefault("patch_size", int(m.patch_size))
        config.setdefault("swap_stride", int(m.swap_stride))
    if config.get("swap_layer", layer) != layer:
        raise InputError(f"this inverse network decodes {layer}; it cannot decode --swap-layer {config['swap_layer']}")
    cfg = StyleSwapConfig(**{**config, "swap_layer": layer, "steps": max(refine_steps, 1), "init": "content"})
    enc = load_encoder(enc_name, enc_weights, pooling=pool, remat=cfg.remat)
    enc.check_layers((layer,))
    return StyleSwapStylizer(params, enc, Decoder(layer=layer, width=width), cfg.patch_size, cfg.swap_stride,
                    cfg.swap_chunk, cfg if refine_steps else None)

