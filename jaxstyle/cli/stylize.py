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
    m.add_argument("--method", choices=opt.METHODS, default="gatys")
    m.add_argument("--size", type=int, default=512, help="long side of the output in px")
    m.add_argument("--steps", type=int, default=300, help="optimizer steps (per scale)")
    m.add_argument("--optimizer", choices=opt.OPTIMIZERS, default="lbfgs")
    m.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: line search for lbfgs, 0.02 adam, 0.2 sgd)")
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
    import jax
    import numpy as np

    from jaxstyle import optimize as opt
    from jaxstyle.io import expand_image_paths, load_image, make_grid, save_image
    from jaxstyle.models.encoder import load_encoder
    from jaxstyle.models.vgg import check_layers

    # ---- validate everything before any heavy work, so bad input writes nothing
    cfg = opt.StylizeConfig(
        method=args.method, size=args.size, steps=args.steps, optimizer=args.optimizer, lr=args.lr,
        init=args.init, content_layers=tuple(args.content_layers), style_layers=tuple(args.style_layers),
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        lap_weight=args.lap_weight, lap_pool=args.lap_pool, content_loss=args.content_loss,
        scales=args.scales, preserve_color=args.preserve_color, seed=args.seed, remat=args.remat,
    )
    if args.save_every < 0 or args.checkpoint_every <= 0:
        raise InputError("--save-every must be >= 0 and --checkpoint-every positive")
    check_layers(args.encoder, cfg.content_layers + cfg.style_layers)
    content_paths = expand_image_paths(args.content)
    style_paths = expand_image_paths(args.style)
    contents = [load_image(p) for p in content_paths]
    styles = [load_image(p) for p in style_paths]
    pairs = opt.make_pairs(
        contents, styles, args.pairs, [_stem(p) for p in content_paths], [_stem(p) for p in style_paths]
    )
    out_dir, out_file = _output_plan(args.output, len(pairs))
    if args.coordinator:  # before anything touches a JAX backend
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    encoder = load_encoder(args.encoder, args.weights, pooling=args.pool, remat=args.remat)

    # ---- run
    from tqdm import tqdm

    total = cfg.steps * cfg.scales
    bar = tqdm(total=total, desc=f"{cfg.method} x{len(pairs)}", unit="step", dynamic_ncols=True,
               disable=jax.process_index() != 0)
    t0 = time.perf_counter()

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
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
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
    print(f"{len(written)} image(s) in {elapsed:.1f} s ({total / elapsed:.2f} steps/s for {len(pairs)} pair(s))")
    return 0
