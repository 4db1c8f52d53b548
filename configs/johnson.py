r"""Johnson et al. 2016, one network per style (jaxstyle/methods/johnson/method.py).

Variants (``configs/johnson.py:VARIANT``):
  paper  pytorch/examples' defaults: 256 px COCO crops, batch 4, Adam 1e-3, 2 epochs of COCO
         2014 train (41,391 steps), content 1e5 at relu2_2, style 1e10 at relu1_2..relu4_3,
         the style image at its own size (``style_size=0``), no flips.
  tiny   a seconds-long smoke run: 32 px crops, 1/8-width network, style at 64 px, batch 2.

Run::

  jaxstyle train --config configs/johnson.py:paper --workdir runs/candy \
    --config.data.content_dir=/data/coco/train2014 --config.style_image=candy.jpg
  jaxstyle train ... --config.model.upsample=deconv     # transposed convs (checkerboards)
  jaxstyle stylize --method johnson --checkpoint runs/candy --content photo.jpg
"""

from __future__ import annotations

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "paper"
    if variant not in ("paper", "tiny"):
        raise ValueError(f"unknown johnson config variant {variant!r}; use paper or tiny")
    from jaxstyle.config import make_tiny
    from jaxstyle.data import default_data_config

    cfg = ml_collections.ConfigDict()
    cfg.method = "johnson"
    cfg.seed = 42
    cfg.style_image = ""  # required: the one style this network learns
    cfg.style_size = 0  # long side of the style image in px for its Grams; 0 = as it is
    # width scales every hidden channel count; upsample: "nearest" (resize-conv) or "deconv".
    cfg.model = ml_collections.ConfigDict({"encoder": "vgg16", "width": 1.0, "upsample": "nearest"})
    cfg.loss = ml_collections.ConfigDict({"content": 1e5, "style": 1e10})
    cfg.optim = ml_collections.ConfigDict({"lr": 1e-3})
    cfg.data = default_data_config()
    cfg.data.update(load_size=256, crop_size=256, flip=False)
    cfg.train = ml_collections.ConfigDict({
        "steps": 2 * 82_783 // 4, "batch_size": 4, "log_every": 100, "checkpoint_every": 2000,
        "keep_checkpoints": 2, "sample_every": 2000, "num_samples": 4,
    })
    if variant == "tiny":
        make_tiny(cfg, crop_size=32)
        cfg.model.width = 1 / 8
        cfg.style_size = 64
        cfg.train.update(steps=10, checkpoint_every=5, sample_every=5)
        cfg.optim.lr = 1e-2  # a tiny network moves visibly in 10 steps
    return cfg
