"""``jaxstyle stylize``: optimization-based stylization of many pairs at once (the main job).

With no arguments it stylizes the embedded default pair (scikit-image's bundled cat photo and
a stained-tissue texture) and writes the result and a content | style | result sheet into
./outputs/. Everything here parses and validates, then calls :func:`jaxstyle.optimize.stylize`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jaxstyle.errors import InputError

DEFAULT_OUTPUT = "outputs/"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def register(subparsers) -> None:
    from jaxstyle import optimize as opt
    from jaxstyle.samples import DEFAULT_CONTENT, DEFAULT_STYLE

    p = subparsers.add_parser(
        "stylize",
        help="stylize content images with style images (Gatys, Lapstyle, LPIPS content loss)",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    io = p.add_argument_group("inputs and outputs")
    io.add_argument("--content", nargs="+", default=[f"sample:{DEFAULT_CONTENT}"],
                    help="content images: files, globs, folders or sample:NAME")
    io.add_argument("--style", nargs="+", default=[f"sample:{DEFAULT_STYLE}"],
                    help="style images: files, globs, folders or sample:NAME")
    io.add_argument("--output", default=DEFAULT_OUTPUT,
                    help="output folder, or an image file when there is exactly one pair")
    io.add_argument("--pairs", choices=("product", "zip"), default="product",
                    help="every content with every style, or the i-th content with the i-th style")
    io.add_argument("--save-every", type=int, default=0, metavar="N",
                    help="also write intermediate frames every N steps (into OUTPUT/frames/)")
    io.add_argument("--no-sheet", action="store_true", help="do not write the side-by-side sheets")
    io.add_argument("--checkpoint-dir", default=None,
                    help="save optimizer state here every --checkpoint-every steps; re-running resumes")
    io.add_argument("--checkpoint-every", type=int, default=50, metavar="N")

    m = p.add_argument_group("method")
    m.add_argument("--method", choices=(*opt.METHODS, "adain"), default="gatys",
                   help="optimization (gatys, lapstyle) or a trained feed-forward network (adain)")
    # CLI defaults are sized for a first run on a laptop CPU (a few minutes); on accelerators
    # raise them (--size 1024 --steps 500). The Python API defaults to 512 px / 300 steps.
    m.add_argument("--size", type=int, default=256, help="long side of the output in px")
    m.add_argument("--steps", type=int, default=150, help="optimizer steps (per scale)")
    m.add_argument("--optimizer", choices=opt.OPTIMIZERS, default="lbfgs")
    m.add_argument("--lr", type=float, default=None, help="learning rate (default: 1 lbfgs, 0.02 adam, 0.2 sgd)")
    m.add_argument("--line-search", action="store_true",
                   help="L-BFGS with a zoom (strong Wolfe) line search: safer steps, ~3x the evaluations")
    m.add_argument("--init", choices=opt.INITS, default="content")
    m.add_argument("--content-layers", type=_csv, default=opt.DEFAULT_CONTENT_LAYERS,
                   help="comma-separated encoder taps, e.g. relu4_2")
    m.add_argument("--style-layers", type=_csv, default=opt.DEFAULT_STYLE_LAYERS,
                   help="comma-separated encoder taps")
    m.add_argument("--content-weight", type=float, default=None, help="alpha (default per method)")
    m.add_argument("--style-weight", type=float, default=None, help="beta (default per method)")
    m.add_argument("--tv-weight", type=float, default=None)
    m.add_argument("--lap-weight", type=float, default=None, help="Laplacian loss weight (lapstyle)")
    m.add_argument("--lap-pool", type=int, default=4, help="average pooling before the Laplacian")
    m.add_argument("--content-loss", choices=opt.CONTENT_LOSSES, default="mse",
                   help="feature MSE, or LPIPS as a perceptual content loss")
    m.add_argument("--preserve-color", nargs="?", const="luminance", default="none",
                   choices=("none", "luminance", "histogram"),
                   help="keep the content's colours: luminance-only transfer, or histogram matching")
    m.add_argument("--scales", type=int, default=1, help="coarse-to-fine pyramid levels")
    m.add_argument("--seed", type=int, default=0)

    f = p.add_argument_group("feed-forward methods (--method adain)")
    f.add_argument("--checkpoint", default=None,
                   help="training workdir or checkpoint, or the official decoder.pth (vgg_normalised.pth beside it)")
    f.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off: 0 content, 1 full style")
    f.add_argument("--style-weights", type=_csv, default=None,
                   help="mix ALL styles with these weights (one output per content), e.g. 0.7,0.3")
    f.add_argument("--mask", nargs="+", default=None,
                   help="one mask image per style: style k is applied where mask k is white")

    e = p.add_argument_group("encoder")
    e.add_argument("--encoder", choices=("vgg16", "vgg19"), default="vgg16")
    e.add_argument("--weights", default=None, help="encoder weights file (default: embedded/imported)")
    e.add_argument("--pool", choices=("max", "avg"), default="max")
    e.add_argument("--remat", action="store_true",
                   help="gradient checkpointing around encoder blocks (large images, less memory)")

    d = p.add_argument_group("multi-host (jax.distributed)")
    d.add_argument("--coordinator", default=None, help="host:port of process 0")
    d.add_argument("--num-processes", type=int, default=None)
    d.add_argument("--process-id", type=int, default=None)
    p.set_defaults(func=run)


def _output_plan(output: str, n_pairs: int) -> tuple[Path, Path | None]:
    """(directory, single output file or None). A path with an image suffix is a file."""
    from jaxstyle.io import IMAGE_EXTENSIONS

    path = Path(output)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        if n_pairs != 1:
            raise InputError(f"--output {output} is a single file but there are {n_pairs} pairs; give a folder")
        return path.parent, path
    if path.exists() and not path.is_dir():
        raise InputError(f"--output {output} exists and is not a folder")
    return path, None


def _stem(path: Path) -> str:
    return path.stem.replace(" ", "_")


def run(args: argparse.Namespace) -> int:
    if args.remat:  # before anything starts a JAX backend
        from jaxstyle.models.vgg import keep_remat_on_cpu

        keep_remat_on_cpu()
    import jax
    import numpy as np

    from jaxstyle import optimize as opt
    from jaxstyle.io import make_grid, save_image
    from jaxstyle.models.vgg import check_layers
    from jaxstyle.weights.encoders import load_encoder

    if args.method == "adain":
        return run_feedforward(args)
    # ---- validate everything before any heavy work, so bad input writes nothing
    cfg = opt.StylizeConfig(
        method=args.method, size=args.size, steps=args.steps, optimizer=args.optimizer, lr=args.lr,
        init=args.init, line_search=args.line_search, content_layers=tuple(args.content_layers), style_layers=tuple(args.style_layers),
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        lap_weight=args.lap_weight, lap_pool=args.lap_pool, content_loss=args.content_loss,
        scales=args.scales, preserve_color=args.preserve_color, seed=args.seed, remat=args.remat,
    )
    if args.save_every < 0 or args.checkpoint_every <= 0:
        raise InputError("--save-every must be >= 0 and --checkpoint-every positive")
    check_layers(args.encoder, cfg.content_layers + cfg.style_layers)
    contents, styles, content_names, style_names = _load_inputs(args)
    pairs = opt.make_pairs(contents, styles, args.pairs, content_names, style_names)
    out_dir, out_file = _output_plan(args.output, len(pairs))
    if args.coordinator:  # before anything touches a JAX backend
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    encoder = load_encoder(args.encoder, args.weights, pooling=args.pool, remat=args.remat)

    # ---- run
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps * cfg.scales, desc=f"{cfg.method} x{len(pairs)}", unit="step", dynamic_ncols=True,
               disable=jax.process_index() != 0)
    t0 = time.perf_counter()

    def on_plan(total_steps: int) -> None:  # one program per (scale, image shape)
        bar.total = total_steps
        bar.refresh()

    def progress(step: int, losses: dict[str, float]) -> None:
        bar.update(step - bar.n)
        rate = step / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()} | {"steps/s": f"{rate:.2f}"})

    def on_frame(step: int, indices: list[int], images: np.ndarray) -> None:
        for i, img in zip(indices, images, strict=True):
            save_image(out_dir / "frames" / f"{pairs[i].name}_{step:05d}.png", img)

    results = opt.stylize(
        contents, styles, cfg, encoder=encoder, pairs=pairs, progress=progress,
        save_every=args.save_every, on_frame=on_frame if args.save_every else None,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every, on_plan=on_plan,
    )
    bar.close()

    # ---- write (each process only the pairs it owns)
    written = []
    for pair, result in zip(pairs, results, strict=True):
        if result is None:
            continue
        target = out_file or out_dir / f"{pair.name}.png"
        written.append(save_image(target, result))
        if not args.no_sheet:
            sheet = make_grid([pair.content, pair.style, result], height=min(cfg.size, 512),
                              labels=["content", "style", "result"])
            save_image(target.with_name(f"{target.stem}_sheet.png"), sheet)
    elapsed = time.perf_counter() - t0
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} image(s) in {elapsed:.1f} s ({bar.total / elapsed:.2f} steps/s over {len(pairs)} pair(s))")
    return 0


def _load_inputs(args: argparse.Namespace):
    from jaxstyle.io import expand_image_paths, load_image

    content_paths = expand_image_paths(args.content)
    style_paths = expand_image_paths(args.style)
    return (
        [load_image(p) for p in content_paths],
        [load_image(p) for p in style_paths],
        [_stem(p) for p in content_paths],
        [_stem(p) for p in style_paths],
    )


def run_feedforward(args: argparse.Namespace) -> int:
    """``--method adain``: one decoder pass per pair, batched over pairs of equal shapes."""
    import numpy as np

    from jaxstyle.io import load_image, make_grid, resize, resize_long_side, save_image
    from jaxstyle.optimize import make_pairs

    if not args.checkpoint:
        raise InputError("--method adain needs --checkpoint (a training workdir or the official decoder.pth)")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.size <= 0:
        raise InputError(f"--size must be positive, got {args.size}")
    contents, styles, cnames, snames = _load_inputs(args)
    contents = [resize_long_side(c, args.size) for c in contents]
    styles = [resize_long_side(s, args.size) for s in styles]
    mix = args.style_weights is not None or args.mask is not None
    weights = None
    if args.style_weights is not None:
        try:
            weights = [float(w) for w in args.style_weights]
        except ValueError:
            raise InputError(f"--style-weights must be numbers, got {','.join(args.style_weights)}") from None
        if len(weights) != len(styles) or min(weights) < 0 or sum(weights) <= 0:
            raise InputError(f"--style-weights needs {len(styles)} non-negative weights with a positive sum")
    masks = None
    if args.mask is not None:
        if len(args.mask) != len(styles):
            raise InputError(f"--mask needs one mask per style: got {len(args.mask)} for {len(styles)} styles")
        masks = [load_image(m).mean(-1) for m in args.mask]
    n_outputs = len(contents) if mix else len(make_pairs(contents, styles, args.pairs))
    out_dir, out_file = _output_plan(args.output, n_outputs)

    from jaxstyle.methods.adain import load_stylizer

    stylizer = load_stylizer(args.checkpoint)
    preserve = args.preserve_color != "none"
    jobs = []  # (name, content, style images shown in the sheet, result)
    if mix:
        tag = "mix" if masks is None else "masked"
        for content, cname in zip(contents, cnames, strict=True):
            m = None if masks is None else np.stack([resize(mk[..., None], content.shape[:2])[..., 0] for mk in masks])
            out = stylizer.stylize(content[None], [s[None] for s in styles], alpha=args.alpha,
                                   style_weights=weights, masks=m, preserve_color=preserve)
            jobs.append((f"{cname}__{tag}", content, styles, np.asarray(out[0])))
    else:
        pairs = make_pairs(contents, styles, args.pairs, cnames, snames)
        buckets: dict[tuple, list[int]] = {}
        for i, p in enumerate(pairs):
            buckets.setdefault((p.content.shape, p.style.shape), []).append(i)
        results: dict[int, np.ndarray] = {}
        for members in buckets.values():
            c = np.stack([pairs[i].content for i in members])
            s = np.stack([pairs[i].style for i in members])
            out = np.asarray(stylizer.stylize(c, s, alpha=args.alpha, preserve_color=preserve))
            results.update({i: out[k] for k, i in enumerate(members)})
        jobs = [(p.name, p.content, [p.style], results[i]) for i, p in enumerate(pairs)]
    for name, content, shown_styles, result in jobs:
        target = out_file or out_dir / f"{name}.png"
        save_image(target, result)
        if not args.no_sheet:
            sheet = make_grid([content, *shown_styles, result], height=min(args.size, 512))
            save_image(target.with_name(f"{target.stem}_sheet.png"), sheet)
        print(f"wrote {target}")
    return 0
