"""Multimodal Transfer: the subnet layout, the per-subnet objective, stylizing from a workdir with
--all-scales (default suite), tiny training end to end (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli_fast_compile, untrained_workdir

from jaxstyle.io import load_image
from jaxstyle.methods.multimodal.model import MultimodalNet, level_sizes

REPO = Path(__file__).resolve().parents[1]


def test_outputs_at_three_scales_and_subnet_layout():
    x = jnp.zeros((1, 1024, 768, 3))
    shapes = jax.eval_shape(MultimodalNet().init, jax.random.key(0), x)["params"]
    assert set(shapes) == {"style", "enhance", "refine"}
    assert set(shapes["style"]) == {"rgb_block", "l_block", "conv_block"}
    assert shapes["style"]["l_block"]["contract_0"]["conv"]["kernel"].shape == (9, 9, 1, 16)
    assert shapes["style"]["conv_block"]["res_0_0"]["conv"]["kernel"].shape == (3, 3, 128, 128)
    assert shapes["enhance"]["res_5_1"]["conv"]["kernel"].shape == (3, 3, 256, 256)
    outs = jax.eval_shape(MultimodalNet().apply, {"params": shapes}, x)
    assert [o.shape[1:3] for o in outs] == [(256, 192), (512, 384), (1024, 768)]
    assert level_sizes(30, 50) == [(8, 12), (15, 25), (30, 50)]


@pytest.mark.slow  # ~40 s of compiling three gradients on a 2-core CPU
def test_each_subnet_is_trained_on_its_own_and_later_outputs():
    """d(lambda_k L^k)/d(theta_j) = 0 for j > k: the single L_H gives the paper's objectives."""
    model = MultimodalNet(width=1 / 16)
    x = jax.random.uniform(jax.random.key(1), (1, 32, 32, 3))
    params = model.init(jax.random.key(0), x)["params"]

    def level_loss(p, k):
        return jnp.mean(model.apply({"params": p}, x)[k] ** 2)

    grads = jax.jit(lambda p: [jax.grad(level_loss)(p, k) for k in range(3)])(params)
    norms = [{n: float(optax_norm(g[n])) for n in g} for g in grads]
    assert norms[0]["enhance"] == norms[0]["refine"] == norms[1]["refine"] == 0.0
    assert min(norms[2].values()) > 0 and norms[1]["style"] > 0


def optax_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree.leaves(tree)))


@pytest.fixture(scope="module")
def multimodal_run(tmp_path_factory, images_dir, style_paths):
    workdir = tmp_path_factory.mktemp("multimodal")
    run_cli_fast_compile(
        "train", "--config", "configs/multimodal.py:tiny", "--workdir", str(workdir),
        f"--config.data.content_dir={images_dir / 'content'}", f"--config.style_image={style_paths[0]}",
        "--config.train.sample_every=0", "--config.train.steps=6", "--config.train.checkpoint_every=6",
    )  # fmt: skip
    return workdir


def _stylize_all_scales(workdir: Path, content: Path, out: Path) -> dict[str, np.ndarray]:
    """``stylize --method multimodal --all-scales`` at 64 px: the three outputs, by file name."""
    run_cli_fast_compile("stylize", "--method", "multimodal", "--checkpoint", str(workdir), "--content",
                         str(content), "--size", "64", "--all-scales", "--no-sheet", "--output", str(out))
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("jaxstyle-"))  # (the job's manifest)
    stem = f"{content.stem}__multimodal"
    assert files == [f"{stem}.png", f"{stem}_16.png", f"{stem}_32.png"], files
    images = {f: load_image(out / f) for f in files}
    assert [max(images[f].shape[:2]) for f in files] == [64, 16, 32]
    assert all(np.isfinite(img).all() for img in images.values())
    return images


def test_a_workdir_stylizes_at_all_scales_through_the_cli(images_dir, content_paths, tmp_path):
    """The default suite's end to end: a workdir as training writes it (the tiny config's
    shapes, weights untrained) through the CLI. The training is slow-marked below (~60 s here)."""
    workdir = untrained_workdir("multimodal", images_dir, tmp_path / "run")
    _stylize_all_scales(workdir, content_paths[0], tmp_path / "out")


@pytest.mark.slow  # ~60-70 s on the shared 2-core box: compiling the three-subnet train step
def test_tiny_training_lowers_the_loss_and_writes_all_scales(multimodal_run, content_paths, tmp_path):
    logs = [json.loads(line) for line in (multimodal_run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs]
    assert losses[-1] < losses[0], losses
    assert {f"loss/style_{k}" for k in (1, 2, 3)} <= set(logs[0])
    print(f"multimodal tiny: loss {losses[0]:.4g} -> {losses[-1]:.4g} in {len(losses)} steps")
    images = _stylize_all_scales(multimodal_run, content_paths[0], tmp_path / "out")
    assert all(img.std() > 1e-3 for img in images.values())  # trained: not a flat image


@pytest.mark.slow  # minutes: three networks trained, evaluated at 4x their training size
def test_hierarchy_evidence_script_reports_fine_layer_distances(tmp_path):
    """benchmarks/multimodal_evidence.py end to end (a short run; BENCHMARKS.md has the long one)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/multimodal_evidence.py"), "--steps", "20", "--scale", "16",
         "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=1800, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("| johnson", "| multimodal"))]
    assert len(rows) == 3, proc.stdout
    for row in rows:
        numbers = [float(v) for v in row.strip("|").split("|")[2:6]]
        assert all(np.isfinite(numbers)), row
