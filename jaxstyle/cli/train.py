"""``jaxstyle train``: run the trainer on a config file with ``--config.x.y=value`` overrides."""

from __future__ import annotations

import argparse

from jaxstyle.cli._config_args import accept_config_overrides, one_line_warnings
from jaxstyle.cli.stylize import DISTRIBUTED
from jaxstyle.options import Option, add_options

OPTIONS = (
    Option("config", "path", None, "the config: FILE.py or FILE.py:VARIANT, e.g. configs/adain.py:tiny",
           path="config", metavar="FILE[:VARIANT]", required=True),
    Option("workdir", "path", None, "run folder (checkpoints, logs, samples); a local folder or gs://...",
           path="new-dir", required=True),
    Option("init_from", "path", None, "fine-tune from this checkpoint (a workdir or a step folder)",
           path="dir", metavar="CKPT"),
    Option("num_devices", "int", None, "use only the first N devices (default: all)", minimum=1, maximum=65536,
           metavar="N"),
)


def register(subparsers, argv=None) -> None:
    from jaxstyle.methods import METHODS, get_method

    trainable = [name for name in METHODS if get_method(name).trainer]  # from the registry: never stale
    p = subparsers.add_parser(
        "train",
        help=f"train a feed-forward method from a config ({', '.join(trainable)})",
        description=(
            "Train with configs/METHOD.py:VARIANT. Override any field with --config.KEY=VALUE, e.g. "
            "--config.data.content_dir=DIR --config.train.steps=1000. Resumes automatically from the "
            "latest checkpoint in --workdir; else starts from --init-from; else from scratch. A run "
            "that fails before its first checkpoint removes the files it made; a failed checkpoint "
            "write (disk full) stops the run with one line, keeping the last good checkpoint."
        ),
    )
    add_options(p, (*OPTIONS, *DISTRIBUTED))
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
    with one_line_warnings():
        train(cfg, args.workdir, init_from=args.init_from, num_devices=args.num_devices)
    return 0
