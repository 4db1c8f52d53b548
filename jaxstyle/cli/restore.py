"""``jaxstyle restore``: restore content from a stylized image with a restorable method (RAST).

RAST's network is trained so that transferring a stylized image ``T(c, s)`` back with a
reference restores it: ``restore`` runs ``T(stylized, reference)``. With the original content
as ``--style`` that is the paper's restoration ``T(T(c, s), c)``; with another photo, the
stylized image takes that photo's look.
"""

from __future__ import annotations

import argparse

from jaxstyle.cli.stylize import (
    add_method_args,
    load_images,
    method_list,
    output_plan,
    split_method_args,
    write_outputs,
)
from jaxstyle.errors import InputError
from jaxstyle.options import Option, add_options

OPTIONS = (
    Option("stylized", "path", None, "stylized images: files, globs or folders", path="input", nargs="+",
           required=True),
    Option("style", "path", None, "the reference of the restoration pass T(stylized, STYLE): one image for all, "
           "or one per stylized image (the original content restores it)", path="input", nargs="+", required=True),
    Option("output", "path", None, "output folder, or an image file for one image", path="new", required=True),
    Option("no_sheet", "bool", False, "do not write the side-by-side sheets"),
)


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "restore",
        help="restore content from a stylized image (restorable methods: rast)",
        description=f"{__doc__}\nmethods:\n{method_list()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, OPTIONS)
    add_method_args(p, argv, None)
    p.set_defaults(func=run, accepts_method_extras=True)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.methods import get_method, load_stylizer

    options, controls = split_method_args(args)
    stylized, names = load_images(args.stylized)
    references, _ = load_images(args.style)
    if len(references) not in (1, len(stylized)):
        raise InputError(f"--style needs one image or one per stylized image: got {len(references)} for {len(stylized)}")
    size = controls.setdefault("size", get_method(args.method).option("size").default)
    out_dir, out_file = output_plan(args.output, len(stylized))
    stylizer = load_stylizer(args.method, **options)
    stylizer.check_controls(controls)
    refs = references * len(stylized) if len(references) == 1 else references
    results = stylizer.restore(stylized, refs, **controls)
    jobs = [(f"{n}__restored", [s, r], out) for n, s, r, out in zip(names, stylized, refs, results, strict=True)]
    write_outputs(stylizer, jobs, out_dir, out_file, controls, None if args.no_sheet else min(size, 512))
    return 0
