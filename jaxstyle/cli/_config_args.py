"""argparse glue shared by the subcommands that take a config file (``train``, ``ablate``)."""

from __future__ import annotations

import argparse


def accept_config_overrides(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take any number of ``--config.KEY=VALUE`` options (ml_collections style).

    argparse cannot declare options by prefix, so they are taken out of the argument list
    before the normal parse and stored, in order, as ``args.config_overrides`` (for
    :func:`jaxstyle.config.load_config`).
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
