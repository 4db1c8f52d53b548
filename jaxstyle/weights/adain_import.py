"""Import the official pytorch-AdaIN weights (``decoder.pth``, ``vgg_normalised.pth``).

``decoder.pth`` is the state_dict of an ``nn.Sequential`` whose convs sit at indices
1, 5, 8, ..., 28; :class:`jaxstyle.models.decoder.Decoder` names its convs ``conv_{index}``,
so the import is a rename plus OIHW -> HWIO. ``vgg_normalised.pth`` goes through the VGG
importer (its leading 1x1 "normalisation" conv folded into conv1_1, reflect padding, [0, 1]
inputs). Only ``torch.load(weights_only=True)``-safe files are read (no arbitrary pickles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxstyle.models.decoder import DECODER_LAYOUT
from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.importers import conv_from_state_dict, import_weights, read_state_dict


def decoder_from_state_dict(state: dict[str, np.ndarray], source: str) -> dict[str, dict[str, np.ndarray]]:
    """pytorch-AdaIN decoder state_dict (numpy) -> :class:`Decoder` params (width 1.0)."""
    params, cin = {}, 512
    for index, cout, _ in DECODER_LAYOUT:
        params[f"conv_{index}"] = conv_from_state_dict(
            state, str(index), (cout, cin, 3, 3), source, hint="not a pytorch-AdaIN decoder"
        )
        cin = cout
    return params


def load_official_decoder(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read pytorch-AdaIN's ``decoder.pth`` (or a safetensors copy) into Decoder params."""
    state = read_state_dict(path, "AdaIN decoder")
    return decoder_from_state_dict(state, str(path))


def load_official_encoder(path: str | Path) -> Encoder:
    """pytorch-AdaIN's ``vgg_normalised.pth`` as a VGG19 :class:`Encoder` ([0, 1] inputs)."""
    return Encoder.from_weights(import_weights(path, arch="vgg19"))
