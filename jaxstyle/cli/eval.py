"""``jaxstyle eval``: restoration, idempotency and style metrics over all content x style pairs, or
the protocol metrics of a folder of results (``--results``, flags from :mod:`jaxstyle.cli.bench`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxstyle.cli.bench import EVAL_RESULTS_OPTIONS
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
    Option("size", "int", None, "images are resized to SIZE x SIZE (default 256; not with --results)", minimum=32,
           maximum=MAX_SIZE, multiple_of=16),
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
            "and prints the table. With --results DIR instead of --checkpoint: score a folder of "
            "stylized images (any tool's) with the field's protocol metrics (docs/evaluation.md)."
        ),
    )
    # Read when the parser is built: a method registered at run time is a choice too.
    method = Option("method", "str", None, "any registered method with a trained model (rast, adain, ...; "
                    "default rast)", choices=tuple(METHODS))
    add_options(p, (method, *OPTIONS, *EVAL_OPTIONS, *EVAL_RESULTS_OPTIONS))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.errors import InputError
    from jaxstyle.evaluate import evaluate_dirs, metrics_table, write_report
    from jaxstyle.methods import load_stylizer

    if args.video is not None:
        from jaxstyle.cli.video import run_eval

        return run_eval(args)
    if (args.results is None) == (args.checkpoint is None):
        raise InputError("give --checkpoint (a model to run and evaluate), --results (a folder of stylized "
                         "images) or --video (a stylized clip)")
    if not args.style:
        raise InputError("give --style (the style images the results were made with)")
    if args.results is not None:
        return run_results(args)
    source = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
    first = Path(args.checkpoint[0])
    out = Path(args.out) if args.out else (first / "eval" if first.is_dir() else Path("eval"))
    json_path = output_paths(args, out)
    method = args.method or "rast"
    transfer = load_stylizer(method, source, vgg=args.vgg).transfer
    result = evaluate_dirs(
        transfer, args.content, args.style, size=args.size or 256, batch_size=args.batch_size
    )
    record = write_report(
        result,
        json_path=json_path,
        table_path=out / "table.md",
        grid_path=out / "grid.png",
        name=f"{method}: {' '.join(args.checkpoint)}",
        extra={"method": method, "checkpoint": list(args.checkpoint)},
    )
    print(metrics_table({method: record}), end="")
    print(f"wrote {args.json or out / 'metrics.json'}, {out / 'table.md'}, {out / 'grid.png'}")
    return 0


def run_results(args: argparse.Namespace) -> int:
    """``eval --results DIR``: the protocol metrics of existing results (nothing is run)."""
    from jaxstyle.errors import InputError
    from jaxstyle.protocol import write_results_report

    if args.size is not None or args.method is not None or args.vgg is not None:
        raise InputError("--size, --method and --vgg apply to --checkpoint runs; --results are scored as saved")
    out = Path(args.out) if args.out else (Path(args.results) / "eval" if Path(args.results).is_dir() else Path("eval"))
    json_path = output_paths(args, out)
    table = write_results_report(args.results, args.content, args.style, json_path=json_path,
                                 table_path=out / "table.md", pairing=args.pairing,
                                 fid_network=args.fid_network, batch_size=args.batch_size)
    print(table, end="")
    print(f"wrote {json_path}, {out / 'table.md'}")
    return 0


def output_paths(args: argparse.Namespace, out: Path) -> Path:
    """The metrics.json path (``--json`` or under ``out``), after checking that it and ``out``'s
    table.md can be written: before the whole computation, not after it."""
    from jaxstyle.errors import InputError
    from jaxstyle.files import check_can_write

    json_path = Path(args.json) if args.json else out / "metrics.json"
    for flag, path in (("--json", json_path), ("--out", out / "table.md")):
        try:
            check_can_write(path)
        except OSError as e:
            raise InputError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None
    return json_path
