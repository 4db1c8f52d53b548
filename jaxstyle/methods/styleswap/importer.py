"""irasin/Pytorch_Style_Swap's inverse network (``model_state.pth``) -> the relu3_1 :class:`Decoder`'s params.

The file is a PyTorch state dict of five reflect-padded 3x3 convs with bias and no
normalisation, ``rc1 .. rc5`` (``.conv.weight`` OIHW, ``.conv.bias``): 256->128, (up x2)
128->128, 128->64, (up x2) 64->64, 64->3, ReLU after all but rc5. That is exactly the
VGG19 mirror to relu3_1 (:func:`jaxstyle.models.decoder.decoder_layout`), so the import is a
rename in forward order plus OIHW -> HWIO. Read with the safe loader (``weights_only``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.models.decoder import conv_names, decoder_layout
from jaxstyle.weights.importers import read_state_dict

LAYER = "relu3_1"
IRASIN_KEYS = tuple(f"rc{i}" for i in range(1, 6))


def irasin_shapes() -> dict[str, tuple[int, ...]]:
    """``{"rc1.conv.weight": (128, 256, 3, 3), ...}``: the shapes the file must hold (OIHW)."""
    out, cin = {}, 256
    for key, (_, cout, _) in zip(IRASIN_KEYS, decoder_layout(LAYER), strict=True):
        out[f"{key}.conv.weight"], out[f"{key}.conv.bias"] = (cout, cin, 3, 3), (cout,)
        cin = cout
    return out


def convert_irasin_state_dict(state: dict[str, Any], source: str = "model_state.pth") -> dict[str, dict[str, np.ndarray]]:
    """A ``model_state.pth`` state dict -> ``{"conv_1": {"kernel": HWIO, "bias"}, ...}`` of ``Decoder(layer="relu3_1")``."""
    expected = irasin_shapes()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise WeightsError(f"{source}: not an irasin style-swap decoder (missing {', '.join(missing[:3])})")
    params = {}
    for key, name in zip(IRASIN_KEYS, conv_names(LAYER), strict=True):
        w = np.asarray(state[f"{key}.conv.weight"], np.float32)
        b = np.asarray(state[f"{key}.conv.bias"], np.float32)
        if w.shape != expected[f"{key}.conv.weight"] or b.shape != expected[f"{key}.conv.bias"]:
            raise WeightsError(f"{source}: {key}.conv has shape {w.shape}, expected {expected[f'{key}.conv.weight']}")
        params[name] = {"kernel": w.transpose(2, 3, 1, 0), "bias": b}
    return params


def load_irasin_decoder(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """The relu3_1 decoder's params from irasin's ``model_state.pth``."""
    return convert_irasin_state_dict(read_state_dict(path, "style-swap decoder"), str(path))
