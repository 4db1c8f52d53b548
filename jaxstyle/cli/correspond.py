"""``jaxstyle correspond``: keypoint pairs between a content and a style image (Neural
Best-Buddies + DST's clean-up) as a points file for ``stylize --method dst --points``, and a
picture of the numbered pairs; a thin layer over :mod:`jaxstyle.correspond`."""

from __future__ import annotations

import argparse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser(
        "correspond",
        help="find keypoint pairs between a content and a style image (Neural Best-Buddies)",
        description=__doc__,
    )
    p.add_argument("--content", required=True, help="content image")
    p.add_argument("--style", required=True, help="style image")
    p.add_argument("--output", required=True, help="points file to write (JSON)")
    p.add_argument("--sheet", default=None, help="also write a picture of the numbered pairs (.png, .jpg ...)")
    p.add_argument("--size", type=_positive, default=256,
                   help="square frame NBB runs in, a multiple of 16 (default 256, as DST)")
    p.add_argument("--full", action="store_true",
                   help="descend to relu1_1 (default: stop at relu2_1, the official --fast)")
    p.add_argument("--max-points", type=_positive, default=80, help="at most this many pairs (default 80)")
    p.add_argument("--invert-steps", type=_positive, default=400,
                   help="cap on feature-inversion steps per level (default 400; the plateau rule "
                        "usually stops at 100-250)")
    p.add_argument("--encoder", choices=("vgg16", "vgg19"), default="vgg16",
                   help="default vgg16 (embedded); vgg19, the paper's, once imported")
    p.add_argument("--weights", default=None, help="encoder weights file (default: embedded/imported)")
    p.set_defaults(func=run)


def _check_outputs(output: str, sheet: str | None) -> None:
    """One-line errors for unwritable or clashing output paths, before any computation."""
    from pathlib import Path

    from jaxstyle.errors import InputError
    from jaxstyle.files import check_can_write
    from jaxstyle.io import SAVE_FORMATS

    targets = [("--output", output)]
    if sheet is not None:
        if Path(sheet).suffix.lower() not in SAVE_FORMATS:
            raise InputError(f"--sheet {sheet}: cannot write {Path(sheet).suffix!r} images "
                             f"(use one of {', '.join(SAVE_FORMATS)})")
        if Path(sheet).expanduser().absolute() == Path(output).expanduser().absolute():
            raise InputError("--sheet and --output are the same file")
        targets.append(("--sheet", sheet))
    for flag, path in targets:
        try:
            check_can_write(path)
        except OSError as e:
            raise InputError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None


def run(args: argparse.Namespace) -> int:
    from jaxstyle.correspond import NBBConfig, clean_correspondences, draw_pairs, nbb_buddies
    from jaxstyle.errors import InputError
    from jaxstyle.io import load_image, save_image
    from jaxstyle.points import save_points
    from jaxstyle.weights.encoders import load_encoder

    config = NBBConfig(image_size=args.size, fast=not args.full, max_points=args.max_points,
                       invert_steps=args.invert_steps)
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
