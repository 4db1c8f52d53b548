"""CFSD, the content-fidelity self-similarity distance of StyleID (Chung et al., CVPR 2024).

For a stylized image o and its content image c (same size), with F the VGG19 relu3_1 features
of an image ((hw, C), ImageNet-normalised [0, 1] input) divided by C:

- ``S = F F^T`` (hw x hw), each row i softmax-normalised over j: ``P = softmax(S_c)``,
  ``log Q = log_softmax(S_o)``;
- ``CFSD(o, c) = sum_i sum_j P_ij (log P_ij - log Q_ij)``: the KL divergence KL(P_i || Q_i)
  summed (not averaged) over the hw rows. This is StyleID's
  ``F.kl_div(log_softmax(S_stylized), softmax(S_content), reduction='batchmean')`` at batch 1
  (evaluation/image_metrics.py, ``PatchSimi``).

Rows are computed in blocks (:func:`jax.lax.map` with ``batch_size``; about 2**23 entries of S
per block) so a 512 px image (128 x 128 taps: a 16384 x 16384 matrix, 1 GiB in float32) never
holds S whole. VGG19 is used
when it is imported (``jaxstyle weights download vgg19``); otherwise the embedded VGG16's
relu3_1, and every table says ``cfsd_vgg16`` (:func:`cfsd_encoder`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxstyle.models.encoder import Encoder
from jaxstyle.weights.encoders import load_encoder, resolve_encoder_name

CFSD_LAYER = "relu3_1"
BLOCK_ELEMENTS = 2**23  # entries of one (N, rows, hw) block of S: 32 MiB in float32


def cfsd_encoder(name: str = "auto") -> tuple[Encoder, str]:
    """``(encoder, metric key)``: VGG19 and ``cfsd`` when VGG19 is imported (or asked for), else
    the embedded VGG16 and ``cfsd_vgg16``."""
    name = resolve_encoder_name(name)
    return load_encoder(name), "cfsd" if name == "vgg19" else f"cfsd_{name}"


def _similarity_inputs(f: jax.Array) -> jax.Array:
    """(N, h, w, C) -> (N, hw, C) divided by C (row-major positions; S is invariant to the order)."""
    n, h, w, c = f.shape
    return jnp.asarray(f).reshape(n, h * w, c) / c


@functools.partial(jax.jit, static_argnames="row_block")
def cfsd_from_features(stylized: jax.Array, content: jax.Array, row_block: int | None = None) -> jax.Array:
    """CFSD per image from relu3_1 features: (N, h, w, C) x2 -> (N,). Exactly 0 when they are equal.

    Computed in a form that keeps float32's digits (the direct ``log_softmax`` difference, as
    StyleID's code or a direct port runs it, is off by ~1% against a float64 reference at CFSD
    ~4e-4, and its rows of nearly equal images drown in rounding). With ``D = S_c - S_o``,
    ``log P_ij - log Q_ij = D_ij - log sum_k Q_ik exp(D_ik)``, so for any per-row ``m``::

        KL_i = sum_j P_ij (D_ij - m_i) - log sum_j Q_ij exp(D_ij - m_i)

    ``m_i`` is the Q-mean of row i (both terms become small instead of nearly equal), ``D``
    comes from the feature difference ``d = F_c - F_o`` as ``d_i . F_c,j + F_o,i . d_j``, the
    second term is ``log1p`` of a Q-mean of ``expm1`` while the row's ``|D - m|`` stays below 1,
    and the sums of P and Q divide out their rounding (they are 1 only to float32 precision).
    """
    fo, fc = _similarity_inputs(stylized), _similarity_inputs(content)
    d = fc - fo

    def row_kl(i: jax.Array) -> jax.Array:  # one row i of every image -> (N,)
        diff = jnp.einsum("nc,nkc->nk", d[:, i], fc) + jnp.einsum("nc,nkc->nk", fo[:, i], d)
        p = jax.nn.softmax(jnp.einsum("nc,nkc->nk", fc[:, i], fc), axis=-1)
        log_q = jax.nn.log_softmax(jnp.einsum("nc,nkc->nk", fo[:, i], fo), axis=-1)
        q = jnp.exp(log_q)
        q_sum = jnp.sum(q, axis=-1, keepdims=True)
        centred = diff - jnp.sum(q * diff, axis=-1, keepdims=True) / q_sum
        log_mean_exp = jnp.where(  # log1p/expm1: log(1 + 1e-10) would round to 0 in float32
            jnp.max(jnp.abs(centred), axis=-1) < 1.0,
            jnp.log1p(jnp.sum(q * jnp.expm1(jnp.minimum(centred, 1.0)), axis=-1) / q_sum[..., 0]),
            jax.nn.logsumexp(log_q + centred, axis=-1))  # in logs: Q_k may underflow where D_k is large
        return jnp.sum(p * centred, axis=-1) / jnp.sum(p, axis=-1) - log_mean_exp

    n, hw, _ = fo.shape
    row_block = row_block or max(1, min(hw, BLOCK_ELEMENTS // (n * hw)))
    rows = jax.lax.map(row_kl, jnp.arange(hw), batch_size=row_block)  # (hw, N)
    return jnp.sum(rows, axis=0)


def cfsd(stylized: jax.Array, content: jax.Array, encoder: Encoder) -> jax.Array:
    """CFSD per image: stylized and content (N, H, W, 3) in [0, 1], same size -> (N,). Lower is
    closer to the content's structure."""
    fo = encoder(stylized, (CFSD_LAYER,))[CFSD_LAYER]
    fc = encoder(content, (CFSD_LAYER,))[CFSD_LAYER]
    return cfsd_from_features(fo, fc)
