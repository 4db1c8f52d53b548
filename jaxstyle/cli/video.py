"""``jaxstyle video IN OUT --method M``: stylize a clip (docs/video.md).

IN is a video file or a folder of frames; OUT a video file (its frames kept beside it in
OUT.frames/, so a re-run resumes) or a folder. The chosen method's flags are its declared
ones, exactly as for ``jaxstyle stylize``. ``--temporal`` keeps the frames consistent:
optimization methods take Ruder et al.'s temporal loss and start each frame from the
previous result warped by the optical flow; feed-forward methods blend each output with the
previous one warped, on the pixels the flow marks reliable. Every run ends with the clip's
warping error (Lai et al. 2018), which ``jaxstyle eval --video OUT --content IN`` also reports.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jaxstyle.options import Option, add_options

VIDEO = "video"
VIDEO_OPTIONS = (
    Option("input", "path", None, "a video file or a folder of frames", path="input", positional=True,
           required=True, metavar="IN"),
    Option("output", "str", None, "a video file (.mp4, ...) or a folder of frames (checked when the job is planned)",
           positional=True, required=True, metavar="OUT"),
    Option("style", "path", None, "the style image(s) (methods with style images)", path="input", nargs="+",
           group=VIDEO),
    Option("temporal", "bool", False, "temporal consistency: optimization methods add Ruder et al.'s temporal "
           "loss and start from the previous frame warped; feed-forward methods blend the warped previous "
           "output on reliable pixels", group=VIDEO),
    Option("temporal_weight", "float", None, "weight of the temporal loss (optimization --temporal; default "
           "2000)", minimum=0.0, group=VIDEO),
    Option("blend", "float", 0.8, "feed-forward --temporal: weight of the warped previous output on reliable "
           "pixels", minimum=0.0, maximum=1.0, group=VIDEO),
    Option("fps", "float", None, "frame rate of a folder of frames (default 25; a video keeps its own)",
           exclusive_minimum=0.0, group=VIDEO),
    Option("batch", "int", None, "frames per device per program (default: the method's)", minimum=1,
           maximum=65536, metavar="N", group=VIDEO),
    Option("overwrite", "bool", False, "redo an output whose frames were made with other settings", group=VIDEO),
)
# `jaxstyle eval --video OUT --content IN`: the warping error of a stylized clip.
EVAL_OPTIONS = (
    Option("video", "path", None, "a stylized clip (video file or folder of frames): report its warping error "
           "against --content, the input clip (no --checkpoint or --style needed)", path="input"),
)


def register(subparsers, argv: Sequence[str] | None = None) -> None:
    from jaxstyle.cli.stylize import add_method_args, chosen_method, method_list

    p = subparsers.add_parser(
        "video", help="stylize a video clip (any method), optionally temporally consistent",
        description=f"{__doc__}\nmethods:\n{method_list()}\n\nflags shown: those of --method "
                    f"{chosen_method(argv, None)} (see --method NAME --help for another)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, VIDEO_OPTIONS)
    add_method_args(p, argv, None)
    p.set_defaults(func=run, accepts_method_extras=True)


def run(args: argparse.Namespace) -> int:
    from jaxstyle.cli.stylize import split_method_args
    from jaxstyle.methods import check_options, get_method, load_stylizer
    from jaxstyle.video.job import check_temporal, plan_video, run_video

    spec = get_method(args.method)
    options, controls = split_method_args(args)
    check_options(spec, options.get("source"), {k: v for k, v in options.items() if k != "source"})
    plan = plan_video(args.method, args.input, args.output, args.style, options=options, temporal=args.temporal,
                      temporal_weight=args.temporal_weight, blend=args.blend, fps=args.fps, batch=args.batch,
                      overwrite=args.overwrite, **controls)
    stylizer = load_stylizer(args.method, **options)
    check_temporal(stylizer, plan)
    run_video(stylizer, plan)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """``jaxstyle eval --video OUT --content IN``: print the warping error."""
    from jaxstyle.video.metrics import clip_warping_error

    error = clip_warping_error(args.video, args.content)
    print(f"warping error {error:.4g} ({args.video} against {args.content})")
    return 0
