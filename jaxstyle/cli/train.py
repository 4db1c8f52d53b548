"""``jaxstyle train``: run the trainer on a config file with ``--config.x.y=value`` overrides."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a feed-forward method (AdaIN, RAST) from a config",
        description=(
            "Train with configs/METHOD.py:VARIANT. Override any field with --config.KEY=VALUE, e.g. "
            "--config.data.content_dir=DIR --config.train.steps=1000. Resumes automatically from the "
            "latest checkpoint in --workdir; else starts from --init-from; else from scratch."
        ),
    )
    p.add_argument("--config", required=True, metavar="FILE[:VARIANT]", help="e.g. configs/adain.py:tiny")
    p.add_argument("--workdir", required=True, help="run directory (checkpoints, logs, samples)")
    p.add_argument("--init-from", default=None, metavar="CKPT", help="fine-tune from this checkpoint")
    p.add_argument("--num-devices", type=int, default=None, help="use only the first N devices")
    p.add_argument("--coordinator", default=None, help="multi-process: coordinator HOST:PORT")
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.set_defaults(func=run, config_overrides=[])
    _accept_config_overrides(p)


def _accept_config_overrides(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take any number of ``--config.KEY=VALUE`` options (ml_collections style).

    argparse cannot declare options by prefix, so they are taken out of the argument list
    before the normal parse and stored as ``args.config_overrides``.
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


def run(args: argparse.Namespace) -> int:
    from jaxstyle.sharding import initialize_distributed
    from jaxstyle.train import load_config, train

    cfg = load_config(args.config, getattr(args, "config_overrides", []))
    if cfg.get("model", {}).get("remat"):  # before anything starts a JAX backend
        from jaxstyle.models.vgg import keep_remat_on_cpu

        keep_remat_on_cpu()
    initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    train(cfg, args.workdir, init_from=args.init_from, num_devices=args.num_devices)
    return 0
