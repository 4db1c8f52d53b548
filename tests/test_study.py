"""``jaxstyle study``: the seeds' experiments end to end on tiny images, and their one-line errors.

`weights` and `layers` run in the default suite on shallow layers (fast compiles); the other
studies are slow-marked. Images come from ../shared/data/images.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from jaxstyle.errors import InputError
from jaxstyle.io import load_image
from jaxstyle.study import STUDIES, StudyOptions

TINY = ["--size", "32", "--steps", "3", "--chunk", "3"]
# `weights` on these layers with six ratios is the same program (layers, optimizer, batch of six)
# as `layers` on them, so the default suite compiles one optimization program for both.
LAYERS = "conv1_1,relu1_1,relu1_2"
SHALLOW = ["--style-layers", LAYERS, "--content-layers", LAYERS]


def study(name: str, tmp_path, images_dir, capsys, *extra: str) -> tuple[list[dict], str]:
    """Run ``jaxstyle study NAME`` on a held-out pair; its results.json and table.md."""
    out = tmp_path / name
    args = ["study", name, "--content", str(images_dir / "content" / "golden_gate.jpg"),
            "--style", str(images_dir / "style" / "composition_vii.jpg"), "--output", str(out), *TINY, *extra]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    for file in ("sheet.png", "table.md", "results.json", "metrics.png"):
        assert (out / file).stat().st_size > 0, file
    return json.loads((out / "results.json").read_text()), (out / "table.md").read_text()


def test_weights_study_runs_every_ratio_in_one_batch_and_trades_content_for_style(tmp_path, images_dir, capsys):
    rows, table = study("weights", tmp_path, images_dir, capsys, *SHALLOW, "--ratios", "1e-4,1e-3,1e-2,1e-1,1,1e2")
    assert [r["setting"] for r in rows] == ["a/b=0.0001", "a/b=0.001", "a/b=0.01", "a/b=0.1", "a/b=1", "a/b=100"]
    assert {(r["program"], r["batch"]) for r in rows} == {(1, 6)}  # one program, one batch of six
    assert rows[0]["compiled"] <= 1  # 0 when `layers` already compiled the same program
    assert [r["weights"]["style"] for r in rows] == pytest.approx([1e4, 1e3, 1e2, 10, 1, 1e-2])
    # From the content image, a content-heavy ratio stays nearer to it than a style-heavy one.
    assert rows[-1]["content_loss"] < rows[0]["content_loss"]
    assert rows[-1]["content_lpips"] < rows[0]["content_lpips"]
    for key in ("style_loss", "total_loss", "style_lpips", "style_distance", "steps_per_s", "wall_s"):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert "a/b=100" in table and "1 compiled program(s)" in table
    assert (tmp_path / "weights" / "tradeoff.png").is_file()


def test_layers_study_is_seed_003s_two_stages_in_one_program(tmp_path, images_dir, capsys):
    rows, table = study("layers", tmp_path, images_dir, capsys, "--layers", LAYERS)
    assert [r["setting"] for r in rows] == ["style conv1_1", "style relu1_1", "style relu1_2",
                                            "relu1_2 + content conv1_1", "relu1_2 + content relu1_1",
                                            "relu1_2 + content relu1_2"]
    assert {(r["program"], r["batch"], r["init"]) for r in rows} == {(1, 6, "noise")}
    stage1, stage2 = rows[:3], rows[3:]
    one_hot = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert all(r["weights"]["content"] == 0 for r in stage1)  # stage 1: each style layer alone
    assert [r["style_layer_weights"] for r in stage1] == one_hot
    assert all(r["style_layer_weights"] == [0, 0, 1] for r in stage2)  # stage 2: the fixed (third) style layer
    assert [r["content_layer_weights"] for r in stage2] == one_hot  # ... with each content layer
    assert all(r["weights"]["content"] > 0 for r in stage2)
    sheet = load_image(tmp_path / "layers" / "sheet.png")
    assert sheet.shape[0] > 3 * 160  # inputs, then one row per stage
    assert "## style layer alone (content weight 0)" in table and "## style relu1_2 + one content layer" in table


@pytest.mark.parametrize("args, message", [
    (["study", "colour"], "NAME: must be one of layers"),
    (["study", "weights", "--ratios", "1e-5,abc"], "--ratios: expects a number"),
    (["study", "weights", "--ratios", "1e-5,-1"], "--ratios: must be > 0"),
    (["study", "layers", "--layers", "relu1_1", "--style-layer", "relu2_1"], "--style-layer relu2_1 is not one of"),
    (["study", "optimizer", "--lrs", "sgd"], "--lrs: expects NAME=NUMBER pairs"),
    (["study", "optimizer", "--lrs", "rmsprop=0.1"], "--lrs: must be one of lbfgs, adam, sgd"),
])
def test_bad_study_arguments_fail_in_one_line(args, message, tmp_path, images_dir, capsys):
    code, _, err = run_cli([*args, "--content", str(images_dir / "content" / "golden_gate.jpg"), "--style",
                            str(images_dir / "style" / "udnie.jpg"), "--output", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, images_dir, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    code, out, err = run_cli(["study", "weights", "--content", str(images_dir / "content" / "golden_gate.jpg"),
                              "--style", str(images_dir / "style" / "udnie.jpg"), "--output", str(blocker)], capsys)
    assert code == 2 and "is a file" in err and len(err.strip().splitlines()) == 1
    assert "settings" not in out  # nothing ran


def test_every_study_is_registered_with_what_it_reproduces():
    assert set(STUDIES) == {"layers", "weights", "init", "pooling", "optimizer", "network", "content-loss"}
    assert all("seed 00" in s.reproduces for s in STUDIES.values())
    with pytest.raises(InputError, match="--ratios"):
        StudyOptions(ratios=())


@pytest.mark.slow
@pytest.mark.parametrize("name, programs, batches", [
    ("init", 1, 3), ("pooling", 2, 2), ("optimizer", 3, 3), ("content-loss", 2, 2), ("network", None, None),
])
def test_other_studies_end_to_end(name, programs, batches, tmp_path, images_dir, capsys):
    # Every network on its own default layers (VGG's layer names mean nothing to AlexNet).
    rows, table = study(name, tmp_path, images_dir, capsys, *(() if name == "network" else SHALLOW))
    if programs is not None:
        assert max(r["program"] for r in rows) == programs
        assert f"{len(rows)} settings in {batches} batch(es)" in table
    # A diverged batch (SGD at the engine's default rate may) is reported, not fatal.
    assert all(r["content_lpips"] is not None or "non-finite loss" in r["error"] for r in rows)
    assert any(r["content_lpips"] is not None for r in rows)
    if name == "init":  # three starts, three batches, one compiled program
        assert [r["compiled"] for r in rows] == [1, 0, 0]
    if name == "optimizer":
        assert (tmp_path / name / "loss.png").is_file()
        assert [r["optimizer"] for r in rows] == ["adam", "lbfgs", "sgd"]
    if name == "network":
        assert {"vgg16", "alexnet"} <= {r["setting"] for r in rows}  # both embedded
