"""``jaxstyle bench``: every method on every (content, style) pair, scored as papers score them.

Parsing only; :mod:`jaxstyle.bench` does the work. The ``jaxstyle eval --results`` flags live
here too (:data:`EVAL_RESULTS_OPTIONS`): the same protocol, on any folder of results.
"""

from __future__ import annotations

import argparse

from jaxstyle.options import Option, add_options

FID_NETWORK = Option("fid_network", "str", "auto", "Inception for FID/ArtFID: auto = art_inception (ArtFID's) "
                     "when imported, else pt_inception (pytorch-fid's); none skips FID",
                     choices=("auto", "art_inception", "pt_inception", "none"))
BENCH_OPTIONS = (
    Option("methods", "names", None, "comma-separated method specs NAME[:ARG][:KEY=VALUE]...: ARG is a trained "
           "model (adain:runs/adain) or, for built-in styles, the style (cin:19); KEY=VALUE any declared option "
           "or control (strotss:scales=2)", required=True, metavar="M1,M2,..."),
    Option("content", "path", None, "content images: a folder, a glob or a file", path="input", required=True),
    Option("style", "path", None, "style images: a folder, a glob or a file", path="input", required=True),
    Option("output", "path", None, "folder for table.md, results.json, sheet.png, plot.png and images/",
           path="new-dir", required=True, metavar="DIR"),
    Option("size", "int", None, "inputs resized to SIZE x SIZE px (default 512, the protocol's)", minimum=32,
           maximum=4096),
    Option("keep_aspect", "bool", False, "resize the long side to SIZE instead (one compile per image shape)"),
    Option("steps", "int", None, "optimizer steps of every method that declares --steps and was not given "
           "steps= (a short schedule)", minimum=1, maximum=10**7),
    Option("batch_size", "int", 8, "pairs per stylize call and per metric batch", minimum=1, maximum=4096),
    Option("protocol", "str", None, "styleid: StyleID's 20 COCO content x 40 WikiArt style images at 512 px "
           "(docs/evaluation.md)", choices=("styleid",)),
    FID_NETWORK,
    Option("sheet_pairs", "int", 8, "pairs (columns) shown in sheet.png", minimum=1, maximum=1000),
)
# `jaxstyle eval --results DIR --content DIR --style DIR`: scoring another tool's outputs.
EVAL_RESULTS_OPTIONS = (
    Option("results", "path", None, "score this folder of stylized images (any tool's) with the protocol metrics "
           "(LPIPS-alex, CFSD, Gram, histogram, FID, ArtFID) instead of running a --checkpoint",
           path="input", group="scoring results"),
    Option("pairing", "str", "auto", "how results find their content and style: names (CONTENT__STYLE or "
           "CONTENT_stylized_STYLE), sorted (three sorted lists zipped, art-fid's), auto: names, else sorted",
           choices=("auto", "names", "sorted"), group="scoring results"),
    FID_NETWORK.with_default("auto", group="scoring results"),
)


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run methods on every content x style pair and score them (ArtFID, CFSD, LPIPS, Gram, histogram)",
        description=(
            "Run every method on every (content, style) pair and score the results as recent papers do: "
            "LPIPS-alex and CFSD to the content, Gram and histogram distances to the style, FID and ArtFID "
            "(with an imported Inception), with images/s, compile time and peak memory. Writes table.md, "
            "results.json, sheet.png, plot.png and images/METHOD/ under --output."
        ),
    )
    add_options(p, BENCH_OPTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.bench import run_bench

    run_bench(args.methods, args.content, args.style, args.output, size=args.size, keep_aspect=args.keep_aspect,
              steps=args.steps, batch_size=args.batch_size, protocol=args.protocol, fid_network=args.fid_network,
              sheet_pairs=args.sheet_pairs)
    return 0
