"""``jaxstyle stylize``: stylize many (content, style) pairs with any registered method.

With no arguments it stylizes the bundled default pair with Gatys et al.'s optimization and
writes the result and a content | style | result sheet into ./outputs/. The flags of the chosen
method come from its declaration (``jaxstyle stylize --method NAME --help`` lists them); a flag
it does not declare is refused (exit 2), never ignored. This module names no method: it parses,
checks, calls :func:`jaxstyle.methods.load_stylizer` and the stylizer's one call, and writes
each result through the stylizer's :meth:`~jaxstyle.methods.base.stylizer.Stylizer.output_files`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from jaxstyle.errors import InputError
from jaxstyle.options import Option, add_options

DEFAULT_METHOD = "gatys"
DEFAULT_OUTPUT = "outputs/"

OUTPUTS = "inputs and outputs"
INPUT_OPTIONS = (
    Option("content", "path", None, "content images: files, globs, folders or sample:NAME (default: a bundled "
           "photo)", path="input", nargs="+", group=OUTPUTS),
    Option("style", "path", None, "style images: files, globs, folders or sample:NAME (default: a bundled "
           "painting)", path="input", nargs="+", group=OUTPUTS),
    Option("output", "path", DEFAULT_OUTPUT, "output folder, or an image file when there is exactly one output",
           path="new", group=OUTPUTS),
    Option("no_sheet", "bool", False, "do not write the side-by-side sheets", group=OUTPUTS),
)
PAIRS = Option("pairs", "str", "product", "every content with every style, or the i-th content with the i-th "
               "style", choices=("product", "zip"), group=OUTPUTS)
DISTRIBUTED = (
    Option("coordinator", "str", None, "multi-host: host:port of process 0", group="multi-host (jax.distributed)"),
    Option("num_processes", "int", None, "multi-host: number of processes", minimum=1, maximum=65536,
           group="multi-host (jax.distributed)"),
    Option("process_id", "int", None, "multi-host: this process' index", minimum=0, maximum=65535,
           group="multi-host (jax.distributed)"),
)


def method_list() -> str:
    """One line per registered method, for ``--help``."""
    from jaxstyle.methods import METHODS, get_method

    width = max(map(len, METHODS))
    return "\n".join(f"  {name:<{width}}  {get_method(name).summary}" for name in METHODS)


def chosen_method(argv: Sequence[str] | None, default: str | None) -> str | None:
    """The ``--method`` value in ``argv`` (``--method X`` or ``--method=X``), else ``default``."""
    argv = list(argv or ())
    for i, arg in enumerate(argv):
        if arg == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--method="):
            return arg.split("=", 1)[1]
    return default


def add_method_args(p: argparse.ArgumentParser, argv: Sequence[str] | None, default: str | None) -> None:
    """``--method`` and the flags the chosen method declares (its load options and controls).

    The method is read from ``argv`` before parsing, so ``--help`` and the parser show that
    method's flags only; flags of other methods are refused by :func:`refuse_unknown`.
    """
    from jaxstyle.methods import METHODS, get_method

    method = chosen_method(argv, default)
    add_options(p, (Option("method", "str", default, "the method", choices=tuple(METHODS), metavar="NAME",
                           required=default is None),))
    if method in METHODS:
        spec = get_method(method)
        add_options(p, spec.options + spec.controls, given_only=True)


def refuse_unknown(method: str, extras: Sequence[str]) -> None:
    """One line for flags the chosen method does not declare, naming the methods that do."""
    from jaxstyle.methods import METHODS, get_method

    flags = [a.split("=", 1)[0] for a in extras if a.startswith("--")]
    if not flags:
        raise InputError(f"unrecognized arguments: {' '.join(extras)}")
    owners = {f: [n for n in METHODS if any(o.cli_flag == f for o in get_method(n).options + get_method(n).controls)]
              for f in flags}
    hints = "; ".join(f"{f} is a flag of {', '.join(owners[f])}" for f in flags if owners[f])
    raise InputError(f"--method {method} does not take {', '.join(flags)}" + (f" ({hints})" if hints else ""))


def register(subparsers, argv: Sequence[str] | None = None) -> None:
    p = subparsers.add_parser(
        "stylize",
        help="stylize content images with style images (any method: gatys, adain, cin, ...)",
        description=f"{__doc__}\nmethods:\n{method_list()}\n\nflags shown: those of --method "
                    f"{chosen_method(argv, DEFAULT_METHOD)} (see --method NAME --help for another)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, (*INPUT_OPTIONS, PAIRS))
    add_method_args(p, argv, DEFAULT_METHOD)
    add_options(p, DISTRIBUTED)
    p.set_defaults(func=run, accepts_method_extras=True)


def split_method_args(args: argparse.Namespace) -> tuple[dict, dict]:
    """Given method flags -> (load options, controls), by the method's declaration."""
    from jaxstyle.methods import get_method

    spec = get_method(args.method)
    given = vars(args)
    options = {o.name: given[o.name] for o in spec.options if o.name in given}
    controls = {o.name: given[o.name] for o in spec.controls if o.name in given}
    return options, controls


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


def write_outputs(stylizer, jobs, out_dir: Path, out_file: Path | None, controls: dict,
                  sheet_height: int | None) -> list[Path]:
    """Save each ``(name, shown_inputs, result)`` as the stylizer's ``output_files`` say.

    Each file is written atomically and announced (``wrote PATH``) as soon as it lands, so when
    a later write fails (disk full) the lines above the error say what exists and nothing is
    half-written. With ``out_file`` the first file of the one job is written there. Returns the
    paths written.
    """
    from jaxstyle.io import save_image

    written = []
    for name, shown, result in jobs:
        if result is None:  # owned by another process
            continue
        files = stylizer.output_files(name, shown, result, controls, sheet_height)
        main = files[0][0]
        for stem, image in files:
            written.append(save_image(_target(stem, main, out_dir, out_file), image))
            print(f"wrote {written[-1]}", flush=True)
    return written


def _target(stem: str, main: str, out_dir: Path, out_file: Path | None) -> Path:
    """Where file ``stem`` goes: with a single ``out_file``, the main result there and the files
    named after it beside it (``o.png``, ``o_sheet.png``); otherwise ``out_dir/STEM.png``."""
    if out_file is not None and stem.startswith(main):
        return out_file if stem == main else out_file.with_name(f"{out_file.stem}{stem[len(main):]}.png")
    return out_dir / f"{stem}.png"


def run(args: argparse.Namespace) -> int:
    from jaxstyle.methods import check_options, get_method, load_stylizer
    from jaxstyle.pairs import make_pairs
    from jaxstyle.samples import DEFAULT_CONTENT, DEFAULT_STYLE

    spec = get_method(args.method)
    options, controls = split_method_args(args)
    check_options(spec, options.get("source"), {k: v for k, v in options.items() if k != "source"})
    if options.get("remat"):  # before anything starts a JAX backend
        from jaxstyle.models.vgg import keep_remat_on_cpu

        keep_remat_on_cpu()

    # ---- validate everything before any heavy work, so bad input writes nothing
    contents, cnames = load_images(args.content or [f"sample:{DEFAULT_CONTENT}"])
    if not spec.style_images and args.style is not None:
        raise InputError(f"--method {args.method} takes no --style (its style is built in or learned)")
    styles, snames = load_images(args.style or [f"sample:{DEFAULT_STYLE}"]) if spec.style_images else ([], [])
    mixing = any(k in controls for k in spec.mixing)
    if "masks" in controls:
        controls["masks"] = load_images(controls["masks"])[0]  # grey-scaled by the stylizer
    size = controls.setdefault("size", spec.option("size").default)
    if "scales" in options:  # against the --size given (the method's config has its default size)
        from jaxstyle.optimize.engine import check_scales

        check_scales(options["scales"], size)
    if not spec.style_images:  # one output per content, the style is a control
        names, inputs, style_entries = cnames, contents, None
        shown = [[c] for c in contents]
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
    if controls.get("save_every"):
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
    written = write_outputs(stylizer, zip(names, shown, results, strict=True), out_dir, out_file, controls,
                            None if args.no_sheet else min(size, 512))
    print(f"{len(written)} image(s) in {time.perf_counter() - t0:.1f} s ({len(names)} output(s) in all)")
    return 0


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
