"""``ablate`` for any trainable method: AdaIN variants train, evaluate and get one table row each.

The RAST sweep through the CLI lives in test_rast_train.py (slow-marked); this is the fast path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import FAST_COMPILE, run_python

REPO = Path(__file__).resolve().parents[1]


def compilation_cache(path: Path) -> dict[str, str]:
    """Environment for a persistent XLA compilation cache in ``path`` that keeps everything."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(path),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


# The default suite trains one variant (~20 s in a fresh process), the slow run two.
@pytest.mark.parametrize("variants", [["tiny,lap"], pytest.param(["tiny", "tiny,lap"], marks=pytest.mark.slow)],
                         ids=["one", "two"])
def test_ablate_adain_variants_write_one_row_each(variants, images_dir, tmp_path):
    """Each variant trains, is evaluated and gets one row, in order; ``lap`` adds the
    Laplacian loss term."""
    data = [
        f"--config.data.content_dir={images_dir / 'content'}",
        f"--config.data.style_dir={images_dir / 'style'}",
        "--config.train.sample_every=0",
    ]
    # A subprocess, so XLA_FLAGS apply (cheaper LLVM passes) and a compilation cache shared by
    # the two variants compiles what they have in common (init, the stylizer) once.
    code = (
        "from jaxstyle.ablate import ablate\n"
        f"ablate({str(REPO / 'configs/adain.py')!r}, {variants!r}, 1, {str(tmp_path)!r}, "
        f"overrides={data!r}, max_images=1)"
    )
    proc = run_python(code, env={"XLA_FLAGS": FAST_COMPILE, **compilation_cache(tmp_path / "xla")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "ablation.json").read_text())
    assert list(rows) == variants
    for row in rows.values():
        assert row["num_pairs"] == 1 and row["steps"] == 1
        assert math.isfinite(row["restoration_psnr"]) and math.isfinite(row["final_loss"])
    for v in variants:
        logged = json.loads((tmp_path / v / "metrics.jsonl").read_text())
        assert ("loss/laplacian" in logged) == ("lap" in v), v
    table = (tmp_path / "ablation.md").read_text()
    assert [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| tiny")] == [
        f"| {v}" for v in variants
    ]


def test_ablate_cli_passes_options_and_prints_the_table(monkeypatch, capsys, tmp_path):
    import jaxstyle.ablate
    from jaxstyle.cli import main

    calls = []

    def fake_ablate(config, variants, steps, workdir, **kw):
        calls.append((config, variants, steps, workdir, kw))
        return {v: {"restoration_psnr": 20.0, "final_loss": 1.5} for v in variants}

    monkeypatch.setattr(jaxstyle.ablate, "ablate", fake_ablate)
    rc = main([
        "ablate", "--config", "configs/adain.py", "--variants", "tiny, lap", "--steps", "3",
        "--workdir", str(tmp_path), "--max-images", "2", "--config.train.batch_size=4",
    ])  # fmt: skip
    assert rc == 0
    config, variants, steps, workdir, kw = calls[0]
    assert (config, variants, steps) == ("configs/adain.py", ["tiny", "lap"], 3)
    assert workdir == str(tmp_path)
    assert kw["overrides"] == ["--config.train.batch_size=4"] and kw["max_images"] == 2
    out = capsys.readouterr().out
    assert "| tiny | 20 |" in out and "| lap |" in out and "ablation.md" in out
