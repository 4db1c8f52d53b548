"""Official pytorch-AdaIN weights: the import reproduces a PyTorch reference; test-time controls."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_ref import vgg_normalised, vgg_normalised_indices  # noqa: E402

from jaxstyle.errors import WeightsError  # noqa: E402
from jaxstyle.methods.adain.method import load_stylizer  # noqa: E402


def official_decoder() -> nn.Sequential:
    """pytorch-AdaIN's ``net.decoder``, verbatim layout."""

    def block(cin, cout, relu=True):
        return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3))] + ([nn.ReLU()] if relu else [])

    up = nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(
        *block(512, 256), up, *block(256, 256), *block(256, 256), *block(256, 256), *block(256, 128),
        nn.Upsample(scale_factor=2, mode="nearest"), *block(128, 128), *block(128, 64),
        nn.Upsample(scale_factor=2, mode="nearest"), *block(64, 64), *block(64, 3, relu=False),
    ).eval()  # fmt: skip


def torch_mean_std(feat, eps=1e-5):  # pytorch-AdaIN's calc_mean_std
    n, c = feat.shape[:2]
    var = feat.view(n, c, -1).var(dim=2) + eps
    return feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def torch_adain(content, style):
    cm, cs = torch_mean_std(content)
    sm, ss = torch_mean_std(style)
    return (content - cm) / cs * ss + sm


def _he_init(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    d = tmp_path_factory.mktemp("adain_official")
    vgg = vgg_normalised()
    _he_init(vgg, 0)
    with torch.no_grad():  # the real file's 1x1 conv maps [0,1] RGB to Caffe BGR-255 - mean
        vgg[0].weight.copy_(torch.flip(torch.eye(3), [0]).view(3, 3, 1, 1) * 255.0)
        vgg[0].bias.copy_(-torch.tensor([103.939, 116.779, 123.68]))
        for m in list(vgg.modules())[1:]:
            if isinstance(m, nn.Conv2d) and m.in_channels == 3 and m.kernel_size == (3, 3):
                m.weight.mul_(1 / 60.0)  # keep activations O(1) for 0..255 inputs
    dec = official_decoder()
    _he_init(dec, 1)
    with torch.no_grad():
        dec[-1].weight.mul_(0.05)
        dec[-1].bias.fill_(0.5)  # outputs mostly inside [0, 1], so clipping hides nothing
    torch.save(vgg.state_dict(), d / "vgg_normalised.pth")
    torch.save(dec.state_dict(), d / "decoder.pth")
    encoder = vgg[: vgg_normalised_indices()["relu4_1"] + 1]
    return d, encoder, dec


def _torch_stylize(encoder, decoder, content, style, alpha=1.0):
    with torch.no_grad():
        c = torch.from_numpy(content).permute(0, 3, 1, 2)
        s = torch.from_numpy(style).permute(0, 3, 1, 2)
        fc = encoder(c)
        t = alpha * torch_adain(fc, encoder(s)) + (1 - alpha) * fc
        return decoder(t).permute(0, 2, 3, 1).numpy()


def _images(seed, n, size):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype(np.float32)


def test_official_import_matches_pytorch(official):
    d, encoder, dec = official
    content, style = _images(0, 2, 64), _images(1, 2, 48)
    ref = _torch_stylize(encoder, dec, content, style)
    assert 0.05 < ref.std() and (np.clip(ref, 0, 1) == ref).mean() > 0.9  # a non-trivial output
    for source in (d, d / "decoder.pth", (d / "decoder.pth", d / "vgg_normalised.pth")):
        out = np.asarray(load_stylizer(source).stylize(content, style))
        assert out.shape == content.shape
        assert np.abs(out - np.clip(ref, 0, 1)).max() < 1e-3


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_alpha_zero_is_the_reconstruction_and_controls(official):
    d, encoder, dec = official
    stylizer = load_stylizer(d)
    content, style, style2 = _images(2, 2, 64), _images(3, 1, 64), _images(4, 1, 64)
    with torch.no_grad():
        recon = dec(encoder(torch.from_numpy(content).permute(0, 3, 1, 2))).permute(0, 2, 3, 1).numpy()
    out0 = np.asarray(stylizer.stylize(content, style, alpha=0.0))
    np.testing.assert_allclose(out0, np.clip(recon, 0, 1), atol=1e-3)
    half = np.asarray(stylizer.stylize(content, style, alpha=0.5))
    np.testing.assert_allclose(
        half, np.clip(_torch_stylize(encoder, dec, content, np.repeat(style, 2, 0), 0.5), 0, 1), atol=1e-3
    )
    full = np.asarray(stylizer.stylize(content, style))
    assert np.abs(full - out0).max() > 0.01  # random weights: a weak but real effect
    # Interpolation: all weight on one style = that style; masks: all-ones for style 0 = style 0.
    mixed = np.asarray(stylizer.stylize(content, [(style[0], style2[0])], style_weights=[1.0, 0.0]))
    np.testing.assert_allclose(mixed, full, atol=1e-5)
    masks = np.stack([np.ones((64, 64)), np.zeros((64, 64))]).astype(np.float32)
    np.testing.assert_allclose(np.asarray(stylizer.stylize(content, [(style[0], style2[0])], masks=masks)), full, atol=1e-5)
    half_masks = masks.copy()
    half_masks[0, :, 32:], half_masks[1, :, 32:] = 0, 1
    split = np.asarray(stylizer.stylize(content, [(style[0], style2[0])], masks=half_masks))
    other = np.asarray(stylizer.stylize(content, style2))
    # Away from the mask edge each half follows its own style (up to the decoder's receptive field).
    left, right = np.s_[:, :, :8], np.s_[:, :, -8:]
    gap = np.abs(full - other)
    assert np.abs(split - full)[left].mean() < 0.2 * gap[left].mean()
    assert np.abs(split - other)[right].mean() < 0.2 * gap[right].mean()
    # Colour preservation changes the output towards the content's colours.
    kept = np.asarray(stylizer.stylize(content, style, preserve_color="histogram"))
    assert np.abs(kept.mean((1, 2)) - content.mean((1, 2))).mean() < np.abs(full.mean((1, 2)) - content.mean((1, 2))).mean()


def test_bad_decoder_file_is_a_one_line_error(tmp_path):
    torch.save({"1.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "decoder.pth")
    with pytest.raises(WeightsError, match="decoder.pth") as e:
        load_stylizer(tmp_path / "decoder.pth", vgg=tmp_path / "missing.pth")
    assert "\n" not in str(e.value)
