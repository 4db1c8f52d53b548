"""``jaxstyle serve``: a web page that stylizes uploads with any method that runs here, showing
optimization methods' images as they are optimized (docs/serve.md).

Safe by default: it listens on 127.0.0.1 only, uploads are size-limited and decoded by jaxstyle's
own loader, no path is taken from the client, and one job runs at a time behind a bounded queue.
Needs the ``web`` extra (``pip install 'jaxstyle[web]'``: Gradio), imported only when it runs.
"""

from __future__ import annotations

import argparse
import os

from jaxstyle.errors import InputError
from jaxstyle.options import Option, add_options

AUTH_ENV = "JAXSTYLE_SERVE_AUTH"
OPTIONS = (
    Option("host", "str", "127.0.0.1", "address to listen on (0.0.0.0: every interface; give --auth then)"),
    Option("port", "int", 7860, "port to listen on", minimum=1, maximum=65535),
    Option("checkpoint", "str", None, "also serve these trained models: a training WORKDIR (its method read "
           "from its config.json) or METHOD=PATH[,PATH] (a method's official files)", nargs="+",
           metavar="WORKDIR"),
    Option("auth", "str", None, f"USER:PASSWORD the page asks for (or set {AUTH_ENV}, which other users "
           "cannot read from the process list)", metavar="USER:PASSWORD"),
    Option("max_queue", "int", 8, "jobs that may wait for the device; more are refused", minimum=1,
           maximum=10_000, metavar="N"),
    Option("max_upload_mb", "float", 10.0, "largest upload in MB", exclusive_minimum=0.0, maximum=1024.0,
           metavar="N"),
    Option("max_size", "int", 1024, "largest output a client may ask for (long side, px)", minimum=32,
           maximum=16384, metavar="PX"),
)


def register(subparsers, argv=None) -> None:
    p = subparsers.add_parser("serve", help="a web page with live preview (needs jaxstyle[web])",
                              description=__doc__)
    add_options(p, OPTIONS)
    p.set_defaults(func=run)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``USER:PASSWORD`` -> (user, password); one-line InputError without both."""
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not (sep and user and password):
        raise InputError("--auth expects USER:PASSWORD, both non-empty")
    return user, password


def run(args: argparse.Namespace) -> int:
    from jaxstyle.serve import form

    auth = parse_auth(args.auth if args.auth is not None else os.environ.get(AUTH_ENV))
    entries = form.menu([form.parse_checkpoint(spec) for spec in args.checkpoint or ()])
    try:
        from jaxstyle.serve.app import launch
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("gradio", "gradio_client"):
            raise InputError("jaxstyle serve needs the web extra: pip install 'jaxstyle[web]'") from None
        raise
    if args.host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        print(f"warning: serving on {args.host} without --auth: anyone who can reach it can run jobs")
    page, url, runner = launch(entries, host=args.host, port=args.port, auth=auth, max_queue=args.max_queue,
                               max_upload_mb=args.max_upload_mb, max_size=args.max_size, block=False, quiet=True)
    print(f"serving {', '.join(e.label for e in entries)} on {url} (Ctrl-C stops)", flush=True)
    try:
        page.block_thread()  # until Ctrl-C
    finally:
        runner.close()
    return 0
