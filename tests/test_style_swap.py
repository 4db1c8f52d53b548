"""Style swap: the op's properties and its parity with the official algorithm in PyTorch."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.errors import InputError
from jaxstyle.ops.style_swap import extract_patches, match_patches, style_swap


def _features(seed: int, shape: tuple[int, ...]) -> jax.Array:
    """Strictly positive random features: no zero patches, no two patches proportional."""
    return jax.random.uniform(jax.random.PRNGKey(seed), shape, minval=0.1, maxval=1.0)


# ----------------------------------------------------------------------------- op properties


def test_every_patch_of_a_map_matches_itself_and_self_swap_returns_the_map():
    x = _features(0, (9, 11, 8))
    idx = match_patches(x, x, chunk=5)
    np.testing.assert_array_equal(idx, np.arange(7 * 9).reshape(7, 9))
    # the overlap average of nine copies of a value is that value up to float rounding
    np.testing.assert_allclose(style_swap(x, x, chunk=5), x, rtol=1e-6, atol=0)


def test_chunked_swap_equals_unchunked():
    content, style = _features(1, (12, 10, 6)), _features(2, (11, 13, 6))
    n = extract_patches(style, 3, 1).shape[0]
    assert n % 7  # chunks of 7 leave masked padding patches in the last chunk
    np.testing.assert_array_equal(style_swap(content, style, chunk=7), style_swap(content, style, chunk=n))


def test_swap_vmapped_over_pairs_equals_each_pair_under_jit():
    contents, styles = _features(3, (3, 10, 9, 5)), _features(4, (3, 8, 12, 5))
    swap = functools.partial(style_swap, patch=3, stride=1, chunk=16)
    batched = jax.jit(jax.vmap(swap))(contents, styles)
    for i in range(3):
        np.testing.assert_allclose(batched[i], swap(contents[i], styles[i]), rtol=1e-6, atol=1e-7)


def test_swap_of_mismatched_or_too_small_maps_is_refused():
    with pytest.raises(InputError, match="channels"):
        style_swap(jnp.ones((5, 5, 3)), jnp.ones((5, 5, 4)))
    with pytest.raises(InputError, match="does not fit"):
        style_swap(jnp.ones((2, 5, 3)), jnp.ones((5, 5, 3)))


# ----------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize(
    ("patch", "stride", "hw"),
    [(3, 1, (13, 11)), (3, 2, (13, 11)), pytest.param(5, 1, (12, 12), marks=pytest.mark.slow)],
)
def test_swap_equals_the_official_algorithm_in_pytorch(patch, stride, hw):
    torch = pytest.importorskip("torch")
    from tests.torch_ref import style_swap_torch

    rng = np.random.default_rng(patch * 10 + stride)
    # relu-like features: non-negative with exact zeros, as the encoder gives
    content = np.maximum(rng.standard_normal((*hw, 16)), 0).astype(np.float32)
    style = np.maximum(rng.standard_normal((10, 14, 16)), 0).astype(np.float32)
    ours = np.asarray(style_swap(jnp.asarray(content), jnp.asarray(style), patch, stride, chunk=9))
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    ref = style_swap_torch(to_t(content), to_t(style), patch, stride)[0].permute(1, 2, 0).numpy()
    h, w = ref.shape[:2]  # the rows/columns a stride that does not tile leaves uncovered are ours only
    np.testing.assert_allclose(ours[:h, :w], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours[h:], content[h:])
    np.testing.assert_array_equal(ours[:, w:], content[:, w:])
