"""The shared convolution's custom gradients equal XLA's automatic ones."""

import jax
import numpy as np
import pytest

from jaxstyle.models.conv import _conv, conv_hwio


# Both kernel-gradient forms: shifted input windows (cout >= cin or not 'same'), shifted
# output gradient (cout < cin, 'same').
@pytest.mark.parametrize("pad,size,cin,cout", [(0, 3, 5, 4), (1, 3, 5, 4), (1, 3, 4, 6), (0, 1, 6, 3)])
def test_custom_vjp_matches_autodiff(pad, size, cin, cout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 7, cin)).astype(np.float32)
    k = rng.standard_normal((size, size, cin, cout)).astype(np.float32)
    g = rng.standard_normal(np.shape(_conv(x, k, pad))).astype(np.float32)
    ours = jax.vjp(lambda a, b: conv_hwio(a, b, pad), x, k)[1](g)
    ref = jax.vjp(lambda a, b: _conv(a, b, pad), x, k)[1](g)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    # The forward is _conv itself: check it against an independent float64 NumPy convolution.
    np.testing.assert_allclose(conv_hwio(x, k, pad), _numpy_conv(x, k, pad), rtol=1e-5, atol=1e-4)


def _numpy_conv(x: np.ndarray, k: np.ndarray, pad: int) -> np.ndarray:
    """(N, H, W, Cin) x (kh, kw, Cin, Cout) -> (N, H', W', Cout): zero padding, stride 1, float64."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = k.shape[:2]
    h, w = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
    return sum(xp[:, i:i + h, j:j + w] @ k[i, j].astype(np.float64) for i in range(kh) for j in range(kw))


def test_numpy_reference_convolution_sees_a_flipped_kernel():
    """The reference is a cross-correlation (XLA's convention): a flipped kernel differs."""
    rng = np.random.default_rng(3)
    x, k = rng.standard_normal((1, 6, 5, 2)), rng.standard_normal((3, 3, 2, 2))
    assert not np.allclose(_numpy_conv(x, k, 1), _numpy_conv(x, k[::-1, ::-1], 1))
    np.testing.assert_allclose(_numpy_conv(x, k, 1), _conv(x, k, 1), rtol=1e-4, atol=1e-4)


def test_decoder_conv_keeps_nn_conv_parameters_and_init():
    import flax.linen as nn
    import jax.numpy as jnp

    from jaxstyle.models.decoder import Conv3x3

    x = jnp.asarray(np.random.default_rng(2).standard_normal((1, 6, 6, 4)), jnp.float32)
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    ours = Conv3x3(8).init(jax.random.key(0), x)
    ref = nn.Conv(8, (3, 3), padding="VALID").init(jax.random.key(0), padded)
    jax.tree.map(np.testing.assert_array_equal, ours, ref)
    np.testing.assert_allclose(Conv3x3(8).apply(ours, x), nn.Conv(8, (3, 3), padding="VALID").apply(ref, padded),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 7, 9, 3), (1, 2, 2, 4), (1, 3, 5, 2)])
def test_reflect_conv_equals_pad_then_valid_conv(shape):
    import jax.numpy as jnp

    from jaxstyle.models.conv import conv3x3_reflect

    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    k = rng.standard_normal((3, 3, shape[-1], 5)).astype(np.float32)

    def ref(a, b):
        return _conv(jnp.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect"), b, 0)

    # Jitted: one program each instead of one per primitive (eager dispatch compiles every op).
    np.testing.assert_allclose(jax.jit(conv3x3_reflect)(x, k), jax.jit(ref)(x, k), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(np.shape(ref(x, k))).astype(np.float32)
    ours = jax.jit(lambda x, k, g: jax.vjp(conv3x3_reflect, x, k)[1](g))(x, k, g)
    theirs = jax.jit(lambda x, k, g: jax.vjp(ref, x, k)[1](g))(x, k, g)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "h, w, k, stride", [(37, 50, 9, 1), (16, 9, 5, 1), (16, 16, 3, 2), (17, 15, 3, 2), (10, 11, 5, 2), (9, 12, 3, 3)]
)
def test_border_corrected_conv_equals_reflect_pad_then_strided_valid_conv(h, w, k, stride):
    import jax.numpy as jnp

    from jaxstyle.models.conv import conv_reflect_ring

    rng = np.random.default_rng(k + stride)
    x = jnp.asarray(rng.standard_normal((2, h, w, 3), dtype=np.float32))
    kernel = jnp.asarray(rng.standard_normal((k, k, 3, 4), dtype=np.float32))

    def reference(x):
        p = k // 2
        padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        return jax.lax.conv_general_dilated(padded, kernel, (stride, stride), "VALID",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def ours(x):
        return conv_reflect_ring(x, kernel, stride)

    # Jitted: one program each instead of one per primitive (eager dispatch compiles every op).
    want, got = jax.jit(reference)(x), jax.jit(ours)(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4 * float(jnp.abs(want).max()))
    g_want = jax.jit(jax.grad(lambda x: jnp.sum(reference(x) ** 2)))(x)
    g_got = jax.jit(jax.grad(lambda x: jnp.sum(ours(x) ** 2)))(x)
    np.testing.assert_allclose(g_got, g_want, atol=1e-4 * float(jnp.abs(g_want).max()))
