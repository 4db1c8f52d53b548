"""FID, FID-infinity and ArtFID: Fréchet distances of Inception-v3 pool features (float64).

- **Features** (:class:`InceptionFeatures`): 2048-d pool features of an imported Inception
  (:mod:`jaxstyle.weights.inception_import`): ``pt_inception`` (pytorch-fid's FID network:
  bilinear resize to 299 x 299, ``align_corners=False``, no antialiasing, then ``2x - 1``) or
  ``art_inception`` (ArtFID's: the image at its own size in [0, 1], as art-fid's ``ToTensor``).
- **Statistics**: ``mu = mean``, ``Sigma = np.cov(rowvar=False)`` (unbiased), in float64.
- **Fréchet distance** (:func:`frechet_distance`), as pytorch-fid computes it:
  ``||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrtm(S1 S2)`` with ``scipy.linalg.sqrtm``; a
  non-finite root is recomputed with ``1e-6`` added to both diagonals; a complex root is
  accepted (its real part) only if the imaginary parts of its diagonal are within 1e-3 of 0.
- **FID-infinity** (:func:`fid_infinity`, art-fid's ``compute_fid_infinity``): FID_N on the
  first N of one shuffled index order (the same indices in both sets, which must be equally
  large) for N = ``linspace(5000, n, num_points)``, a least-squares line of FID_N against 1/N,
  and its value at 1/N = 0. Only defined when n > 5000: for fewer images art-fid's N values all
  exceed n, every FID_N is the plain FID, and so is its "FID-infinity" — :func:`fid_score` then
  returns the plain FID with a warning that small sets inflate it.
- **ArtFID** (Wright & Ommer 2022) = ``(1 + LPIPS_alex) (1 + FID)``, LPIPS the mean over the
  (stylized, content) pairs and FID between the stylized set and the style set with
  ``art_inception`` (:func:`art_fid`).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.models.inception import MIN_SIZE, pool_features
from jaxstyle.weights.inception_import import INCEPTION_NETS, InceptionNet, load_inception

FID_INF_START = 5000  # art-fid's first N
FID_INF_POINTS = 15  # art-fid's default num_points (its CLI passes 8 through a positional slip)
SQRTM_EPS = 1e-6


# ----------------------------------------------------------------------------- statistics


def activation_statistics(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, Sigma)`` of (n, d) activations in float64 (``np.cov(rowvar=False)``, unbiased)."""
    acts = np.asarray(acts, np.float64)
    if acts.ndim != 2 or len(acts) < 2:
        raise InputError(f"FID needs at least 2 images per set, got activations of shape {acts.shape}")
    return acts.mean(axis=0), np.cov(acts, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = SQRTM_EPS) -> float:
    """The Fréchet distance of two Gaussians, float64 (see the module docstring for the
    handling of a singular product and of ``sqrtm``'s imaginary residue)."""
    from scipy import linalg  # ~0.2 s: only when a distance is computed

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise InputError(f"FID statistics differ in shape: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_activations(a: np.ndarray, b: np.ndarray) -> float:
    """Plain FID of two activation sets (n_a, d), (n_b, d)."""
    return frechet_distance(*activation_statistics(a), *activation_statistics(b))


def fid_infinity(a: np.ndarray, b: np.ndarray, num_points: int = FID_INF_POINTS, seed: int = 0) -> float:
    """FID-infinity of two equally large activation sets (n > 5000; see the module docstring).

    Unlike art-fid (numpy's global RNG, unseeded) the shuffles are seeded, so a result repeats.
    """
    n = len(a)
    if len(b) != n:
        raise InputError(f"FID-infinity pairs the two sets index by index: got {n} and {len(b)} images")
    if n <= FID_INF_START:
        raise InputError(f"FID-infinity needs more than {FID_INF_START} images per set, got {n}")
    rng = np.random.default_rng(seed)
    sizes = np.linspace(FID_INF_START, n, num_points).astype(np.int32)
    order = np.arange(n)
    fids = []
    for size in sizes:
        rng.shuffle(order)  # as art-fid: one array, shuffled again for each N
        idx = order[:size]
        fids.append(fid_from_activations(b[idx], a[idx]))
    _, intercept = np.polyfit(1.0 / sizes, np.asarray(fids), 1)
    return float(intercept)


@dataclasses.dataclass
class FIDResult:
    """A FID and how it was computed: ``mode`` ``fid_inf`` or ``fid``, on ``n`` images per set."""

    value: float
    mode: str  # "fid_inf" or "fid"
    n: int
    warning: str = ""


def fid_score(stylized: np.ndarray, style: np.ndarray, *, infinity: bool = True) -> FIDResult:
    """FID-infinity when both sets are equally large and hold more than 5000 images (``infinity``),
    else the plain FID with a warning (also issued as a :class:`UserWarning`) for small sets."""
    n = len(stylized)
    if infinity and n == len(style) and n > FID_INF_START:
        return FIDResult(fid_infinity(stylized, style), "fid_inf", n)
    result = FIDResult(fid_from_activations(stylized, style), "fid", n)
    if n <= FID_INF_START:
        result.warning = (f"plain FID on {n} images: small sets inflate FID (FID-infinity needs more than "
                          f"{FID_INF_START} pairs)")
        warnings.warn(result.warning, stacklevel=2)
    return result


def art_fid(lpips_alex_mean: float, fid: float) -> float:
    """ArtFID = (1 + LPIPS_alex) (1 + FID)."""
    return (1.0 + lpips_alex_mean) * (1.0 + fid)


# ----------------------------------------------------------------------------- features


@dataclasses.dataclass(frozen=True)
class InceptionFeatures:
    """An imported Inception's 2048-d pool features, with its input preparation.

    ``InceptionFeatures.load("art_inception")`` (a one-line WeightsError says how to import it
    when it is missing); ``feats(images)`` with a list of (H, W, 3) images in [0, 1] returns
    (n, 2048) float64 activations, batched by image shape.
    """

    net: InceptionNet
    params: Any

    @classmethod
    def load(cls, name: str) -> InceptionFeatures:
        return cls(INCEPTION_NETS[name], jax.tree.map(jnp.asarray, load_inception(name)))

    def check_size(self, shape: Sequence[int]) -> None:
        """Refuse images the network cannot see (ArtFID's keeps the image size; >= 75 px)."""
        if self.net.resize is None and min(shape[:2]) < MIN_SIZE:
            raise InputError(f"{self.net.name} needs images of at least {MIN_SIZE} px per side, got {tuple(shape[:2])}")

    def __call__(self, images: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        from jaxstyle.pairs import buckets

        out = np.empty((len(images), 2048), np.float64)
        for members in buckets([np.shape(img) for img in images]):
            self.check_size(np.shape(images[members[0]]))
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
                batch = jnp.asarray(np.stack([images[i] for i in chunk]), jnp.float32)
                out[chunk] = np.asarray(_features(self.params, batch, self.net), np.float64)
        return out


def prepare_input(images: jax.Array, net: InceptionNet) -> jax.Array:
    """(N, H, W, 3) in [0, 1] -> the network's input (resized and rescaled as ``net`` says)."""
    if net.resize is not None:
        n, _, _, c = images.shape
        images = jax.image.resize(images, (n, net.resize, net.resize, c), "bilinear", antialias=False)
    return 2.0 * images - 1.0 if net.scale_to_pm1 else images


@functools.partial(jax.jit, static_argnames="net")
def _features(params: Any, images: jax.Array, net: InceptionNet) -> jax.Array:
    return pool_features(params, prepare_input(images, net), net.variant)
