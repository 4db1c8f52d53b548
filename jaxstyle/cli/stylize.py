"""``jaxstyle stylize``: stylize many (content, style) pairs with any registered method.

With no arguments it stylizes the bundled default pair with Gatys et al.'s optimization and
writes the result and a content | style | result sheet into ./outputs/. The flags of the chosen
method come from its declaration (``jaxstyle stylize --method NAME --help`` lists them); a flag
it does not declare is refused (exit 2), never ignored. Inputs are streamed as a collection
(folders, globs, @list.txt, tfds:NAME): each result is written as its batch finishes, and a
re-run resumes the job (docs/collections.md). This module names no method: it parses, checks,
loads the stylizer (:func:`jaxstyle.methods.load_stylizer`) and runs the job
(:func:`jaxstyle.collection.job.run_job`), which writes each result through the stylizer's
:meth:`~jaxstyle.methods.base.stylizer.Stylizer.output_files`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from jaxstyle.errors import InputError
from jaxstyle.options import Option, add_options

DEFAULT_METHOD = "gatys"
DEFAULT_OUTPUT = "outputs/"

OUTPUTS = "inputs and outputs"
_SOURCES = ("files, folders, globs, @list.txt (a file of such paths, one a line), tfds:NAME[:SPLIT] (a prepared "
            "TFDS dataset) or sample:NAME; an image given twice, or two images of one name, is refused")
INPUT_OPTIONS = (
    Option("content", "path", None, f"content images: {_SOURCES} (default: a bundled photo)", path="input",
           nargs="+", group=OUTPUTS),
    Option("style", "path", None, f"style images: {_SOURCES} (default: a bundled painting)", path="input",
           nargs="+", group=OUTPUTS),
    Option("output", "path", DEFAULT_OUTPUT, "output folder, or an image file when there is exactly one output",
           path="new", group=OUTPUTS),
    Option("no_sheet", "bool", False, "do not write the side-by-side sheets", group=OUTPUTS),
)
PAIRS = Option("pairs", "str", "product", "every content with every style, or the i-th content with the i-th "
               "style", choices=("product", "zip"), group=OUTPUTS)
COLLECTION = "collections (docs/collections.md)"
COLLECTION_OPTIONS = (
    Option("shape_buckets", "str", "4", "canvas shapes per size: each image's short side goes up to a multiple of "
           "1/N of its long side (at most 2N-1 shapes, so many shapes compile a few programs); 'exact': each "
           "shape its own", metavar="N|exact", group=COLLECTION),
    Option("fit", "str", "pad", "how an image takes its canvas: pad (mirrored, masked out of the losses, "
           "cropped back) or resize (stretched, and back)", choices=("pad", "resize"), group=COLLECTION),
    Option("batch", "int", None, "pairs per device per program (default: the method's; optimization: checked "
           "against free memory)", minimum=1, maximum=65536, metavar="N", group=COLLECTION),
    Option("overwrite", "bool", False, "redo an --output folder whose manifest has other settings (else refused)",
           group=COLLECTION),
)
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
    add_options(p, (*INPUT_OPTIONS, PAIRS, *COLLECTION_OPTIONS))
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


def shape_buckets(text: str) -> int | None:
    """``--shape-buckets``: a positive count, or None for ``exact``."""
    if text == "exact":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or value > 4096:
        raise InputError(f"--shape-buckets must be a count in 1..4096 or 'exact', got {text!r}")
    return value


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
    from jaxstyle.collection.job import target_path
    from jaxstyle.io import save_image

    written = []
    for name, shown, result in jobs:
        if result is None:  # owned by another process
            continue
        files = stylizer.output_files(name, shown, result, controls, sheet_height)
        main = files[0][0]
        for stem, image in files:
            written.append(save_image(target_path(stem, main, out_dir, out_file), image))
            print(f"wrote {written[-1]}", flush=True)
    return written


def output_plan(output: str, n_outputs: int) -> tuple[Path, Path | None]:
    """See :func:`jaxstyle.collection.job.output_plan` (kept here for the other commands)."""
    from jaxstyle.collection.job import output_plan as plan

    return plan(output, n_outputs)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.collection.job import plan_job, run_job
    from jaxstyle.methods import check_options, get_method, load_stylizer
    from jaxstyle.samples import DEFAULT_CONTENT, DEFAULT_STYLE

    spec = get_method(args.method)
    options, controls = split_method_args(args)
    check_options(spec, options.get("source"), {k: v for k, v in options.items() if k != "source"})
    if options.get("remat"):  # before anything starts a JAX backend
        from jaxstyle.models.vgg import keep_remat_on_cpu

        keep_remat_on_cpu()

    # ---- validate everything before any heavy work, so bad input writes nothing
    if not spec.style_images and args.style is not None:
        raise InputError(f"--method {args.method} takes no --style (its style is built in or learned)")
    if "masks" in controls:
        controls["masks"] = load_images(controls["masks"])[0]  # grey-scaled by the stylizer
    size = controls.setdefault("size", spec.option("size").default)
    if "scales" in options:  # against the --size given (the method's config has its default size)
        from jaxstyle.optimize.engine import check_scales, check_schedule

        check_scales(options["scales"], size)
        if spec.option("schedule") is not None:  # a schedule with its own levels takes no --scales
            check_schedule(options.get("schedule", spec.option("schedule").default), options["scales"])
    plan = plan_job(args.method, args.content or [f"sample:{DEFAULT_CONTENT}"],
                    (args.style or [f"sample:{DEFAULT_STYLE}"]) if spec.style_images else None, args.output,
                    options=options, pairs=args.pairs, shape_buckets=shape_buckets(args.shape_buckets), fit=args.fit,
                    overwrite=args.overwrite, **controls)
    from jaxstyle.sharding import initialize_distributed

    if initialize_distributed(args.coordinator, args.num_processes, args.process_id):  # before any backend
        from jaxstyle.watchdog import watch_peers

        watch_peers()  # another process dying ends this one with one line (jaxstyle.watchdog)
    stylizer = load_stylizer(args.method, **options)

    # ---- run: each result written as its batch finishes
    run_job(stylizer, plan, batch=args.batch, sheet_height=None if args.no_sheet else min(size, 512))
    return 0
