r"""RAST (Ma et al., WACV 2023) and the study of seed doc 000 (ablations, idempotency, low-res).

Variants (``configs/rast.py:VARIANT``), each also with a ``tiny_`` prefix for a small smoke
run (64 px crops, batch 2, decoder and discriminators 1/16 as wide, embedded VGG16):

  paper                       the official training script: Adam 1e-4 (discriminators
                              b1=0.5) with inverse-time decay 5e-5, 2 content + 2 style images
                              per step (4 pairs), 512 px resize then 256 crops, 160k steps,
                              vgg_normalised VGG19 encoder.
  no_<loss>                   paper without one loss group (the study's ablation), for <loss> in
                              contrastive, identity, style_difference, transitive,
                              multi_restoration, adversarial.
  idemp                       paper + the idempotency loss ||T(T(c,s),s) - T(c,s)||^2.
  lowres                      paper + the multi-restoration loss on 32x32 downsampled images.
  efficientnet                paper with the encoder swapped for a pretrained EfficientNet-B0
                              (the study's "architectural simplification"; run
                              ``jaxstyle weights import efficientnet_b0_rwightman-*.pth`` first).
  tiny                        = tiny_paper.

The idempotency and low-res weights are not given by the study; 1.0 is our choice (the
pixel-space identity loss of the paper uses 50, the feature losses 1-2).

EfficientNet taps (``model.layers``, jaxstyle.models.efficientnet.RAST_LAYERS) for RAST's five
VGG ones. RAST's decoder upsamples the fourth tap x8 and its transform adds the fifth (resized)
to it, so the fourth must be at 1/8 of the image and the fifth must have its channel count:

  VGG19 tap   EfficientNet-B0 tap   channels  scale  feeds
  relu1_1     stage1                16        1/2    losses (mean/std)
  relu2_1     stage2                24        1/4    losses
  relu3_1     stage3                40        1/8    losses, style projection head
  relu4_1     stage4.0.expand       240       1/8    SANet 4, decoder input, content head
  relu5_1     stage4.0.se           240       1/16   SANet 5

``stage4.0.expand`` is the deepest 1/8 tap of B0 (stage 3 lifted to 240 channels by stage 4's
first 1x1 expansion); the same block's depthwise stride-2 conv and squeeze-excitation give
the 1/16 partner with equal channels. ``tiny_efficientnet`` uses random B0 weights (no
pretrained EfficientNet ships with jaxstyle): a smoke run of the code path, not a study.

Encoders: ``model.encoder`` is ``vgg19`` (with ``model.encoder_weights=vgg19_normalised``, run
``jaxstyle weights import vgg_normalised.pth`` first), ``vgg16`` (embedded), or
``random_vgg16``/``random_vgg19`` (random weights of width ``model.encoder_width``: tests and
benchmarks only), ``efficientnet_b0`` (imported torchvision weights) or
``random_efficientnet_b0``. Another backbone plugs in through ``jaxstyle.methods.rast.method.ENCODERS``
(see the interface in jaxstyle/methods/rast/model.py).

Run::

  jaxstyle train --config configs/rast.py:paper --workdir runs/rast \
    --config.data.content_dir=/data/coco --config.data.style_dir=/data/wikiart \
    --config.train.steps=160000 --config.train.checkpoint_every=5000
  jaxstyle ablate --config configs/rast.py --variants tiny,tiny_no_identity --steps 20 --workdir runs/abl
  jaxstyle ablate --config configs/rast.py --variants paper,efficientnet --steps 2000 --workdir runs/enc \
    --config.data.content_dir=/data/coco --config.data.style_dir=/data/wikiart
"""

from __future__ import annotations

import ml_collections

from jaxstyle.config import make_tiny

# Ablation name -> the loss terms it zeroes (one definition, shared with the losses).
from jaxstyle.methods.rast.losses import ABLATIONS

VARIANTS = ("paper", *(f"no_{a}" for a in ABLATIONS), "idemp", "lowres", "efficientnet")


def _data_config() -> ml_collections.ConfigDict:
    from jaxstyle.data import default_data_config

    data = default_data_config()
    data.load_size = 512  # the official script resizes to 512x512, then crops 256
    data.crop_size = 256
    return data


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    name = arg or "paper"
    tiny = name == "tiny" or name.startswith("tiny_")
    variant = "paper" if name == "tiny" else name.removeprefix("tiny_")
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown rast config variant {name!r}; use one of {', '.join(VARIANTS)} (optionally tiny_...)"
        )
    cfg = ml_collections.ConfigDict()
    cfg.method = "rast"
    cfg.variant = name
    cfg.seed = 0

    cfg.model = ml_collections.ConfigDict()
    cfg.model.encoder = "vgg19"
    cfg.model.encoder_weights = "vgg19_normalised"
    cfg.model.encoder_width = 1.0  # random_* encoders only
    cfg.model.layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
    cfg.model.decoder_width = 1.0
    cfg.model.disc_width = 1.0
    cfg.model.proj_dim = 128
    cfg.model.dtype = "float32"

    cfg.loss = ml_collections.ConfigDict()
    cfg.loss.contrastive_content = 1.0
    cfg.loss.contrastive_style = 1.0
    cfg.loss.identity_pixel = 50.0
    cfg.loss.identity_feature = 1.0
    cfg.loss.style_difference = 2.0
    cfg.loss.content_transitive = 2.0
    cfg.loss.style_transitive = 2.0
    cfg.loss.content_restoration = 1.0
    cfg.loss.style_restoration = 1.0
    cfg.loss.adversarial = 5.0
    cfg.loss.idempotency = 0.0
    cfg.loss.lowres_restoration = 0.0
    cfg.loss.lowres_size = 32
    cfg.loss.temperature = 0.2

    cfg.optim = ml_collections.ConfigDict()
    cfg.optim.lr = 1e-4
    cfg.optim.lr_decay = 5e-5  # lr / (1 + lr_decay * step), as the official script
    cfg.optim.b1 = 0.9
    cfg.optim.b2 = 0.999
    cfg.optim.disc_b1 = 0.5

    cfg.data = _data_config()

    cfg.train = ml_collections.ConfigDict()
    cfg.train.steps = 160_000
    cfg.train.batch_size = 2  # content (and style) images per step; they form 2x as many pairs
    cfg.train.log_every = 50
    cfg.train.checkpoint_every = 5000
    cfg.train.keep_checkpoints = 3
    cfg.train.sample_every = 1000
    cfg.train.num_samples = 4

    if variant.startswith("no_"):
        for term in ABLATIONS[variant.removeprefix("no_")]:
            cfg.loss[term] = 0.0
    if variant == "idemp":
        cfg.loss.idempotency = 1.0
    if variant == "lowres":
        cfg.loss.lowres_restoration = 1.0
    if variant == "efficientnet":
        from jaxstyle.models.efficientnet import RAST_LAYERS

        cfg.model.encoder = "efficientnet_b0"  # the imported torchvision weights
        cfg.model.encoder_weights = ""
        cfg.model.layers = ",".join(RAST_LAYERS)

    if tiny:
        make_tiny(cfg, crop_size=64)
        cfg.model.encoder = "vgg16"  # embedded: works offline
        if variant == "efficientnet":  # no pretrained B0 ships: random weights, same shapes
            cfg.model.encoder = "random_efficientnet_b0"
        cfg.model.encoder_weights = ""
        cfg.model.disc_width = 1 / 16
        cfg.model.proj_dim = 32
        # make_tiny's lr 1e-3 suits a narrow decoder, but RAST's transform stays 512 channels
        # wide (f/g/h 1x1 convs, a 3x3 merge conv of fan-in 4608): Adam's first step moves every
        # weight by about +-lr, and a coherent 1e-3 step of 4608 inputs moves an output by
        # several times its initial scale (issue 17: loss 1.65e3 -> 1.5e5 at step 2; with the
        # cancelled biases' gradients fixed, still 1596 -> 2872 -> 3701 at batch 8). The
        # paper's 1e-4 decreases it from the first step (1596 -> 995 -> 960).
        cfg.optim.lr = 1e-4
    return cfg
