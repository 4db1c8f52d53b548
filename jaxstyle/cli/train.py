"""``jaxstyle train``: run the trainer on a config file with ``--config.x.y=value`` overrides."""

from __future__ import annotations

import argparse

from jaxstyle.cli._config_args import accept_config_overrides


def register(subparsers, argv=None) -> None:
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
    p.set_defaults(func=run)
    accept_config_overrides(p)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.config import load_config
    from jaxstyle.sharding import initialize_distributed
    from jaxstyle.train import train

    cfg = load_config(args.config, args.config_overrides)
    if cfg.get("model", {}).get("remat"):  # before anything starts a JAX backend
        from jaxstyle.models.vgg import keep_remat_on_cpu

        keep_remat_on_cpu()
    initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    from jaxstyle.watchdog import watch_peers

    watch_peers()  # another process dying ends this one with one line (jaxstyle.watchdog)
    train(cfg, args.workdir, init_from=args.init_from, num_devices=args.num_devices)
    return 0
