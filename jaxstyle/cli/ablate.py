"""``jaxstyle ablate``: train several config variants for N steps each and compare them.

Parsing and printing only; the work is :func:`jaxstyle.ablate.ablate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxstyle.cli._config_args import accept_config_overrides, one_line_warnings
from jaxstyle.methods.base.declaration import MAX_SIZE
from jaxstyle.options import Option, add_options

OPTIONS = (
    Option("config", "path", None, "the config file, e.g. configs/rast.py (its variants: --variants)",
           path="config", metavar="FILE", required=True),
    Option("variants", "names", None, "comma-separated, e.g. tiny,tiny_no_identity,tiny_idemp", required=True),
    Option("steps", "int", None, "training steps per variant", minimum=1, maximum=10**9, required=True),
    Option("workdir", "path", None, "one sub-folder per variant, plus the table", path="new-dir", required=True),
    Option("content", "path", None, "evaluation content images (default: the config's data folder)",
           path="input"),
    Option("style", "path", None, "evaluation style images (default: the config's data folder)", path="input"),
    Option("eval_size", "int", None, "evaluation image size (default: the crop size)", minimum=32,
           maximum=MAX_SIZE, multiple_of=16),
    Option("max_images", "int", 4, "evaluate on at most this many content and style images", minimum=1,
           maximum=10**6),
)


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
    add_options(p, OPTIONS)
    p.set_defaults(func=run)
    accept_config_overrides(p)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.ablate import TABLE_KEYS, ablate
    from jaxstyle.evaluate import metrics_table

    with one_line_warnings():
        rows = ablate(
            args.config, list(args.variants), args.steps, args.workdir,
            overrides=args.config_overrides, content=args.content, style=args.style,
            eval_size=args.eval_size, max_images=args.max_images,
        )  # fmt: skip
    print(metrics_table(rows, TABLE_KEYS), end="")
    print(f"wrote {Path(args.workdir) / 'ablation.md'} and ablation.json")
    return 0
