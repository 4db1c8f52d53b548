"""`jaxstyle stylize`: bad input -> one line + exit 2 + nothing written; good input -> files, atomically."""

import subprocess
import sys

import pytest
from conftest import run_cli, run_cli_processes

from jaxstyle.cli import main


@pytest.fixture(scope="module")
def adain_official(tmp_path_factory):
    """Official-layout pytorch-AdaIN decoder.pth + vgg_normalised.pth with generated weights."""
    pytest.importorskip("torch")
    import test_adain_official

    return test_adain_official.official.__wrapped__(tmp_path_factory)[0]

TINY = ["--size", "32", "--steps", "2", "--optimizer", "adam", "--style-layers", "relu1_1,relu2_1"]


@pytest.mark.parametrize(
    "bad, expect",
    [
        (["--content", "missing.jpg"], "missing.jpg"),
        (["--content", "{notimage}"], "not an image"),
        (["--style-layers", "relu9_9"], "relu9_9"),
        (["--size", "-5"], "--size"),
        (["--steps", "0"], "--steps"),
        (["--content-weight", "-1"], "--content-weight"),
        (["--content-weight", "nan"], "finite"),  # the README's list: NaN or infinite weights,
        (["--style-weight", "inf"], "finite"),
        (["--size", "16385"], "<= 16384"),  # --size above 16384,
        (["--output", "{notimage}/sub"], "is a file, not a folder"),  # an --output that cannot be written
        (["--method", "nope"], "nope"),
        (["--pairs", "zip", "--content", "sample:chelsea", "sample:astronaut"], "zip"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(bad, expect, tmp_path, capsys):
    notimage = tmp_path / "notes.jpg"
    notimage.write_text("this is not a jpeg")
    out = tmp_path / "out"
    args = [a.format(notimage=notimage) for a in bad]
    code, _, err = run_cli(["stylize", *TINY, "--output", str(out), *args], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()


def test_single_file_output_needs_single_pair(tmp_path, capsys):
    code, _, err = run_cli(
        ["stylize", *TINY, "--content", "sample:chelsea", "sample:coffee", "--output", str(tmp_path / "x.png")],
        capsys,
    )
    assert code == 2 and "2 pairs" in err


def test_writes_results_and_sheets_atomically(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["stylize", *TINY, "--content", "sample:chelsea", "sample:coffee", "--output", str(out),
                 "--save-every", "1"])
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["chelsea__starry_night.png", "chelsea__starry_night_sheet.png", "coffee__starry_night.png",
                     "coffee__starry_night_sheet.png", "frames", "jaxstyle-done-0.jsonl", "jaxstyle-manifest.json"]
    assert len(list((out / "frames").glob("*.png"))) == 4  # 2 pairs x steps 1, 2
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*"))


def test_console_script_reports_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "jaxstyle", "stylize", "--content", str(tmp_path / "nope.png"), "--output",
         str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope.png" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow  # 13-44 s: the default suite's 12-minute budget on the AVX2-only box (2026-12-07)
def test_adain_method_from_official_weights(tmp_path, capsys, adain_official):
    import numpy as np

    from jaxstyle.io import load_image, resize_long_side
    from jaxstyle.methods.adain.method import load_stylizer

    d = adain_official
    out = tmp_path / "out"
    common = ["stylize", "--method", "adain", "--checkpoint", str(d / "decoder.pth"), "--size", "64",
              "--shape-buckets", "exact"]  # compared with an exact-shape Python call below
    assert main([*common, "--content", "sample:chelsea", "sample:coffee", "--style", "sample:ihc",
                 "--output", str(out), "--alpha", "0.5"]) == 0
    written = load_image(out / "chelsea__ihc.png")
    content = resize_long_side(load_image("sample:chelsea"), 64)
    style = resize_long_side(load_image("sample:ihc"), 64)
    expected = np.asarray(load_stylizer(d / "decoder.pth").stylize(content[None], style[None], alpha=0.5))[0]
    assert np.abs(written - expected).max() <= 1 / 255 + 1e-6  # equal up to 8-bit PNG quantisation

    # Interpolation and masks give one output per content; bad controls are one-line errors.
    assert main([*common, "--content", "sample:chelsea", "--style", "sample:ihc", "sample:hubble",
                 "--style-weights", "0.7,0.3", "--output", str(tmp_path / "mix")]) == 0
    assert (tmp_path / "mix" / "chelsea__mix.png").is_file()  # (a folder is one job: new settings, new folder)
    mask = tmp_path / "mask.png"
    from jaxstyle.io import save_image

    half = np.zeros((32, 48, 3), np.float32)
    half[:, :24] = 1.0
    save_image(mask, half)
    inverse = tmp_path / "inverse.png"
    save_image(inverse, 1.0 - half)
    assert main([*common, "--content", "sample:chelsea", "--style", "sample:ihc", "sample:hubble",
                 "--mask", str(mask), str(inverse), "--output", str(tmp_path / "masked")]) == 0
    assert (tmp_path / "masked" / "chelsea__masked.png").is_file()
    capsys.readouterr()
    code, _, err = run_cli([*common, "--style", "sample:ihc", "sample:hubble", "--style-weights", "1",
                         "--output", str(tmp_path / "bad")], capsys)
    assert code == 2 and "--style-weights" in err and not (tmp_path / "bad").exists()
    code, _, err = run_cli(["stylize", "--method", "adain", "--output", str(tmp_path / "bad")], capsys)
    assert code == 2 and "--checkpoint" in err


def test_two_processes_share_the_pairs_and_write_only_their_own(tmp_path):
    """jax.distributed over 127.0.0.1: the pair axis spans both processes; each writes its pairs."""
    import numpy as np

    from jaxstyle.io import load_image

    args = ["stylize", *TINY, "--content", "sample:chelsea", "sample:coffee", "--no-sheet"]
    runs = run_cli_processes([*args, "--output", str(tmp_path / "multi")], timeout=300)
    for code, _, err in runs:
        assert code == 0, err[-2000:]
    wrote = [[line for line in out.splitlines() if line.startswith("wrote ")] for _, out, _ in runs]
    assert wrote == [[f"wrote {tmp_path / 'multi' / 'chelsea__starry_night.png'}"],
                     [f"wrote {tmp_path / 'multi' / 'coffee__starry_night.png'}"]]
    assert main([*args, "--output", str(tmp_path / "single")]) == 0
    for name in ("chelsea__starry_night.png", "coffee__starry_night.png"):
        a, b = load_image(tmp_path / "multi" / name), load_image(tmp_path / "single" / name)
        assert np.abs(a - b).max() <= 1 / 255 + 1e-6
