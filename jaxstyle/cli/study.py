"""``jaxstyle study``: the seeds' experiments as commands (parsing only; :mod:`jaxstyle.study` works)."""

from __future__ import annotations

import argparse

STUDY_NAMES = ("layers", "weights", "init", "pooling", "optimizer", "network", "content-loss")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 1e-6,1e-5,1e-4; got {text!r}") from None


def _rates(text: str) -> dict[str, float]:
    try:
        return {name.strip(): float(rate) for name, rate in (item.split("=") for item in text.split(",") if item.strip())}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected OPTIMIZER=RATE pairs, e.g. sgd=1e-5,adam=0.05; got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "study",
        help="reproduce a seed experiment (layers, weights, init, pooling, optimizer, network, content-loss)",
        description=(
            "Run one study on a (content, style) pair and write OUTPUT/sheet.png (labelled results), "
            "table.md, results.json (one object per setting) and charts. Settings that differ only in "
            "loss weights or start share one compiled program and run as one batch. Studies: layers "
            "(seed 003: each style layer alone, then each content layer with a fixed style layer), "
            "weights (alpha/beta), init (noise/content/style), pooling (max/avg), optimizer "
            "(Adam/L-BFGS/SGD, loss against steps and wall time), network (every available encoder), "
            "content-loss (MSE vs LPIPS)."
        ),
    )
    p.add_argument("study", metavar="NAME", help=", ".join(STUDY_NAMES))
    p.add_argument("--content", required=True, help="content image")
    p.add_argument("--style", required=True, help="style image")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for the sheet, table, JSON and charts")
    p.add_argument("--size", type=int, default=256, help="long side of the results in px (default 256)")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps per setting (default 200)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the engine's per optimizer)")
    p.add_argument("--chunk", type=int, default=10, help="steps between loss reports (curve resolution)")
    p.add_argument("--encoder", default="vgg16", help="network of every study but `network` (default vgg16)")
    p.add_argument("--init", default="content", help="start of the studies that do not vary it (layers: noise)")
    p.add_argument("--optimizer", default="lbfgs", help="optimizer of the studies that do not vary it")
    p.add_argument("--style-layers", type=_names, default=None,
                   help="style layers of the studies that do not vary them (default: Gatys', per network)")
    p.add_argument("--content-layers", type=_names, default=None, help="content layers, likewise")
    p.add_argument("--content-weight", type=float, default=None,
                   help="content weight (alpha) of every setting that does not vary it (default: Gatys')")
    p.add_argument("--style-weight", type=float, default=None, help="style weight (beta), likewise")
    p.add_argument("--ratios", type=_floats, default=None,
                   help="weights: alpha/beta values, comma-separated (default 1e-5,1e-4,...,1)")
    p.add_argument("--lrs", type=_rates, default=None,
                   help="optimizer: learning rate per optimizer, e.g. sgd=1e-5 (default: --lr, else the engine's)")
    p.add_argument("--layers", type=_names, default=None,
                   help="layers: candidate layers (default pool1..pool5, seed 003's conv1..conv5)")
    p.add_argument("--style-layer", default=None,
                   help="layers: the fixed style layer of stage 2 (default: the third candidate)")
    p.add_argument("--encoders", type=_names, default=None,
                   help="network: encoders to compare (default: every one that loads)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.study import RunOptions, StudyOptions, get_study, run_study

    get_study(args.study)  # an unknown name fails before anything loads
    given = {"ratios": args.ratios, "layers": args.layers, "encoders": args.encoders, "lrs": args.lrs}
    options = StudyOptions(encoder=args.encoder, init=args.init, optimizer=args.optimizer,
                           fixed_style_layer=args.style_layer, style_layers=args.style_layers,
                           content_layers=args.content_layers, content_weight=args.content_weight,
                           style_weight=args.style_weight, **{k: v for k, v in given.items() if v is not None})
    run_opts = RunOptions(size=args.size, steps=args.steps, seed=args.seed, lr=args.lr, chunk=args.chunk)
    run_study(args.study, args.content, args.style, args.output, run_opts, options)
    return 0
