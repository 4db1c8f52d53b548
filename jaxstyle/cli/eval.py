"""``jaxstyle eval``: restoration, idempotency and style metrics over all content x style pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxstyle.cli.video import EVAL_OPTIONS
from jaxstyle.methods import METHODS
from jaxstyle.methods.base.declaration import MAX_SIZE
from jaxstyle.options import Option, add_options

OPTIONS = (
    Option("checkpoint", "path", None, "a training workdir or checkpoint step dir; for official RAST weights, "
           "the two files TRANSFORMER.pth DECODER.pth", path="file-or-dir", nargs="+", metavar="PATH"),
    Option("vgg", "path", None, "vgg_normalised.pth for official RAST files (default: imported)", path="file"),
    Option("content", "path", None, "content images: a folder, glob or file; with --video the input clip",
           path="input", required=True),
    Option("style", "path", None, "style images: a folder, glob or file (not with --video)", path="input"),
    Option("size", "int", 256, "images are resized to SIZE x SIZE", minimum=32, maximum=MAX_SIZE, multiple_of=16),
    Option("batch_size", "int", 8, "pairs per device call", minimum=1, maximum=4096),
    Option("json", "path", None, "metrics JSON path (default OUT/metrics.json)", path="new-file", metavar="FILE"),
    Option("out", "path", None, "output folder (default: CHECKPOINT/eval or ./eval)", path="new-image-dir",
           metavar="DIR"),
)


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
    # Read when the parser is built: a method registered at run time is a choice too.
    method = Option("method", "str", "rast", "any registered method with a trained model (rast, adain, ...)",
                    choices=tuple(METHODS))
    add_options(p, (method, *OPTIONS, *EVAL_OPTIONS))
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
