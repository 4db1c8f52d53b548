"""``jaxstyle correspond`` end to end: points file + sheet, and one-line errors for bad input.

The end-to-end run is the default suite's NBB check: a photo and a copy of it moved by a known
shift (written as PNGs), 64 px frame, 10 inversion steps; the written pairs must recover the
shift. Bad input is refused before anything is computed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from test_nbb import FAST, shift_recovered, translated_pair

from jaxstyle.io import load_image, save_image
from jaxstyle.points import load_points


@pytest.fixture(scope="module")
def pair_files(images_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    content, style = translated_pair(images_dir, FAST["image_size"])
    save_image(folder / "content.png", content)
    save_image(folder / "style.png", style)
    return folder / "content.png", folder / "style.png"


def test_correspond_writes_points_that_recover_a_shift_and_a_sheet(pair_files, tmp_path, capsys):
    content, style = pair_files
    out, sheet = tmp_path / "pts" / "points.json", tmp_path / "pairs.png"
    code, stdout, stderr = run_cli(
        ["correspond", "--content", str(content), "--style", str(style), "--output", str(out),
         "--sheet", str(sheet), "--size", str(FAST["image_size"]),
         "--invert-steps", str(FAST["invert_steps"]), "--max-points", "20"],
        capsys,
    )
    assert code == 0, stderr
    points = load_points(out)
    assert 3 <= len(points.content) <= 20
    assert shift_recovered(points.content, points.style) >= 0.9
    assert set(json.loads(out.read_text())) == {"content", "style"}
    picture = load_image(sheet)
    assert picture.shape[0] == 512 + 16 and picture.shape[1] > 2 * 512  # two tiles side by side
    assert np.ptp(picture) > 0.5 and "pairs" in stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--size", "100"], "multiple of 16"),
        (["--content", "missing.jpg"], "no such file or folder"),
        (["--sheet", "pairs.txt"], "cannot write '.txt' images"),
        (["--output", "{tmp}"], "is a folder, expected a file"),
        (["--output", "{tmp}/x.png", "--sheet", "{tmp}/x.png"], "same file"),
        (["--encoder", "vgg19", "--weights", "nowhere.safetensors"], "nowhere.safetensors"),
        (["--max-points", "0"], "--max-points: must be >= 1"),
    ],
)
def test_correspond_bad_input_is_one_line(pair_files, tmp_path, capsys, args, message):
    content, style = pair_files
    base = {"--content": str(content), "--style": str(style), "--output": str(tmp_path / "points.json")}
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    code, _, stderr = run_cli(["correspond", *[x for kv in base.items() for x in kv]], capsys)
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "points.json").is_file()
