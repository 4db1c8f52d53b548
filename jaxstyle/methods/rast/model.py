"""RAST networks (Ma et al., WACV 2023): style-attention transform, projection heads, discriminators.

Everything is NHWC Flax Linen; parameter names mirror the official PyTorch code so that the
released ``transformer_iter_160000.pth`` / ``decoder_iter_160000.pth`` state_dicts map 1:1
(see :mod:`jaxstyle.methods.rast.importer`):

- :class:`SANet`: SANet's style-attentional block. ``f``/``g`` are 1x1 query/key convs applied to
  mean-variance-normalised content/style features, ``h`` a 1x1 value conv on the raw style
  features, a softmax over style positions, a 1x1 ``out_conv`` and a residual to the content.
- :class:`StyleAttentionTransform`: SANet at relu4_1 and at relu5_1; the relu5_1 result is
  nearest-upsampled to relu4_1's size, added, and merged by a reflect-padded 3x3 conv.
- :class:`ProjectionHead`: the contrastive heads (spatial sum -> Linear -> ReLU -> Linear -> L2 norm).
- :class:`MultiScaleDiscriminator`: three PatchGAN-style LSGAN discriminators at 1, 1/2, 1/4 scale.

The decoder is the shared AdaIN/SANet :class:`jaxstyle.models.decoder.Decoder`.

Encoder interface
-----------------
RAST only needs a frozen feature extractor ``enc(images, layers) -> {name: NHWC features}``
that is a pytree (passed into jitted functions as an argument) and accepts RGB images in
[0, 1]. :class:`jaxstyle.Encoder` (VGG16/19) is the default; any other backbone (e.g. an
EfficientNet whose weights the user imports) works if it meets this contract for the five
names in ``RASTModel.layers`` (by default ``relu1_1 .. relu5_1``):

- the fourth tap (``relu4_1``) is at 1/8 of the image resolution, because the decoder upsamples x8;
- the fifth tap (``relu5_1``) has the same channel count as the fourth (the two attention
  outputs are added) and a lower resolution (it is resized to the fourth's);
- the first three taps feed only the losses (mean/std statistics and, for the third, the style
  projection head), so any resolution works.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.errors import InputError
from jaxstyle.models.decoder import Decoder, reflect_pad1
from jaxstyle.models.encoder import init_params
from jaxstyle.stats import standardize

RAST_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class FeatureEncoder(Protocol):
    """What RAST needs from an encoder (see the module docstring)."""

    def __call__(self, images: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]: ...


# ----------------------------------------------------------------------------- helpers


def mean_variance_norm(feat: jax.Array) -> jax.Array:
    """SANet/RAST's ``mean_variance_norm``: (N,H,W,C) -> (N,H,W,C), zero mean and unit std per channel.

    The std is the *unbiased* one (torch ``var``) plus eps, like the official code, so imported
    weights see exactly the statistics they were trained with.
    """
    return standardize(feat, unbiased=True)


def resize_nearest(x: jax.Array, height: int, width: int) -> jax.Array:
    """Nearest resize of NHWC ``x`` with PyTorch's ``nn.Upsample(size=..., mode='nearest')`` indexing."""
    _, h, w, _ = x.shape
    if (h, w) == (height, width):
        return x
    if height % h == 0 and width % w == 0:  # integer factor: broadcast + reshape, no gather
        fh, fw = height // h, width // w
        n, _, _, c = x.shape
        x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, fh, w, fw, c))
        return x.reshape(n, height, width, c)
    rows = jnp.floor(jnp.arange(height) * (h / height)).astype(jnp.int32)
    cols = jnp.floor(jnp.arange(width) * (w / width)).astype(jnp.int32)
    return x[:, rows][:, :, cols]


def _conv1x1(features: int, name: str, dtype: Any) -> nn.Conv:
    return nn.Conv(features, (1, 1), dtype=dtype, param_dtype=jnp.float32, name=name)


class CancelledBiasConv(nn.Module):
    """A convolution (NHWC/HWIO, params ``kernel`` and ``bias`` as :class:`flax.linen.Conv`'s)
    whose bias the next operation cancels exactly, so its gradient is made exactly zero.

    Two biases of the official layout have no effect on any output: SANet's key bias ``g``
    (it adds ``q_i . b``, the same for every key, to the logits of a softmax over keys) and the
    bias of a discriminator conv followed by an InstanceNorm (the mean subtraction removes it).
    Their true gradient is 0, but the computed one is rounding noise (~1e-8 of the kernel's),
    and Adam's first update, ``g / (|g| + eps)``, turns noise into a full ``+-lr`` step whose
    sign depends on the reduction order — i.e. on the device count. The bias stays in the
    parameters (the official files carry it; it is applied, so imported weights give the same
    outputs) but behind ``stop_gradient``: a zero gradient leaves Adam's moments, and so the
    bias, untouched.
    """

    features: int
    kernel_size: tuple[int, int]
    strides: int = 1
    padding: Any = "SAME"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            kernel.astype(self.dtype),
            (self.strides, self.strides),
            self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + jax.lax.stop_gradient(bias).astype(self.dtype)


# ----------------------------------------------------------------------------- transform


class SANet(nn.Module):
    """Style-attentional block: content (N,Hc,Wc,C), style (N,Hs,Ws,C) -> (N,Hc,Wc,C)."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, content: jax.Array, style: jax.Array) -> jax.Array:
        c = content.shape[-1]
        n, hc, wc, _ = content.shape
        q = _conv1x1(c, "f", self.dtype)(mean_variance_norm(content)).reshape(n, hc * wc, c)
        # The key bias shifts every logit of a query equally: the softmax cancels it.
        k = CancelledBiasConv(c, (1, 1), dtype=self.dtype, name="g")(mean_variance_norm(style))
        k = k.reshape(n, -1, c)
        v = _conv1x1(c, "h", self.dtype)(style).reshape(n, -1, c)
        # No 1/sqrt(C) scaling: SANet's attention is a plain softmax of raw dot products.
        attn = jax.nn.softmax(jnp.einsum("nqc,nkc->nqk", q, k), axis=-1)
        out = jnp.einsum("nqk,nkc->nqc", attn, v).reshape(n, hc, wc, c)
        return _conv1x1(c, "out_conv", self.dtype)(out) + content


class StyleAttentionTransform(nn.Module):
    """RAST's ``Transform``: SANet at relu4_1 and relu5_1, merged at relu4_1 resolution."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, content4: jax.Array, style4: jax.Array, content5: jax.Array, style5: jax.Array
    ) -> jax.Array:
        a4 = SANet(self.dtype, name="sanet4_1")(content4, style4)
        a5 = SANet(self.dtype, name="sanet5_1")(content5, style5)
        merged = a4 + resize_nearest(a5, content4.shape[1], content4.shape[2])
        conv = nn.Conv(
            content4.shape[-1],
            (3, 3),
            padding="VALID",
            dtype=self.dtype,
            param_dtype=jnp.float32,
            name="merge_conv",
        )
        return conv(reflect_pad1(merged))


# ----------------------------------------------------------------------------- heads


class ProjectionHead(nn.Module):
    """Contrastive head: spatial sum -> Dense -> ReLU -> Dense -> L2 norm. (N,H,W,C) -> (N,out)."""

    hidden: int
    out: int = 128

    @nn.compact
    def __call__(self, feats: jax.Array) -> jax.Array:
        x = jnp.sum(feats, axis=(1, 2))
        x = nn.relu(nn.Dense(self.hidden, name="hidden")(x))
        x = nn.Dense(self.out, name="out")(x)
        # The official code divides by the bare norm; the floor only guards all-zero inputs.
        return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------- discriminator


class PatchDiscriminator(nn.Module):
    """One LSGAN discriminator: four 4x4/stride-2 conv blocks then a 3x3 conv to one channel."""

    width: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, ch in enumerate((64, 128, 256, 512)):
            ch = max(1, int(round(ch * self.width)))
            if i > 0:  # InstanceNorm2d (no affine) follows: it cancels the conv's bias
                conv = CancelledBiasConv(ch, (4, 4), 2, ((1, 1), (1, 1)), name=f"conv_{i}")
                x = standardize(conv(x), unbiased=False)
            else:
                x = nn.Conv(ch, (4, 4), strides=2, padding=((1, 1), (1, 1)), name=f"conv_{i}")(x)
            x = nn.leaky_relu(x, 0.2)
        return nn.Conv(1, (3, 3), padding=((1, 1), (1, 1)), name="out")(x)


class MultiScaleDiscriminator(nn.Module):
    """Three discriminators on the image at full, 1/2 and 1/4 scale (3x3/2 average pooling).

    Returns a list of patch maps (N, h_i, w_i, 1).
    """

    width: float = 1.0
    scales: int = 3

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        outs = []
        for i in range(self.scales):
            outs.append(PatchDiscriminator(self.width, name=f"disc_{i}")(x))
            if i + 1 < self.scales:
                x = nn.avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)), count_include_pad=False)
        return outs


# ----------------------------------------------------------------------------- model


@dataclasses.dataclass(frozen=True)
class RASTModel:
    """The static description of a RAST model; methods are pure functions of parameter pytrees.

    Parameters are ``{"generator": {"transform", "decoder", "proj_style", "proj_content"},
    "disc_style": D1, "disc_content": D2}``: ``disc_style`` judges stylized images against real
    style images (the ``T(c, s)`` path), ``disc_content`` the swapped path ``T(s, c)`` against
    content images.

    Attributes:
      channels: (C3, C4) channels of the third and fourth/fifth encoder taps (256, 512 for VGG).
      decoder_width: hidden-width multiplier of the decoder (1.0 = paper).
      disc_width: width multiplier of the discriminators (1.0 = paper).
      proj_dim: output size of the projection heads (128).
      layers: the five encoder taps (see the module docstring).
      dtype: computation dtype of the generator convs (parameters stay float32).
    """

    channels: tuple[int, int] = (256, 512)
    decoder_width: float = 1.0
    disc_width: float = 1.0
    proj_dim: int = 128
    layers: tuple[str, ...] = RAST_LAYERS
    dtype: Any = jnp.float32

    def __post_init__(self):
        if len(self.layers) != 5:
            raise InputError(
                f"RAST needs five encoder layers, got {len(self.layers)}: {self.layers}"
            )

    # The modules are cheap stateless descriptions; build them on demand.
    @property
    def transform(self) -> StyleAttentionTransform:
        return StyleAttentionTransform(self.dtype)

    @property
    def decoder(self) -> Decoder:
        return Decoder(width=self.decoder_width, dtype=self.dtype)

    @property
    def proj_style(self) -> ProjectionHead:
        return ProjectionHead(hidden=max(1, self.channels[0] // 2), out=self.proj_dim)

    @property
    def proj_content(self) -> ProjectionHead:
        return ProjectionHead(hidden=max(1, self.channels[1] // 2), out=self.proj_dim)

    @property
    def discriminator(self) -> MultiScaleDiscriminator:
        return MultiScaleDiscriminator(self.disc_width)

    def init(self, seed: int | jax.Array = 0, image_size: int = 64) -> dict[str, Any]:
        """Fresh parameters for all groups (shapes do not depend on ``image_size``).

        Flax's default initialisers (LeCun-normal kernels, zero biases) drawn by
        :func:`init_params` from ``seed`` (an int: NumPy; a JAX key: traceable); shapes come
        from a trace-only ``eval_shape`` of the Flax init.
        """
        shapes = jax.eval_shape(lambda k: self._init(k, image_size), jax.random.key(0))
        return init_params(shapes, seed)

    def _init(self, rng: jax.Array, image_size: int) -> dict[str, Any]:
        c3, c4 = self.channels
        k = jax.random.split(rng, 6)
        s = max(image_size // 8, 2)
        f4 = jnp.zeros((1, s, s, c4))
        f5 = jnp.zeros((1, max(s // 2, 1), max(s // 2, 1), c4))
        image = jnp.zeros((1, image_size, image_size, 3))
        gen = {
            "transform": self.transform.init(k[0], f4, f4, f5, f5)["params"],
            "decoder": self.decoder.init(k[1], f4)["params"],
            "proj_style": self.proj_style.init(k[2], jnp.zeros((1, 2, 2, c3)))["params"],
            "proj_content": self.proj_content.init(k[3], jnp.zeros((1, 2, 2, c4)))["params"],
        }
        return {
            "generator": gen,
            "disc_style": self.discriminator.init(k[4], image)["params"],
            "disc_content": self.discriminator.init(k[5], image)["params"],
        }

    # -- generator pieces (all take the "generator" group) --

    def encode(self, encoder: FeatureEncoder, images: jax.Array) -> list[jax.Array]:
        """The five taps of ``images`` in ``self.layers`` order."""
        feats = encoder(images, self.layers)
        return [feats[name] for name in self.layers]

    def transfer_features(
        self,
        gen: Mapping[str, Any],
        content_feats: Sequence[jax.Array],
        style_feats: Sequence[jax.Array],
    ) -> jax.Array:
        """``T`` on encoded inputs: decode(transform(c4, s4, c5, s5)) -> image (N,8H4,8W4,3), unclipped."""
        t = self.transform.apply(
            {"params": gen["transform"]},
            content_feats[3],
            style_feats[3],
            content_feats[4],
            style_feats[4],
        )
        return self.decoder.apply({"params": gen["decoder"]}, t)

    def stylize(
        self, gen: Mapping[str, Any], encoder: FeatureEncoder, content: jax.Array, style: jax.Array
    ) -> jax.Array:
        """``T(content, style)``: NHWC images in [0, 1] -> stylized NHWC (unclipped)."""
        return self.transfer_features(
            gen, self.encode(encoder, content), self.encode(encoder, style)
        )

    def project_style(self, gen: Mapping[str, Any], feats3: jax.Array) -> jax.Array:
        return self.proj_style.apply({"params": gen["proj_style"]}, feats3)

    def project_content(self, gen: Mapping[str, Any], feats4: jax.Array) -> jax.Array:
        return self.proj_content.apply({"params": gen["proj_content"]}, feats4)

    def discriminate(self, disc: Mapping[str, Any], images: jax.Array) -> list[jax.Array]:
        return self.discriminator.apply({"params": disc}, images)


def feature_channels(encoder: FeatureEncoder, layers: Sequence[str] = RAST_LAYERS, size: int = 32):
    """(C3, C4) channels of the third and fourth taps, found by a shape-only trace."""
    shapes = jax.eval_shape(lambda e: e(jnp.zeros((1, size, size, 3)), tuple(layers)), encoder)
    c3, c4, c5 = (shapes[name].shape[-1] for name in layers[2:])
    if c4 != c5:
        raise InputError(
            f"encoder taps {layers[3]} and {layers[4]} must have the same channels for RAST, got {c4} and {c5}"
        )
    return c3, c4
