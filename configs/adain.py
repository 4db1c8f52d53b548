r"""AdaIN (Huang & Belongie 2017) and its Laplacian / depth-loss variants (seed doc 002).

Variants (``configs/adain.py:VARIANT``):
  paper  the paper's setup: Adam 1e-4 with inverse-time decay 5e-5, batch 8, style weight 10,
         images resized to a shorter side of 512 then random 256 crops, 160k steps.
  tiny   a seconds-long smoke run: 32 px crops, batch 2, a decoder 1/16 as wide.
  lap    paper + Laplacian loss between the content image and the output (AdaIN + lap).
  depth  paper + depth loss through a monocular depth network (AdaIN + depth): monodepth2 by
         default, whose release folder you give as ``--config.depth.weights=mono_640x192``
         (encoder.pth + depth.pth); other networks plug in by name (jaxstyle/losses/depth.py).
         The weight ``loss.depth=1.0`` is a starting point, not tuned on real depth weights.
Variants combine with commas: ``configs/adain.py:tiny,lap``.

Run::

  jaxstyle train --config configs/adain.py:paper --workdir runs/adain \
    --config.data.content_dir=/data/coco --config.data.style_dir=/data/wikiart \
    --config.train.steps=160000 --config.train.checkpoint_every=1000
"""

from __future__ import annotations

import ml_collections

from jaxstyle.config import make_tiny


def _data_config() -> ml_collections.ConfigDict:
    from jaxstyle.data import default_data_config

    data = default_data_config()  # sources (folders or TFDS), workers, ...
    data.load_size = 512  # shorter side before cropping, as in the paper
    data.crop_size = 256
    return data


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variants = set((arg or "paper").split(","))
    unknown = variants - {"paper", "tiny", "lap", "depth"}
    if unknown:
        raise ValueError(f"unknown adain config variant(s) {sorted(unknown)}; use paper, tiny, lap, depth")
    cfg = ml_collections.ConfigDict()
    cfg.method = "adain"
    cfg.seed = 0

    cfg.model = ml_collections.ConfigDict()
    # "auto": VGG19 when its weights were imported (`jaxstyle weights import vgg_normalised.pth`),
    # else the embedded VGG16. Or "vgg16"/"vgg19" explicitly, with optional weights file.
    cfg.model.encoder = "auto"
    cfg.model.encoder_weights = ""
    cfg.model.decoder_width = 1.0
    cfg.model.dtype = "float32"  # "bfloat16" computes decoder + encoder in bf16 on accelerators
    cfg.model.remat = False

    cfg.loss = ml_collections.ConfigDict()
    cfg.loss.content = 1.0
    cfg.loss.style = 10.0
    cfg.loss.laplacian = 0.0
    cfg.loss.laplacian_pool = 2  # average-pool factor before the Laplacian filter
    cfg.loss.depth = 0.0

    cfg.depth = ml_collections.ConfigDict()
    cfg.depth.network = ""  # name registered in jaxstyle.losses.depth, e.g. "monodepth2"
    cfg.depth.weights = ""

    cfg.optim = ml_collections.ConfigDict()
    cfg.optim.lr = 1e-4
    cfg.optim.lr_decay = 5e-5  # lr / (1 + lr_decay * step), as pytorch-AdaIN
    cfg.optim.b1 = 0.9
    cfg.optim.b2 = 0.999

    cfg.data = _data_config()

    cfg.train = ml_collections.ConfigDict()
    cfg.train.steps = 160_000
    cfg.train.batch_size = 8  # global batch, split over processes and devices
    cfg.train.log_every = 50
    cfg.train.checkpoint_every = 1000
    cfg.train.keep_checkpoints = 3
    cfg.train.sample_every = 1000  # 0 disables sample grids
    cfg.train.num_samples = 4

    if "tiny" in variants:
        make_tiny(cfg, crop_size=32)
    if "lap" in variants:
        cfg.loss.laplacian = 1.0
    if "depth" in variants:
        cfg.loss.depth = 1.0
        cfg.depth.network = "monodepth2"
    return cfg
