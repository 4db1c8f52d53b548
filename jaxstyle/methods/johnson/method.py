"""Johnson et al. 2016: a feed-forward network per style, trained with perceptual losses.

- Model: :class:`~jaxstyle.methods.johnson.model.JohnsonNet` (pytorch/examples' TransformerNet;
  ``model.upsample="deconv"`` swaps its resize-convs for transposed convs, the checkerboard
  comparison of Wang et al.'s paper).
- Training (``TRAINER``): content images only, one ``style_image`` from the config. VGG16
  (embedded) features of ImageNet-normalised images; content = MSE at relu2_2, style = sum of
  C*H*W-normalised Gram MSEs at relu1_2, relu2_2, relu3_3, relu4_3; weights 1e5 and 1e10 as in
  pytorch/examples (the same numbers apply here, see :mod:`jaxstyle.methods.base.per_style`).
- Test time (``load_stylizer``): a ``jaxstyle train`` workdir, or pytorch/examples' saved
  models (``candy.pth``, ``mosaic.pth``, ``rain_princess.pth``, ``udnie.pth``) or
  ``.safetensors`` copies of them. The style is the network's: no style images.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxstyle.errors import InputError
from jaxstyle.methods.base import per_style
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.johnson import METHOD
from jaxstyle.methods.johnson.model import JohnsonNet, johnson_spec
from jaxstyle.weights.encoders import load_encoder

CONTENT_LAYER = "relu2_2"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def build_model(model_cfg: Any) -> JohnsonNet:
    """The network a config's ``model`` section describes (``width``, ``upsample``)."""
    m = dict(model_cfg)
    return JohnsonNet(johnson_spec(float(m.get("width", 1.0)), m.get("upsample", "nearest")))


class Johnson(OneLossPlugin):
    """The training plug-in (see :mod:`jaxstyle.methods.base.plugin`)."""

    streams = ("content",)  # the style is one image from the config, not a data stream

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.model = build_model(cfg.model)
        self.weights = {k: float(cfg.loss[k]) for k in ("content", "style")}

    def load_frozen(self) -> dict[str, Any]:
        style = per_style.resized_style(per_style.load_style_image(self.cfg), int(self.cfg.style_size))
        vgg = load_encoder(self.cfg.model.encoder)
        return {"vgg": vgg, "grams": per_style.style_grams(vgg, style, STYLE_LAYERS)}

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Any) -> dict:
        del frozen
        return {"net": self.model.init(rng, jnp.asarray(batch["content"]))["params"]}

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        return {"net": optax.adam(self.cfg.optim.lr)}

    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``w_c * content + w_s * style`` of one batch, and the terms."""
        del rng
        out = self.model.apply({"params": params["net"]}, batch["content"])
        terms = per_style.stylization_terms(
            frozen["vgg"], out, batch["content"], frozen["grams"], CONTENT_LAYER, STYLE_LAYERS
        )
        return weighted_loss(terms, self.weights)

    def sample(self, params, batch, frozen) -> jax.Array:
        del frozen
        return jnp.clip(self.model.apply({"params": params["net"]}, batch["content"]), 0.0, 1.0)


TRAINER = Johnson


class JohnsonStylizer(per_style.PerStyleStylizer):
    """A trained or imported :class:`JohnsonNet`; any content size, many pairs per call."""

    spec = METHOD


    def __init__(self, params: Any, model: JohnsonNet | None = None):
        model = model or JohnsonNet()
        self.params = jax.tree.map(jnp.asarray, params)
        self.fn = jax.jit(lambda p, c: jnp.clip(model.apply({"params": p}, c), 0.0, 1.0))


def load_stylizer(source: str | Path | None) -> JohnsonStylizer:
    """From a ``jaxstyle train`` workdir / checkpoint, or an official ``.pth``/``.safetensors``."""
    if source is not None and Path(source).is_file():
        from jaxstyle.methods.johnson.importer import load_official

        return JohnsonStylizer(load_official(source))
    if source is not None and not Path(source).exists():
        raise InputError(f"{source}: no such file or directory (johnson takes a training workdir or candy.pth & co.)")
    params, cfg = per_style.load_trained(source, "johnson")
    return JohnsonStylizer(params["net"], build_model(cfg.model))
