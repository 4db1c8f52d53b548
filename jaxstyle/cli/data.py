"""``jaxstyle data``: prepare datasets (WikiArt -> TFDS ArrayRecord) and inspect sources.

A thin layer over :mod:`jaxstyle.data.wikiart` and :mod:`jaxstyle.data.catalog`; failures
are :class:`~jaxstyle.errors.InputError` s that the top-level CLI prints as one line. Both are
imported inside the commands (see :mod:`jaxstyle.cli`): ``jaxstyle.data`` loads grain (~0.45 s
on top of jax) and the WikiArt builder TensorFlow Datasets (~0.15 s more).
"""

from __future__ import annotations

import argparse
import json
import warnings

from jaxstyle.cli._config_args import one_line_warnings
from jaxstyle.options import Option, add_options

PREPARE = (
    Option("dataset", "str", None, "wikiart", choices=("wikiart",), positional=True, required=True,
           metavar="DATASET"),
    Option("manual_dir", "path", None, "the downloaded files", path="dir", required=True),
    Option("data_dir", "path", None, "TFDS data dir to write into", path="new-dir", required=True),
    Option("overwrite", "bool", False, "rebuild an existing dataset"),
)
INSPECT = (
    Option("source", "str", None, "an image folder or a prepared TFDS dataset name", positional=True,
           required=True, metavar="SOURCE"),
    Option("data_dir", "path", None, "TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets)",
           path="dir"),
    Option("split", "str", "train", "TFDS split"),
    Option("json", "bool", False, "print one JSON object"),
    Option("grid", "path", None, "also write a grid of sample crops (PNG/JPEG)", path="new-image",
           metavar="FILE"),
    Option("grid_count", "int", 16, "images in the grid", minimum=1, maximum=1024),
)


def register(subparsers: argparse._SubParsersAction, argv=None) -> None:
    parser = subparsers.add_parser(
        "data",
        help="prepare WikiArt as a TFDS dataset, inspect image folders and datasets",
        description="Prepare and inspect training data (no TensorFlow needed).",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser(
        "prepare",
        help="build a TFDS dataset (ArrayRecord) from a manual download",
        description="Build DATASET into --data-dir from the files in --manual-dir. WikiArt "
        "layouts: <dir>/<Style>/<artist>_<title>.jpg, or Kaggle 'Painter by Numbers' "
        "train/*.jpg with all_data_info.csv or train_info.csv. Unreadable files are skipped, "
        "counted and named.",
    )
    add_options(p, PREPARE)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "inspect",
        help="count records, skipped files and labels of a folder or prepared TFDS dataset",
        description="SOURCE is an image folder (every file is decoded to check it) or the "
        "name of a prepared TFDS dataset (e.g. wikiart, coco/2017) under --data-dir.",
    )
    add_options(p, INSPECT)
    p.set_defaults(func=cmd_inspect)


def cmd_prepare(args: argparse.Namespace) -> int:
    from jaxstyle.data.wikiart import prepare_wikiart

    with one_line_warnings():
        report = prepare_wikiart(args.manual_dir, args.data_dir, overwrite=args.overwrite)
    if report.reused:
        print(
            f"{args.dataset}: already prepared in {report.builder_dir} (use --overwrite to rebuild)"
        )
    print(f"{args.dataset}: {report.num_records} records written to {report.builder_dir}")
    print(f"{args.dataset}: {report.num_skipped} files skipped")
    for s in report.skipped[:20]:
        print(f"  skipped {s['file']}: {s['reason']}")
    if report.num_skipped > 20:
        print(f"  ... and {report.num_skipped - 20} more (metadata.json lists up to 1000)")
    for label, counts in report.label_counts.items():
        print(f"{args.dataset}: {len(counts)} {label} labels")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from jaxstyle.data.catalog import inspect_source, write_sample_grid

    info = inspect_source(args.source, data_dir=args.data_dir, split=args.split)
    if args.grid:
        with warnings.catch_warnings():  # skipped records are already in the report
            warnings.simplefilter("ignore")
            path, n = write_sample_grid(
                args.source,
                args.grid,
                data_dir=args.data_dir,
                split=args.split,
                count=args.grid_count,
            )
        info["grid"] = {"path": str(path), "images": n}
    if args.json:
        print(json.dumps(info, indent=None, sort_keys=True))
        return 0
    print(
        f"{info['source']} ({info['kind']}): {info['num_records']} records, {info['num_skipped']} skipped"
    )
    for s in info["skipped"][:20]:
        print(f"  skipped {s['file']}: {s['reason']}")
    for label, counts in info["labels"].items():
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:10]
        shown = ", ".join(f"{k} {v}" for k, v in top)
        more = f", ... ({len(counts)} in all)" if len(counts) > len(top) else ""
        print(f"  {label}: {shown}{more}")
    if args.grid:
        print(f"grid of {info['grid']['images']} samples written to {info['grid']['path']}")
    return 0
