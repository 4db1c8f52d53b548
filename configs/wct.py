r"""WCT (Li et al. 2017): the five VGG-mirror decoders, one per level relu1_1 .. relu5_1.

Each decoder learns to invert the frozen encoder at its level, on content images only:
``L_k = pixel * MSE(D_k(f_k(I)), I) + feature * MSE(f_k(D_k(f_k(I))), f_k(I))`` (paper: lambda = 1).
All levels train in one jitted step, one parameter group (and one Adam) per decoder; their
losses are independent, so this is five trainings sharing one input pipeline and one encoder
pass.

Variants (``configs/wct.py:VARIANT``):
  paper  WCT-TF's train.py defaults: pixel 1, feature 1, Adam 1e-4, batch 8, images resized to
         512 then random 256 crops, 16k steps (the paper trains on COCO).
  tiny   a seconds-long smoke run: 32 px crops, batch 2, decoders 1/16 as wide, 20 steps.

``model.levels`` picks the decoders to train (comma-separated, default all five), e.g.
``--config.model.levels=relu4_1,relu5_1``. The encoder: ``auto`` is VGG19 once imported
(``jaxstyle weights import vgg_normalised.pth``: the official WCT encoders are AdaIN's
vgg_normalised truncated), else the embedded VGG16.

Run::

  jaxstyle train --config configs/wct.py:paper --workdir runs/wct \
    --config.data.content_dir=/data/coco/train2014
  jaxstyle stylize --method wct --checkpoint runs/wct --content C.jpg --style S.jpg --alpha 0.6
"""

from __future__ import annotations

import ml_collections

LEVELS = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "paper"
    if variant not in ("paper", "tiny"):
        raise ValueError(f"unknown wct config variant {variant!r}; use paper or tiny")
    from jaxstyle.config import make_tiny
    from jaxstyle.data import default_data_config

    cfg = ml_collections.ConfigDict()
    cfg.method = "wct"
    cfg.seed = 0

    cfg.model = ml_collections.ConfigDict()
    cfg.model.encoder = "auto"  # vgg19 when imported, else the embedded vgg16
    cfg.model.encoder_weights = ""
    cfg.model.levels = LEVELS
    cfg.model.decoder_width = 1.0
    cfg.model.dtype = "float32"

    cfg.loss = ml_collections.ConfigDict({"pixel": 1.0, "feature": 1.0})
    cfg.optim = ml_collections.ConfigDict({"lr": 1e-4})

    cfg.data = default_data_config()
    cfg.data.load_size = 512
    cfg.data.crop_size = 256

    cfg.train = ml_collections.ConfigDict({
        "steps": 16_000, "batch_size": 8, "log_every": 50, "checkpoint_every": 1000,
        "keep_checkpoints": 3, "sample_every": 1000, "num_samples": 4,
    })
    if variant == "tiny":
        make_tiny(cfg, crop_size=32)
    return cfg
