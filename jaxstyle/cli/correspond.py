"""``jaxstyle correspond``: keypoint pairs between a content and a style image (Neural
Best-Buddies + DST's clean-up) as a points file for ``stylize --method dst --points``, and a
picture of the numbered pairs; a thin layer over :mod:`jaxstyle.correspond`."""

from __future__ import annotations

import argparse

from jaxstyle.methods.base.declaration import MAX_SIZE
from jaxstyle.options import Option, add_options

OPTIONS = (
    Option("content", "path", None, "content image", path="image", required=True),
    Option("style", "path", None, "style image", path="image", required=True),
    Option("output", "path", None, "points file to write (JSON)", path="new-file", required=True),
    Option("sheet", "path", None, "also write a picture of the numbered pairs (.png, .jpg ...)",
           path="new-image"),
    Option("size", "int", 256, "square frame NBB runs in (256 as DST; memory grows with its square)",
           minimum=32, maximum=MAX_SIZE, multiple_of=16),
    Option("full", "bool", False, "descend to relu1_1 (default: stop at relu2_1, the official --fast)"),
    Option("global_search", "bool", False, "match across the whole relu5_1 map (the paper's text; default: "
           "±2 cells around the same place, the official code's)"),
    Option("max_points", "int", 80, "at most this many pairs", minimum=1, maximum=10**6),
    Option("invert_steps", "int", 400, "cap on feature-inversion steps per level (the plateau rule usually "
           "stops at 100-250)", minimum=1, maximum=10**6),
    Option("encoder", "str", "vgg16", "vgg16 (embedded); vgg19, the paper's, once imported",
           choices=("vgg16", "vgg19")),
    Option("weights", "path", None, "encoder weights file (default: embedded/imported)", path="file"),
)


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "correspond",
        help="find keypoint pairs between a content and a style image (Neural Best-Buddies)",
        description=__doc__,
    )
    add_options(p, OPTIONS)
    p.set_defaults(func=run)


def _check_outputs(output: str, sheet: str | None) -> None:
    """One line when --sheet and --output name the same file (each was checked writable when parsed)."""
    from pathlib import Path

    from jaxstyle.errors import InputError

    if sheet is not None and Path(sheet).expanduser().absolute() == Path(output).expanduser().absolute():
        raise InputError("--sheet and --output are the same file")


def run(args: argparse.Namespace) -> int:
    from jaxstyle.correspond import NBBConfig, clean_correspondences, draw_pairs, nbb_buddies
    from jaxstyle.errors import InputError
    from jaxstyle.io import load_image, save_image
    from jaxstyle.points import save_points
    from jaxstyle.weights.encoders import load_encoder

    config = NBBConfig(image_size=args.size, fast=not args.full, max_points=args.max_points,
                       invert_steps=args.invert_steps,
                       top_radius=None if args.global_search else NBBConfig.top_radius)
    _check_outputs(args.output, args.sheet)
    content, style = load_image(args.content), load_image(args.style)
    encoder = load_encoder(args.encoder, args.weights)
    print(f"Neural Best-Buddies in a {args.size} px frame, relu5_1 -> relu{config.final_level}_1 "
          "(can take minutes on a CPU)", flush=True)
    buddies = nbb_buddies(content, style, encoder=encoder, config=config)
    points, _ = clean_correspondences(buddies, content.shape[:2], style.shape[:2], config)
    if len(points.content) == 0:
        raise InputError(f"no correspondences survived ({len(buddies.content)} best buddies before the "
                         "clean-up); try --full or another --size")
    save_points(args.output, points)
    print(f"wrote {args.output} ({len(points.content)} pairs of {len(buddies.content)} best buddies)")
    if args.sheet is not None:
        save_image(args.sheet, draw_pairs(content, style, points))
        print(f"wrote {args.sheet}")
    return 0
