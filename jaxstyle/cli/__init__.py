"""The ``jaxstyle`` command: a thin argparse layer over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a
parser whose ``func(args) -> int`` does the work by calling library functions. Errors
derived from :class:`jaxstyle.errors.JaxstyleError` become one line on stderr and exit 2.

Subcommand modules import the heavy parts of the library (JAX, orbax, grain, TensorFlow
Datasets, torch, the trainer, the methods' code) inside the functions that use them, because
``jaxstyle --help`` imports every subcommand module to build its parser. Options are checked
while parsing (:mod:`jaxstyle.options`), so ``--help`` and a refused option load none of it
(tests/test_cli_options.py): ~0.3 s each on a busy 2-core CPU machine, where ``import jax``
alone took ~5 s.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from jaxstyle import __version__
from jaxstyle.errors import JaxstyleError

# Subcommand modules, in the order `jaxstyle --help` lists them.
SUBCOMMANDS = ("stylize", "video", "methods", "correspond", "demo", "restore", "weights", "data", "train", "eval",
               "ablate", "study", "bench", "serve")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit 2), without the usage dump."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; ``argv`` lets a subcommand add flags that depend on it
    (``stylize --method cin`` adds cin's declared flags)."""
    parser = _Parser(prog="jaxstyle", description="Neural style transfer in JAX.")
    parser.add_argument("--version", action="version", version=f"jaxstyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"jaxstyle.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"jaxstyle.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(sub, argv)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extras = parser.parse_known_args(argv)
    if extras and not getattr(args, "accepts_method_extras", False):
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if extras:  # flags the chosen method does not declare: one line naming who does
            from jaxstyle.cli.stylize import refuse_unknown

            refuse_unknown(args.method, extras)
        return int(args.func(args) or 0)
    except JaxstyleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except Exception as e:
        # A multi-process run (its watchdog imported and started) ends with one line, exit 3,
        # now: the other processes would otherwise wait in a collective for this one.
        if "jaxstyle.watchdog" in sys.modules:
            sys.modules["jaxstyle.watchdog"].fail(e)
        raise
    finally:
        if "jaxstyle.watchdog" in sys.modules:
            sys.modules["jaxstyle.watchdog"].stop_watching()


if __name__ == "__main__":
    sys.exit(main())
