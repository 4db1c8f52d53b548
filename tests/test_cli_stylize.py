"""`jaxstyle stylize`: bad input -> one line + exit 2 + nothing written; good input -> files, atomically."""

import subprocess
import sys

import pytest

from jaxstyle.cli import main

TINY = ["--size", "32", "--steps", "2", "--optimizer", "adam", "--style-layers", "relu1_1,relu2_1"]


def run_cli(args, capsys):
    try:
        code = main(args)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "bad, expect",
    [
        (["--content", "missing.jpg"], "missing.jpg"),
        (["--content", "{notimage}"], "not an image"),
        (["--style-layers", "relu9_9"], "relu9_9"),
        (["--size", "-5"], "--size"),
        (["--steps", "0"], "--steps"),
        (["--content-weight", "-1"], "--content-weight"),
        (["--method", "nope"], "nope"),
        (["--pairs", "zip", "--content", "sample:chelsea", "sample:astronaut"], "zip"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(bad, expect, tmp_path, capsys):
    notimage = tmp_path / "notes.jpg"
    notimage.write_text("this is not a jpeg")
    out = tmp_path / "out"
    args = [a.format(notimage=notimage) for a in bad]
    code, err = run_cli(["stylize", *TINY, "--output", str(out), *args], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()


def test_single_file_output_needs_single_pair(tmp_path, capsys):
    code, err = run_cli(
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
    assert names == ["chelsea__ihc.png", "chelsea__ihc_sheet.png", "coffee__ihc.png", "coffee__ihc_sheet.png",
                     "frames"]
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
