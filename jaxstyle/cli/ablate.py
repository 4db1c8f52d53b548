"""``jaxstyle ablate``: train several config variants for N steps each and compare them.

Parsing and printing only; the work is :func:`jaxstyle.ablate.ablate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxstyle.cli._config_args import accept_config_overrides


def register(subparsers, argv=None) -> None:
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


def run(args: argparse.Namespace) -> int:
    from jaxstyle.ablate import TABLE_KEYS, ablate
    from jaxstyle.evaluate import metrics_table

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    rows = ablate(
        args.config, variants, args.steps, args.workdir,
        overrides=args.config_overrides, content=args.content, style=args.style,
        eval_size=args.eval_size, max_images=args.max_images,
    )  # fmt: skip
    print(metrics_table(rows, TABLE_KEYS), end="")
    print(f"wrote {Path(args.workdir) / 'ablation.md'} and ablation.json")
    return 0
