r"""Multimodal Transfer (Wang et al. 2017), one hierarchical network per style
(jaxstyle/methods/multimodal/method.py).

Variants (``configs/multimodal.py:VARIANT``):
  paper  outputs at 256, 512 and 1024 px (``data.crop_size`` is the final size: COCO photos
         resized to 1024 on the shorter side), batch 1, Adam 1e-3 x0.8 every 2000 steps,
         10,000 steps, lambda 1 / 0.5 / 0.25, style weights 2e4 / 1e5 / 1e3, content 1
         (FeliMe's PyTorch port; the paper has no official code). BENCHMARKS.md: with
         these weights the finest output stays near the photo; style 1e5 at every output
         (--config.loss.style="(1e5,1e5,1e5)") kept fine texture best in a small run.
  tiny   a smoke run: 64 px final crops (16 / 32 / 64 px outputs), 1/8 widths, one residual
         block per group.

Run::

  jaxstyle train --config configs/multimodal.py:paper --workdir runs/mm_starry \
    --config.data.content_dir=/data/coco/train2014 --config.style_image=starry.jpg
  jaxstyle stylize --method multimodal --checkpoint runs/mm_starry --content photo.jpg --all-scales
"""

from __future__ import annotations

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "paper"
    if variant not in ("paper", "tiny"):
        raise ValueError(f"unknown multimodal config variant {variant!r}; use paper or tiny")
    from jaxstyle.config import make_tiny
    from jaxstyle.data import default_data_config

    cfg = ml_collections.ConfigDict()
    cfg.method = "multimodal"
    cfg.seed = 0
    cfg.style_image = ""  # required: the one style this network learns
    # width scales every hidden channel count; blocks > 0 replaces every residual-block count.
    cfg.model = ml_collections.ConfigDict({"encoder": "vgg16", "width": 1.0, "blocks": 0})
    # One entry per output (style, enhance, refine subnet).
    cfg.loss = ml_collections.ConfigDict({
        "hierarchy": (1.0, 0.5, 0.25), "content": (1.0, 1.0, 1.0), "style": (2e4, 1e5, 1e3),
        "tv": 0.0,
    })
    cfg.optim = ml_collections.ConfigDict({"lr": 1e-3, "decay_every": 2000, "decay_rate": 0.8})
    cfg.data = default_data_config()
    cfg.data.update(load_size=1024, crop_size=1024, flip=False)
    cfg.train = ml_collections.ConfigDict({
        "steps": 10_000, "batch_size": 1, "log_every": 100, "checkpoint_every": 1000,
        "keep_checkpoints": 2, "sample_every": 1000, "num_samples": 1,
    })
    if variant == "tiny":
        make_tiny(cfg, crop_size=64)
        cfg.model.update(width=1 / 8, blocks=1)  # compiles in seconds
        cfg.train.update(steps=10, checkpoint_every=5, sample_every=5)
        cfg.optim.lr = 1e-2
    return cfg
