"""The method registry: every method runs through one stylizer call; unusable flags are refused.

Also the template method (meanstd) end to end: train() -> load_stylizer() -> `jaxstyle stylize`,
and RAST's stylize + restore commands on a trained tiny workdir.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_COMPILE, run_cli, run_python

from jaxstyle.cli import main
from jaxstyle.config import load_config
from jaxstyle.errors import InputError
from jaxstyle.io import load_image, resize_long_side
from jaxstyle.methods import METHODS, get_method, load_stylizer
from jaxstyle.train import train

REPO = Path(__file__).resolve().parents[1]
SIZE = 64


def _train(config: str, workdir: Path, images_dir: Path, *overrides: str) -> dict:
    cfg = load_config(str(REPO / config), [
        f"--config.data.content_dir={images_dir / 'content'}",
        f"--config.data.style_dir={images_dir / 'style'}",
        "--config.train.sample_every=0", *overrides,
    ])  # fmt: skip
    return train(cfg, workdir)


@pytest.fixture(scope="module")
def meanstd_run(tmp_path_factory, images_dir):
    workdir = tmp_path_factory.mktemp("meanstd")
    _train("configs/meanstd.py:tiny", workdir, images_dir)
    return workdir


@pytest.fixture(scope="module")
def rast_run(tmp_path_factory, images_dir):
    """A RAST workdir trained for 2 steps (random 1/16-width encoder: seconds on a CPU)."""
    workdir = tmp_path_factory.mktemp("rast")
    _train("configs/rast.py:tiny", workdir, images_dir, "--config.model.encoder=random_vgg16",
           "--config.model.encoder_width=0.0625", "--config.train.steps=2", "--config.train.checkpoint_every=2")
    return workdir


def test_every_registered_method_has_a_loader_and_a_help_line(capsys):
    for name in METHODS:
        module, _, attr = get_method(name).loader.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), name
    with pytest.raises(SystemExit):
        main(["stylize", "--help"])
    out = capsys.readouterr().out
    for name in METHODS:
        assert f"{name}  " in out and get_method(name).summary[:30] in out.replace("\n", " ")


def test_template_method_trains_loads_and_stylizes(meanstd_run, content_paths, style_paths, tmp_path):
    import json

    losses = [json.loads(line)["loss"] for line in (meanstd_run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0], losses
    stylizer = load_stylizer("meanstd", meanstd_run)
    content = resize_long_side(load_image(content_paths[0]), SIZE)
    style = resize_long_side(load_image(style_paths[0]), SIZE)
    (out,) = stylizer.stylize([content], [style])
    (same,) = stylizer.stylize([content], [style], alpha=0.0)
    np.testing.assert_allclose(same, content, atol=1e-5)  # alpha 0 is the identity colour map
    with pytest.raises(InputError, match=r"--size must be <= 16384, got 100000"):
        stylizer.stylize([content], [style], size=100_000)  # refused before resizing: no 74 GiB
    assert out.shape == content.shape and np.abs(out - content).mean() > 1e-3
    target = tmp_path / "x.png"
    assert main(["stylize", "--method", "meanstd", "--checkpoint", str(meanstd_run), "--content",
                 str(content_paths[0]), "--style", str(style_paths[0]), "--size", str(SIZE),
                 "--shape-buckets", "exact", "--output", str(target)]) == 0  # as the Python call above
    assert np.abs(load_image(target) - out).max() <= 1 / 255 + 1e-6


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_rast_stylize_and_restore_commands_on_a_trained_workdir(rast_run, content_paths, style_paths, tmp_path):
    c, s = str(content_paths[0]), str(style_paths[0])
    out = tmp_path / "stylized.png"
    assert main(["stylize", "--method", "rast", "--checkpoint", str(rast_run), "--content", c,
                 "--style", s, "--size", str(SIZE), "--output", str(out)]) == 0
    restored = tmp_path / "restored.png"
    assert main(["restore", "--method", "rast", "--checkpoint", str(rast_run), "--stylized", str(out),
                 "--style", c, "--size", str(SIZE), "--output", str(restored)]) == 0
    stylizer = load_stylizer("rast", rast_run)
    stylized = load_image(out)
    content = resize_long_side(load_image(c), SIZE)
    (expected,) = stylizer.restore([stylized], [content])
    assert load_image(restored).shape == stylized.shape
    assert np.abs(load_image(restored) - expected).max() <= 1 / 255 + 1e-6
    # The raw transfer used by eval/ablate is the same network.
    a, b = stylized[:32, :32], content[:32, :32]
    raw = np.asarray(stylizer.transfer(a[None], b[None]))[0]
    np.testing.assert_allclose(np.clip(raw, 0, 1), stylizer.restore([a], [b])[0], atol=1e-5)


@pytest.mark.parametrize(
    "method, flags, named",
    [
        ("adain", ["--checkpoint", "x.pth", "--steps", "5"], "--steps"),
        ("adain", ["--checkpoint", "x.pth", "--optimizer", "adam"], "--optimizer"),
        ("rast", ["--checkpoint", "x", "--encoder", "vgg19"], "--encoder"),
        ("gatys", ["--checkpoint", "some_dir"], "--checkpoint"),
        ("gatys", ["--alpha", "0.5"], "--alpha"),
        ("gatys", ["--style-weights", "1"], "--style-weights"),
        ("meanstd", ["--checkpoint", "x", "--vgg", "v.pth"], "--vgg"),
    ],
)
def test_flags_a_method_cannot_honour_are_refused(method, flags, named, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the --checkpoint paths exist: the refusal is of the flag named
    for name in ("x.pth", "x", "some_dir"):
        (tmp_path / name).write_bytes(b"")
    out = tmp_path / "out"
    code, _, err = run_cli(["stylize", "--method", method, *flags, "--size", "32", "--output", str(out)], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], err
    assert not out.exists()


def test_controls_a_trained_method_lacks_are_refused(tmp_path, capsys):
    # Refused from the method's declaration, before the checkpoint is read: an empty workdir would
    # be the next error, so these lines prove the order too.
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    for flags, named in ((["--alpha", "0.5"], "--alpha"), (["--save-every", "1"], "--save-every")):
        code, _, err = run_cli(["stylize", "--method", "rast", "--checkpoint", str(workdir), *flags,
                             "--size", "32", "--output", str(tmp_path / "o")], capsys)
        assert code == 2 and named in err and err.count("\n") == 1, err
    code, _, err = run_cli(["restore", "--method", "gatys", "--stylized", "sample:chelsea", "--style",
                         "sample:ihc", "--output", str(tmp_path / "o")], capsys)
    assert code == 2 and "cannot restore" in err, err
    assert not (tmp_path / "o").exists()


SHARDED_FEEDFORWARD = """
import jax, numpy as np
from jaxstyle.methods import load_stylizer
from jaxstyle.methods.meanstd.method import ColourTransform, MeanStdStylizer as Stylizer
assert jax.device_count() == {devices}, jax.devices()
rng = np.random.default_rng(0)
model = ColourTransform(hidden=8)
c, s = np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 8, 8, 3), np.float32)
params = model.init(jax.random.key(0), c, s)["params"]
params = jax.tree.map(lambda a: a + 0.3 * rng.standard_normal(a.shape).astype(np.float32), params)
stylizer = Stylizer(model, params)
stylizer.batch_size = 1  # 5 pairs of one shape on 4 devices: two calls, the second padded
contents = [rng.random((24, 32, 3), dtype=np.float32) for _ in range(5)] + [rng.random((32, 16, 3), dtype=np.float32)]
styles = [rng.random((20, 20, 3), dtype=np.float32) for _ in range(6)]
results = stylizer.stylize(contents, styles, alpha=0.7)
# a style given per pair as a control (cin): batched with the pairs, padded like them
cin = load_stylizer("cin")
cin.batch_size = 1
results += cin.stylize(contents, None, cin_style=[0, 5, "3:1,9:1", 12, 19, 25])
np.savez({out!r}, *results)
"""


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_feedforward_pairs_and_per_pair_controls_sharded_over_4_devices_equal_one_device(tmp_path):
    outs = []
    for devices in (4, 1):
        out = tmp_path / f"d{devices}.npz"
        proc = run_python(SHARDED_FEEDFORWARD.format(devices=devices, out=str(out)),
                          env={"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        data = np.load(out)
        outs.append([data[f"arr_{i}"] for i in range(len(data.files))])
    assert [o.shape for o in outs[0]] == ([(24, 32, 3)] * 5 + [(32, 16, 3)]) * 2
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for first in (0, 6):  # pairs differ (meanstd: own style images; cin: own styles): no row mix-up
        results = outs[0][first : first + 5]
        assert min(np.abs(a - results[0]).mean() for a in results[1:]) > 0.01
