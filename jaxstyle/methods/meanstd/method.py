"""Mean/std colour transfer: the template method (copy this file to add one).

A tiny feed-forward method that shows every piece a method provides, in one file:

- the model: a small MLP reads the RGB mean/std of the content and of the style and predicts
  a 1x1 convolution (3x3 colour matrix + bias) applied to every content pixel; it starts as
  the identity, so an untrained model returns the content;
- training (``TRAINER``, the :mod:`jaxstyle.methods.base.plugin` interface): the AdaIN mean/std
  style loss on frozen VGG features (relu1_1, relu2_1) plus a content loss (relu2_1);
  weights in ``configs/meanstd.py``;
- test time (``load_stylizer``): a :class:`~jaxstyle.methods.base.stylizer.FeedForwardStylizer`
  with one control of its own, ``alpha`` (0 keeps the content, 1 the full transfer).

Registered by one line in :data:`jaxstyle.methods.METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxstyle import losses
from jaxstyle.checkpoint import load_method_checkpoint
from jaxstyle.errors import InputError
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.base.stylizer import (
    FeedForwardStylizer,
    check_alpha_and_mixing,
)
from jaxstyle.methods.meanstd import METHOD
from jaxstyle.models.encoder import Encoder
from jaxstyle.stats import mean_std
from jaxstyle.weights.encoders import load_encoder

STYLE_LAYERS = ("relu1_1", "relu2_1")
CONTENT_LAYER = "relu2_1"


class ColourTransform(nn.Module):
    """Colour statistics of (content, style) -> a per-pixel affine colour map of the content."""

    hidden: int = 32

    @nn.compact
    def __call__(self, content: jax.Array, style: jax.Array, alpha: float | jax.Array = 1.0) -> jax.Array:
        """content (N,H,W,3), style (N,h,w,3) -> (N,H,W,3); ``alpha`` blends towards the identity."""
        stats = jnp.concatenate([*mean_std(content, unbiased=False), *mean_std(style, unbiased=False)], -1)  # (N, 12)
        h = nn.relu(nn.Dense(self.hidden)(stats))
        delta = nn.Dense(12, kernel_init=nn.initializers.zeros)(h)  # zero: starts as the identity
        matrix = jnp.eye(3) + alpha * delta[:, :9].reshape(-1, 3, 3)
        bias = alpha * delta[:, 9:]
        return jnp.einsum("nhwc,ndc->nhwd", content, matrix) + bias[:, None, None, :]


class MeanStd(OneLossPlugin):
    """The training plug-in (see :mod:`jaxstyle.methods.base.plugin`)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.model = ColourTransform(hidden=int(cfg.model.hidden))
        self.weights = {k: float(cfg.loss[k]) for k in ("content", "style")}

    def load_frozen(self) -> dict[str, Any]:
        return {"vgg": load_encoder(self.cfg.model.encoder)}

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Mapping[str, Any]) -> dict:
        del frozen
        return {"transform": self.model.init(rng, batch["content"], batch["style"])["params"]}

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        return {"transform": optax.adam(self.cfg.optim.lr)}

    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted content + mean/std style loss of one batch: scalar and its terms."""
        del rng
        vgg: Encoder = frozen["vgg"]
        out = self.model.apply({"params": params["transform"]}, batch["content"], batch["style"])
        fo, fs = vgg(out, STYLE_LAYERS), vgg(batch["style"], STYLE_LAYERS)
        fc = vgg(batch["content"], (CONTENT_LAYER,))
        terms = {
            "content": losses.content_loss(fo[CONTENT_LAYER], fc[CONTENT_LAYER]),
            "style": sum(losses.mean_std_style_loss(fo[k], fs[k]) for k in STYLE_LAYERS),
        }
        return weighted_loss(terms, self.weights)

    def sample(self, params, batch, frozen) -> jax.Array:
        del frozen
        out = self.model.apply({"params": params["transform"]}, batch["content"], batch["style"])
        return jnp.clip(out, 0.0, 1.0)


TRAINER = MeanStd


class MeanStdStylizer(FeedForwardStylizer):
    """A trained :class:`ColourTransform`; ``alpha`` in [0, 1] scales the learned change."""

    spec = METHOD


    def __init__(self, model: ColourTransform, params: Any):
        self.model = model
        self.params = jax.tree.map(jnp.asarray, params)
        self._fn = jax.jit(lambda p, c, s, a: jnp.clip(model.apply({"params": p}, c, s, a), 0.0, 1.0))

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        check_alpha_and_mixing(controls, n_styles)

    def apply(self, contents, styles, masks, *, alpha: float = 1.0) -> jax.Array:
        del masks  # no mask control declared
        return self._fn(self.params, contents, styles[0], jnp.float32(alpha))


def load_stylizer(source: str | Path | None) -> MeanStdStylizer:
    """A :class:`MeanStdStylizer` from a ``jaxstyle train`` workdir or checkpoint step directory."""
    if source is None:
        raise InputError("meanstd needs a trained model: a training workdir (--checkpoint)")
    params, config = load_method_checkpoint(source, "meanstd")
    cfg = ml_collections.ConfigDict(config)
    return MeanStdStylizer(ColourTransform(hidden=int(cfg.model.hidden)), params["transform"])
