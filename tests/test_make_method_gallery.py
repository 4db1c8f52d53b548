"""docs/make_method_gallery.py: which methods it runs on which pairs, what it refuses and what --resume keeps (nothing runs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from jaxstyle.errors import InputError
from jaxstyle.io import resolve_image_path
from jaxstyle.methods import METHODS, get_method

ROOT = Path(__file__).resolve().parents[1]
TRAINED = [n for n in METHODS if not get_method(n).runs_offline]
OFFLINE = [n for n in METHODS if get_method(n).runs_offline]


@pytest.fixture
def gallery(tmp_path, monkeypatch):
    """The script as a module, its shared photos faked in ``tmp_path`` (so the test needs no ../shared)."""
    spec = importlib.util.spec_from_file_location("make_method_gallery", ROOT / "docs" / "make_method_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for content, _, _ in module.PAIRS:
        (tmp_path / f"{content}.jpg").write_bytes(b"x")
    monkeypatch.setattr(module, "PHOTOS", tmp_path)
    return module


@pytest.mark.parametrize("name", TRAINED)
def test_methods_needing_trained_weights_are_refused_in_one_line_unless_a_checkpoint_is_given(gallery, name):
    with pytest.raises(InputError, match="--checkpoint") as e:
        gallery.plan(name)
    assert "\n" not in str(e.value)
    rows = gallery.plan(name, ["runs/x"])
    assert len(rows) == len(gallery.PAIRS)
    if not get_method(name).style_images:  # johnson, multimodal: their trained style, no control
        assert all(r["style"] is None and r["cin_style"] is None for r in rows)


def test_the_command_line_refuses_a_trained_method_with_one_error_line(gallery):
    with pytest.raises(SystemExit, match=r"^error: --method adain needs trained weights .*--checkpoint PATH$"):
        gallery.main(["--method", "adain"])


def test_every_offline_method_runs_the_same_three_contents_and_cin_its_built_in_styles(gallery):
    contents = {name: [r["content"] for r in gallery.plan(name)] for name in OFFLINE}
    assert len({tuple(c) for c in contents.values()}) == 1 and len(contents["gatys"]) == 3
    for name in OFFLINE:
        for row in gallery.plan(name):
            if name == "cin":  # no style image: one of its 26 built-in styles
                assert row["style"] is None and 0 <= row["cin_style"] < 26
            else:  # a bundled public-domain painting, resolvable offline
                assert row["cin_style"] is None and resolve_image_path(row["style"]).is_file()


def test_a_missing_shared_photo_is_refused_in_one_line(gallery, tmp_path):
    (tmp_path / "tubingen.jpg").unlink()
    with pytest.raises(InputError, match=r"tubingen\.jpg: shared photo not found"):
        gallery.plan("gatys")


def test_resume_keeps_only_pairs_of_the_same_settings_whose_result_is_still_there(gallery, tmp_path):
    record = {"method": "dst", "size": 256, "score_size": 256, "setting": "150 steps x 3 scales"}
    json_path = tmp_path / "dst.json"
    assert gallery.finished_pairs(json_path, record) == {}  # no earlier run
    pairs = [{"pair": "chicago x starry_night", "content_lpips": 0.4}, {"pair": "golden_gate x the_scream"}]
    json_path.write_text(json.dumps(record | {"pairs": pairs}))
    gallery.result_path(json_path, "dst", "chicago x starry_night").write_bytes(b"png")
    assert gallery.finished_pairs(json_path, record) == {"chicago x starry_night": pairs[0]}  # second: no PNG
    for changed in ({"size": 512}, {"setting": "20 steps x 3 scales"}):
        assert gallery.finished_pairs(json_path, record | changed) == {}
