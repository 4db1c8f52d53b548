"""Losses: hand-computed values, gradient checks, vmap over pairs equals a Python loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxstyle import losses as L

RNG = np.random.default_rng(0)


def feats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_content_loss_is_mean_squared_error():
    x, y = np.full((2, 3, 4, 5), 3.0, np.float32), np.ones((2, 3, 4, 5), np.float32)
    assert float(L.content_loss(x, y)) == pytest.approx(4.0)


def test_gram_matrix_hand_computed():
    f = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(1, 1, 2, 2)  # 2 positions, 2 channels
    np.testing.assert_allclose(L.gram_matrix(f, normalize=False)[0], [[10, 14], [14, 20]])
    np.testing.assert_allclose(L.gram_matrix(f)[0], np.array([[10, 14], [14, 20]]) / 2)


def test_gram_style_loss_equals_gatys_formula():
    f, s = feats(1, 4, 5, 6), feats(1, 4, 5, 6)
    n_l, m_l = 6, 20
    fm, sm = f.reshape(m_l, n_l), s.reshape(m_l, n_l)
    g, a = fm.T @ fm, sm.T @ sm
    expected = np.sum((g - a) ** 2) / (4 * n_l**2 * m_l**2)
    assert float(L.gram_style_loss(f, L.gram_matrix(s))) == pytest.approx(expected, rel=1e-5)
    # The mean-reduced convention differs by exactly 4 / C^2.
    assert float(L.gram_style_loss_mean(f, L.gram_matrix(s))) == pytest.approx(expected * 4 / n_l**2, rel=1e-5)


def test_gram_style_loss_size_independent_target():
    # A style image tiled 2x2 has the same position-normalised Gram.
    s = feats(1, 3, 3, 4)
    tiled = np.tile(s, (1, 2, 2, 1))
    np.testing.assert_allclose(L.gram_matrix(s), L.gram_matrix(tiled), rtol=1e-5)
    assert float(L.gram_style_loss(tiled, L.gram_matrix(s))) == pytest.approx(0.0, abs=1e-9)


def test_mean_std_style_loss_hand_computed():
    x, y = feats(2, 4, 4, 3), feats(2, 4, 4, 3) * 2 + 1
    mx, my = x.mean((1, 2)), y.mean((1, 2))
    sx, sy = np.sqrt(x.var((1, 2)) + 1e-5), np.sqrt(y.var((1, 2)) + 1e-5)
    expected = np.mean((mx - my) ** 2) + np.mean((sx - sy) ** 2)
    assert float(L.mean_std_style_loss(x, y)) == pytest.approx(expected, rel=1e-5)


def test_total_variation_of_a_step_edge():
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[:, :, 2:] = 1.0  # one vertical edge: 4 of the 12 horizontal differences are 1
    assert float(L.total_variation(x)) == pytest.approx(4 / 12)


def test_laplacian_of_constant_and_impulse():
    assert np.allclose(L.laplacian(np.full((1, 5, 5, 3), 0.7, np.float32)), 0.0, atol=1e-6)
    x = np.zeros((1, 5, 5, 3), np.float32)
    x[0, 2, 2, :] = 1.0
    lap = np.asarray(L.laplacian(x))[0]  # valid: 3x3 output centred on the impulse
    assert lap[1, 1] == pytest.approx(12.0)  # 4 per channel, summed over 3 channels
    assert lap[0, 1] == pytest.approx(-3.0) and lap[0, 0] == pytest.approx(0.0)


def test_laplacian_loss_hand_computed_with_pooling():
    x = RNG.random((1, 8, 8, 3)).astype(np.float32)
    y = RNG.random((1, 8, 8, 3)).astype(np.float32)
    px = x.reshape(1, 4, 2, 4, 2, 3).mean((2, 4))
    py = y.reshape(1, 4, 2, 4, 2, 3).mean((2, 4))

    def lap(a):
        a = a.sum(-1)[0]
        return 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]

    expected = np.mean((lap(px) - lap(py)) ** 2)
    assert float(L.laplacian_loss(x, y, pool=2)) == pytest.approx(expected, rel=1e-5)
    assert float(L.laplacian_loss(x, x, pool=2)) == 0.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: L.content_loss(x, jnp.ones_like(x)),
        lambda x: L.gram_style_loss(x, L.gram_matrix(jnp.ones_like(x))),
        lambda x: L.mean_std_style_loss(x, jnp.ones_like(x) * jnp.arange(3.0)),
        L.total_variation,
        lambda x: L.laplacian_loss(x, jnp.zeros_like(x), pool=2),
    ],
    ids=["content", "gram", "mean_std", "tv", "laplacian"],
)
def test_gradients_match_finite_differences(fn):
    with jax.enable_x64(True):
        x = jnp.asarray(RNG.random((2, 6, 6, 3)), jnp.float64)
        check_grads(fn, (x,), order=1, modes=["rev"], atol=1e-5, rtol=1e-5)


def test_vmap_over_pairs_equals_python_loop():
    x, y = feats(5, 6, 6, 8), feats(5, 6, 6, 8)
    pair_losses = {
        "content": L.content_loss,
        "gram": lambda a, b: L.gram_style_loss(a, L.gram_matrix(b)),
        "mean_std": L.mean_std_style_loss,
        "lap": lambda a, b: L.laplacian_loss(a[..., :3], b[..., :3], pool=2),
    }
    for name, fn in pair_losses.items():
        batched = jax.vmap(fn)(x[:, None], y[:, None])
        looped = np.array([fn(x[i : i + 1], y[i : i + 1]) for i in range(5)])
        np.testing.assert_allclose(batched, looped, rtol=1e-5, err_msg=name)
        # And the batch form is the mean of the per-example values.
        assert float(fn(x, y)) == pytest.approx(looped.mean(), rel=1e-5), name
