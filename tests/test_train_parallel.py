"""Data parallelism: 8 forced CPU devices = 1 device; two processes over 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_COMPILE, run_python

from jaxstyle.methods.rast.losses import ABLATIONS

REPO = Path(__file__).resolve().parents[1]

_EIGHT_VS_ONE = r"""
import json, sys
import jax
from jaxstyle.config import load_config
from jaxstyle.train import train
assert jax.device_count() == 8, jax.devices()
config, steps, images, out, extra = sys.argv[-5], int(sys.argv[-4]), sys.argv[-3], sys.argv[-2], json.loads(sys.argv[-1])
results = {}
for n in (1, 8):
    cfg = load_config(config, [
        f"--config.data.content_dir={images}/content", f"--config.data.style_dir={images}/style",
        "--config.train.batch_size=8", f"--config.train.steps={steps}",
        f"--config.train.checkpoint_every={steps}", "--config.train.sample_every=0", *extra,
    ])
    train(cfg, f"{out}/n{n}", num_devices=n)
    results[n] = [json.loads(l) for l in open(f"{out}/n{n}/metrics.jsonl")]
print("RESULT", json.dumps(results))
"""


def eight_vs_one(
    config: str, steps: int, images_dir: Path, out: Path, overrides: tuple[str, ...] = ()
) -> tuple[list[dict], list[dict]]:
    """The metrics.jsonl records of ``config`` (plus ``--config.*`` ``overrides``) trained
    ``steps`` steps at global batch 8 on 1 and on 8 forced CPU devices (one subprocess: the
    device count is fixed at jax import). The subprocess must exit cleanly: a crash fails
    here, whatever the caller expects of the numbers."""
    args = [config, str(steps), str(images_dir), str(out), json.dumps(list(overrides))]
    code = f"import sys; sys.argv += {args!r}\n" + _EIGHT_VS_ONE
    proc = run_python(code, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=8 {FAST_COMPILE}"})
    if proc.returncode != 0 or "RESULT " not in proc.stdout:
        pytest.fail(f"the 8-vs-1 subprocess did not finish (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    results = json.loads(proc.stdout.split("RESULT ")[1])
    return results["1"], results["8"]


# Two compiles of the step (1 and 8 devices), with XLA's backend optimisation off (FAST_COMPILE:
# the sharding passes are the same, only the generated code differs; it moves step 2 by 1.2e-5
# relative, inside the bound below).
def test_eight_devices_equal_one(tmp_path, images_dir):
    one, eight = (
        [r["loss"] for r in run] for run in eight_vs_one("configs/adain.py:tiny", 2, images_dir, tmp_path)
    )
    assert len(one) == len(eight) == 2
    # Step 1: the same parameters and data on 1 and 8 devices give the same loss.
    assert eight[0] == pytest.approx(one[0], rel=1e-5)
    # Step 2's loss depends on step 1's update: equal losses mean equal gradients and params.
    # Adam's first update is sign-like, so gradient entries within rounding of zero move their
    # parameter by +-lr depending on the summation order: 1e-5 apart on an AVX-512 CPU, 4e-4 on
    # an AVX2-only one (2026-12-07); a wrongly sharded batch or mean is off by percents.
    assert eight[1] == pytest.approx(one[1], rel=1e-3)
    # The 8-device checkpoint holds the same parameters as the 1-device one.
    from jaxstyle.checkpoint import load_checkpoint_params

    p1, _ = load_checkpoint_params(tmp_path / "n1")
    p8, _ = load_checkpoint_params(tmp_path / "n8")
    for a, b in zip(*(sorted(_flat(p)) for p in (p1, p8)), strict=True):
        assert a[0] == b[0]
        # Adam's step-2 updates of near-zero gradients amplify the summation order's rounding:
        # within 1e-6 on an AVX-512 CPU, up to 3.3e-3 (3.5% of the entries past 1e-4) on an
        # AVX2-only one (2026-12-07). The losses above carry the proof of equal gradients.
        np.testing.assert_allclose(a[1], b[1], rtol=1e-4, atol=5e-3, equal_nan=False)


# Open (issue 17), blocked by RAST's objective, not by the sharding. Step 1 agrees (float32:
# 4.6e-7 of the loss, every term <= 3e-6), then the runs part: 3.6e-4 at step 2, 18% at step 3
# (measured 2026-12-02, lr 1e-4, the tiny config's smooth 1595 -> 995 -> 960 -> 876 trajectory
# on one device). The step-1 generator gradients of 1 and 8 devices already differ: by 79%
# (relative L2) for content_restoration, 16% content_transitive, 1% style_transitive, against
# 5e-7 for identity_pixel. That is the objective, not rounding: entirely in float64 on one
# device, scaling every parameter by (1 + 1e-7 * N(0,1)) moves the content-restoration gradient
# by 16-57% (four draws; benchmarks/rast_sensitivity.py, BENCHMARKS.md). The second passes
# T(T(c,s), .) re-encode generated images through VGG's ReLUs and max-pools, SANet's unscaled
# softmax and eps-1e-5 mean-variance norms; avg-pooling, eps 0.1 and a 1/sqrt(C) softmax
# together (probes, not the method) still leave 3e-4. Any other summation order (device count,
# XLA version, GPU atomics) redraws those gradients, and Adam's first, sign-like update turns
# them into other parameters.
# strict: the day it passes, the marker must go.
# ~4-6 min on the shared 2-core box (two 3-step RAST runs at batch 8): opt-in.
@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="issue 17: RAST's second-pass gradients move by 16-57% under 1e-7 parameter changes (float64); 1 and 8 devices sum in other orders")
def test_rast_eight_devices_equal_one(tmp_path, images_dir):
    assert_losses_agree(*eight_vs_one("configs/rast.py:tiny", 3, images_dir, tmp_path), steps=3)


# What the sharding does right, without the second passes: discriminators on sharded
# stylizations, contrastive pairs across shards, identity terms. Measured 2026-12-02: step 1
# equal to <= 9e-8, step 2 <= 1.5e-5, step 3 <= 1.6e-4 (Adam's sign-like updates grow float32
# rounding step by step), so two steps at 1e-4. ~3 min on the shared 2-core box: opt-in.
@pytest.mark.slow
def test_rast_first_pass_terms_eight_devices_equal_one(tmp_path, images_dir):
    second_pass = ABLATIONS["transitive"] + ABLATIONS["multi_restoration"]
    runs = eight_vs_one(
        "configs/rast.py:tiny", 2, images_dir, tmp_path, tuple(f"--config.loss.{t}=0" for t in second_pass)
    )
    assert_losses_agree(*runs, steps=2)
    assert not any(f"loss/{t}" in runs[0][0] for t in second_pass)


def test_a_crashed_subprocess_fails_the_rast_test_instead_of_meeting_its_xfail(monkeypatch, tmp_path):
    """The RAST 8-vs-1 test expects an AssertionError on the numbers (xfail); a subprocess that
    crashed or was killed must fail it instead of passing as that expected difference."""
    crashed = subprocess.CompletedProcess([], -9, "", "Killed")
    monkeypatch.setattr(sys.modules[__name__], "run_python", lambda *args, **kwargs: crashed)
    with pytest.raises(pytest.fail.Exception, match="exit -9") as e:
        eight_vs_one("configs/rast.py:tiny", 3, tmp_path, tmp_path)
    assert not isinstance(e.value, AssertionError)


def assert_losses_agree(one: list[dict], eight: list[dict], *, steps: int, rel: float = 1e-4) -> None:
    """Both runs logged steps 1..steps, the same loss terms, each equal to ``rel``."""
    assert [r["step"] for r in one] == [r["step"] for r in eight] == list(range(1, steps + 1))
    for a, b in zip(one, eight, strict=True):
        losses = sorted(k for k in a if k == "loss" or k.startswith("loss/"))
        assert losses == sorted(k for k in b if k == "loss" or k.startswith("loss/"))
        for k in losses:  # every term, not only the total
            assert b[k] == pytest.approx(a[k], rel=rel), (a["step"], k)


def _flat(tree, prefix=""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


@pytest.mark.slow  # two interpreters + gloo start-up, twice: ~3 min on the shared 2-core box
def test_two_processes_train_checkpoint_and_resume_bit_exactly(tmp_path, images_dir):
    """`launch/local.sh 2`: both processes train on disjoint records into one checkpoint; with
    the last step's checkpoint gone, re-running the command resumes both from step 2 and ends
    with the same loss and parameters bit for bit."""
    import shutil

    from conftest import assert_bitwise_equal

    from jaxstyle.checkpoint import load_checkpoint_params

    def run() -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["bash", str(REPO / "launch/local.sh"), "2",
             "--config", "configs/adain.py:tiny", "--workdir", str(tmp_path),
             f"--config.data.content_dir={images_dir / 'content'}",
             f"--config.data.style_dir={images_dir / 'style'}",
             "--config.train.steps=3", "--config.train.checkpoint_every=1", "--config.train.sample_every=0"],
            env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=600, cwd=REPO,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    first = run()
    assert "2 process(es)" in first.stdout
    assert first.stdout.count("+ ") == 2  # the script prints the commands it runs
    data = tmp_path / "checkpoints" / "3" / "data"
    states = [json.loads((data / f"process_{i}-of-2.json").read_text()) for i in range(2)]
    assert states[0] != states[1]  # each process has its own position in its own records

    def losses() -> list[dict]:
        rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k == "step" or k.startswith("loss")} for r in rows]

    want_losses = losses()
    assert [r["step"] for r in want_losses] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in want_losses)
    want_params, _ = load_checkpoint_params(tmp_path)
    shutil.move(tmp_path / "checkpoints" / "3", tmp_path / "step3")
    again = run()
    assert again.stdout.count("resumed from") == 1 and "(step 2)" in again.stdout
    assert losses() == want_losses  # step 3 recomputed by both processes, logged once
    got_params, _ = load_checkpoint_params(tmp_path)
    assert_bitwise_equal(got_params, want_params)
