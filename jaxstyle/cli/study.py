"""``jaxstyle study``: the seeds' experiments as commands (parsing only; :mod:`jaxstyle.study` works)."""

from __future__ import annotations

import argparse

from jaxstyle.errors import InputError
from jaxstyle.methods.base.declaration import CHUNK, ENCODER, INIT, LR, OPTIMIZER, SEED, SIZE, STEPS
from jaxstyle.options import Option, add_options

STUDY_NAMES = ("layers", "weights", "init", "pooling", "optimizer", "network", "content-loss")

REQUIRED = (
    Option("study", "str", None, ", ".join(STUDY_NAMES), choices=STUDY_NAMES, positional=True, required=True,
           metavar="NAME"),
    Option("content", "path", None, "content image", path="image", required=True),
    Option("style", "path", None, "style image", path="image", required=True),
    Option("output", "path", None, "folder for the sheet, table, JSON and charts", path="new-image-dir",
           metavar="DIR", required=True),
)
# Defaults as jaxstyle.study's RunOptions and StudyOptions have them (tests/test_cli_options.py).
OPTIONS = (
    SIZE.with_default(256, help="long side of the results in px", group=None),
    STEPS.with_default(200, help="optimizer steps per setting", group=None),
    SEED.with_default(0, group=None),
    LR.with_default(None, group=None, help="learning rate (default: the engine's per optimizer)"),
    CHUNK.with_default(10, help="steps between loss reports (curve resolution)", group=None),
    ENCODER.with_default("vgg16", help="network of every study but `network`", group=None),
    INIT.with_default("content", help="start of the studies that do not vary it", group=None),
    OPTIMIZER.with_default("lbfgs", help="optimizer of the studies that do not vary it", group=None),
    Option("style_layers", "names", None, "style layers of the studies that do not vary them (default: Gatys', "
           "per network)"),
    Option("content_layers", "names", None, "content layers, likewise"),
    Option("content_weight", "float", None, "content weight (alpha) of every setting that does not vary it "
           "(default: Gatys')", minimum=0.0),
    Option("style_weight", "float", None, "style weight (beta), likewise", minimum=0.0),
    Option("ratios", "floats", None, "weights: alpha/beta values, comma-separated (default 1e-5,1e-4,...,1)",
           exclusive_minimum=0.0),
    Option("lrs", "mapping", None, "optimizer: learning rate per optimizer, e.g. sgd=1e-5 (default: --lr, else "
           "the engine's)", choices=OPTIMIZER.choices, exclusive_minimum=0.0, metavar="OPTIMIZER=RATE,..."),
    Option("layers", "names", None, "layers: candidate layers (default pool1..pool5, seed 003's conv1..conv5)"),
    Option("style_layer", "str", None, "layers: the fixed style layer of stage 2 (default: the third candidate)"),
    Option("encoders", "names", None, "network: encoders to compare (default: every one that loads)",
           choices=ENCODER.choices),
)
RUN_FIELDS = ("size", "steps", "seed", "lr", "chunk")  # jaxstyle.study.RunOptions; the rest: StudyOptions
# The settings a study varies itself, and the options that belong to one study: given to a study
# that does not use them they are refused (one line), never silently ignored.
VARIES = {"init": ("init",), "layers": ("init", "style_layers", "content_layers"), "optimizer": ("optimizer",),
          "network": ("encoder",), "weights": ("style_weight",)}
ONLY_FOR = {"ratios": "weights", "lrs": "optimizer", "layers": "layers", "style_layer": "layers",
            "encoders": "network"}


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "study",
        help="reproduce a seed experiment (layers, weights, init, pooling, optimizer, network, content-loss)",
        description=(
            "Run one study on a (content, style) pair and write OUTPUT/sheet.png (labelled results), "
            "table.md, results.json (one object per setting) and charts. Settings that differ only in "
            "loss weights or start share one compiled program and run as one batch. Studies: layers "
            "(seed 003: each style layer alone, then each content layer with a fixed style layer; noise "
            "start), weights (alpha/beta), init (noise/content/style), pooling (max/avg), optimizer "
            "(Adam/L-BFGS/SGD, loss against steps and wall time), network (every available encoder), "
            "content-loss (MSE vs LPIPS). An option the chosen study does not use (it varies that "
            "setting itself, or the option belongs to another study) is refused."
        ),
    )
    add_options(p, REQUIRED)
    add_options(p, OPTIONS, given_only=True)
    p.set_defaults(func=run)


def check_used(study: str, given: dict) -> None:
    """One line for a given option that ``study`` would not use."""
    for name in given:
        flag = f"--{name.replace('_', '-')}"
        if name in VARIES.get(study, ()):
            raise InputError(f"study {study} varies {flag} itself; {flag} applies to the other studies")
        if name in ONLY_FOR and ONLY_FOR[name] != study:
            raise InputError(f"{flag} applies to study {ONLY_FOR[name]} only, not {study}")


def run(args: argparse.Namespace) -> int:
    from jaxstyle.study import RunOptions, StudyOptions, get_study, run_study

    get_study(args.study)  # an unknown name fails before anything loads
    given = {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)}
    check_used(args.study, given)
    run_opts = RunOptions(**{k: v for k, v in given.items() if k in RUN_FIELDS})
    renamed = {"style_layer": "fixed_style_layer"}
    options = StudyOptions(**{renamed.get(k, k): v for k, v in given.items() if k not in RUN_FIELDS})
    run_study(args.study, args.content, args.style, args.output, run_opts, options)
    return 0
