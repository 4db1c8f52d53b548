"""``jaxstyle eval``: restoration, idempotency and style metrics over all content x style pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxstyle.cli.video import EVAL_OPTIONS
from jaxstyle.methods import METHODS
from jaxstyle.options import add_options


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a trained model: restoration PSNR/SSIM/LPIPS, idempotency, content and style distances",
        description=(
            "Stylize every content image with every style image and measure: restoration of the "
            "content from the stylized image T(T(c,s),c) (PSNR, SSIM, LPIPS), idempotency "
            "|T(T(c,s),s) - T(c,s)|, content LPIPS of T(c,s) to c, and style distance (Gram, "
            "mean/std) of T(c,s) to s. Writes metrics.json, table.md and grid.png under --out "
            "and prints the table."
        ),
    )
    p.add_argument("--method", choices=list(METHODS), default="rast",
                   help="any registered method with a trained model (rast, adain, ...)")
    p.add_argument(
        "--checkpoint", nargs="+", metavar="PATH",
        help="a training workdir or checkpoint step dir; for official RAST weights, the two files "
        "TRANSFORMER.pth DECODER.pth",
    )  # fmt: skip
    p.add_argument(
        "--vgg", default=None, help="vgg_normalised.pth for official RAST files (default: imported)"
    )
    p.add_argument("--content", required=True, help="content image folder (or glob / file); with --video the input clip")
    p.add_argument("--style", help="style image folder (or glob / file)")
    p.add_argument(
        "--size", type=int, default=256, help="images are resized to SIZE x SIZE (multiple of 16)"
    )
    p.add_argument("--batch-size", type=int, default=8, help="pairs per device call")
    p.add_argument(
        "--json", default=None, metavar="FILE", help="metrics JSON path (default OUT/metrics.json)"
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default: CHECKPOINT/eval or ./eval)",
    )
    add_options(p, EVAL_OPTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.errors import InputError
    from jaxstyle.evaluate import evaluate_dirs, metrics_table, write_report
    from jaxstyle.files import check_can_write
    from jaxstyle.methods import load_stylizer

    if args.video is not None:
        from jaxstyle.cli.video import run_eval

        return run_eval(args)
    if not args.checkpoint or not args.style:
        raise InputError("give --checkpoint and --style (or --video to measure a stylized clip)")
    source = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
    first = Path(args.checkpoint[0])
    out = Path(args.out) if args.out else (first / "eval" if first.is_dir() else Path("eval"))
    json_path = Path(args.json) if args.json else out / "metrics.json"
    for flag, path in (("--json", json_path), ("--out", out / "table.md")):
        try:  # before the whole computation, not after it
            check_can_write(path)
        except OSError as e:
            raise InputError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None
    transfer = load_stylizer(args.method, source, vgg=args.vgg).transfer
    result = evaluate_dirs(
        transfer, args.content, args.style, size=args.size, batch_size=args.batch_size
    )
    record = write_report(
        result,
        json_path=json_path,
        table_path=out / "table.md",
        grid_path=out / "grid.png",
        name=f"{args.method}: {' '.join(args.checkpoint)}",
        extra={"method": args.method, "checkpoint": list(args.checkpoint)},
    )
    print(metrics_table({args.method: record}), end="")
    print(f"wrote {args.json or out / 'metrics.json'}, {out / 'table.md'}, {out / 'grid.png'}")
    return 0
