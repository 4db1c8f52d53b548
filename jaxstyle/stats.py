"""Per-channel feature statistics, shared by the models (AdaIN, SANet, discriminators), the
losses and the metrics. NHWC, batched over the leading axis; pure.

Which variance a caller uses is not a detail: decoders imported from pytorch-AdaIN and RAST
were trained on torch's ``.var()`` (unbiased), while the mean/std style loss and metric, and
``InstanceNorm2d``, use the biased one. So every caller says which (``unbiased`` has no default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-5  # pytorch-AdaIN's and SANet/RAST's eps, also InstanceNorm2d's default


def mean_std(
    x: jax.Array, *, unbiased: bool, eps: float = EPS, keepdims: bool = False
) -> tuple[jax.Array, jax.Array]:
    """Per-image, per-channel mean and std over H, W.

    (N,H,W,C) -> two (N,C) arrays, or two (N,1,1,C) with ``keepdims`` (broadcastable to ``x``).

    Args:
      unbiased: divide the squared deviations by ``H*W - 1`` (torch's default ``.var()``)
        instead of ``H*W`` (``jnp.var``). A 1x1 map has variance 0 either way.
      eps: added to the variance, not the std: ``std = sqrt(var + eps)``, as the official
        AdaIN/RAST code does. A constant channel gets ``sqrt(eps)``, so dividing by the std
        (and its gradient) stays finite.
    """
    ddof = 1 if unbiased and x.shape[1] * x.shape[2] > 1 else 0
    mean = jnp.mean(x, axis=(1, 2), keepdims=keepdims)
    var = jnp.var(x, axis=(1, 2), ddof=ddof, keepdims=keepdims)
    return mean, jnp.sqrt(var + eps)


def standardize(x: jax.Array, *, unbiased: bool, eps: float = EPS) -> jax.Array:
    """Each channel of each image to zero mean and unit std over H, W: (N,H,W,C) -> (N,H,W,C).

    With ``unbiased=True`` this is SANet/RAST's ``mean_variance_norm``; with ``unbiased=False``
    it is ``nn.InstanceNorm2d`` without affine parameters. See :func:`mean_std`.
    """
    mean, std = mean_std(x, unbiased=unbiased, eps=eps, keepdims=True)
    return (x - mean) / std
