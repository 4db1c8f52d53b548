"""Ablations: train several variants of one config for N steps each and tabulate them.

Works for any trainable method whose config file has variants (``configs/rast.py:tiny_no_identity``,
``configs/adain.py:tiny,lap`` ...). Each variant trains in ``WORKDIR/<variant>`` (resuming if
already there), its model is loaded back through the method registry
(:func:`jaxstyle.methods.load_stylizer`) and evaluated with :func:`jaxstyle.evaluate.evaluate_pairs`
on all content x style pairs, and one row per variant goes into ``WORKDIR/ablation.md`` and
``WORKDIR/ablation.json`` (with the final training loss)::

  rows = ablate("configs/rast.py", ["tiny", "tiny_no_identity"], 20, "runs/abl")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jaxstyle.config import load_config
from jaxstyle.errors import InputError
from jaxstyle.evaluate import evaluate_pairs, load_square_images, metrics_table
from jaxstyle.files import write_text_atomic
from jaxstyle.io import expand_image_paths

# Columns of the ablation table (eval metrics + the last training loss).
TABLE_KEYS = (
    "restoration_psnr",
    "restoration_ssim",
    "idempotency_error",
    "content_lpips",
    "style_distance",
    "final_loss",
)


def ablate(
    config: str,
    variants: Sequence[str],
    steps: int,
    workdir: str | Path,
    *,
    overrides: Sequence[str] = (),
    content: str | None = None,
    style: str | None = None,
    eval_size: int | None = None,
    max_images: int = 4,
    log: Callable[[str], Any] = print,
) -> dict[str, dict]:
    """Train and evaluate each variant of ``config``; write the table; return ``{variant: row}``.

    Args:
      config: a config file (``configs/METHOD.py``) without a variant.
      variants: ``get_config`` arguments, one run each.
      steps: training steps per variant (overrides ``train.steps``).
      workdir: one sub-folder per variant, plus ``ablation.md`` and ``ablation.json``.
      overrides: ``--config.KEY=VALUE`` items applied to every variant.
      content, style: evaluation images (folder, glob or file; default: the config's data folders).
      eval_size: evaluation image size, a multiple of 16 (default: the config's crop size).
      max_images: evaluate on at most this many content and style images.
      log: where progress lines go.
    """
    if not variants:
        raise InputError("ablate needs at least one variant")
    workdir = Path(workdir)
    rows: dict[str, dict] = {}
    for variant in variants:
        cfg = load_config(f"{config}:{variant}", [*overrides, f"--config.train.steps={steps}"])
        run_dir = workdir / variant
        log(f"== {variant}: {steps} steps in {run_dir}")
        rows[variant] = train_and_evaluate(
            cfg, run_dir, content=content, style=style, eval_size=eval_size, max_images=max_images
        ) | {"steps": steps}
    table = metrics_table(rows, TABLE_KEYS)
    write_text_atomic(
        workdir / "ablation.md", f"# Ablation: {config}, {steps} steps per variant\n\n{table}"
    )
    write_text_atomic(workdir / "ablation.json", json.dumps(rows, indent=2) + "\n")
    return rows


def train_and_evaluate(
    cfg: Any,
    run_dir: Path,
    *,
    content: str | None = None,
    style: str | None = None,
    eval_size: int | None = None,
    max_images: int = 4,
) -> dict[str, Any]:
    """Train ``cfg`` in ``run_dir``, then :func:`evaluate_pairs` of the trained model.

    Returns the evaluation summary (without images) plus ``final_loss``, the last logged loss.
    """
    from jaxstyle.methods import load_stylizer
    from jaxstyle.train import train

    losses = train(cfg, run_dir)
    stylizer = load_stylizer(cfg.method, run_dir)
    cpaths = expand_image_paths([content or cfg.data.content_dir])[:max_images]
    spaths = expand_image_paths([style or cfg.data.style_dir])[:max_images]
    size = int(eval_size or cfg.data.crop_size)
    result = evaluate_pairs(
        stylizer.transfer,
        load_square_images(cpaths, size),
        load_square_images(spaths, size),
        content_names=[p.name for p in cpaths],
        style_names=[p.name for p in spaths],
        batch_size=min(8, len(cpaths) * len(spaths)),  # no padding pairs when there are few
    )
    result.pop("grid_images")
    return result | {"final_loss": losses.get("loss", float("nan"))}
