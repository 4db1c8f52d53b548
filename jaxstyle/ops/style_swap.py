"""Style swap (Chen & Schmidt 2016): each content feature patch replaced by its best style patch.

For one (content, style) pair of feature maps, every ``patch`` x ``patch`` window of the
content (stride ``stride``) is matched to the style window with the highest normalised
cross-correlation ``<c, s_j> / ||s_j||`` (the content norm is the same for every ``j`` and
cannot change the argmax), and the output is rebuilt from the chosen *unnormalised* style
windows, each pixel divided by the number of windows that cover it. This is the official
Torch code's ``NonparametricPatchAutoencoderFactory`` (``normalize=false, interpolate=true``):
style patches as the kernel of a convolution, one-hot argmax, transposed convolution with the
raw patches divided by the transposed convolution of the one-hot with ones.

Memory. The official form holds a score map of (positions x style patches): at relu3_1 of a
1024 px content and style that is 65k x 65k floats (17 GB). Here the patch axis is cut into
static chunks of ``chunk`` patches scanned with a running max/argmax, so at most one
(positions x chunk) block of scores lives at a time; the patch count is padded to a multiple
of ``chunk`` with masked (-inf) patches. What remains are three (patches x 9C) matrices:
the style windows, their normalised kernel copy, and the content windows the correlation
multiplies (0.6 GB each at 1024 px). Measured for 1024 px content and style at relu3_1
(256x256x256 features, 65,025 patches, jit on the CPU): XLA's compiled temp memory
1.80 GB at chunk 512, 1024 or 2048 (process peak RSS in BENCHMARKS.md, "Style swap").

Reconstruction. A one-hot map has exactly one 1 per position, so the transposed convolution
of the one-hot with the patches is an overlap-add of the chosen patches. It is done here as
``patch**2`` gathers of (positions x C) from the style map, each added at its shifted
position: O(positions x C x patch**2) work and memory, against O(positions x patches x C x
patch**2) work for a chunked one-hot transposed convolution (as costly as the matching
itself). The overlap count does not depend on which patches were chosen (one per position),
so it is the count of windows covering each pixel: 9 inside, fewer at borders for 3x3/s1.

Ties (equal scores) go to the lowest patch index, as ``torch.argmax``. Self-swap is exact up
to float rounding of the overlap average when no two style patches are positive multiples of
each other and no content patch is all zero (a zero patch scores 0 against every style patch
and takes patch 0, as in the official code).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxstyle.errors import InputError

DEFAULT_CHUNK = 1024  # patches per scan step: (positions x 1024) float32 scores, 0.27 GB at 1024 px relu3_1
NORM_EPS = 1e-8  # official: patches / (||patch|| + 1e-8)


def _grid(size: int, patch: int, stride: int) -> int:
    """Number of ``patch`` windows with ``stride`` along an axis of ``size``."""
    return (size - patch) // stride + 1


def _window(x: jax.Array, dy: int, dx: int, rows: int, cols: int, stride: int) -> jax.Array:
    """``x[dy + stride*i, dx + stride*j]`` for i < rows, j < cols: (rows, cols, C)."""
    return x[dy : dy + stride * (rows - 1) + 1 : stride, dx : dx + stride * (cols - 1) + 1 : stride]


def extract_patches(features: jax.Array, patch: int = 3, stride: int = 1) -> jax.Array:
    """All ``patch`` x ``patch`` windows of ``features`` (h, w, C) -> (P, patch, patch, C), row-major."""
    h, w, c = features.shape
    rows, cols = _grid(h, patch, stride), _grid(w, patch, stride)
    taps = [
        [_window(features, dy, dx, rows, cols, stride) for dx in range(patch)] for dy in range(patch)
    ]
    stacked = jnp.stack([jnp.stack(row, axis=2) for row in taps], axis=2)  # (rows, cols, py, px, C)
    return stacked.reshape(rows * cols, patch, patch, c)


def _check(content: jax.Array, style: jax.Array, patch: int, stride: int) -> None:
    if content.ndim != 3 or style.ndim != 3:
        raise InputError(f"style_swap takes (H, W, C) feature maps, got {content.shape} and {style.shape}")
    if content.shape[-1] != style.shape[-1]:
        raise InputError(f"style_swap: content has {content.shape[-1]} channels, style {style.shape[-1]}")
    if patch < 1 or stride < 1:
        raise InputError(f"style_swap: patch size and stride must be >= 1, got {patch} and {stride}")
    small = min(content.shape[0], content.shape[1], style.shape[0], style.shape[1])
    if small < patch:
        raise InputError(
            f"style_swap: a {patch}x{patch} patch does not fit the feature maps "
            f"{content.shape[:2]} / {style.shape[:2]}; use larger images or a smaller --patch-size"
        )


@functools.partial(jax.jit, static_argnames=("patch", "stride", "chunk"))
def match_patches(
    content: jax.Array, style: jax.Array, patch: int = 3, stride: int = 1, chunk: int = DEFAULT_CHUNK
) -> jax.Array:
    """Index of the best style patch for every content window: (H, W, C), (h, w, C) -> (Ho, Wo) int32.

    Indices are row-major over the style's windows (``extract_patches`` order); the score is
    ``<content window, style window> / (||style window|| + 1e-8)``, computed in float32 over
    static chunks of ``chunk`` style patches with a running max (first index wins ties).
    """
    _check(content, style, patch, stride)
    content = content.astype(jnp.float32)
    patches = extract_patches(style.astype(jnp.float32), patch, stride)  # (P, k, k, C)
    n = patches.shape[0]
    chunk = max(1, min(chunk, n))
    n_chunks = -(-n // chunk)
    norms = jnp.sqrt(jnp.sum(patches**2, axis=(1, 2, 3)))
    kernels = patches / (norms + NORM_EPS)[:, None, None, None]
    kernels = jnp.pad(kernels.reshape(n, -1), ((0, n_chunks * chunk - n), (0, 0)))
    # (n_chunks, k*k*C, chunk): each chunk is the kernel matrix of one correlation
    kernels = kernels.reshape(n_chunks, chunk, -1).transpose(0, 2, 1)
    index = jnp.arange(n_chunks * chunk, dtype=jnp.int32).reshape(n_chunks, chunk)
    mask = jnp.where(index < n, 0.0, -jnp.inf).astype(jnp.float32)

    rows, cols = _grid(content.shape[0], patch, stride), _grid(content.shape[1], patch, stride)
    # The convolution as one matmul per chunk on the content's windows (same row-major
    # (dy, dx, C) layout as the kernels): one (positions x k*k*C) copy of the content, and under
    # vmap over pairs (a different kernel per pair) a batched matmul rather than the grouped
    # convolution a batched lax.conv becomes, which XLA:CPU runs far slower.
    windows = extract_patches(content, patch, stride).reshape(rows, cols, -1)

    def step(carry, xs):
        best, best_idx = carry
        kern, idx, bias = xs
        scores = windows @ kern + bias  # (Ho, Wo, chunk)
        local = jnp.argmax(scores, axis=-1)
        local_best = jnp.take_along_axis(scores, local[..., None], axis=-1)[..., 0]
        better = local_best > best  # strict: an earlier chunk keeps ties
        return (jnp.where(better, local_best, best), jnp.where(better, idx[local], best_idx)), None

    init = (jnp.full((rows, cols), -jnp.inf, jnp.float32), jnp.zeros((rows, cols), jnp.int32))
    (_, best_idx), _ = jax.lax.scan(step, init, (kernels, index, mask))
    return best_idx


@functools.partial(jax.jit, static_argnames=("patch", "stride"))
def reconstruct(
    indices: jax.Array, style: jax.Array, content: jax.Array, patch: int = 3, stride: int = 1
) -> jax.Array:
    """Overlap-average of the chosen style windows: (Ho, Wo) indices -> (H, W, C) like ``content``.

    Each pixel is the mean of the (unnormalised) style-patch values the windows covering it
    put there. Pixels no window covers (only when ``stride`` does not tile the map: the last
    ``(H - patch) % stride`` rows/columns) keep their content features, where the official
    transposed convolution would return a smaller map.
    """
    rows, cols = indices.shape
    style_cols = _grid(style.shape[1], patch, stride)
    py, px = jnp.divmod(indices, style_cols)
    total = jnp.zeros(content.shape, jnp.float32)
    count = jnp.zeros(content.shape[:2] + (1,), jnp.float32)
    for dy in range(patch):
        for dx in range(patch):
            values = style[py * stride + dy, px * stride + dx].astype(jnp.float32)  # (Ho, Wo, C)
            rs = slice(dy, dy + stride * (rows - 1) + 1, stride)
            cs = slice(dx, dx + stride * (cols - 1) + 1, stride)
            total = total.at[rs, cs].add(values)
            count = count.at[rs, cs].add(1.0)
    swapped = total / jnp.maximum(count, 1.0)
    return jnp.where(count > 0, swapped, content.astype(jnp.float32)).astype(content.dtype)


@functools.partial(jax.jit, static_argnames=("patch", "stride", "chunk"))
def style_swap(
    content_feats: jax.Array,
    style_feats: jax.Array,
    patch: int = 3,
    stride: int = 1,
    chunk: int = DEFAULT_CHUNK,
) -> jax.Array:
    """Swapped features of one pair: content (H, W, C), style (h, w, C) -> (H, W, C).

    ``patch``, ``stride`` and ``chunk`` are static (Python ints, jit-compiled per value;
    ``chunk`` trades memory for fewer scan steps and never changes the result). Pure:
    ``jax.vmap`` it over pairs of equal shapes (``functools.partial`` the ints first). No gradient flows through the argmax, so
    callers use the result as a fixed target.
    """
    indices = match_patches(content_feats, style_feats, patch, stride, chunk)
    return reconstruct(indices, style_feats, content_feats, patch, stride)
