"""Core style-transfer losses as small pure functions.

Conventions (every function here):
- Feature maps and images are NHWC with a leading batch axis ``N``.
- Each loss returns a scalar: the per-example loss averaged over ``N``. So ``vmap`` over an
  extra leading pair axis gives one scalar per pair, and ``loss(x, y)`` on a batch equals the
  mean of the per-example values.
- Images are RGB in [0, 1]; loss weights in configs assume that scale.

Two Gram conventions exist and weights do NOT transfer between them:
- :func:`gram_style_loss` — Gatys et al. 2016, ``E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2`` with
  ``N_l`` channels and ``M_l = H*W``. Used by ``jaxstyle stylize --method gatys|lapstyle``.
- :func:`gram_style_loss_mean` — Gram normalised by ``C*H*W`` then mean squared error over the
  ``C x C`` entries (the PyTorch-tutorial convention); ``= gram_style_loss * 4 / C^2``.

Masked twins (``masked_*``) take the *valid* corner of a padded canvas (:mod:`jaxstyle.shapes`):
``valid`` is ``(2,)`` int ``[h, w]`` in canvas pixels, and every mean, Gram normalisation and
difference runs over the valid positions only, so on an unpadded canvas each equals its twin
(up to float rounding). A map ``s`` times smaller than the canvas holds ``floor(h / s)`` valid
rows (:func:`valid_mask`), as many as VGG's floor pooling gives an exact-shape image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.stats import mean_std

__all__ = [
    "content_loss",
    "gram_matrix",
    "gram_style_loss",
    "gram_style_loss_mean",
    "laplacian",
    "laplacian_loss",
    "masked_content_loss",
    "masked_gram_matrix",
    "masked_gram_style_loss",
    "masked_laplacian_loss",
    "masked_total_variation",
    "mean_std_style_loss",
    "total_variation",
    "valid_mask",
    "w2_style_loss",
    "w2_style_target",
]


def content_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """Feature MSE: ``mean((x - y)^2)`` over H, W, C, then over N. (N,H,W,C) x2 -> scalar.

    Gatys's ``1/2 sum (F - P)^2`` equals this times ``H*W*C/2``.
    """
    return jnp.mean(jnp.square(x - y))


def gram_matrix(f: jax.Array, normalize: bool = True) -> jax.Array:
    """Gram matrix ``G_ij = sum_k F_ik F_jk``: (N,H,W,C) -> (N,C,C).

    With ``normalize`` (default) it is divided by the number of positions ``M = H*W``, which
    makes style targets independent of the style image's size.
    """
    n, h, w, c = f.shape
    f = f.reshape(n, h * w, c)
    # float32 sums whatever the features' dtype (bfloat16 activations: --compute-dtype).
    g = jnp.einsum("nki,nkj->nij", f, f, precision=jax.lax.Precision.HIGHEST, preferred_element_type=jnp.float32)
    return g / (h * w) if normalize else g


def gram_style_loss(f: jax.Array, target_gram: jax.Array) -> jax.Array:
    """Gatys style loss of one layer: ``1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2``, mean over the batch.

    ``f``: (N,H,W,C) features, ``N_l = C`` channels, ``M_l = H*W`` positions. ``target_gram``:
    (N,C,C) or (C,C) position-normalised Gram ``A / M`` of the style features
    (``gram_matrix(style_feats)``, computed once). Written as ``sum((G/M - A/M)^2) / (4 C^2)``,
    which is exactly Gatys's ``E_l`` when style and output have the same size, and stays
    meaningful when they do not.
    """
    c = f.shape[-1]
    per_example = jnp.sum(jnp.square(gram_matrix(f) - target_gram), axis=(-2, -1)) / (4.0 * c**2)
    return jnp.mean(per_example)


def gram_style_loss_mean(f: jax.Array, target_gram: jax.Array) -> jax.Array:
    """Mean-reduced Gram loss: Gram normalised by ``C*H*W``, then MSE over the ``C x C`` entries.

    The PyTorch-tutorial convention. Same inputs as :func:`gram_style_loss`; equals it times ``4 / C^2``.
    """
    c = f.shape[-1]
    return jnp.mean(jnp.square(gram_matrix(f) - target_gram)) / c**2


def mean_std_style_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """AdaIN style loss of one layer: ``MSE(mu(x), mu(y)) + MSE(sigma(x), sigma(y))`` (means over N, C).

    As in the reference PyTorch AdaIN (``nn.MSELoss`` on the statistics); the paper writes L2 norms.
    The statistics use the biased variance plus 1e-5 (:func:`jaxstyle.stats.mean_std`).
    """
    mx, sx = mean_std(x, unbiased=False)
    my, sy = mean_std(y, unbiased=False)
    return jnp.mean(jnp.square(mx - my)) + jnp.mean(jnp.square(sx - sy))


def _mean_and_cov(f: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Mean (N,C) and covariance (N,C,C) of (N,H,W,C) features over positions (those where
    ``mask`` (H,W) is 1), biased (divided by the number of positions)."""
    n, h, w, c = f.shape
    # float32 sums whatever the features' dtype (bfloat16 activations), as the Grams'.
    if mask is None:
        mean, second = jnp.mean(f, axis=(1, 2), dtype=jnp.float32), gram_matrix(f)
    else:
        count = jnp.maximum(jnp.sum(mask), 1.0)
        mean = jnp.sum(f * mask[:, :, None].astype(f.dtype), axis=(1, 2), dtype=jnp.float32) / count
        second = masked_gram_matrix(f, mask)
    return mean, second - mean[:, :, None] * mean[:, None, :]


def _psd_sqrt(a: jax.Array) -> jax.Array:
    """Square root of symmetric PSD matrices (..., C, C) by eigendecomposition (negative
    rounding-error eigenvalues clipped to 0)."""
    w, v = jnp.linalg.eigh(a)
    return jnp.einsum("...ij,...j,...kj->...ik", v, jnp.sqrt(jnp.maximum(w, 0.0)), v)


def w2_style_target(f: jax.Array) -> dict[str, jax.Array]:
    """What :func:`w2_style_loss` compares with, from the style's (N,H,W,C) features: their
    ``mean`` (N,C) and the square root ``cov_sqrt`` (N,C,C) of their covariance."""
    mean, cov = _mean_and_cov(f)
    return {"mean": mean, "cov_sqrt": _psd_sqrt(cov)}


def w2_style_loss(f: jax.Array, target: dict[str, jax.Array], mask: jax.Array | None = None,
                  eps: float = 1e-5) -> jax.Array:
    """Wasserstein-2 style loss of one layer: the squared W2 distance between the Gaussians
    fitted to the features and to the style's, divided by ``C``; mean over the batch.

    ``W2^2 = |m - m_s|^2 + tr(S) + tr(S_s) - 2 tr((S_s^1/2 S S_s^1/2)^1/2)`` with means ``m`` and
    covariances ``S`` over positions (Dowson & Landau 1982; as a style loss in crowsonkb's
    style-transfer-pytorch). ``f``: (N,H,W,C); ``target``: :func:`w2_style_target` of the style,
    (N,...) or unbatched; ``mask`` (H,W): positions of a padded canvas's valid corner. The
    square root is linear below ``eps``, which keeps its gradient finite at zero eigenvalues
    (fewer positions than channels).
    """
    c = f.shape[-1]
    mean, cov = _mean_and_cov(f, mask)
    root = jnp.broadcast_to(target["cov_sqrt"], cov.shape)
    inner = jnp.einsum("nij,njk,nkl->nil", root, cov, root, precision=jax.lax.Precision.HIGHEST)
    eig = jnp.maximum(jnp.linalg.eigvalsh(inner), 0.0)
    # sqrt, exact above eps and linear below it (continuous at eps): a finite gradient at 0.
    above = eig > eps
    cross = jnp.sum(jnp.where(above, jnp.sqrt(jnp.where(above, eig, 1.0)), eig / eps**0.5), axis=-1)
    traces = jnp.trace(cov, axis1=-2, axis2=-1) + jnp.sum(jnp.square(root), axis=(-2, -1))
    per_example = jnp.sum(jnp.square(mean - target["mean"]), axis=-1) + traces - 2.0 * cross
    return jnp.mean(per_example) / c


def total_variation(x: jax.Array) -> jax.Array:
    """Squared total variation: ``mean(dx^2) + mean(dy^2)`` of neighbour differences. (N,H,W,C) -> scalar."""
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return jnp.mean(jnp.square(dy)) + jnp.mean(jnp.square(dx))


# numpy, not jnp: a jnp constant at import starts the XLA backend, which must wait for
# jax.distributed.initialize in multi-process runs.
LAPLACIAN_KERNEL = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]], np.float32)


def avg_pool(x: jax.Array, factor: int) -> jax.Array:
    """Non-overlapping ``factor x factor`` average pooling (trailing rows/cols dropped)."""
    if factor <= 1:
        return x
    n, h, w, c = x.shape
    x = x[:, : h // factor * factor, : w // factor * factor]
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def laplacian(x: jax.Array) -> jax.Array:
    """3x3 Laplacian ``[[0,-1,0],[-1,4,-1],[0,-1,0]]`` summed over channels (as in Lapstyle).

    (N,H,W,C) -> (N,H-2,W-2) ('valid' filtering, so borders add no artificial edges).
    """
    k = jnp.broadcast_to(LAPLACIAN_KERNEL[:, :, None, None], (3, 3, x.shape[-1], 1)).astype(x.dtype)
    y = jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y[..., 0]


def laplacian_loss(x: jax.Array, y: jax.Array, pool: int = 4) -> jax.Array:
    """Lapstyle loss: ``mean((D(P(x)) - D(P(y)))^2)`` with ``P`` = ``pool``x``pool`` average pooling.

    ``x``, ``y``: (N,H,W,3) images in [0, 1]; scalar (mean over pixels, then N). Li et al. use
    sums on 0..255 Caffe inputs; this mean on [0, 1] keeps weights independent of image size.
    """
    return jnp.mean(jnp.square(laplacian(avg_pool(x, pool)) - laplacian(avg_pool(y, pool))))


# --------------------------------------------------------------------------- masked (padded canvases)


def valid_mask(valid: jax.Array, map_hw: tuple[int, int], canvas_hw: tuple[int, int]) -> jax.Array:
    """(h, w) float32: 1 at the positions of an (h, w) map of an (H, W) canvas that lie in the
    valid corner ``valid`` = ``[rows, cols]`` of the canvas (``floor(rows * h / H)`` rows)."""
    h, w = map_hw
    rows = (valid[0] * h) // canvas_hw[0]
    cols = (valid[1] * w) // canvas_hw[1]
    return ((jnp.arange(h) < rows)[:, None] & (jnp.arange(w) < cols)[None, :]).astype(jnp.float32)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of (N,H,W,C) ``values`` over the positions where ``mask`` (H,W) is 1, then over N."""
    per_example = jnp.sum(values * mask[:, :, None], axis=(1, 2, 3))
    return jnp.mean(per_example / (jnp.maximum(jnp.sum(mask), 1.0) * values.shape[-1]))


def masked_content_loss(x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """:func:`content_loss` over the positions where ``mask`` (H,W) is 1. (N,H,W,C) x2 -> scalar."""
    return _masked_mean(jnp.square(x - y), mask)


def masked_gram_matrix(f: jax.Array, mask: jax.Array) -> jax.Array:
    """:func:`gram_matrix` of the positions where ``mask`` (H,W) is 1, divided by their number:
    (N,H,W,C) -> (N,C,C)."""
    n, h, w, c = f.shape
    f = (f * mask[:, :, None].astype(f.dtype)).reshape(n, h * w, c)
    g = jnp.einsum("nki,nkj->nij", f, f, precision=jax.lax.Precision.HIGHEST, preferred_element_type=jnp.float32)
    return g / jnp.maximum(jnp.sum(mask), 1.0)


def masked_gram_style_loss(f: jax.Array, target_gram: jax.Array, mask: jax.Array) -> jax.Array:
    """:func:`gram_style_loss` with the Gram of the valid positions (:func:`masked_gram_matrix`)."""
    c = f.shape[-1]
    per_example = jnp.sum(jnp.square(masked_gram_matrix(f, mask) - target_gram), axis=(-2, -1)) / (4.0 * c**2)
    return jnp.mean(per_example)


def masked_total_variation(x: jax.Array, valid: jax.Array) -> jax.Array:
    """:func:`total_variation` over neighbour pairs both inside the valid corner. (N,H,W,C) -> scalar."""
    mask = valid_mask(valid, x.shape[1:3], x.shape[1:3])
    dy = jnp.square(x[:, 1:] - x[:, :-1])
    dx = jnp.square(x[:, :, 1:] - x[:, :, :-1])
    return _masked_mean(dy, mask[1:] * mask[:-1]) + _masked_mean(dx, mask[:, 1:] * mask[:, :-1])


def masked_laplacian_loss(x: jax.Array, y: jax.Array, valid: jax.Array, pool: int = 4) -> jax.Array:
    """:func:`laplacian_loss` over the outputs whose 3x3 window lies in the valid corner
    (``floor(rows / pool) - 2`` rows of the pooled Laplacian). (N,H,W,3) x2 -> scalar."""
    d = laplacian(avg_pool(x, pool)) - laplacian(avg_pool(y, pool))
    p = max(pool, 1)
    rows, cols = valid[0] // p - 2, valid[1] // p - 2
    mask = ((jnp.arange(d.shape[1]) < rows)[:, None] & (jnp.arange(d.shape[2]) < cols)[None, :]).astype(jnp.float32)
    return _masked_mean(jnp.square(d)[..., None], mask)
