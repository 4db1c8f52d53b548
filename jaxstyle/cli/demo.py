"""``jaxstyle demo``: one photo through the three families (optimization, arbitrary-style
network, built-in styles) into one labelled sheet; a thin layer over :mod:`jaxstyle.demo`.

Each file is announced (``wrote PATH``) as it lands, so when a later write fails (disk full)
the lines above the error say what exists."""

from __future__ import annotations

import argparse

from jaxstyle.methods.base.declaration import SIZE, STEPS
from jaxstyle.options import Option, add_options

OPTIONS = (
    Option("content", "path", None, "content image (default: a bundled photo)", path="image"),
    Option("style", "path", None, "style image (default: a bundled painting)", path="image"),
    Option("output", "path", "outputs/", "output folder (a name with a dot ends with /)", path="new-image-dir"),
    SIZE.with_default(256, help="long side of the results in px", group=None),
    STEPS.with_default(150, help="Gatys optimizer steps", group=None),
)


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "demo",
        help="stylize a sample photo with gatys, ghiasi and cin; write a comparison sheet",
        description=__doc__,
    )
    add_options(p, OPTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.demo import three_families

    inputs = {k: v for k, v in (("content", args.content), ("style", args.style)) if v}
    three_families(args.output, size=args.size, steps=args.steps, on_write=lambda p: print(f"wrote {p}", flush=True),
                   **inputs)
    return 0
