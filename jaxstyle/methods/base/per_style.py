"""What per-style feed-forward methods share (Johnson et al., Multimodal Transfer).

These networks learn ONE style, given in the config as ``style_image``; training reads only
content images (the trainer plug-in's ``streams = ("content",)``), and the style's Gram
targets are computed once, as frozen inputs of the step. At test time the style is built into
the network, so the stylizer takes no style images (``Stylizer.style_images = False``).

Loss convention (pytorch/examples' ``fast_neural_style``, which the Multimodal port shares):
content = feature MSE (:func:`jaxstyle.losses.content_loss`), style = sum over layers of the
MSE between Grams normalised by C*H*W (:func:`jaxstyle.losses.gram_style_loss_mean`), on VGG
features of ImageNet-normalised [0, 1] images. The reference computes the same features from
its 0..255 images (it divides by 255 before normalising), so its weights (content 1e5, style
1e10) carry over unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxstyle import losses
from jaxstyle.errors import InputError
from jaxstyle.io import load_image, resize_long_side, resize_short_side
from jaxstyle.methods.base.stylizer import FeedForwardStylizer
from jaxstyle.models.encoder import Encoder

Grams = dict[str, jax.Array]  # layer -> (C, C) position-normalised Gram of the style image


def load_style_image(cfg: Any) -> np.ndarray:
    """The config's ``style_image`` as (H, W, 3) float32 in [0, 1]; one-line error if unset/bad."""
    path = str(cfg.get("style_image") or "")
    if not path:
        raise InputError(
            f"{cfg.method} learns one style: give its image with --config.style_image=PATH"
        )
    if not Path(path).is_file():
        raise InputError(f"--config.style_image={path}: no such file")
    return load_image(path)


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Shorter side resized to ``size``, then the centre ``size`` x ``size`` square."""
    image = resize_short_side(image, size)
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top : top + size, left : left + size]


def style_grams(vgg: Encoder, image: np.ndarray, layers: Sequence[str]) -> Grams:
    """``{layer: (C, C)}`` Grams of one (H, W, 3) style image (computed once, on device)."""
    feats = jax.jit(lambda v, x: v(x, tuple(layers)))(vgg, jnp.asarray(image)[None])
    return {k: losses.gram_matrix(feats[k])[0] for k in layers}


def resized_style(image: np.ndarray, size: int) -> np.ndarray:
    """The style image with its long side at ``size`` px (0 keeps it as it is)."""
    return resize_long_side(image, size) if size else image


def stylization_terms(
    vgg: Encoder,
    output: jax.Array,
    content: jax.Array,
    grams: Mapping[str, jax.Array],
    content_layer: str,
    style_layers: Sequence[str],
) -> dict[str, jax.Array]:
    """``{"content", "style"}`` losses of outputs (N,H,W,3) against contents (N,H,W,3) and the
    style's Grams: content = MSE at ``content_layer``, style = sum over ``style_layers`` of
    :func:`~jaxstyle.losses.gram_style_loss_mean`. Scalars (means over N)."""
    layers = tuple(dict.fromkeys((*style_layers, content_layer)))
    out = vgg(output, layers)
    target = jax.lax.stop_gradient(vgg(content, (content_layer,))[content_layer])
    return {
        "content": losses.content_loss(out[content_layer], target),
        "style": sum(losses.gram_style_loss_mean(out[k], grams[k]) for k in style_layers),
    }


def load_trained(source: str | Path | None, method: str) -> tuple[dict[str, Any], ml_collections.ConfigDict]:
    """``(params, config)`` of a ``jaxstyle train`` workdir/checkpoint of ``method``; a one-line
    error for a checkpoint of another method."""
    from jaxstyle.checkpoint import load_method_checkpoint

    if source is None:
        raise InputError(f"{method} needs a trained model: a training workdir (--checkpoint)")
    params, config = load_method_checkpoint(source, method)
    return params, ml_collections.ConfigDict(config)


class PerStyleStylizer(FeedForwardStylizer):
    """A network with its style built in: ``(P,H,W,3) -> (P,H,W,3)`` per batch, no style images.

    Subclasses set ``self.fn`` (a jitted ``fn(params, contents)``) and ``self.params``.
    """

    style_images = False
    params: Any
    fn: Any

    def apply(self, contents, styles, masks, **controls: Any) -> jax.Array:
        del styles, masks  # the style is the network's; no mask control declared
        return self.fn(self.params, contents, **controls)

