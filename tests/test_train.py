"""The trainer end to end on the tiny AdaIN config: loss drops, kill -9 resume is bit-exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST_COMPILE

from jaxstyle.errors import InputError

REPO = Path(__file__).resolve().parents[1]
STEPS = 24


def _cmd(workdir: Path, images_dir: Path, *extra: str, variant: str = "tiny") -> list[str]:
    """``jaxstyle train`` of AdaIN's ``variant`` config for STEPS steps; ``extra`` overrides come last."""
    return [
        sys.executable, "-m", "jaxstyle", "train",
        "--config", str(REPO / f"configs/adain.py:{variant}"),
        "--workdir", str(workdir),
        f"--config.data.content_dir={images_dir / 'content'}",
        f"--config.data.style_dir={images_dir / 'style'}",
        f"--config.train.steps={STEPS}",
        "--config.train.checkpoint_every=4",
        "--config.train.sample_every=0",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def run_env(tmp_path_factory):
    # A shared persistent compilation cache: the three runs compile the same step once, with
    # XLA's backend optimisation off (FAST_COMPILE).
    cache = tmp_path_factory.mktemp("xla_cache")
    return {
        **os.environ,
        "XLA_FLAGS": FAST_COMPILE,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def _losses(workdir: Path) -> dict[int, float]:
    out = {}
    for line in (workdir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out[rec["step"]] = rec["loss"]  # a resumed run's later line wins
    return out


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, images_dir, run_env):
    workdir = tmp_path_factory.mktemp("ref")
    proc = subprocess.run(
        _cmd(workdir, images_dir, "--config.train.sample_every=12"),
        env=run_env, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, proc


def test_tiny_config_trains_and_loss_drops(reference_run):
    workdir, proc = reference_run
    losses = _losses(workdir)
    assert sorted(losses) == list(range(1, STEPS + 1))
    first, last = [losses[s] for s in (1, 2, 3, 4)], [losses[s] for s in range(STEPS - 3, STEPS + 1)]
    assert sum(last) / 4 < 0.8 * sum(first) / 4, losses
    assert "steps/s" in proc.stdout and "img/s" in proc.stdout
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == STEPS and len(steps) <= 3  # keep_checkpoints
    assert (workdir / "samples" / f"samples_{STEPS:08d}.png").is_file()
    assert any((workdir / "tb").iterdir())  # TensorBoard event file


def test_kill9_then_rerun_resumes_exactly(reference_run, tmp_path, images_dir, run_env):
    ref_dir, _ = reference_run
    cmd = _cmd(tmp_path, images_dir)
    proc = subprocess.Popen(cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    ckpts = tmp_path / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir()):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "run finished before it could be killed"
    killed_at = max(_losses(tmp_path))
    assert killed_at < STEPS

    rerun = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stdout
    resumed_from = int(rerun.stdout.split("(step ")[1].split(")")[0])
    assert 4 <= resumed_from <= killed_at
    ref, got = _losses(ref_dir), _losses(tmp_path)
    for step in range(resumed_from + 1, STEPS + 1):  # bit for bit, as the README promises
        assert got[step] == ref[step], (step, got[step], ref[step])
    from conftest import assert_bitwise_equal, one_ulp_off

    from jaxstyle.checkpoint import load_checkpoint_params

    (ours, _), (theirs, _) = load_checkpoint_params(tmp_path), load_checkpoint_params(ref_dir)
    assert_bitwise_equal(ours, theirs)  # the final step's parameters
    with pytest.raises(AssertionError):  # a parameter one float step off would fail it
        assert_bitwise_equal(one_ulp_off(ours), theirs)


def test_tensorboard_events_do_not_import_torch(tmp_path):
    """tensorboardX's package import pulls in torch when it is installed (2-4 s per training
    process here); jaxstyle's event file never needs it, and torch still imports afterwards."""
    code = (
        "import sys; from pathlib import Path; from jaxstyle.train_log import EventFile\n"
        f"f = EventFile(Path({str(tmp_path)!r})); f.scalar('loss', 1.0, 1); f.close()\n"
        "print('torch' in sys.modules); import torch; print(torch.ones(1).item())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "1.0"]
    assert len(list(tmp_path.glob("events*"))) == 1


def test_config_overrides_are_typed():
    from jaxstyle.config import load_config

    cfg = load_config(
        str(REPO / "configs/adain.py:tiny,lap"),
        ["--config.optim.lr=1e-4", "--config.train.steps=7", "--config.model.remat=true"],
    )
    assert cfg.optim.lr == 1e-4 and cfg.train.steps == 7 and cfg.model.remat is True
    assert cfg.loss.laplacian == 1.0 and cfg.data.crop_size == 32
    with pytest.raises(InputError, match="unknown key"):
        load_config(str(REPO / "configs/adain.py:tiny"), ["--config.optim.nope=1"])
    with pytest.raises(InputError, match="not a valid int"):
        load_config(str(REPO / "configs/adain.py:tiny"), ["--config.train.steps=abc"])


def test_stylizer_loads_a_training_run(reference_run, images_dir):
    import numpy as np
    from PIL import Image

    from jaxstyle.methods.adain.method import load_stylizer

    workdir, _ = reference_run
    stylizer = load_stylizer(workdir)
    img = lambda p: np.asarray(Image.open(p).convert("RGB").resize((40, 32)), np.float32)[None] / 255  # noqa: E731
    content = img(sorted((images_dir / "content").glob("*.jpg"))[0])
    style = img(sorted((images_dir / "style").glob("*.jpg"))[0])
    out = np.asarray(stylizer.stylize(content, style))
    assert out.shape == content.shape and 0.0 <= out.min() and out.max() <= 1.0
    assert np.abs(out - np.asarray(stylizer.stylize(content, style, alpha=0.0))).max() > 1e-3


def test_nan_loss_stops_with_one_line_and_keeps_last_good_checkpoint(tmp_path, images_dir, monodepth2_dir):
    # Through the CLI in a subprocess compiled with FAST_COMPILE (the depth network's compile is
    # most of the cost): exit 2, one line on stderr, the last good checkpoint kept.
    from jaxstyle.checkpoint import Checkpointer

    cmd = _cmd(
        tmp_path, images_dir,
        f"--config.depth.weights={monodepth2_dir}",  # exercises the monodepth2 depth loss too
        "--config.optim.lr=1e30",  # the first update sends the decoder to inf
        "--config.train.steps=4", "--config.train.checkpoint_every=1", variant="tiny,depth",
    )  # fmt: skip
    proc = subprocess.run(cmd, env={**os.environ, "XLA_FLAGS": FAST_COMPILE}, capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-3000:]
    assert proc.stderr.startswith("error: non-finite loss at step 2") and "last good checkpoint: step 1" in proc.stderr
    assert Checkpointer(tmp_path).latest_step() == 1
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss/depth"] > 0  # the depth term was computed


@pytest.mark.slow  # ~26 s: a second training run; resume and kill -9 keep the trainer covered by default
def test_init_from_starts_from_the_given_parameters(reference_run, tmp_path, images_dir):
    import jax
    import numpy as np

    from jaxstyle.checkpoint import load_checkpoint_params
    from jaxstyle.config import load_config
    from jaxstyle.train import train

    ref_workdir, _ = reference_run
    common = [
        f"--config.data.content_dir={images_dir / 'content'}",
        f"--config.data.style_dir={images_dir / 'style'}",
        "--config.train.steps=1",
        "--config.train.checkpoint_every=1",
        "--config.train.sample_every=0",
        "--config.optim.lr=0.0",  # the one step leaves the parameters where they started
    ]
    train(load_config(str(REPO / "configs/adain.py:tiny"), common), tmp_path / "ft", init_from=ref_workdir)
    got, _ = load_checkpoint_params(tmp_path / "ft")
    want, _ = load_checkpoint_params(ref_workdir)
    assert set(got) == set(want)
    jax.tree.map(np.testing.assert_array_equal, got, want)
    # A model of another shape cannot start from it: one-line InputError, nothing trained.
    wider = load_config(str(REPO / "configs/adain.py:tiny"), [*common, "--config.model.decoder_width=0.125"])
    with pytest.raises(InputError, match="parameter shapes differ"):
        train(wider, tmp_path / "bad", init_from=ref_workdir)


def test_bad_depth_weights_fail_before_the_workdir_is_made(tmp_path, images_dir):
    from jaxstyle.config import load_config
    from jaxstyle.errors import WeightsError
    from jaxstyle.train import train

    cfg = load_config(
        str(REPO / "configs/adain.py:tiny,depth"),
        [
            f"--config.data.content_dir={images_dir / 'content'}",
            f"--config.data.style_dir={images_dir / 'style'}",
            f"--config.depth.weights={tmp_path / 'no_such_model'}",
        ],
    )
    with pytest.raises(WeightsError, match="must be a model folder") as e:
        train(cfg, tmp_path / "run")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()  # nothing half-made left behind
