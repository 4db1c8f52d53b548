"""Evaluation: metric semantics on known transfers, and `jaxstyle eval` on a RAST checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jaxstyle.evaluate import METRIC_KEYS, evaluate_pairs, load_square_images, metrics_table

SIZE = 64
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(content_paths, style_paths):
    return load_square_images(content_paths[:2], SIZE), load_square_images(style_paths[:2], SIZE)


def test_metrics_mean_what_they_say(images):
    """T(x, y) = y: restoration and idempotency are perfect, style distance 0, content far."""
    contents, styles = images
    r = evaluate_pairs(lambda x, y: y, contents, styles)  # batch 8, as the CLI test: one compile
    assert r["num_pairs"] == 4 and len(r["pairs"]) == 4 and len(r["grid_images"]) == 4
    assert r["restoration_psnr"] == pytest.approx(100.0)
    assert r["restoration_ssim"] == pytest.approx(1.0, abs=1e-5)
    assert r["restoration_lpips"] == pytest.approx(0.0, abs=1e-5)
    assert r["idempotency_error"] == 0.0
    assert r["style_distance_gram"] == pytest.approx(0.0, abs=1e-5)
    assert r["style_distance_mean_std"] == pytest.approx(0.0, abs=1e-5)
    assert r["content_lpips"] > 0.2  # a painting is far from a photo

    # T(x, y) = 1 - x: restoring gives c back only up to inversion; a second pass flips back.
    r = evaluate_pairs(lambda x, y: 1.0 - x, contents, styles)
    inverted = 1.0 - contents
    psnr = [10 * np.log10(1 / np.mean((contents[i] - inverted[i]) ** 2)) for i in range(2)]
    # rc = T(o, c) = 1 - o = c: perfect; idem = T(o, s) = 1 - o = c, so |c - (1 - c)|
    assert r["restoration_psnr"] == pytest.approx(100.0)
    expected_idem = np.mean([np.abs(contents[i] - inverted[i]).mean() for i in (0, 0, 1, 1)])
    assert r["idempotency_error"] == pytest.approx(expected_idem, rel=1e-4)
    assert min(psnr) < 30  # sanity: the test images are not trivially symmetric
    assert "| model |" in metrics_table({"x": r}) and "restoration_psnr ↑" in metrics_table(
        {"x": r}
    )


@pytest.fixture(scope="module")
def rast_checkpoint(tmp_path_factory):
    """A RAST checkpoint as `jaxstyle train` writes it (fresh tiny parameters, no training)."""
    import jax
    import jax.numpy as jnp

    from jaxstyle.checkpoint import Checkpointer
    from jaxstyle.config import load_config
    from jaxstyle.methods.rast.method import RAST

    overrides = ["--config.model.encoder=random_vgg16", "--config.model.encoder_width=0.0625"]
    cfg = load_config(str(REPO / "configs/rast.py:tiny"), overrides)
    method = RAST(cfg)
    frozen = method.load_frozen()
    params = method.init(0, {"content": np.zeros((1, SIZE, SIZE, 3))}, frozen)
    workdir = tmp_path_factory.mktemp("rast_ckpt")
    ckpt = Checkpointer(workdir, keep=1, async_save=False)
    state = {"params": params, "opt_states": {}, "step": jnp.int32(1), "rng": jax.random.key(0)}
    ckpt.save(1, state, {}, json.loads(cfg.to_json()))
    ckpt.close()
    return workdir


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_eval_cli_writes_json_table_and_grid(rast_checkpoint, images_dir, tmp_path, capsys):
    from jaxstyle.cli import main

    out_json = tmp_path / "m.json"
    rc = main([
        "eval", "--method", "rast", "--checkpoint", str(rast_checkpoint),
        "--content", str(images_dir / "content"), "--style", str(images_dir / "style"),
        "--size", str(SIZE), "--json", str(out_json), "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert rc == 0
    record = json.loads(out_json.read_text())
    for key in (
        "restoration_psnr",
        "restoration_ssim",
        "idempotency_error",
        "content_lpips",
        "style_distance",
    ):
        assert np.isfinite(record[key]), key
    n_content = len(list((images_dir / "content").glob("*.jpg")))
    n_style = len(list((images_dir / "style").glob("*.jpg")))
    assert record["num_pairs"] == len(record["pairs"]) == n_content * n_style
    assert set(METRIC_KEYS) <= set(record["pairs"][0])
    assert 0.0 <= record["idempotency_error"] <= 1.0 and -1.0 <= record["restoration_ssim"] <= 1.0
    assert (tmp_path / "out" / "grid.png").is_file()
    assert "restoration_psnr" in (tmp_path / "out" / "table.md").read_text()
    assert "restoration_psnr" in capsys.readouterr().out


def test_eval_cli_bad_input_is_one_line(rast_checkpoint, images_dir, capsys):
    from conftest import run_cli

    rc, _, err = run_cli([
        "eval", "--checkpoint", str(rast_checkpoint), "--content", str(images_dir / "content"),
        "--style", str(images_dir / "style"), "--size", "60",
    ], capsys)  # fmt: skip
    assert rc == 2 and err.count("\n") == 1 and "multiple of 16" in err
