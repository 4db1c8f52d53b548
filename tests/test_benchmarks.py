"""Every script in benchmarks/ runs end to end at tiny sizes (its dry run), so none can rot.

Each runs as its own process (as a user would run it), with the arguments of :data:`DRY_RUNS`:
a few steps at 32-64 px, the PyTorch/onnxruntime sides included. A script added to benchmarks/
without an entry here fails :func:`test_every_benchmark_has_a_dry_run`. Timings are printed,
never asserted.

Tiny sizes do not make these fast: each compiles its programs (VGG forward and backward, train
steps), 30 s to several minutes each on the shared 2-core box under load, so only the ones in
:data:`DEFAULT_SUITE` run in the default suite (the headline Gatys comparison's jaxstyle side, the
accelerator script's engine part, the input pipeline); the rest are ``slow``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_COMPILE

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"

# script -> argument lists (one process each) that run it small and fast.
DRY_RUNS: dict[str, list[list[str]]] = {
    "adain_bench.py": [["train", "--crop", "32", "--batch", "2", "--steps", "1"],
                       ["infer", "--size", "32", "--steps", "1"]],
    "collection.py": [["--dry-run"]],
    "data_throughput.py": [["--content", "4", "--style", "2", "--content-size", "64x48", "--style-size", "64x48",
                            "--batch", "2", "--batches", "1", "--warmup", "0", "--repeats", "1", "--workers", "0",
                            "--threads", "1", "--load-size", "48", "--crop", "32"]],
    "device.py": [["--dry-run", "--only", "gatys"], ["--dry-run", "--only", "train", "infer", "collection"]],
    "dst_bench.py": [["--size", "64", "--steps", "1", "--repeats", "1"]],
    "encoder_zoo.py": [["--size", "32", "--repeats", "1", "--archs", "vgg16", "alexnet"]],
    "gatys_vs_torch.py": [["--dry-run", "--frameworks", "jax"], ["--dry-run"]],
    "highres.py": [["--sides", "64", "--tile", "32", "--overlap", "8", "--steps", "1", "--out", "{tmp}/highres"]],
    "johnson_bench.py": [["train", "--crop", "32", "--batch", "1", "--steps", "1", "--rounds", "1"],
                         ["infer", "--sizes", "32", "--steps", "1", "--rounds", "1"],
                         ["multimodal", "--sizes", "64", "--steps", "1"]],
    "multimodal_evidence.py": [["--steps", "1", "--scale", "16", "--batch", "1", "--out", "{tmp}/evidence"]],
    "nbb_bench.py": [["--sizes", "64", "--modes", "fast", "--invert-steps", "1"]],
    "objective_quality.py": [["--dry-run"]],
    "pretrained_vs_onnxruntime.py": [["--sizes", "64", "--batches", "1", "--repeats", "1"]],
    "rast_sensitivity.py": [["--batch", "2", "--dtype", "float32", "--scales", "1e-5", "--seeds", "1"]],
    "remat_memory.py": [["--size", "64", "--steps", "1"]],
    "spatial_shards.py": [["--sizes", "64", "--shards", "1", "2"]],
    "time_to_quality.py": [["--dry-run"]],
    "style_swap_bench.py": [["--sizes", "64", "--rounds", "1"]],
    "video.py": [["--frames", "4", "--shape", "24", "32", "--steps", "1", "--only", "ghiasi", "--out", "{tmp}/video",
                  "--strip", "{tmp}/strip.png"]],
    "wct_bench.py": [["--sizes", "32", "--rounds", "1"]],
}
# Scripts whose dry run lives elsewhere, and why not here.
ELSEWHERE = {
    # needs a fetched official repository: dry-run on a fake one in its own test
    "official_examples.py": "tests/test_official_examples.py",
    # needs a finished bench folder and VGG19 weights, which no installed package ships: not run here
    "cfsd_vgg19_vs_vgg16.py": None,
}


# (script, index in DRY_RUNS) of the dry runs in the default suite. gatys_vs_torch's jaxstyle
# side alone (12 s with FAST_COMPILE); its run against PyTorch, L-BFGS included, is slow (26-37 s).
DEFAULT_SUITE = {("gatys_vs_torch.py", 0), ("device.py", 0), ("data_throughput.py", 0)}


def _params():
    for script, runs in DRY_RUNS.items():
        for i, args in enumerate(runs):
            fast = (script, i) in DEFAULT_SUITE
            yield pytest.param(script, args, fast, id=f"{script}-{args[0]}-{i}", marks=() if fast else pytest.mark.slow)


def test_every_benchmark_has_a_dry_run():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == sorted([*DRY_RUNS, *ELSEWHERE])


@pytest.mark.parametrize(("script", "args", "fast"), list(_params()))
def test_benchmark_dry_run(script: str, args: list[str], fast: bool, tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "JAX_PLATFORMS": "cpu"}
    # The default suite's dry runs compile with FAST_COMPILE: they prove the script runs, not how
    # fast its code is. Not the slow ones: at 32 px wct_bench's torch.linalg.eigh reference fails
    # to converge on the (slightly different) features it then gets from jax (2026-12-07).
    if fast:
        env["XLA_FLAGS"] = FAST_COMPILE
    cmd = [sys.executable, str(BENCHMARKS / script), *(a.format(tmp=tmp_path) for a in args)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), "a benchmark prints its figures"
