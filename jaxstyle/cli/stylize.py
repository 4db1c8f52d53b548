"""``jaxstyle stylize``: stylize many (content, style) pairs with any registered method.

With no arguments it stylizes the bundled default pair with Gatys et al.'s optimization and
writes the result and a content | style | result sheet into ./outputs/. Everything here
parses, checks and calls :func:`jaxstyle.methods.load_stylizer` and the stylizer's one call;
a flag the chosen method does not use is refused (exit 2), never ignored.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jaxstyle.errors import InputError, flag
from jaxstyle.methods import METHODS
from jaxstyle.samples import DEFAULT_STYLE

DEFAULT_OUTPUT = "outputs/"
S = argparse.SUPPRESS  # method flags: present in args only when given, so unused ones can be refused

# Defaults of the CLI that differ from the Python API's: sized for a first run on a laptop
# CPU (a few minutes). On accelerators raise them (--size 1024 --steps 500).
DEFAULT_SIZE = 256
CLI_DEFAULTS = {"steps": 150}  # method options, applied where the method takes them

# Flags that are stylizer controls or hooks (checked against the loaded stylizer's declaration).
CONTROL_FLAGS = {"size", "preserve_color", "alpha", "style_weights", "masks", "cin_style",
                 "all_scales", "wct_swap5", "save_every", "checkpoint_dir", "checkpoint_every",
                 "tile", "tile_overlap"}

# Flags that are not method options or controls (inputs, outputs, multi-host).
_COMMON = {"content", "style", "stylized", "output", "pairs", "no_sheet", "method", "func", "command",
           "coordinator", "num_processes", "process_id"}


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _finite(value: str) -> float:
    """A finite float: NaN or Inf weights and rates would run to a black image with exit 0."""
    import math

    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return number


def _floats(value: str) -> tuple[float, ...]:
    try:
        return tuple(_finite(v) for v in _csv(value))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated finite numbers, got {value!r}") from None


def method_list() -> str:
    """One line per registered method, for ``--help``."""
    width = max(map(len, METHODS))
    return "\n".join(f"  {name:<{width}}  {entry.summary}" for name, entry in METHODS.items())


def add_input_args(p: argparse.ArgumentParser) -> None:
    """--content/--style/--output/--pairs, shared with ``restore``."""
    from jaxstyle.samples import DEFAULT_CONTENT, DEFAULT_STYLE

    io = p.add_argument_group("inputs and outputs")
    io.add_argument("--content", nargs="+", default=[f"sample:{DEFAULT_CONTENT}"],
                    help="content images: files, globs, folders or sample:NAME")
    io.add_argument("--style", nargs="+", default=None,
                    help=f"style images: files, globs, folders or sample:NAME (default sample:{DEFAULT_STYLE})")
    io.add_argument("--output", default=DEFAULT_OUTPUT,
                    help="output folder, or an image file when there is exactly one output")
    io.add_argument("--no-sheet", action="store_true", help="do not write the side-by-side sheets")


def add_model_args(p: argparse.ArgumentParser, default_method: str | None) -> None:
    """--method, --checkpoint and the official-file options of trained methods."""
    m = p.add_argument_group("method (see the list above)")
    m.add_argument("--method", choices=list(METHODS), default=default_method, required=default_method is None)
    m.add_argument("--checkpoint", nargs="+", default=S, metavar="PATH",
                   help="trained methods: a training workdir or checkpoint; or the official files "
                   "(AdaIN decoder.pth; RAST TRANSFORMER.pth DECODER.pth; Johnson candy.pth & co.)")
    m.add_argument("--vgg", default=S, help="official vgg_normalised.pth for official AdaIN/RAST files")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stylize",
        help="stylize content images with style images (any method: gatys, adain, rast, ...)",
        description=f"{__doc__}\nmethods:\n{method_list()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_args(p)
    p.add_argument_group("inputs and outputs").add_argument(
        "--pairs", choices=("product", "zip"), default="product",
        help="every content with every style, or the i-th content with the i-th style")
    add_model_args(p, "gatys")

    c = p.add_argument_group("controls")
    c.add_argument("--size", type=int, default=S,
                   help=f"long side of the output in px (default {DEFAULT_SIZE}; 512 for cin, ghiasi)")
    c.add_argument("--preserve-color", nargs="?", const="luminance", default=S,
                   choices=("none", "luminance", "histogram"),
                   help="keep the content's colours: luminance-only transfer, or histogram matching")
    c.add_argument("--alpha", type=_finite, default=S, help="content-style trade-off: 0 content, 1 full style")
    c.add_argument("--style-weights", type=_floats, default=S,
                   help="mix ALL styles with these weights (one output per content), e.g. 0.7,0.3")
    c.add_argument("--mask", dest="masks", nargs="+", default=S,
                   help="one mask image per style: style k is applied where mask k is white")
    c.add_argument("--cin-style", default=S, metavar="SPEC",
                   help="cin: built-in style 0-25, a blend like 3:0.5,12:0.5, or 'all' for a contact "
                   "sheet of the 26 (default 0)")
    c.add_argument("--all-scales", action="store_true", default=S,
                   help="multimodal: also write each subnet's output (NAME_256.png, NAME_512.png at --size 1024)")
    c.add_argument("--wct-swap5", action="store_true", default=S,
                   help="wct: at relu5_1, style swap (3x3, stride 1) between the whitened content and style, then colour")

    o = p.add_argument_group("optimization methods (gatys, lapstyle, styleswap, strotss, dst)")
    o.add_argument("--steps", type=int, default=S, help=f"optimizer steps per scale (default {CLI_DEFAULTS['steps']})")
    o.add_argument("--optimizer", choices=("lbfgs", "adam", "sgd"), default=S, help="default lbfgs")
    o.add_argument("--lr", type=_finite, default=S, help="learning rate (default: 1 lbfgs, 0.02 adam, 0.2 sgd)")
    o.add_argument("--line-search", action="store_true", default=S,
                   help="L-BFGS with a zoom (strong Wolfe) line search: safer steps, ~3x the evaluations")
    o.add_argument("--init", choices=("content", "noise", "style"), default=S, help="default content")
    o.add_argument("--content-layers", type=_csv, default=S, help="comma-separated encoder taps (default relu4_2; per network)")
    o.add_argument("--style-layers", type=_csv, default=S, help="comma-separated encoder taps (default relu1_1..relu5_1; per network)")
    o.add_argument("--content-weight", type=_finite, default=S, help="alpha (default per method)")
    o.add_argument("--style-weight", type=_finite, default=S, help="beta (default per method)")
    o.add_argument("--tv-weight", type=_finite, default=S)
    o.add_argument("--lap-weight", type=_finite, default=S, help="Laplacian loss weight (lapstyle)")
    o.add_argument("--lap-pool", type=int, default=S, help="average pooling before the Laplacian (default 4)")
    o.add_argument("--content-loss", choices=("mse", "lpips"), default=S,
                   help="feature MSE (default), or LPIPS as a perceptual content loss")
    o.add_argument("--scales", type=int, default=S, help="coarse-to-fine pyramid levels (default 1)")
    o.add_argument("--seed", type=int, default=S)
    o.add_argument("--encoder", default=S,
                   help="vgg16 (default), alexnet, or an imported vgg19, vgg16_bn, vgg19_bn, resnet50, densenet121, "
                   "efficientnet_b0 (`jaxstyle weights list`); layers default to each network's own")
    o.add_argument("--weights", default=S, help="encoder weights file (default: embedded/imported)")
    o.add_argument("--pool", choices=("max", "avg"), default=S, help="default max")
    o.add_argument("--remat", action="store_true", default=S,
                   help="gradient checkpointing around encoder blocks (large images, less memory)")
    o.add_argument("--spatial-shards", type=int, default=S, metavar="N",
                   help="split each image's optimization along its height over N devices (one large "
                   "image beyond one device's memory; N divides the device count and every image height)")
    o.add_argument("--tile", type=int, default=S, metavar="SIZE",
                   help="optimize the scales larger than SIZE px in overlapping SIZE x SIZE tiles at random "
                   "offsets (images too large for memory; gatys, lapstyle; Adam unless --optimizer sgd)")
    o.add_argument("--tile-overlap", type=int, default=S, metavar="PX",
                   help="px by which neighbouring tiles overlap (default SIZE/4)")
    o.add_argument("--save-every", type=int, default=S, metavar="N",
                   help="also write intermediate frames every N steps (into OUTPUT/frames/)")
    o.add_argument("--checkpoint-dir", default=S,
                   help="save optimizer state here every --checkpoint-every steps; re-running resumes")
    o.add_argument("--checkpoint-every", type=int, default=S, metavar="N", help="default 50")

    t = p.add_argument_group("STROTSS and deformable style transfer (strotss, dst)")
    t.add_argument("--dst-loss", choices=("strotss", "gatys"), default=S,
                   help="dst: the content/style losses (default strotss, the official; gatys: Gram + feature MSE)")
    t.add_argument("--points", default=S, metavar="FILE",
                   help="dst: keypoints JSON {content: [[x,y],...], style: [[x,y],...]} for the one pair "
                   "(default: found by Neural Best-Buddies)")
    t.add_argument("--warp-weight", type=_finite, default=S, help="dst: beta, keypoints to targets (default 0.5)")
    t.add_argument("--reg-weight", type=_finite, default=S, help="dst: gamma, TV of the warp field (default 50)")
    t.add_argument("--warp-lr", type=_finite, default=S,
                   help="dst: learning rate of the keypoint displacements (px per Adam step; default 0.1 "
                   "with --dst-loss gatys, none with strotss: one SGD rate for all)")
    t.add_argument("--samples", type=int, default=S, help="locations sampled per step (default 2048)")
    t.add_argument("--style-samples", type=int, default=S, help="style hypercolumns per scale (default 5000)")
    t.add_argument("--pyramid-levels", type=int, default=S, help="Laplacian pyramid levels of the image (default 5)")

    w = p.add_argument_group("style swap (styleswap)")
    w.add_argument("--swap-layer", default=S, help="encoder tap whose patches are swapped (default relu3_1)")
    w.add_argument("--patch-size", type=int, default=S, help="swap patch size in feature pixels (default 3)")
    w.add_argument("--swap-stride", type=int, default=S, help="stride between swap patches (default 1)")
    w.add_argument("--refine-steps", type=int, default=S, metavar="N",
                   help="with --checkpoint (inverse network): N optimization steps from its output (default 0)")

    add_distributed_args(p)
    p.set_defaults(func=run)


def add_distributed_args(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("multi-host (jax.distributed)")
    d.add_argument("--coordinator", default=None, help="host:port of process 0")
    d.add_argument("--num-processes", type=int, default=None)
    d.add_argument("--process-id", type=int, default=None)


def split_method_args(args: argparse.Namespace) -> tuple[dict, dict]:
    """Given method flags -> (load options, controls).

    A flag that is neither an option of the method's loader nor a stylizer control is refused
    here, before anything loads; controls are checked against the loaded stylizer
    (``Stylizer.check_controls``). CLI defaults (:data:`CLI_DEFAULTS`) fill in options the method
    takes and the user left out.
    """
    from jaxstyle.methods import load_options

    given = {k: v for k, v in vars(args).items() if k not in _COMMON}
    if "checkpoint" in given:
        paths = given.pop("checkpoint")
        given["source"] = paths[0] if len(paths) == 1 else paths
    options_taken = (*load_options(args.method), "source")
    options = {k: v for k, v in given.items() if k in options_taken}
    rest = {k: v for k, v in given.items() if k not in options_taken}
    unused = [flag(k) for k in rest if k not in CONTROL_FLAGS]
    if unused:
        raise InputError(f"--method {args.method} does not use {', '.join(unused)}")
    if "tile" in rest and "optimizer" in options_taken and "optimizer" not in options:
        options["optimizer"] = "adam"  # the default L-BFGS cannot be tiled (random offsets change the objective)
    for key, value in CLI_DEFAULTS.items():  # for optimization runs, not trained models
        if key in options_taken and key not in options and "source" not in options:
            options[key] = value
    return options, rest


def output_plan(output: str, n_outputs: int) -> tuple[Path, Path | None]:
    """(directory, single output file or None), checked writable before any computation.

    A path with a suffix is an image file, which must be one we can write (``.png``,
    ``.jpg``, ...); a folder whose name has a dot is given with a trailing ``/``. The check
    writes nothing (:func:`jaxstyle.files.check_can_write` probes the nearest existing folder).
    """
    import os

    from jaxstyle.files import check_can_write
    from jaxstyle.io import SAVE_FORMATS

    path = Path(output)
    as_folder = output.endswith(("/", os.sep)) or path.is_dir() or not path.suffix
    if not as_folder and path.suffix.lower() not in SAVE_FORMATS:
        raise InputError(f"--output {output}: cannot write {path.suffix!r} images (use one of "
                         f"{', '.join(SAVE_FORMATS)}; a folder name with a dot ends with /)")
    if not as_folder and n_outputs != 1:
        raise InputError(f"--output {output} is a single file but there are {n_outputs} pairs; give a folder")
    if path.exists() and as_folder and not path.is_dir():
        raise InputError(f"--output {output} exists and is not a folder")
    probe = path / "probe.png" if as_folder else path
    try:
        check_can_write(probe)
    except OSError as e:
        raise InputError(f"--output {output}: cannot write there ({e.strerror or e})") from None
    return (path, None) if as_folder else (path.parent, path)


def load_images(specs: list[str]) -> tuple[list, list[str]]:
    """Images of files/globs/folders/sample:NAME specs and their names (file stems)."""
    from jaxstyle.io import expand_image_paths, load_image

    paths = expand_image_paths(specs)
    return [load_image(p) for p in paths], [p.stem.replace(" ", "_") for p in paths]


def write_results(jobs, out_dir: Path, out_file: Path | None, sheet_height: int | None,
                  report=None, side_names: tuple[str, ...] = ()) -> list[Path]:
    """Save each ``(name, shown_inputs, result)``; with ``sheet_height``, also inputs | result sheets.

    Side outputs (a result ``(final, *side)``) are ``NAME_<side_names[k]>.png``, or
    ``NAME_<long side>.png`` without names (the stylizer's ``side_outputs``). Each file is
    written atomically and ``report(path)`` is called as soon as it is: when a later write fails (disk full), what was written has been reported and nothing is
    half-written. Returns the result images written (sheets are reported, not returned).
    """
    from jaxstyle.io import make_grid, save_image

    report = report or (lambda path: None)
    written = []
    for name, shown, result in jobs:
        if result is None:  # owned by another process
            continue
        target = out_file or out_dir / f"{name}.png"
        if isinstance(result, tuple):  # (final, *side outputs), e.g. multimodal --all-scales
            result, *side = result
            for k, img in enumerate(side):
                tag = side_names[k] if k < len(side_names) else max(img.shape[:2])
                written.append(save_image(target.with_name(f"{target.stem}_{tag}.png"), img))
                report(written[-1])
        written.append(save_image(target, result))
        report(written[-1])
        if sheet_height:
            sheet = make_grid([*shown, result], height=sheet_height)
            report(save_image(target.with_name(f"{target.stem}_sheet.png"), sheet))
    return written


def run(args: argparse.Namespace) -> int:
    if getattr(args, "remat", False):  # before anything starts a JAX backend
        from jaxstyle.models.vgg import keep_remat_on_cpu

        keep_remat_on_cpu()
    from jaxstyle.methods import load_stylizer
    from jaxstyle.pairs import make_pairs

    # ---- validate everything before any heavy work, so bad input writes nothing
    options, controls = split_method_args(args)
    contents, cnames = load_images(args.content)
    built_in = not _stylizer_attr(args.method, "style_images", True)
    if built_in and args.style is not None:
        pick = "; pick one with --cin-style" if "cin_style" in _stylizer_attr(args.method, "controls", ()) else ""
        raise InputError(f"--method {args.method} takes no --style (its style is built in{pick})")
    styles, snames = load_images(args.style or [f"sample:{DEFAULT_STYLE}"]) if not built_in else ([], [])
    mixing = "style_weights" in controls or "masks" in controls
    if "masks" in controls:
        controls["masks"] = load_images(controls["masks"])[0]  # grey-scaled by the stylizer
    size = controls.setdefault("size", _stylizer_attr(args.method, "default_size", None) or DEFAULT_SIZE)
    from jaxstyle.io import check_long_side

    check_long_side(size)  # before any loading: the stylizer checks it again for API callers
    if "scales" in options:  # against the --size given (the method's config has its default size)
        from jaxstyle.optimize.engine import check_scales

        check_scales(options["scales"], size)
    contact_sheet = controls.get("cin_style") == "all"
    if built_in:  # one output per content (x26 for 'all'), the style is a control
        specs = list(range(26)) if contact_sheet else [controls.get("cin_style", 0)]
        names = [f"{c}__{_style_tag(args.method, s)}" for c in cnames for s in specs]
        inputs, style_entries = [c for c in contents for _ in specs], None
        shown = [[c] for c in inputs]
        if contact_sheet:
            controls["cin_style"] = specs * len(contents)
    elif mixing:  # one output per content, every style mixed in
        tag = "masked" if "masks" in controls else "mix"
        names = [f"{c}__{tag}" for c in cnames]
        inputs, style_entries, shown = contents, [tuple(styles)] * len(contents), [[c, *styles] for c in contents]
    else:
        pairs = make_pairs(contents, styles, args.pairs, cnames, snames)
        names = [p.name for p in pairs]
        inputs, style_entries, shown = [p.content for p in pairs], [p.style for p in pairs], [[p.content, p.style] for p in pairs]
    out_dir, out_file = output_plan(args.output, len(names))
    from jaxstyle.sharding import initialize_distributed

    if initialize_distributed(args.coordinator, args.num_processes, args.process_id):  # before any backend
        from jaxstyle.watchdog import watch_peers

        watch_peers()  # another process dying ends this one with one line (jaxstyle.watchdog)
    stylizer = load_stylizer(args.method, **options)
    stylizer.check_controls(controls, len(styles) if mixing else 1)

    # ---- run
    bar, hooks = _progress(args.method, stylizer.hooks, len(names))
    if "save_every" in controls:
        from jaxstyle.io import save_image

        def on_frame(step, indices, images):
            for i, img in zip(indices, images, strict=True):
                save_image(out_dir / "frames" / f"{names[i]}_{step:05d}.png", img)

        hooks["on_frame"] = on_frame
    t0 = time.perf_counter()
    try:
        results = stylizer.stylize(inputs, style_entries, **controls, **hooks)
    finally:
        bar.close()
    # Each `wrote` line is printed as its file lands, so a failing write (disk full) leaves
    # an honest account of what exists above the error line.
    written = write_results(zip(names, shown, results, strict=True), out_dir, out_file,
                            None if args.no_sheet or contact_sheet else min(size, 512),
                            report=lambda path: print(f"wrote {path}", flush=True),
                            side_names=getattr(stylizer, "side_outputs", ()))
    if contact_sheet:
        sheets = _contact_sheets(contents, cnames, results, out_dir, min(size, 256))
        for path in sheets:
            print(f"wrote {path}")
        written += sheets
    elapsed = time.perf_counter() - t0
    print(f"{len(written)} image(s) in {elapsed:.1f} s ({len(names)} output(s) in all)")
    return 0


def _style_tag(method: str, spec) -> str:
    """Output name part for a built-in style: ``cin3``, ``cin3-0.5_12-0.5``; else the method."""
    if "cin_style" not in _stylizer_attr(method, "controls", ()):
        return method
    return f"cin{str(spec).replace(':', '-').replace(',', '_')}"


def _stylizer_attr(method: str, name: str, default):
    """A class attribute of a method's ``Stylizer`` (``style_images``, ``default_size``), read
    before anything loads; ``default`` for methods without one."""
    from jaxstyle.methods import method_module

    return getattr(getattr(method_module(method), "Stylizer", None), name, default)


def _contact_sheets(contents, cnames, results, out_dir: Path, height: int) -> list[Path]:
    """Per content, a sheet of the content and its 26 built-in styles, labelled by index."""
    from jaxstyle.io import make_grid_rows, save_image

    written = []
    for k, (content, name) in enumerate(zip(contents, cnames, strict=True)):
        images = [content, *results[26 * k : 26 * (k + 1)]]
        if any(r is None for r in images):  # owned by another process
            continue
        labels = ["content", *map(str, range(26))]
        rows = [images[i : i + 9] for i in range(0, 27, 9)]
        row_labels = [labels[i : i + 9] for i in range(0, 27, 9)]
        written.append(save_image(out_dir / f"{name}__cin_all.png",
                                  make_grid_rows(rows, height=height, labels=row_labels)))
    return written


def _progress(method: str, hooks: tuple[str, ...], n_outputs: int):
    """A tqdm bar (process 0 only) and the progress hooks the stylizer takes."""
    import jax
    from tqdm import tqdm

    bar = tqdm(total=n_outputs, desc=f"{method} x{n_outputs}", unit="pair", dynamic_ncols=True,
               disable=jax.process_index() != 0)
    t0 = time.perf_counter()
    out = {}
    if "on_plan" in hooks:  # optimization: the bar counts optimizer steps across programs

        def on_plan(total_steps: int) -> None:
            bar.unit, bar.total = "step", total_steps
            bar.refresh()

        out["on_plan"] = on_plan
    if "progress" in hooks:

        def progress(done: int, losses: dict[str, float]) -> None:
            bar.update(done - bar.n)
            rate = done / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()} | {f"{bar.unit}s/s": f"{rate:.2f}"})

        out["progress"] = progress
    return bar, out
