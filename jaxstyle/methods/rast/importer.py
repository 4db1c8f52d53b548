"""Import the official RAST release (Ma et al., WACV 2023) into jaxstyle.

The release holds two PyTorch state_dicts saved at iteration 160000 plus the encoder:

- ``transformer_iter_160000.pth``: the ``Transform`` module — keys
  ``sanet4_1.{f,g,h,out_conv}.{weight,bias}`` (512x512 1x1 convs), the same for ``sanet5_1``,
  and ``merge_conv.{weight,bias}`` (512x512 3x3). Our :class:`StyleAttentionTransform` uses the
  same names, so the import is a transpose OIHW -> HWIO.
- ``decoder_iter_160000.pth``: the AdaIN/SANet decoder ``nn.Sequential`` (convs at 1, 5, ..., 28);
  read by :func:`jaxstyle.weights.adain_import.decoder_from_state_dict`.
- ``vgg_normalised.pth``: the AdaIN VGG19 with its 1x1 input conv folded into conv1_1
  (:func:`jaxstyle.weights.adain_import.load_official_encoder`). Its max pools use
  ``ceil_mode=True``; jaxstyle's floor mode gives identical results when image sides are
  multiples of 16 (the usual 256/512 sizes).

The projection heads and discriminators are not in the release (they only matter for training)
and start from a fresh initialisation when fine-tuning from these files. Only
``torch.load(weights_only=True)``-safe files (or safetensors copies) are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.methods.rast.model import RASTModel, feature_channels
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.adain_import import decoder_from_state_dict as adain_decoder
from jaxstyle.weights.adain_import import load_official_encoder
from jaxstyle.weights.encoders import load_encoder
from jaxstyle.weights.importers import conv_from_state_dict, read_state_dict

SANET_CONVS = ("f", "g", "h", "out_conv")
# Conv positions inside one official discriminator nn.Sequential -> our PatchDiscriminator names.
DISC_CONVS = {0: "conv_0", 2: "conv_1", 5: "conv_2", 8: "conv_3", 11: "out"}


def transform_from_state_dict(state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """Official ``Transform`` state_dict -> :class:`StyleAttentionTransform` params.

    The channel count is read from the file (512 for the release), so smaller generated
    test models import the same way.
    """
    w = state.get("merge_conv.weight")
    if w is None:
        raise WeightsError(
            f"{source}: missing merge_conv.weight; not a RAST/SANet transformer state_dict"
        )
    c = int(w.shape[0])
    conv = conv_from_state_dict
    params: dict[str, Any] = {"merge_conv": conv(state, "merge_conv", (c, c, 3, 3), source)}
    for block in ("sanet4_1", "sanet5_1"):
        params[block] = {n: conv(state, f"{block}.{n}", (c, c, 1, 1), source) for n in SANET_CONVS}
    extra = sorted(k for k in state if not k.startswith(("merge_conv.", "sanet4_1.", "sanet5_1.")))
    if extra:
        raise WeightsError(
            f"{source}: unexpected keys {extra[:3]} for a RAST transformer state_dict"
        )
    return params


def decoder_from_state_dict(state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """Official RAST decoder (the pytorch-AdaIN layout) -> :class:`Decoder` params."""
    return adain_decoder(dict(state), source)


def discriminator_from_state_dict(state: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """A ``MultiDiscriminator`` state_dict (``models.disc_{i}.{j}.*``) -> our params.

    Not part of the release; lets a user resume adversarial training from their own run.
    """
    params: dict[str, Any] = {}
    for i in range(3):
        disc, cin = {}, 3
        for j, name in DISC_CONVS.items():
            w = state.get(f"models.disc_{i}.{j}.weight")
            if w is None:
                raise WeightsError(f"{source}: missing models.disc_{i}.{j}.weight")
            disc[name] = conv_from_state_dict(
                state, f"models.disc_{i}.{j}", (w.shape[0], cin, *w.shape[2:]), source
            )
            cin = int(w.shape[0])
        params[f"disc_{i}"] = disc
    return params


def load_official_rast(
    transformer: str | Path,
    decoder: str | Path,
    vgg: str | Path | None = None,
    *,
    seed: int = 0,
) -> tuple[RASTModel, dict[str, Any], Encoder]:
    """Load the released RAST files.

    Args:
      transformer: ``transformer_iter_160000.pth`` (or a safetensors copy).
      decoder: ``decoder_iter_160000.pth``.
      vgg: ``vgg_normalised.pth``; ``None`` uses the ``vgg19_normalised`` weights already
        imported with ``jaxstyle weights import``.
      seed: initialises the parts the release lacks (projection heads, discriminators).

    Returns:
      ``(model, params, encoder)``: a :class:`jaxstyle.methods.rast.model.RASTModel`, the full
      parameter dict (``params["generator"]`` holds the imported transform and decoder), and
      the frozen VGG19 encoder.
    """
    t = transform_from_state_dict(
        read_state_dict(transformer, "RAST transformer"), str(transformer)
    )
    d = decoder_from_state_dict(read_state_dict(decoder, "RAST decoder"), str(decoder))
    encoder = _load_encoder(vgg)
    channels = feature_channels(encoder)
    c = t["merge_conv"]["kernel"].shape[-1]
    if channels[1] != c or d["conv_1"]["kernel"].shape[2] != c:
        raise WeightsError(
            f"{transformer}: transformer has {c} channels but the encoder gives {channels[1]} at relu4_1 "
            f"and the decoder takes {d['conv_1']['kernel'].shape[2]}"
        )
    model = RASTModel(channels=channels)
    params = model.init(seed)
    params["generator"]["transform"] = jax.tree.map(jnp.asarray, t)
    params["generator"]["decoder"] = jax.tree.map(jnp.asarray, d)
    return model, params, encoder


def _load_encoder(vgg: str | Path | None) -> Encoder:
    if vgg is not None:
        return load_official_encoder(vgg)
    # The registry name of an imported vgg_normalised.pth (never torchvision's VGG19).
    return load_encoder("vgg19", weights="vgg19_normalised")
