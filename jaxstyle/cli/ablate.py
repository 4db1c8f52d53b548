"""``jaxstyle ablate``: train several config variants for N steps each and compare them.

Each variant trains in ``WORKDIR/<variant>`` (resuming if already there), is evaluated with
:mod:`jaxstyle.evaluate` on the content x style pairs, and one row per variant goes into
``WORKDIR/ablation.md`` and ``WORKDIR/ablation.json`` (the final training losses included).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxstyle.cli._config_args import accept_config_overrides

# Columns of the ablation table (eval metrics + the last training loss).
TABLE_KEYS = (
    "restoration_psnr",
    "restoration_ssim",
    "idempotency_error",
    "content_lpips",
    "style_distance",
    "final_loss",
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ablate",
        help="train config variants (e.g. RAST loss ablations) for N steps each and tabulate them",
        description=(
            "For each variant of --config, train --steps steps in WORKDIR/VARIANT, evaluate it on all "
            "content x style pairs (jaxstyle eval metrics) and write WORKDIR/ablation.md and .json. "
            "--config.KEY=VALUE overrides apply to every variant."
        ),
    )
    p.add_argument("--config", required=True, metavar="FILE", help="e.g. configs/rast.py")
    p.add_argument(
        "--variants", required=True, help="comma-separated, e.g. tiny,tiny_no_identity,tiny_idemp"
    )
    p.add_argument("--steps", type=int, required=True, help="training steps per variant")
    p.add_argument("--workdir", required=True, help="one sub-folder per variant, plus the table")
    p.add_argument(
        "--content",
        default=None,
        help="evaluation content images (default: the config's data folder)",
    )
    p.add_argument(
        "--style", default=None, help="evaluation style images (default: the config's data folder)"
    )
    p.add_argument(
        "--eval-size", type=int, default=None, help="evaluation image size (default: the crop size)"
    )
    p.add_argument(
        "--max-images",
        type=int,
        default=4,
        help="evaluate on at most this many content and style images",
    )
    p.set_defaults(func=run)
    accept_config_overrides(p)


def ablate(
    config: str,
    variants: list[str],
    steps: int,
    workdir: str | Path,
    *,
    overrides: tuple[str, ...] | list[str] = (),
    content: str | None = None,
    style: str | None = None,
    eval_size: int | None = None,
    max_images: int = 4,
    log=print,
) -> dict[str, dict]:
    """Train + evaluate each variant; returns ``{variant: metrics}`` and writes the table."""
    import json

    from jaxstyle.config import load_config
    from jaxstyle.errors import InputError
    from jaxstyle.evaluate import (
        evaluate_pairs,
        load_square_images,
        metrics_table,
        write_text_atomic,
    )
    from jaxstyle.io import expand_image_paths
    from jaxstyle.methods.rast import load_stylizer
    from jaxstyle.train import train

    workdir = Path(workdir)
    if not variants:
        raise InputError("--variants needs at least one variant")
    rows: dict[str, dict] = {}
    for variant in variants:
        cfg = load_config(f"{config}:{variant}", [*overrides, f"--config.train.steps={steps}"])
        if cfg.method != "rast":
            raise InputError(
                f"{config}: ablate evaluates RAST-style models; method {cfg.method!r} is not supported"
            )
        run_dir = workdir / variant
        log(f"== {variant}: {steps} steps in {run_dir}")
        losses = train(cfg, run_dir)
        cpaths = expand_image_paths([content or cfg.data.content_dir])[:max_images]
        spaths = expand_image_paths([style or cfg.data.style_dir])[:max_images]
        size = int(eval_size or cfg.data.crop_size)
        result = evaluate_pairs(
            load_stylizer(run_dir).transfer,
            load_square_images(cpaths, size),
            load_square_images(spaths, size),
            content_names=[p.name for p in cpaths],
            style_names=[p.name for p in spaths],
        )
        result.pop("grid_images")
        rows[variant] = result | {"final_loss": losses.get("loss", float("nan")), "steps": steps}
    table = metrics_table(rows, TABLE_KEYS)
    write_text_atomic(
        workdir / "ablation.md", f"# Ablation: {config}, {steps} steps per variant\n\n{table}"
    )
    write_text_atomic(workdir / "ablation.json", json.dumps(rows, indent=2) + "\n")
    return rows


def run(args: argparse.Namespace) -> int:
    from jaxstyle.evaluate import metrics_table

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    rows = ablate(
        args.config, variants, args.steps, args.workdir,
        overrides=list(args.config_overrides), content=args.content, style=args.style,
        eval_size=args.eval_size, max_images=args.max_images,
    )  # fmt: skip
    print(metrics_table(rows, TABLE_KEYS), end="")
    print(f"wrote {Path(args.workdir) / 'ablation.md'} and ablation.json")
    return 0
