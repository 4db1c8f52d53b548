"""RAST in the shared trainer: variants train on the shared images with finite losses.

``tiny_idemp`` (every paper term plus idempotency, both discriminators) trained through
``jaxstyle ablate`` and the sweep over every variant are slow-marked (one XLA compile of the
whole RAST step per variant, ~20-40 s each on 2 CPU cores); the default suite traces the full
RAST step here and runs the ablate path on AdaIN (test_ablate.py). Tests swap the embedded VGG16
for a random 1/16-width VGG16 so the step compiles and runs in seconds.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_COMPILE

REPO = Path(__file__).resolve().parents[1]
FAST = ["--config.model.encoder=random_vgg16", "--config.model.encoder_width=0.0625"]


def _data(images_dir: Path) -> list[str]:
    return [
        f"--config.data.content_dir={images_dir / 'content'}",
        f"--config.data.style_dir={images_dir / 'style'}",
        "--config.train.sample_every=0",
    ]


def _metrics(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_ablate_trains_idempotency_variant_and_writes_table(images_dir, tmp_path):
    # A subprocess, so XLA_FLAGS apply: cheaper LLVM passes cut the compile time by a third
    # (the step is tiny; compiling it is what costs).
    proc = subprocess.run(
        [
            sys.executable, "-m", "jaxstyle", "ablate", "--config", str(REPO / "configs/rast.py"),
            "--variants", "tiny_idemp", "--steps", "2", "--workdir", str(tmp_path),
            "--max-images", "2", *FAST, *_data(images_dir),
        ],
        env={**os.environ, "XLA_FLAGS": FAST_COMPILE}, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _metrics(tmp_path / "tiny_idemp")
    assert [r["step"] for r in records] == [1, 2]
    terms = {k for k in records[-1] if k.startswith("loss/")}
    # every enabled term is logged, including both discriminators and the idempotency term
    for name in (
        "idempotency",
        "identity_pixel",
        "contrastive_style",
        "adversarial",
        "disc_style",
        "disc_content",
    ):
        assert f"loss/{name}" in terms
    assert "loss/lowres_restoration" not in terms  # weight 0: not computed, not logged
    for r in records:
        assert all(math.isfinite(v) for k, v in r.items() if k.startswith("loss"))
    rows = json.loads((tmp_path / "ablation.json").read_text())
    assert rows["tiny_idemp"]["num_pairs"] == 4 and math.isfinite(
        rows["tiny_idemp"]["restoration_psnr"]
    )
    assert "| tiny_idemp |" in (tmp_path / "ablation.md").read_text()
    assert "| tiny_idemp |" in proc.stdout


def test_config_variants():
    from jaxstyle.config import load_config
    from jaxstyle.methods.rast.losses import ABLATIONS, RASTLossWeights

    spec = str(REPO / "configs/rast.py")
    paper = RASTLossWeights.from_config(load_config(f"{spec}:paper").loss)
    assert paper == RASTLossWeights()  # the defaults are the official script's weights
    for prefix in ("", "tiny_"):
        for group, terms in ABLATIONS.items():
            w = RASTLossWeights.from_config(load_config(f"{spec}:{prefix}no_{group}").loss)
            assert w == paper.without(group) and all(getattr(w, t) == 0.0 for t in terms)
        assert load_config(f"{spec}:{prefix}idemp").loss.idempotency > 0
        lowres = load_config(f"{spec}:{prefix}lowres").loss
        assert lowres.lowres_restoration > 0 and lowres.lowres_size == 32
    tiny, full = load_config(f"{spec}:tiny"), load_config(f"{spec}:paper")
    assert tiny.data.crop_size == 64 and full.data.crop_size == 256 and full.train.batch_size == 2
    assert full.model.encoder == "vgg19" and full.model.encoder_weights == "vgg19_normalised"
    from jaxstyle.errors import InputError

    with pytest.raises(InputError, match="unknown rast config variant"):
        load_config(f"{spec}:no_such")


VARIANTS = ["tiny", *(f"tiny_no_{g}" for g in (
    "contrastive", "identity", "style_difference", "transitive", "multi_restoration", "adversarial"
)), "tiny_idemp", "tiny_lowres"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_trains_with_finite_losses(variant, images_dir, tmp_path):
    from jaxstyle.config import load_config
    from jaxstyle.train import train

    cfg = load_config(
        str(REPO / f"configs/rast.py:{variant}"),
        [*FAST, *_data(images_dir), "--config.train.steps=3", "--config.train.checkpoint_every=3"],
    )
    train(cfg, tmp_path)
    records = _metrics(tmp_path)
    assert len(records) == 3
    for r in records:
        assert all(math.isfinite(v) for k, v in r.items() if k.startswith("loss"))
    logged = {k.removeprefix("loss/") for k in records[-1] if k.startswith("loss/")}
    zero = {k for k, v in cfg.loss.items() if v == 0.0 and k not in ("lowres_size", "temperature")}
    assert not (logged & zero)  # disabled terms are not computed
    assert ("disc_style" in logged) == (cfg.loss.adversarial != 0.0)


@pytest.mark.slow  # 11 s of tracing: the default suite's 12 minutes (2026-12-07); the tiny config trains by default
def test_paper_config_step_has_official_shapes():
    """Trace (no compile) the full-size paper step: 256 px crops, 512-channel transform."""
    import jax
    import numpy as np

    from jaxstyle.config import load_config
    from jaxstyle.methods.rast.method import RAST

    cfg = load_config(str(REPO / "configs/rast.py:paper"), ["--config.model.encoder=random_vgg19"])
    method = RAST(cfg)
    frozen = method.load_frozen()
    batch = {k: jax.ShapeDtypeStruct((2, 256, 256, 3), np.float32) for k in ("content", "style")}
    params = jax.eval_shape(lambda k: method.init(k, batch, frozen), jax.random.key(0))
    txs = method.optimizers()
    states = jax.eval_shape(lambda p: {k: tx.init(p[k]) for k, tx in txs.items()}, params)
    new_params, _, metrics = jax.eval_shape(
        method.train_step, params, states, batch, frozen, jax.random.key(0), np.int32(0)
    )
    assert jax.tree.map(lambda a: a.shape, new_params) == jax.tree.map(lambda a: a.shape, params)
    count = lambda t: sum(int(np.prod(a.shape)) for a in jax.tree.leaves(t))  # noqa: E731
    gen = params["generator"]
    # the official Transform(512) and decoder: 4 SANet 1x1 convs x 2 + a 3x3 merge; AdaIN decoder
    assert count(gen["transform"]) == 8 * (512 * 512 + 512) + 512 * 512 * 9 + 512
    assert count(gen["decoder"]) == 3_505_219
    assert gen["proj_style"]["hidden"]["kernel"].shape == (256, 128)
    assert gen["proj_content"]["hidden"]["kernel"].shape == (512, 256)
    assert set(metrics) >= {"loss", "loss/adversarial", "loss/disc_style", "loss/disc_content"}


def test_another_backbone_plugs_in_through_the_encoder_registry(monkeypatch):
    """A non-VGG encoder meeting the documented interface (five taps, 4th at 1/8, 4th and 5th
    with equal channels) trains through the same step: here a toy strided-conv pyramid."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import struct

    from jaxstyle.config import load_config
    from jaxstyle.methods.rast import method as rast_method

    @struct.dataclass
    class Pyramid:
        kernels: list

        def __call__(self, images, layers):
            feats, x = {}, images
            for i, k in enumerate(self.kernels):
                stride = 1 if i == 0 else 2
                x = jax.nn.relu(
                    jax.lax.conv_general_dilated(
                        x, k, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
                    )
                )
                feats[f"stage{i + 1}"] = x
            return {name: feats[name] for name in layers}

    chans = [3, 4, 8, 12, 16, 16]
    rng = np.random.default_rng(0)
    kernels = [
        jnp.asarray(rng.normal(size=(3, 3, a, b)) * 0.3, jnp.float32)
        for a, b in itertools.pairwise(chans)
    ]
    monkeypatch.setitem(rast_method.ENCODERS, "pyramid", lambda m: Pyramid(kernels))
    cfg = load_config(
        str(REPO / "configs/rast.py:tiny"),
        [
            "--config.model.encoder=pyramid",
            "--config.model.layers=stage1,stage2,stage3,stage4,stage5",
        ],
    )
    method = rast_method.RAST(cfg)
    frozen = method.load_frozen()
    assert method.model.channels == (12, 16)
    batch = {k: jax.ShapeDtypeStruct((2, 64, 64, 3), np.float32) for k in ("content", "style")}
    params = jax.eval_shape(lambda k: method.init(k, batch, frozen), jax.random.key(0))
    states = jax.eval_shape(
        lambda p: {k: tx.init(p[k]) for k, tx in method.optimizers().items()}, params
    )
    _, _, metrics = jax.eval_shape(
        method.train_step, params, states, batch, frozen, jax.random.key(0), np.int32(0)
    )
    assert metrics["loss"].shape == ()
