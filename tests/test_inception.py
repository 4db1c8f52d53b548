"""FID's and ArtFID's Inception-v3: parity with pytorch-fid's and torchvision's networks, the importer.

Parity is on generated weights (the real files cannot be downloaded here): seeded He-normal
convs and random batch-norm statistics, saved as the state_dict users have (``.pth``), imported
by the same code as ``jaxstyle weights import`` and compared on the 2048-d pool features.
pytorch-fid's own ``InceptionV3`` runs (its ``fid_inception_v3`` with the download replaced
by the generated state_dict), so its FIDInceptionA/C/E_1/E_2 blocks are the reference. The fast
tests feed 80 px inputs with pytorch-fid's resize switched off; the preprocessing (bilinear to
299, 2x - 1) is checked on its own, and once through the full 299 px pipeline (~7 s here).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli
from test_encoder_zoo import torchvision

from jaxstyle.errors import WeightsError

SIZE = 80  # >= 75: every stride-2 stage keeps an output position


def generated_state_dict(num_classes: int = 1008, seed: int = 0) -> dict:
    """torchvision Inception3's state_dict with He-normal convs and random batch-norm statistics."""
    import torch
    import torch_ref

    torch.manual_seed(seed)
    model = torchvision().models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                              num_classes=num_classes)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):  # unit-scale activations through the ~95 convs
            fan_in = m.weight[0].numel()
            torch.nn.init.normal_(m.weight, std=(2.0 / fan_in) ** 0.5)
    torch_ref.randomize_batchnorm(model, seed)
    return {k: v.clone() for k, v in model.state_dict().items()}


def pytorch_fid_model(state: dict, monkeypatch, **kw):
    """pytorch-fid's ``InceptionV3`` (2048-d block) built around ``state`` instead of the download."""
    torchvision()
    from pytorch_fid import inception

    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: state)
    return inception.InceptionV3([3], **kw).eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((2, SIZE, SIZE + 8, 3), dtype=np.float32)


def _torch(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _ours(params, x, variant):
    import jax

    from jaxstyle.models.inception import pool_features

    return np.asarray(jax.jit(pool_features, static_argnums=2)(params, x, variant))


def assert_close(got: np.ndarray, want: np.ndarray, tol: float = 1e-4) -> None:
    assert got.shape == want.shape
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < tol, f"max |jax - torch| / max |torch| = {err:.3g}"
    assert np.abs(want).max() > 1e-3  # the features are not all zero (a vacuous comparison)


def imported(state: dict, tmp_path, name: str = "weights.pth"):
    import torch

    from jaxstyle.weights.inception_import import import_inception

    path = tmp_path / name
    torch.save(state, path)
    return import_inception(path)


# 11-14 s: the default suite's 12 minutes (2026-12-07). The full-pipeline test below runs the same
# network (with pytorch-fid's resize and normalisation) by default.
@pytest.mark.slow
def test_fid_network_equals_pytorch_fid_on_generated_weights(images, tmp_path, monkeypatch):
    import torch

    state = generated_state_dict()
    name, params, _ = imported(state, tmp_path)
    assert name == "pt_inception"
    model = pytorch_fid_model(state, monkeypatch, resize_input=False, normalize_input=False)
    x = images * 2 - 1
    with torch.no_grad():
        want = model(_torch(x))[0].numpy()[:, :, 0, 0]
    assert_close(_ours(params, x, "fid"), want)
    # the two variants differ (E_2's max pool, padding-free averages): the check can tell them apart
    assert np.abs(_ours(params, x, "tv") - want).max() / np.abs(want).max() > 1e-3


def test_art_network_equals_torchvision_inception3_on_generated_weights(images, tmp_path):
    import torch

    state = generated_state_dict(num_classes=1000, seed=1)
    art = {("fc1" + k[2:] if k.startswith("fc.") else k): v for k, v in state.items()}
    art |= {"fc2.weight": state["fc.weight"], "fc2.bias": state["fc.bias"]}
    name, params, _ = imported(art, tmp_path, "art_inception.pth")
    assert name == "art_inception"
    model = torchvision().models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                              transform_input=False)
    model.load_state_dict(state)
    captured = {}
    model.avgpool.register_forward_hook(lambda m, i, o: captured.setdefault("pool", o))
    with torch.no_grad():
        model.eval()(_torch(images))
    assert_close(_ours(params, images, "tv"), captured["pool"].numpy()[:, :, 0, 0])


def test_fid_input_is_bilinear_299_without_antialiasing_then_pm1(images):
    import torch.nn.functional as F

    from jaxstyle.metrics.fid import prepare_input
    from jaxstyle.weights.inception_import import INCEPTION_NETS

    small, large = images[:, :37, :53], np.repeat(np.repeat(images, 4, axis=1), 4, axis=2)
    for x in (small, large):  # upsampling and downsampling
        want = F.interpolate(_torch(x), size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        got = np.asarray(prepare_input(x, INCEPTION_NETS["pt_inception"]))
        np.testing.assert_allclose(got, want.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    assert prepare_input(images, INCEPTION_NETS["art_inception"]) is images  # ArtFID: as given


def test_fid_features_equal_pytorch_fid_full_pipeline(tmp_path, monkeypatch, content_paths):
    import torch

    from jaxstyle.io import load_image, resize
    from jaxstyle.metrics.fid import InceptionFeatures
    from jaxstyle.weights.inception_import import INCEPTION_NETS, save_inception

    state = generated_state_dict()
    name, params, source = imported(state, tmp_path)
    save_inception(name, params, source)
    photos = [resize(load_image(p), (120, 160)) for p in content_paths[:2]]
    ours = InceptionFeatures.load("pt_inception")(photos)
    model = pytorch_fid_model(state, monkeypatch)  # resize to 299 and 2x - 1 inside
    with torch.no_grad():
        want = model(_torch(np.stack(photos)))[0].numpy()[:, :, 0, 0]
    assert_close(ours.astype(np.float32), want)
    assert INCEPTION_NETS[name].resize == 299


def test_weights_import_recognises_inception_files_and_refuses_imagenet_inception(tmp_path, capsys):
    import torch

    state = generated_state_dict()
    torch.save(state, tmp_path / "renamed.pth")  # the name never decides
    code, out, err = run_cli(["weights", "import", str(tmp_path / "renamed.pth")], capsys)
    assert code == 0, err
    assert "pytorch-fid's FID Inception" in out and "pt_inception.safetensors" in out
    code, out, _ = run_cli(["weights", "list"], capsys)
    assert any(line.startswith("pt_inception") and "available" in line for line in out.splitlines())

    imagenet = {k: v for k, v in state.items() if not k.startswith("fc.")}
    imagenet |= {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
    torch.save(imagenet, tmp_path / "inception_v3_google.pth")
    code, _, err = run_cli(["weights", "import", str(tmp_path / "inception_v3_google.pth")], capsys)
    assert code == 2 and err.count("\n") == 1 and "1000 classes" in err

    broken = dict(state)
    broken["Mixed_6b.branch7x7_2.conv.weight"] = torch.zeros(128, 128, 7, 1)
    torch.save(broken, tmp_path / "broken.pth")
    code, _, err = run_cli(["weights", "import", str(tmp_path / "broken.pth")], capsys)
    assert code == 2 and "Mixed_6b.branch7x7_2.conv.weight has shape (128, 128, 7, 1)" in err


def test_missing_inception_says_what_to_import():
    from jaxstyle.metrics.fid import InceptionFeatures

    with pytest.raises(WeightsError, match=r"art_inception is not imported: download art_inception.pth"):
        InceptionFeatures.load("art_inception")


@pytest.mark.slow  # ~40 s of CPU on 2 cores: compiles Inception, LPIPS-alex and the VGG16 metrics, sqrtm at 2048-d
@pytest.mark.filterwarnings("ignore:Matrix is singular")  # 3 samples in 2048-d: a singular covariance, by design
def test_protocol_scores_fid_and_artfid_with_an_imported_art_inception(tmp_path, monkeypatch, images):
    """The FID columns end to end: generated art_inception weights imported into a private cache."""
    import torch

    from jaxstyle.protocol import Scorer, score_triples
    from jaxstyle.weights.inception_import import import_inception, save_inception

    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path / "cache"))
    state = generated_state_dict(num_classes=1000, seed=2)
    art = {("fc1" + k[2:] if k.startswith("fc.") else k): v for k, v in state.items()}
    torch.save(art, tmp_path / "art_inception.pth")
    save_inception(*import_inception(tmp_path / "art_inception.pth"))
    rng = np.random.default_rng(1)
    outs = [rng.random((SIZE, SIZE, 3), dtype=np.float32) for _ in range(3)]
    contents = [np.clip(o + 0.1, 0, 1) for o in outs]
    styles = [rng.random((SIZE, SIZE, 3), dtype=np.float32) for _ in range(3)]
    result = score_triples(outs, contents, styles, scorer=Scorer.load("auto", vgg="vgg16"))
    fid = result["fid"]
    assert fid["network"] == "art_inception" and fid["mode"] == "fid" and fid["n"] == 3
    assert fid["fid"] > 0 and fid["artfid"] == pytest.approx((1 + result["metrics"]["lpips_alex"]["mean"]) * (1 + fid["fid"]))
    assert any("small sets inflate FID" in n for n in result["notes"])
