"""Import the official monodepth2 release (nianticlabs/monodepth2) for the depth loss.

A release model is a folder (``mono_640x192/``, ``mono+stereo_1024x320/``, ...) holding

- ``encoder.pth``: the ``ResnetEncoder`` state_dict — torchvision ResNet keys under
  ``encoder.`` (``encoder.conv1.weight``, ``encoder.bn1.*``, ``encoder.layer1.0.conv1.weight``,
  ...), plus the training ``height``/``width``/``use_stereo`` as plain numbers;
- ``depth.pth``: the ``DepthDecoder`` state_dict — its ``nn.ModuleList`` ``decoder.0`` ...
  ``decoder.9`` are the ConvBlocks ``upconv_4_0, upconv_4_1, ..., upconv_0_1``
  (``decoder.{k}.conv.conv.weight``), ``decoder.10`` ... are the ``dispconv`` layers of
  scales 0..3 (``decoder.{k}.conv.weight``).

Every eval-mode BatchNorm of the encoder is folded into the conv before it (``w * g / sqrt(v
+ eps)``, ``b - m * g / sqrt(v + eps)``); only the full-resolution ``dispconv`` is kept (the
others only matter for training monodepth2 itself). ``.safetensors`` copies of the two files
(same keys) are read too, without torch. Files are only read through ``torch.load(
weights_only=True)`` or safetensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxstyle.errors import WeightsError, first_line
from jaxstyle.models.monodepth import DECODER_CHANNELS, STRIDE, disparity
from jaxstyle.weights.importers import conv_from_state_dict, read_state_dict

BN_EPS = 1e-5  # torchvision's BatchNorm2d default
FILES = ("encoder", "depth")
DECODER_HINT = "does depth.pth belong to this encoder.pth?"


def _conv_bn(state: Mapping[str, np.ndarray], conv: str, bn: str, source: str) -> dict:
    """A bias-free conv followed by eval-mode BatchNorm as one conv with bias."""
    keys = [f"{conv}.weight"] + [
        f"{bn}.{k}" for k in ("weight", "bias", "running_mean", "running_var")
    ]
    missing = [k for k in keys if k not in state]
    if missing:
        raise WeightsError(f"{source}: missing {missing[0]}; not a monodepth2 ResNet encoder")
    w, gamma, beta, mean, var = (state[k].astype(np.float64) for k in keys)
    if not (gamma.shape == beta.shape == mean.shape == var.shape == (w.shape[0],)):
        raise WeightsError(f"{source}: {bn} does not match {conv}'s {w.shape[0]} output channels")
    scale = gamma / np.sqrt(var + BN_EPS)
    return {
        "kernel": np.ascontiguousarray(
            np.transpose(w * scale[:, None, None, None], (2, 3, 1, 0)), np.float32
        ),
        "bias": (beta - mean * scale).astype(np.float32),
    }


def encoder_from_state_dict(state: Mapping[str, np.ndarray], source: str) -> dict[str, dict]:
    """monodepth2 ``encoder.pth`` (numpy) -> :mod:`jaxstyle.models.monodepth` encoder params."""
    state = {k.removeprefix("encoder."): v for k, v in state.items()}
    if "conv1.weight" not in state or tuple(state["conv1.weight"].shape) != (64, 3, 7, 7):
        raise WeightsError(
            f"{source}: no 64x3x7x7 encoder.conv1.weight; not a monodepth2 encoder.pth"
        )
    params = {"conv1": _conv_bn(state, "conv1", "bn1", source)}
    bottleneck = "layer1.0.conv3.weight" in state
    convs = ("conv1", "conv2", "conv3") if bottleneck else ("conv1", "conv2")
    for stage in range(1, 5):
        blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith(f"layer{stage}.")})
        if blocks != list(range(len(blocks))) or not blocks:
            raise WeightsError(f"{source}: encoder.layer{stage} blocks missing or out of order")
        for b in blocks:
            name = f"layer{stage}.{b}"
            for c in convs:
                params[f"{name}.{c}"] = _conv_bn(state, f"{name}.{c}", f"{name}.bn{c[-1]}", source)
            if f"{name}.downsample.0.weight" in state:
                params[f"{name}.downsample"] = _conv_bn(
                    state, f"{name}.downsample.0", f"{name}.downsample.1", source
                )
    return params


def encoder_channels(encoder: Mapping[str, Mapping[str, np.ndarray]]) -> list[int]:
    """Channels of the five encoder features (monodepth2's ``num_ch_enc``)."""
    last = "conv3" if "layer1.0.conv3" in encoder else "conv2"
    return [encoder["conv1"]["kernel"].shape[-1]] + [
        encoder[f"layer{s}.0.{last}"]["kernel"].shape[-1] for s in range(1, 5)
    ]


def decoder_from_state_dict(
    state: Mapping[str, np.ndarray], enc_channels: list[int], source: str
) -> dict[str, dict]:
    """monodepth2 ``depth.pth`` (numpy) -> decoder params, shapes checked against the encoder."""
    params, k, cin = {}, 0, enc_channels[-1]
    for i in range(4, -1, -1):
        cout = DECODER_CHANNELS[i]
        for j, c_in in ((0, cin), (1, cout + (enc_channels[i - 1] if i > 0 else 0))):
            params[f"upconv_{i}_{j}"] = conv_from_state_dict(
                state, f"decoder.{k}.conv.conv", (cout, c_in, 3, 3), source, DECODER_HINT
            )
            k += 1
        cin = cout
    params["dispconv_0"] = conv_from_state_dict(
        state, f"decoder.{k}.conv", (1, DECODER_CHANNELS[0], 3, 3), source, DECODER_HINT
    )
    return params


def _find(folder: Path, stem: str) -> Path:
    for suffix in (".pth", ".safetensors"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise WeightsError(
        f"{folder}: no {stem}.pth or {stem}.safetensors; expected a monodepth2 model folder "
        "(e.g. mono_640x192/ with encoder.pth and depth.pth)"
    )


def load_monodepth2(folder: str | Path) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """A monodepth2 model folder -> ``{"encoder": ..., "decoder": ...}`` numpy params."""
    if not str(folder):
        raise WeightsError(
            "no monodepth2 weights given; set --config.depth.weights to a model folder"
        )
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(
            f"{folder}: monodepth2 weights must be a model folder holding encoder.pth and "
            "depth.pth (set --config.depth.weights)"
        )
    enc_path, dec_path = (_find(folder, stem) for stem in FILES)
    encoder = encoder_from_state_dict(
        read_state_dict(enc_path, "monodepth2 encoder"), str(enc_path)
    )
    decoder = decoder_from_state_dict(
        read_state_dict(dec_path, "monodepth2 depth decoder"),
        encoder_channels(encoder),
        str(dec_path),
    )
    params = {"encoder": encoder, "decoder": decoder}
    _check_fits(params, str(enc_path))
    return params


def _check_fits(params: Mapping[str, Any], source: str) -> None:
    """Trace the network once on shapes only: layers that do not chain fail here, in one line."""
    try:
        jax.eval_shape(disparity, params, jax.ShapeDtypeStruct((1, STRIDE, STRIDE, 3), np.float32))
    except (TypeError, ValueError) as e:
        raise WeightsError(
            f"{source}: the encoder's layer shapes do not chain ({first_line(e)})"
        ) from None
