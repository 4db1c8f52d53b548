"""Multimodal Transfer (Wang et al., CVPR 2017): one hierarchical network per style.

- Model: :class:`~jaxstyle.methods.multimodal.model.MultimodalNet`, style -> enhance -> refine
  subnets with outputs at 1/4, 1/2 and the full size (256, 512, 1024 px for a 1024 output).
- Training (``TRAINER``): content crops of ``data.crop_size`` (the final size); one
  ``style_image`` from the config, whose Grams are taken at each output's scale (shorter side
  resized to it, centre square crop). The hierarchical loss
  ``L_H = sum_k lambda_k (w_c,k L_content^k + w_s,k L_style^k [+ w_tv L_tv^k])`` with content
  targets the photo resized to each output's size. One loss in one jitted step serves the
  paper's per-subnet objectives: subnet k's parameters only reach outputs k..3, so their
  gradient of ``L_H`` is exactly that of ``sum_{i >= k} lambda_i L^i``. The subnets are
  separate parameter groups (``style``, ``enhance``, ``refine``), each with its own Adam.
- Losses: the per-style convention of :mod:`jaxstyle.methods.base.per_style`; style at relu1_1,
  relu2_1, relu3_1, relu4_1, content at relu2_1, as the FeliMe port does on VGG19. The
  default encoder is the embedded VGG16 with the same taps (VGG19 is used when
  ``model.encoder=vgg19`` and its weights were imported). Weights per output: content 1,
  style 2e4 / 1e5 / 1e3, lambda 1 / 0.5 / 0.25 (FeliMe's), TV 0 (its 1e-7 L1 TV is
  negligible).
- Test time: a ``jaxstyle train`` workdir; the final output at ``size`` (default 1024), and
  with ``all_scales`` also the two intermediate outputs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxstyle import losses
from jaxstyle.methods.base import per_style
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.multimodal import METHOD
from jaxstyle.methods.multimodal.model import SUBNETS, MultimodalNet, level_sizes, resize_to
from jaxstyle.weights.encoders import load_encoder

CONTENT_LAYER = "relu2_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def build_model(model_cfg: Any) -> MultimodalNet:
    """The network a config's ``model`` section describes (``width``, ``blocks``; 0 = paper)."""
    m = dict(model_cfg)
    return MultimodalNet(width=float(m.get("width", 1.0)), blocks=int(m.get("blocks", 0)) or None)


class Multimodal(OneLossPlugin):
    """The training plug-in (see :mod:`jaxstyle.methods.base.plugin`)."""

    streams = ("content",)  # the style is one image from the config, not a data stream

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.model = build_model(cfg.model)
        loss = cfg.loss
        self.levels = [
            {"lambda": float(loss.hierarchy[k]), "content": float(loss.content[k]),
             "style": float(loss.style[k])}
            for k in range(len(SUBNETS))
        ]  # fmt: skip
        self.tv = float(loss.tv)

    def load_frozen(self) -> dict[str, Any]:
        style = per_style.load_style_image(self.cfg)
        vgg = load_encoder(self.cfg.model.encoder)
        size = int(self.cfg.data.crop_size)
        grams = [
            per_style.style_grams(vgg, per_style.square_crop(style, s), STYLE_LAYERS)
            for s, _ in level_sizes(size, size)
        ]
        return {"vgg": vgg, "grams": grams}

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Any) -> dict:
        del frozen
        return dict(self.model.init(rng, jnp.asarray(batch["content"]))["params"])

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        o = self.cfg.optim
        schedule = optax.exponential_decay(o.lr, o.decay_every, o.decay_rate, staircase=True)
        return {name: optax.adam(schedule) for name in SUBNETS}

    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``L_H`` of one batch and its per-output terms (``loss/style_1`` ... ``loss/content_3``)."""
        del rng
        content = batch["content"]
        outputs = self.model.apply({"params": params}, content)
        total, metrics = 0.0, {}
        for k, (out, w) in enumerate(zip(outputs, self.levels, strict=True), start=1):
            target = resize_to(content, out.shape[1:3])
            terms = per_style.stylization_terms(
                frozen["vgg"], out, target, frozen["grams"][k - 1], CONTENT_LAYER, STYLE_LAYERS
            )
            if self.tv:
                terms["tv"] = losses.total_variation(out)
            level, level_metrics = weighted_loss(terms, {**w, "tv": self.tv})
            total = total + w["lambda"] * level
            metrics |= {f"{name}_{k}": v for name, v in level_metrics.items()}
        return total, metrics

    def sample(self, params, batch, frozen) -> jax.Array:
        del frozen
        return jnp.clip(self.model.apply({"params": params}, batch["content"])[-1], 0.0, 1.0)


TRAINER = Multimodal


class MultimodalStylizer(per_style.PerStyleStylizer):
    """A trained :class:`MultimodalNet`. ``size`` is the final output's long side (default
    1024: the subnets run at 256, 512, 1024); ``all_scales`` returns ``(final, y1, y2)``."""

    spec = METHOD


    def __init__(self, params: Any, model: MultimodalNet | None = None):
        model = model or MultimodalNet()
        self.params = jax.tree.map(jnp.asarray, params)

        @functools.partial(jax.jit, static_argnames="all_scales")
        def fn(p, contents, all_scales: bool = False):
            y1, y2, y3 = (jnp.clip(y, 0.0, 1.0) for y in model.apply({"params": p}, contents))
            return (y3, y1, y2) if all_scales else y3

        self.fn = fn


def load_stylizer(source: str | Path | None) -> MultimodalStylizer:
    """From a ``jaxstyle train`` workdir or checkpoint step directory."""
    params, cfg = per_style.load_trained(source, "multimodal")
    return MultimodalStylizer(params, build_model(cfg.model))
