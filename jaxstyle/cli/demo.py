"""``jaxstyle demo``: one photo through the three families (optimization, arbitrary-style
network, built-in styles) into one labelled sheet; a thin layer over :mod:`jaxstyle.demo`."""

from __future__ import annotations

import argparse


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "demo",
        help="stylize a sample photo with gatys, ghiasi and cin; write a comparison sheet",
        description=__doc__,
    )
    p.add_argument("--content", default=None, help="content image (default: a bundled photo)")
    p.add_argument("--style", default=None, help="style image (default: a bundled painting)")
    p.add_argument("--output", default="outputs/", help="output folder (default outputs/)")
    p.add_argument("--size", type=int, default=256, help="long side of the results in px (256)")
    p.add_argument("--steps", type=int, default=150, help="Gatys optimizer steps (150)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.demo import three_families
    from jaxstyle.errors import InputError

    if args.size <= 0 or args.steps <= 0:
        raise InputError("--size and --steps must be positive")
    inputs = {k: v for k, v in (("content", args.content), ("style", args.style)) if v}
    for path in three_families(args.output, size=args.size, steps=args.steps, **inputs):
        print(f"wrote {path}")
    return 0
