"""argparse glue shared by the training subcommands (``train``, ``ablate``, ``data``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator


def accept_config_overrides(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take any number of ``--config.KEY=VALUE`` options (ml_collections style).

    argparse cannot declare options by prefix, so they are taken out of the argument list
    before the normal parse and stored, in order, as ``args.config_overrides`` (for
    :func:`jaxstyle.config.load_config`, which checks them against the config's fields).
    """
    parse = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        args = list(args or [])
        overrides = [a for a in args if a.startswith("--config.")]
        for a in overrides:
            if "=" not in a:
                parser.error(f"{a}: write config overrides as --config.KEY=VALUE")
        namespace, rest = parse([a for a in args if a not in overrides], namespace)
        namespace.config_overrides = overrides
        return namespace, rest

    parser.parse_known_args = parse_known_args


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show jaxstyle's warnings (a skipped image file...) as one ``warning: ...`` line each.

    Python's default format adds the source location and the code line that warned, which
    mean nothing to a user of the command; other libraries' warnings keep that format.
    """
    show = warnings.showwarning

    def one_line(message, category, filename, lineno, file=None, line=None):
        if category.__module__.split(".")[0] == "jaxstyle":
            print(f"warning: {' '.join(str(message).split())}", file=file or sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line
    try:
        yield
    finally:
        warnings.showwarning = show
