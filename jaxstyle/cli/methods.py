"""``jaxstyle methods``: every registered method, what it needs and its flags; ``--json`` for
programs (a web form is built from it: names, types, defaults, ranges, choices and help of each
load option and control)."""

from __future__ import annotations

import argparse
import json

from jaxstyle.methods import METHODS
from jaxstyle.options import Option, add_options

JSON = Option("json", "bool", False, "print one JSON object: {method: description}")


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser("methods", help="list the methods, what each needs, and their flags (--json)",
                              description=__doc__)
    # Read when the parser is built: a method registered at run time is a choice too.
    name = Option("name", "str", None, "only this method", choices=tuple(METHODS), positional=True, nargs="?",
                  metavar="NAME")
    add_options(p, (JSON, name))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.methods import METHODS, get_method

    names = [args.name] if args.name else list(METHODS)
    specs = [get_method(n) for n in names]  # an unknown name: one line, exit 2
    if args.json:
        print(json.dumps({s.name: s.describe() for s in specs}, indent=1))
        return 0
    for s in specs:
        print(f"{s.name}  ({s.kind}{', trainable' if s.trainer else ''})\n  {s.summary}\n  needs: {s.needs}")
        flags = [o.cli_flag for o in s.options + s.controls]
        print(f"  flags: {' '.join(flags)}\n  docs: {s.docs}\n")
    return 0
