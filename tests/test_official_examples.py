"""benchmarks/official_examples.py: it recognises a fetched official repository (work tree or
bare git directory) and lists its examples without running them; output inside jaxstyle is refused."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("official_examples", ROOT / "benchmarks" / "official_examples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _fake_style_swap(tmp_path: Path) -> Path:
    """A git repository laid out as rtqichen/style-swap, one example's files present."""
    repo = tmp_path / "style-swap"
    for name in ("style-swap.lua", "images/content/bike.jpg", "images/style/starry_night.jpg",
                 "images/examples/bike_starry_3x3_max.jpg"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(b"x")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    return repo


def test_dry_run_lists_the_examples_present_in_a_work_tree_and_a_bare_repository(tmp_path, capsys):
    bench = _bench()
    repo = _fake_style_swap(tmp_path)
    for path in (repo, repo / ".git"):
        assert bench.main([str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1 and "styleswap_bike_starry" in lines[0] and "--size 640" in lines[0]
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit, match="inside the jaxstyle repository"):
        bench.main([str(repo), "--out", str(ROOT / "sheets"), "--dry-run"])
