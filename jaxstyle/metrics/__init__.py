"""Evaluation metrics: LPIPS (VGG, AlexNet), SSIM, PSNR, style distances, CFSD, FID and ArtFID.

Per-image metrics take NHWC images in [0, 1] (or NHWC features) and return one value per image,
shape (N,), so results can be averaged, tabulated or vmapped as the caller likes:

- :mod:`~jaxstyle.metrics.perceptual`: ``lpips(x, y, net="vgg" | "alex")`` (differentiable; also a
  perceptual content loss);
- :mod:`~jaxstyle.metrics.image`: ``psnr``, ``ssim``;
- :mod:`~jaxstyle.metrics.style`: ``gram_distance``, ``mean_std_distance`` (features) and
  ``histogram_distance`` (HistoGAN's RGB-uv colour histograms);
- :mod:`~jaxstyle.metrics.cfsd`: StyleID's content-fidelity self-similarity distance.

Set metrics work on float64 NumPy activations: :mod:`~jaxstyle.metrics.fid` (Fréchet distance,
FID-infinity, ArtFID, the Inception features). docs/evaluation.md defines each one and its
source.
"""

from jaxstyle.metrics.cfsd import CFSD_LAYER, cfsd, cfsd_encoder, cfsd_from_features
from jaxstyle.metrics.fid import (
    InceptionFeatures,
    activation_statistics,
    art_fid,
    fid_from_activations,
    fid_infinity,
    fid_score,
    frechet_distance,
)
from jaxstyle.metrics.image import psnr, ssim
from jaxstyle.metrics.perceptual import LPIPS, LPIPS_LAYERS, default_lpips, lpips
from jaxstyle.metrics.style import (
    gram_distance,
    histogram_distance,
    mean_std_distance,
    rgb_uv_histogram,
)

__all__ = [
    "CFSD_LAYER",
    "LPIPS",
    "LPIPS_LAYERS",
    "InceptionFeatures",
    "activation_statistics",
    "art_fid",
    "cfsd",
    "cfsd_encoder",
    "cfsd_from_features",
    "default_lpips",
    "fid_from_activations",
    "fid_infinity",
    "fid_score",
    "frechet_distance",
    "gram_distance",
    "histogram_distance",
    "lpips",
    "mean_std_distance",
    "psnr",
    "rgb_uv_histogram",
    "ssim",
]
