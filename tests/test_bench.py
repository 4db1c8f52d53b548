"""``jaxstyle bench`` and ``jaxstyle eval --results``: method specs from declarations, pairing of
result folders, and one tiny end-to-end run (2 feed-forward methods x 1 pair at 64 px)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from jaxstyle.bench import parse_method_spec
from jaxstyle.errors import InputError
from jaxstyle.protocol import pair_result_files

# --------------------------------------------------------------------------- method specs


def test_method_specs_read_their_arguments_from_the_declarations(tmp_path):
    cin = parse_method_spec("cin:19")  # built-in styles: the bare argument picks one
    assert cin.controls == {"cin_style": "19"} and cin.source is None and cin.folder == "cin-19"
    adain = parse_method_spec(f"adain:{tmp_path}")  # a trained method: the bare argument is its model
    assert adain.source == [str(tmp_path)] and adain.options == {}
    strotss = parse_method_spec("strotss:steps=5:scales=1:content-weight=4", steps=3)
    assert strotss.options == {"steps": 5, "scales": 1, "content_weight": 4.0}  # steps= wins over --steps
    assert parse_method_spec("gatys", steps=3).options == {"steps": 3}
    assert parse_method_spec("ghiasi:alpha=0.5", steps=3).controls == {"alpha": 0.5}  # no steps declared


@pytest.mark.parametrize("spec, message", [
    ("nosuch", "unknown method 'nosuch'"),
    ("gatys:fast", "gatys takes no bare argument"),
    ("gatys:colour=1", "gatys declares no option 'colour'"),
    ("gatys:steps=0", "--steps must be >= 1"),
    ("adain", "--method adain needs a trained workdir"),
    ("ghiasi:alpha=2", "--alpha must be <= 1"),
])
def test_bad_method_specs_are_one_line_errors_before_any_work(spec, message, tmp_path, capsys, images_dir):
    code, out, err = run_cli(["bench", "--methods", f"cin:3,{spec}", "--content", str(images_dir / "content"),
                              "--style", str(images_dir / "style"), "--output", str(tmp_path / "out")], capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists() and out == ""


# --------------------------------------------------------------------------- pairing results


def test_results_pair_by_name_or_sorted(tmp_path):
    def files(*names):
        return [tmp_path / n for n in names]

    contents, styles = files("a.jpg", "a_b.jpg"), files("x.jpg", "y_z.png")
    pairs = pair_result_files(files("a__x.png", "a_b_stylized_y_z.png", "a_b__cin.png", "a.png"), contents, styles)
    assert [(c.name, s and s.name) for _, c, s in pairs] == [
        ("a.jpg", "x.jpg"), ("a_b.jpg", "y_z.png"), ("a_b.jpg", None), ("a.jpg", None)]
    sorted_pairs = pair_result_files(files("2.png", "1.png"), files("c1.png", "c2.png"), files("s1.png", "s2.png"))
    assert [(r.name, c.name, s.name) for r, c, s in sorted_pairs] == [("1.png", "c1.png", "s1.png"),
                                                                     ("2.png", "c2.png", "s2.png")]
    with pytest.raises(InputError, match="q.png: no content/style pair is named by it"):
        pair_result_files(files("q.png"), contents, styles)
    with pytest.raises(InputError, match="no content/style pair"):
        pair_result_files(files("1.png", "2.png"), files("c1.png", "c2.png"), files("s1.png", "s2.png"), "names")


def test_eval_refuses_a_checkpoint_and_results_together_or_neither(tmp_path, capsys, images_dir):
    base = ["eval", "--content", str(images_dir / "content"), "--style", str(images_dir / "style")]
    for extra in ([], ["--results", str(images_dir / "content"), "--checkpoint", str(tmp_path)],
                  ["--results", str(images_dir / "content"), "--size", "64"]):
        code, _, err = run_cli([*base, *extra], capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error:"), err


# --------------------------------------------------------------------------- end to end


def test_bench_end_to_end_writes_table_json_sheet_and_plot_and_eval_rescores(tmp_path, capsys, content_paths,
                                                                            style_paths):
    """cin (built-in style) and ghiasi (style images): 1 pair at 64 px, then `eval --results`."""
    from PIL import Image

    (tmp_path / "c").mkdir()
    (tmp_path / "s").mkdir()
    shutil.copy(content_paths[0], tmp_path / "c")
    shutil.copy(style_paths[0], tmp_path / "s")
    out = tmp_path / "bench"
    code, stdout, err = run_cli(["bench", "--methods", "cin:19,ghiasi", "--content", str(tmp_path / "c"),
                                 "--style", str(tmp_path / "s"), "--size", "64", "--output", str(out),
                                 "--fid-network", "auto"], capsys)
    assert code == 0, err
    for name in ("table.md", "results.json", "sheet.png", "plot.png"):
        assert f"wrote {out / name}" in stdout
    result = json.loads((out / "results.json").read_text())
    keys = result["keys"]
    assert keys["cfsd"] == "cfsd_vgg16" and keys["gram"] == "gram_vgg16"  # no VGG19 here: labelled
    ghiasi, cin = result["methods"]["ghiasi"], result["methods"]["cin:19"]
    for key in ("lpips_alex", "cfsd_vgg16", "gram_vgg16", "hist"):
        m = ghiasi["metrics"][key]
        assert m["n"] == 1 and m["std"] == 0 and 0 < m["mean"] < 10
    assert set(cin["metrics"]) == {"lpips_alex", "cfsd_vgg16"}  # its style is not the style image
    assert ghiasi["controls"] == {"size": 64}  # the bench's size, never a method's default (512 for the engine)
    assert cin["controls"] == {"cin_style": "19", "size": 64}
    for r in (ghiasi, cin):
        assert r["images"] == 1 and r["images_per_s"] > 0 and r["compile_s"] > 0 and r["peak_memory_bytes"] > 2**20
        assert r["fid"] is None
    table = (out / "table.md").read_text()
    assert "| ghiasi |" in table and "| cin:19 |" in table and "jaxstyle weights import art_inception.pth" in table
    assert "cfsd_vgg16 ↓" in table
    sheet = np.asarray(Image.open(out / "sheet.png"))
    assert sheet.shape[0] > 4 * 64  # content, style and two method rows
    stem = f"{content_paths[0].stem}__{style_paths[0].stem}"
    assert np.asarray(Image.open(out / "images" / "ghiasi" / f"{stem}.png")).shape == (64, 64, 3)
    assert (out / "images" / "cin-19" / f"{content_paths[0].stem}.png").is_file()

    code, stdout, err = run_cli(["eval", "--results", str(out / "images" / "ghiasi"), "--content",
                                 str(tmp_path / "c"), "--style", str(tmp_path / "s"), "--out", str(tmp_path / "ev")],
                                capsys)
    assert code == 0, err
    rescored = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert rescored["pairs"][0]["style"] == style_paths[0].name
    # the saved PNG (8 bits) of the same output against the content resized from the original
    assert rescored["metrics"]["lpips_alex"]["mean"] == pytest.approx(ghiasi["metrics"]["lpips_alex"]["mean"], abs=0.02)
    assert Path(tmp_path / "ev" / "table.md").read_text().startswith("| results |")
