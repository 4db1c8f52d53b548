"""``jaxstyle restore``: restore content from a stylized image with a restorable method (RAST).

RAST's network is trained so that transferring a stylized image ``T(c, s)`` back with a
reference restores it: ``restore`` runs ``T(stylized, reference)``. With the original content
as ``--style`` that is the paper's restoration ``T(T(c, s), c)``; with another photo, the
stylized image takes that photo's look.
"""

from __future__ import annotations

import argparse

from jaxstyle.cli.stylize import (
    DEFAULT_SIZE,
    add_model_args,
    load_images,
    method_list,
    output_plan,
    split_method_args,
    write_results,
)
from jaxstyle.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "restore",
        help="restore content from a stylized image (restorable methods: rast)",
        description=f"{__doc__}\nmethods:\n{method_list()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stylized", nargs="+", required=True, help="stylized images: files, globs or folders")
    p.add_argument("--style", nargs="+", required=True,
                   help="the reference of the restoration pass T(stylized, STYLE): one image for all, "
                   "or one per stylized image (the original content restores it)")
    p.add_argument("--output", required=True, help="output folder, or an image file for one image")
    p.add_argument("--no-sheet", action="store_true", help="do not write the side-by-side sheets")
    p.add_argument("--size", type=int, default=argparse.SUPPRESS, help=f"long side in px (default {DEFAULT_SIZE})")
    add_model_args(p, None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.methods import load_stylizer

    options, controls = split_method_args(args)
    stylized, names = load_images(args.stylized)
    references, _ = load_images(args.style)
    if len(references) not in (1, len(stylized)):
        raise InputError(f"--style needs one image or one per stylized image: got {len(references)} for {len(stylized)}")
    size = controls.setdefault("size", DEFAULT_SIZE)
    out_dir, out_file = output_plan(args.output, len(stylized))
    stylizer = load_stylizer(args.method, **options)
    stylizer.check_controls(controls)
    refs = references * len(stylized) if len(references) == 1 else references
    results = stylizer.restore(stylized, refs, **controls)
    jobs = [(f"{n}__restored", [s, r], out) for n, s, r, out in zip(names, stylized, refs, results, strict=True)]
    write_results(jobs, out_dir, out_file, None if args.no_sheet else min(size, 512),
                  report=lambda path: print(f"wrote {path}", flush=True))
    return 0
