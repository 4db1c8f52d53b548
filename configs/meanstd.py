r"""Mean/std colour transfer, the template method (jaxstyle/methods/meanstd/method.py).

Variants (``configs/meanstd.py:VARIANT``):
  default  256 px crops, batch 8, Adam 1e-3, 2000 steps (minutes on one GPU).
  tiny     a seconds-long smoke run: 32 px crops, batch 2, 10 steps.

Run::

  jaxstyle train --config configs/meanstd.py --workdir runs/meanstd \
    --config.data.content_dir=DIR --config.data.style_dir=DIR
  jaxstyle stylize --method meanstd --checkpoint runs/meanstd --content C.jpg --style S.jpg
"""

from __future__ import annotations

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "default"
    if variant not in ("default", "tiny"):
        raise ValueError(f"unknown meanstd config variant {variant!r}; use default or tiny")
    from jaxstyle.config import make_tiny
    from jaxstyle.data import default_data_config

    cfg = ml_collections.ConfigDict()
    cfg.method = "meanstd"
    cfg.seed = 0
    cfg.model = ml_collections.ConfigDict({"encoder": "vgg16", "hidden": 32})
    cfg.loss = ml_collections.ConfigDict({"content": 1.0, "style": 10.0})
    cfg.optim = ml_collections.ConfigDict({"lr": 1e-3})
    cfg.data = default_data_config()
    cfg.data.load_size = 288
    cfg.data.crop_size = 256
    cfg.train = ml_collections.ConfigDict({
        "steps": 2000, "batch_size": 8, "log_every": 50, "checkpoint_every": 500,
        "keep_checkpoints": 2, "sample_every": 500, "num_samples": 4,
    })
    if variant == "tiny":
        make_tiny(cfg, crop_size=32)
        cfg.train.update(steps=10, checkpoint_every=5, sample_every=5)
        cfg.optim.lr = 1e-2  # moves visibly in 10 steps
    return cfg
