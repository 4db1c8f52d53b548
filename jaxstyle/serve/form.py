"""The page's form, read from the method declarations: which methods the page offers, which of
their load options and controls become fields, and the checked settings of a submission.

Nothing here names a method or imports gradio: a method registered tomorrow gets its fields
from its :class:`~jaxstyle.methods.base.declaration.Method` like every other, and the checks
are :meth:`jaxstyle.options.Option.check`'s, with its one-line messages.

What a client never sets: paths and image lists (no server path is accepted from the client;
the server's own ``--checkpoint`` workdirs are its ``source``), the mixing controls (the page
takes one style image), and settings that belong to the server (:data:`SERVER_SIDE`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxstyle.errors import InputError, flag
from jaxstyle.methods.base.declaration import Method
from jaxstyle.options import Option

# Settings of the server's devices and files, not of a user's job: checkpoint_every without its
# (path) checkpoint_dir means nothing; remat must be chosen before JAX starts; the device layout
# of a job (spatial_shards, pair_batch) is the server's.
SERVER_SIDE = frozenset({"checkpoint_every", "remat", "spatial_shards", "pair_batch"})
# What a field means on the page where it differs from the CLI: frames go to the preview.
PAGE_CHANGES: dict[str, dict[str, Any]] = {
    "save_every": {"default": 10, "help": "show the image every N steps (0: only the result)"},
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One choice of the page's method menu: a method, and the trained model it loads (None: what
    the method ships with)."""

    method: str
    source: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        return self.method if self.source is None else f"{self.method}: {', '.join(self.source)}"


def parse_checkpoint(spec: str) -> Entry:
    """``serve --checkpoint`` value -> its menu entry: ``WORKDIR`` (the method read from the
    workdir's ``config.json``, as training writes it) or ``METHOD=PATH[,PATH...]`` (a method's
    official files). One-line :class:`InputError` for what cannot be served."""
    from jaxstyle.methods import check_options, get_method

    method, sep, paths = spec.partition("=")
    if not sep:
        method, paths = _workdir_method(spec), spec
    source = tuple(p for p in paths.split(",") if p)
    check_options(get_method(method), list(source), {})  # unknown method, missing files
    return Entry(method, source)


def _workdir_method(path: str) -> str:
    config = Path(path) / "config.json"
    try:
        method = json.loads(config.read_text()).get("method")
    except (OSError, ValueError, AttributeError):
        method = None
    if not isinstance(method, str):
        raise InputError(f"--checkpoint {path}: not a training workdir (no method in {config}); "
                         "give METHOD=PATH for a method's official files")
    return method


def menu(checkpoints: Sequence[Entry] = ()) -> list[Entry]:
    """Every registered method that runs with what jaxstyle ships, then the served checkpoints."""
    from jaxstyle.methods import METHODS, get_method

    return [Entry(name) for name in METHODS if get_method(name).runs_offline] + list(checkpoints)


def offered(method: Method, option: Option) -> bool:
    """Whether a client may set ``option`` of ``method`` (see the module docstring)."""
    return (option.type not in ("path", "images") and option.name not in method.mixing
            and option.name not in SERVER_SIDE)


def fields(method: Method, max_size: int) -> tuple[Option, ...]:
    """The form fields of ``method``: its offered load options and controls as the page shows
    them (:data:`PAGE_CHANGES`; ``size`` at most the server's ``max_size``)."""
    out = []
    for option in method.options + method.controls:
        if not offered(method, option):
            continue
        option = dataclasses.replace(option, **PAGE_CHANGES.get(option.name, {}))
        if option.name == "size":
            option = dataclasses.replace(option, maximum=min(option.maximum or max_size, max_size),
                                         default=min(option.default, max_size))
        out.append(option)
    return tuple(out)


def settings(method: Method, values: Mapping[str, Any], max_size: int) -> tuple[dict, dict]:
    """Submitted field values -> checked ``(load options, controls)`` of ``method``.

    ``values`` come from the page's fields or an API client's JSON: numbers, booleans, or text
    (parsed as the CLI parses a flag's value). Empty values and declared defaults are left out
    (the same settings load the same cached stylizer); ``size`` is always set (the page
    resizes, like the CLI). Raises a one-line :class:`InputError` for a
    name the method does not offer or a bad value.
    """
    shown = {o.name: o for o in fields(method, max_size)}
    unknown = sorted(set(values) - set(shown))
    if unknown:
        raise InputError(f"{method.name} has no field {', '.join(map(flag, unknown))} (its fields: "
                         f"{', '.join(map(flag, shown))})")
    given = {}
    for name, value in values.items():
        value = _value(shown[name], value)
        if value is not None and value != method.option(name).default:  # a default: as if not given
            given[name] = value
    given.setdefault("size", shown["size"].default)
    options = {o.name: given[o.name] for o in method.options if o.name in given}
    controls = {o.name: given[o.name] for o in method.controls if o.name in given}
    if "scales" in options:
        from jaxstyle.optimize.engine import check_scales, check_schedule

        check_scales(options["scales"], controls["size"])
        if method.option("schedule") is not None:  # a schedule with its own levels takes no --scales
            check_schedule(options.get("schedule", method.option("schedule").default), options["scales"])
    return options, controls


def _value(option: Option, value: Any) -> Any:
    """One field's checked value (None: not given)."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if option.type != "str":
            return option.parse(value)
    if option.type == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)  # number fields send floats
    if option.type in ("names", "floats") and isinstance(value, list):
        value = tuple(value)
    return option.check(value)
