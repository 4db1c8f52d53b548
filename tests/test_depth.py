"""monodepth2 port: parity with a PyTorch reference of the release architecture, the depth loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_monodepth2
from PIL import Image

from jaxstyle.errors import WeightsError
from jaxstyle.losses.depth import depth_loss
from jaxstyle.models.monodepth import encoder_features
from jaxstyle.weights.depth import load_depth_network


def _photo(path, size=(96, 64)) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB").resize(size), np.float32)[None] / 255


def _torch_disparity(encoder, decoder, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        return decoder(encoder(x))[("disp", 0)].numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("num_layers,fmt", [(18, "pth"), (50, "safetensors")])
@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_monodepth2_matches_pytorch(tmp_path, content_paths, num_layers, fmt):
    encoder, decoder = write_monodepth2(tmp_path, num_layers, fmt, seed=num_layers)
    net = load_depth_network("monodepth2", str(tmp_path))
    images = np.concatenate([_photo(p) for p in content_paths[:2]])
    want = _torch_disparity(encoder, decoder, images)
    got = np.asarray(net(images))
    assert got.shape == want.shape == (2, 64, 96, 1)
    assert want.std() > 1e-3  # a saturated sigmoid would hide a wrong port
    np.testing.assert_allclose(got, want, atol=1e-5)
    # The sigmoid squashes differences: check the (BatchNorm-folded) encoder features directly.
    with torch.no_grad():
        want_feats = encoder(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
    got_feats = encoder_features(net.params["encoder"], images)
    for g, w in zip(got_feats, want_feats, strict=True):
        w = w.numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(np.asarray(g), w, atol=1e-4 * np.abs(w).max())


@pytest.mark.slow  # ~12 s; the depth loss runs in the default suite inside the NaN-training test
def test_depth_loss_gradient_reaches_the_image_and_sizes_are_rounded(monodepth2_dir, content_paths):
    import jax

    net = load_depth_network("monodepth2", str(monodepth2_dir))
    content = _photo(content_paths[0], (90, 50))  # 50x90 is resized to 64x96 (multiples of 32)
    output = _photo(content_paths[1], (90, 50))

    assert jax.eval_shape(net, content).shape == (1, 64, 96, 1)
    loss_and_grad = jax.jit(jax.value_and_grad(lambda x, net, c: depth_loss(net, x, c)))
    loss, grad = loss_and_grad(output, net, content)
    assert float(loss) > 0 and np.isfinite(np.asarray(grad)).all() and np.abs(grad).max() > 0
    assert float(loss_and_grad(content, net, content)[0]) == 0.0


def test_bad_monodepth2_folders_are_one_line_errors(tmp_path, monodepth2_dir):
    with pytest.raises(WeightsError, match="no monodepth2 weights given"):
        load_depth_network("monodepth2", "")
    with pytest.raises(WeightsError, match="must be a model folder"):
        load_depth_network("monodepth2", str(tmp_path / "missing"))
    (tmp_path / "only_encoder").mkdir()
    (tmp_path / "only_encoder" / "encoder.pth").write_bytes(
        (monodepth2_dir / "encoder.pth").read_bytes()
    )
    with pytest.raises(WeightsError, match=r"no depth\.pth or depth\.safetensors"):
        load_depth_network("monodepth2", str(tmp_path / "only_encoder"))
    # A ResNet-50 decoder beside a ResNet-18 encoder: the shapes name the mismatch.
    mixed = tmp_path / "mixed"
    write_monodepth2(mixed, 50)
    (mixed / "encoder.pth").write_bytes((monodepth2_dir / "encoder.pth").read_bytes())
    with pytest.raises(WeightsError, match="does depth.pth belong to this encoder.pth") as e:
        load_depth_network("monodepth2", str(mixed))
    assert "\n" not in str(e.value)
    # An encoder whose blocks do not chain (layer2's first conv expects 32 channels).
    state = torch.load(monodepth2_dir / "encoder.pth", weights_only=True)
    state["encoder.layer2.0.conv1.weight"] = state["encoder.layer2.0.conv1.weight"][:, :32]
    bad = tmp_path / "bad_chain"
    bad.mkdir()
    torch.save(state, bad / "encoder.pth")
    (bad / "depth.pth").write_bytes((monodepth2_dir / "depth.pth").read_bytes())
    with pytest.raises(WeightsError, match="layer shapes do not chain") as e:
        load_depth_network("monodepth2", str(bad))
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsError, match="depth network 'nope' is not available"):
        load_depth_network("nope")
