r"""Style swap's inverse network (Chen & Schmidt 2016; jaxstyle/methods/styleswap/method.py).

Variants (``configs/styleswap.py:VARIANT``):
  paper  the official train-vgg-decoder.lua setup: the VGG19 mirror to relu3_1, feature-space
         loss on Phi(c), Phi(s) and their swaps + TV, no pixel loss, Adam 1e-3 with inverse-time
         decay 1e-4, 256 px crops, 80k steps. Batch 4 pairs (12 latents; the official 2x2 gives
         8). The official decoder has BatchNorm; this one is the norm-free reflect-padded mirror
         (irasin's, and the one jaxstyle shares with AdaIN/WCT).
  tiny   a seconds-long smoke run: 32 px crops, batch 2, a decoder 1/4 as wide, Adam 3e-4 (a
         1/16-wide decoder at lr 1e-2 or 1e-3 lost every ReLU in its first steps and output a
         constant image; this one's loss fell from 82 to 27 in 18 steps).
  pixel  paper + irasin's image reconstruction term (MSE of D(Phi(c)), D(Phi(s)) to c, s).

Run::

  jaxstyle train --config configs/styleswap.py:paper --workdir runs/styleswap \
    --config.data.content_dir=/data/coco --config.data.style_dir=/data/wikiart
  jaxstyle stylize --method styleswap --checkpoint runs/styleswap --content C.jpg --style S.jpg
"""

from __future__ import annotations

import ml_collections

from jaxstyle.config import make_tiny


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variants = set((arg or "paper").split(","))
    unknown = variants - {"paper", "tiny", "pixel"}
    if unknown:
        raise ValueError(f"unknown styleswap config variant(s) {sorted(unknown)}; use paper, tiny, pixel")
    from jaxstyle.data import default_data_config

    cfg = ml_collections.ConfigDict()
    cfg.method = "styleswap"
    cfg.seed = 0
    cfg.model = ml_collections.ConfigDict({
        "encoder": "vgg16",  # or "vgg19" with imported weights (the official and irasin's encoder)
        "encoder_weights": "",
        "swap_layer": "relu3_1",
        "patch_size": 3,  # official training falls back to 3 (irasin trains with 5)
        "swap_stride": 1,
        "decoder_width": 1.0,
        "dtype": "float32",
        "remat": False,
    })
    # feature: MSE(Phi(D(z)), z); tv: mean squared differences of D(z); pixel: MSE(D(Phi(x)), x)
    cfg.loss = ml_collections.ConfigDict({"feature": 1.0, "tv": 1e-3, "pixel": 0.0})
    cfg.optim = ml_collections.ConfigDict({"lr": 1e-3, "lr_decay": 1e-4})
    cfg.data = default_data_config()
    cfg.data.load_size = 512
    cfg.data.crop_size = 256
    cfg.train = ml_collections.ConfigDict({
        "steps": 80_000, "batch_size": 4, "log_every": 50, "checkpoint_every": 1000,
        "keep_checkpoints": 3, "sample_every": 1000, "num_samples": 4,
    })
    if "tiny" in variants:
        make_tiny(cfg, crop_size=32)
        cfg.model.decoder_width = 0.25
        cfg.optim.lr = 3e-4
    if "pixel" in variants:
        cfg.loss.pixel = 1.0
    return cfg
