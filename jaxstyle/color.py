"""Colour preservation for style transfer (Gatys et al. 2017, "Controlling Perceptual Factors").

Two strategies, both on float RGB images in [0, 1]:
- ``luminance``: transfer style on the luminance channel only, then put the content's
  chrominance back (YIQ space); the style's luminance is first matched to the content's
  mean/std.
- ``histogram``: recolour the style image so its colour mean and covariance match the
  content's, then stylise normally (a linear colour transfer; for AdaIN this is the
  paper's CORAL colour preservation up to the symmetric square root used).

Both are method-agnostic pre/post-processing: :func:`prepare_pair` before a stylizer runs,
:func:`finish` on its result, so every method honours every mode the same way.
"""

from __future__ import annotations

import numpy as np

_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    np.float32,
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)

MODES = ("none", "luminance", "histogram")


def rgb_to_yiq(img: np.ndarray) -> np.ndarray:
    return img @ _RGB_TO_YIQ.T


def yiq_to_rgb(img: np.ndarray) -> np.ndarray:
    return img @ _YIQ_TO_RGB.T


def luminance(img: np.ndarray) -> np.ndarray:
    """Y channel replicated to 3 channels (the input the encoder sees in luminance mode)."""
    y = rgb_to_yiq(img)[..., :1]
    return np.repeat(y, 3, axis=-1)


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Style luminance (3-channel) with its mean/std matched to the content's luminance."""
    ys, yc = luminance(style)[..., 0], luminance(content)[..., 0]
    ys = (ys - ys.mean()) * (yc.std() / (ys.std() + 1e-6)) + yc.mean()
    return np.repeat(ys[..., None], 3, axis=-1).astype(np.float32)


def restore_chrominance(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance of ``stylized`` (mean of its channels' Y) + I/Q of ``content`` -> RGB."""
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = rgb_to_yiq(stylized)[..., 0]
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0).astype(np.float32)


def match_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Linear colour transfer: give ``style`` the colour mean and covariance of ``content``.

    Uses the symmetric matrix square roots (the "Cholesky/PCA" variants differ only by a rotation).
    """

    def stats(img):
        px = img.reshape(-1, 3).astype(np.float64)
        mu = px.mean(0)
        cov = np.cov(px - mu, rowvar=False) + 1e-5 * np.eye(3)
        return px, mu, cov

    def sqrtm(m, inverse=False):
        w, v = np.linalg.eigh(m)
        w = np.clip(w, 1e-8, None)
        return (v * (w ** (-0.5 if inverse else 0.5))) @ v.T

    px, mu_s, cov_s = stats(style)
    _, mu_c, cov_c = stats(content)
    transform = sqrtm(cov_c) @ sqrtm(cov_s, inverse=True)
    out = (px - mu_s) @ transform.T + mu_c
    return np.clip(out.reshape(style.shape), 0.0, 1.0).astype(np.float32)


def prepare_pair(content: np.ndarray, style: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(content, style) as the stylizer should see them under colour mode ``mode``."""
    if mode == "luminance":
        return luminance(content), match_luminance(style, content)
    if mode == "histogram":
        return content, match_histogram(style, content)
    return content, style


def finish(result: np.ndarray, content: np.ndarray, mode: str) -> np.ndarray:
    """The stylized ``result`` with the content's colours put back where ``mode`` asks for it.

    ``content`` is the original (not luminance) content at the result's size.
    """
    if mode == "luminance":
        return restore_chrominance(result, content)
    return result
