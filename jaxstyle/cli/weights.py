"""``jaxstyle weights``: list, import, verify and download encoder weights.

A thin layer over :mod:`jaxstyle.weights` (registry, importers, download): every action
is a library call, and every failure is a :class:`~jaxstyle.errors.WeightsError` that the
top-level CLI prints as one ``error: ...`` line with exit code 2. The library is imported
inside the actions: :mod:`jaxstyle.weights` loads JAX, which ``jaxstyle --help`` must not.
"""

from __future__ import annotations

import argparse
import sys

from jaxstyle.errors import WeightsError
from jaxstyle.methods.base.declaration import ENCODER
from jaxstyle.options import Option, add_options

IMPORT = (
    Option("file", "path", None, "one VGG weights file, or the .onnx file(s) of a pretrained network",
           path="file", nargs="+", positional=True, required=True, metavar="FILE"),
    Option("name", "str", None, "cache name (default from the conventions: vgg19, vgg19_normalised, "
           "vgg19_caffe, ...)"),
    Option("arch", "str", None, "insist on this architecture", choices=ENCODER.choices),
)
VERIFY = (Option("file", "str", None, "a weights file, a cache name, cin26 or ghiasi (default: the embedded "
                 "VGG16)", positional=True, nargs="?", metavar="FILE"),)
DOWNLOAD = (
    Option("name", "str", None, "vgg16 or vgg19", choices=("vgg16", "vgg19"), positional=True, required=True,
           metavar="NAME"),
    Option("timeout", "float", 10.0, "seconds per network step", exclusive_minimum=0.0, maximum=3600.0),
)


def register(subparsers: argparse._SubParsersAction, argv=None) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list, import, verify or download encoder weights",
        description="Manage VGG encoder weights (the cache is $JAXSTYLE_CACHE/weights).",
    )
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("list", help="known weights, whether they are available, and where")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "import",
        help="convert a torchvision .pth/.safetensors (VGG, VGG-BN, AlexNet, ResNet-50, DenseNet-121, "
        "EfficientNet-B0), vgg_normalised.pth, Keras .h5, or FID's/ArtFID's Inception file",
        description="Detect the format from the file's content, validate every tensor, convert "
        "and write it atomically into the cache.",
    )
    add_options(p, IMPORT)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "verify",
        help="check the embedded VGG16 (default) or FILE / a cache name / cin26 / ghiasi",
        description="Load, check all shapes and run a forward pass on a fixed synthetic image.",
    )
    add_options(p, VERIFY)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "download",
        help="fetch torchvision's official weights (checksum-verified) and import them",
    )
    add_options(p, DOWNLOAD)
    p.set_defaults(func=cmd_download)


def cmd_list(args: argparse.Namespace) -> int:
    from jaxstyle.weights.registry import list_weights
    from jaxstyle.weights.store import cache_dir

    rows = [("NAME", "STATUS", "ARCH", "INPUT", "PADDING", "PATH", "SOURCE")]
    for e in list_weights():
        rows.append(
            (
                e.name,
                e.status,
                e.arch,
                e.normalization or "-",
                e.padding or "-",
                str(e.path),
                e.source,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    print(f"\ncache: {cache_dir()}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from jaxstyle.weights.importers import (
        FORMAT_LABELS,
        default_name,
        detect_format,
        import_weights,
    )
    from jaxstyle.weights.registry import check_import_name, imported_path
    from jaxstyle.weights.store import save_vgg_weights

    if args.file[0].lower().endswith(".onnx"):
        return _import_pretrained(args)
    if len(args.file) != 1:
        raise WeightsError("give one VGG weights file (several files only for .onnx networks)")
    args.file = args.file[0]
    from jaxstyle.weights.inception_import import is_inception_file

    if is_inception_file(args.file):
        return _import_inception(args)
    if args.name:
        check_import_name(args.name)  # before reading a possibly large file
    fmt = detect_format(args.file)
    weights = import_weights(args.file, arch=args.arch)
    name = args.name or default_name(weights)
    check_import_name(name)
    path = save_vgg_weights(imported_path(name), weights)
    print(
        f"imported {args.file} ({FORMAT_LABELS[fmt]}): {weights.arch}, normalization "
        f"{weights.normalization}, padding {weights.padding}; {weights.source}"
    )
    print(f"wrote {path}")
    hint = "" if name == weights.arch else f', weights="{name}"'
    print(f'use: load_encoder("{weights.arch}"{hint})')
    return 0


def _import_pretrained(args: argparse.Namespace) -> int:
    """``weights import net.onnx [...]``: a pretrained network's files -> its cache file."""
    from jaxstyle.weights.pretrained import PRETRAINED, detect_net, import_net, save_net
    from jaxstyle.weights.pretrained import cache_path as pretrained_path

    if args.name or args.arch:
        raise WeightsError("--name and --arch apply to VGG weights; ONNX networks keep their names")
    name = detect_net(args.file[0])
    if name is None:
        raise WeightsError(f"{args.file[0]}: not one of the known ONNX networks ({', '.join(PRETRAINED)})")
    variables, source = import_net(name, args.file)
    path = save_net(pretrained_path(name), name, variables, source)
    print(f"imported {source}: {PRETRAINED[name].summary}")
    print(f"wrote {path}")
    return 0


def _import_inception(args: argparse.Namespace) -> int:
    """``weights import pt_inception-*.pth | art_inception.pth``: FID's and ArtFID's networks."""
    from jaxstyle.weights.inception_import import INCEPTION_NETS, import_inception, save_inception

    if args.name or args.arch:
        raise WeightsError("--name and --arch apply to encoder weights; Inception files keep their names")
    name, params, source = import_inception(args.file)
    path = save_inception(name, params, source)
    print(f"imported {source}: {INCEPTION_NETS[name].summary}")
    print(f"wrote {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from jaxstyle.weights.pretrained import PRETRAINED
    from jaxstyle.weights.verify import verify_embedded, verify_file, verify_pretrained

    if args.file in PRETRAINED:
        print(verify_pretrained(args.file))
    else:
        print(verify_file(args.file) if args.file else verify_embedded())
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from jaxstyle.weights.download import download, url_for

    url = url_for(args.name)
    print(f"downloading {url}", file=sys.stderr)
    shown = [-1]

    def progress(done: int, total: int | None) -> None:
        if total and sys.stderr.isatty():
            pct = 100 * done // total
            if pct != shown[0]:
                shown[0] = pct
                print(
                    f"\r{pct:3d}% of {total / 2**20:.0f} MiB", end="", file=sys.stderr, flush=True
                )

    path = download(args.name, url=url, timeout=args.timeout, progress=progress)
    if shown[0] >= 0:
        print(file=sys.stderr)
    print(f"verified and imported {url} -> {path}")
    return 0
