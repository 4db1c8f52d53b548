"""Options as data: one declaration per option drives the CLI, the checks and any form.

An :class:`Option` says what a value may be: its type, default, range or choices, what a path
must be, and a one-line help. Every command declares its options as a tuple of them, and every
method declares its load options and controls the same way (:mod:`jaxstyle.methods`). From the
declaration come

- the argparse flags (:func:`add_options`): values are parsed and checked while the command
  line is read, so a bad value is one ``error:`` line and exit 2 before any work;
- the checks of the Python API (:meth:`Option.check`, :func:`check_values`): the same rules,
  the same messages, for values given in Python;
- a JSON description (:meth:`Option.describe`) a web form is built from.

Types: ``int``, ``float`` (always finite), ``str`` (from Python a method may take richer values
for it, which it checks itself: CIN's style mappings; a ``pattern``, a regular expression the
whole string must match, refuses malformed strings before any work), ``bool`` (a flag that takes no value),
``names`` (comma-separated strings; ``choices`` applies to each), ``floats`` (comma-separated
finite numbers), ``mapping`` (comma-separated ``NAME=NUMBER``; ``choices`` applies to the names,
the range to the numbers), ``path`` and ``images`` (image files at the CLI; arrays or files from
Python). Ranges are inclusive (``minimum``/``maximum``) or exclusive below (``exclusive_minimum``:
``> 0``), plus ``multiple_of``. Every number option of the CLI declares a lower bound, and every
integer one a maximum (tests/test_cli_options.py walks them all). A ``path`` option says what it
must name (:data:`PATH_KINDS`): an existing file or folder, or an output of a given kind, which
is checked writable without writing anything.

This module imports nothing heavy (``jaxstyle --help`` builds every parser from it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxstyle.errors import InputError, flag

TYPES = ("int", "float", "str", "bool", "names", "floats", "mapping", "path", "images")
PATH_KINDS = {
    "file": "an existing file",
    "dir": "an existing folder",
    "file-or-dir": "an existing file or folder",
    "input": "images: files, globs, folders, @list.txt or sample:NAME",
    "image": "an image file or sample:NAME",
    "config": "a Python config file, FILE.py or FILE.py:VARIANT",
    "new-file": "a file to write (its folder must be writable)",
    "new-image": "an image file to write (.png, .jpg, .webp, .tif)",
    "new-dir": "a folder to write into (created if missing)",
    "new-image-dir": "a folder to write images into (created if missing; a name with a dot ends with /)",
    "new": "an image file or a folder to write (a folder name with a dot ends with /)",
}
INPUT_KINDS = ("file", "dir", "file-or-dir", "input", "image", "config")
# Kinds that may name a bucket (gs://...): checked where they are used, not here.
REMOTE_KINDS = ("dir", "file-or-dir", "new-dir")


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a command or method: everything needed to parse, check and describe it.

    ``name`` is the Python name (``style_weights``); the flag is ``--style-weights`` unless
    ``flag`` says otherwise. ``default`` None means "not given" (the method or command decides).
    ``nargs``: ``"+"`` for one or more values (paths), ``"?"`` for a flag whose value may be
    left out (then ``const``). ``positional``: an argument without a flag.
    """

    name: str
    type: str = "str"
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    multiple_of: int | None = None
    pattern: str | None = None  # type "str": a regular expression the whole string must match
    path: str | None = None  # a key of PATH_KINDS for type "path"
    nargs: str | None = None
    const: Any = None
    flag: str | None = None
    metavar: str | None = None
    group: str | None = None
    required: bool = False
    positional: bool = False

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"option {self.name}: unknown type {self.type!r}")
        if (self.type == "path") != (self.path is not None):
            raise ValueError(f"option {self.name}: a path option needs path=, and only it")
        if self.type == "images" and self.nargs not in ("+", "*"):
            raise ValueError(f"option {self.name}: images are a list (nargs='+')")
        if self.path is not None and self.path not in PATH_KINDS:
            raise ValueError(f"option {self.name}: unknown path kind {self.path!r}")
        if self.pattern is not None:
            if self.type != "str":
                raise ValueError(f"option {self.name}: a pattern applies to str options only")
            re.compile(self.pattern)

    # ------------------------------------------------------------------ naming

    @property
    def cli_flag(self) -> str:
        return self.flag or flag(self.name)

    @property
    def numeric(self) -> bool:
        return self.type in ("int", "float", "floats", "mapping")

    def with_default(self, default: Any, **changes: Any) -> Option:
        """This option with another default (a method's own), and any other field changed."""
        return dataclasses.replace(self, default=default, **changes)

    # ------------------------------------------------------------------ parse and check

    def parse(self, text: str) -> Any:
        """A command-line string -> the checked value (one value of a ``nargs`` option)."""
        if self.type == "int":
            value = _number(text, int, self)
        elif self.type == "float":
            value = _number(text, float, self)
        elif self.type == "names":
            value = tuple(v.strip() for v in text.split(",") if v.strip())
        elif self.type == "floats":
            value = tuple(_number(v.strip(), float, self) for v in text.split(",") if v.strip())
        elif self.type == "mapping":
            value = _mapping(text, self)
        else:
            value = text
        if self.nargs in ("+", "*"):  # each value alone; check() sees the whole list
            self._check_one(value)
            return value
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` if it is allowed, else :class:`InputError` naming the flag (one line)."""
        if value is None:
            return value
        if self.nargs in ("+", "*"):
            values = list(value) if isinstance(value, list | tuple) else [value]
            if self.nargs == "+" and not values:
                raise InputError(f"{self.cli_flag} needs at least one value")
            for v in values:
                self._check_one(v)
            return value
        self._check_one(value)
        return value

    def _check_one(self, value: Any) -> None:
        where = self.cli_flag
        if self.type == "bool":
            if not isinstance(value, bool):
                raise InputError(f"{where} takes no value (true or false from Python), got {value!r}")
            return
        if self.type in ("int", "float"):
            self._check_number(value)
        elif self.type == "floats":
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise InputError(f"{where} expects comma-separated numbers, got {value!r}")
            if not list(value):
                raise InputError(f"{where} needs at least one number")
            for v in value:
                self._check_number(v)
        elif self.type == "names":
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise InputError(f"{where} expects comma-separated names, got {value!r}")
            if not value:
                raise InputError(f"{where} needs at least one name")
            self._check_choices(value)
            return
        elif self.type == "mapping":
            if not isinstance(value, Mapping) or not value:
                raise InputError(f"{where} expects NAME=NUMBER pairs, got {value!r}")
            for v in value.values():
                self._check_number(v)
            self._check_choices(value)
            return
        elif self.type == "path":
            check_path(value, self.path, where)
        elif self.type == "images":
            if isinstance(value, str | os.PathLike):
                check_path(value, "file", where)
            elif getattr(value, "ndim", None) not in (2, 3):
                raise InputError(f"{where} expects image files or (H, W[, C]) arrays, got {type(value).__name__}")
        elif self.pattern is not None and isinstance(value, str) and not re.fullmatch(self.pattern, value):
            raise InputError(f"{where} got {value!r}; expected {self.help or 'a value matching ' + self.pattern}")
        self._check_choices([value])

    def _check_choices(self, values: Iterable[Any]) -> None:
        if self.choices is None:
            return
        for value in values:
            if value not in self.choices:
                raise InputError(f"{self.cli_flag} must be one of {', '.join(map(str, self.choices))}, "
                                 f"got {value!r}")

    def _check_number(self, value: Any) -> None:
        where = self.cli_flag
        kind = int if self.type == "int" else float
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
            raise InputError(f"{where} expects {'an integer' if kind is int else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{where} must be a finite number, got {value}")
        if self.exclusive_minimum is not None and not value > self.exclusive_minimum:
            raise InputError(f"{where} must be > {_fmt(self.exclusive_minimum)}, got {_fmt(value)}")
        if self.minimum is not None and value < self.minimum:
            raise InputError(f"{where} must be >= {_fmt(self.minimum)}, got {_fmt(value)}")
        if self.maximum is not None and value > self.maximum:
            raise InputError(f"{where} must be <= {_fmt(self.maximum)}, got {_fmt(value)}")
        if self.multiple_of is not None and value % self.multiple_of:
            raise InputError(f"{where} must be a multiple of {self.multiple_of}, got {_fmt(value)}")

    # ------------------------------------------------------------------ describe

    def range_text(self) -> str:
        """The allowed values in words (``> 0, <= 1``, ``one of a, b``), "" when any."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.path is not None:
            return PATH_KINDS[self.path]
        bounds = [(">", self.exclusive_minimum), (">=", self.minimum), ("<=", self.maximum)]
        words = [f"{op} {_fmt(v)}" for op, v in bounds if v is not None]
        if self.multiple_of is not None:
            words.append(f"multiple of {self.multiple_of}")
        return ", ".join(words)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (JSON-schema words where there are some)."""
        out: dict[str, Any] = {"name": self.name, "flag": self.cli_flag, "type": self.type,
                               "default": _jsonable(self.default), "help": self.help}
        for key in ("choices", "minimum", "maximum", "exclusive_minimum", "multiple_of", "pattern", "path", "nargs",
                    "const"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _jsonable(value)
        if self.required:
            out["required"] = True
        return out

    def help_text(self) -> str:
        parts = [self.help] if self.help else []
        rng = self.range_text()
        if rng and self.choices is None and self.type != "path":
            parts.append(f"[{rng}]")
        if self.default is not None and self.type != "bool":
            parts.append(f"(default {_show(self.default)})")
        return " ".join(parts).replace("%", "%%")


def _number(text: str, kind: type, option: Option) -> Any:
    try:
        return kind(text)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise InputError(f"{option.cli_flag} expects {what}, got {text!r}") from None


def _mapping(text: str, option: Option) -> dict[str, float]:
    """``"adam=0.05,sgd=1e-5"`` -> ``{"adam": 0.05, "sgd": 1e-05}`` (numbers parsed, not yet checked)."""
    out = {}
    for item in (i.strip() for i in text.split(",") if i.strip()):
        name, sep, number = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{option.cli_flag} expects NAME=NUMBER pairs, got {item!r}")
        out[name.strip()] = _number(number.strip(), float, option)
    return out


def _fmt(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# ---------------------------------------------------------------------- paths


def check_path(value: Any, kind: str, where: str) -> None:
    """One-line :class:`InputError` unless ``value`` names what ``kind`` asks for (:data:`PATH_KINDS`).

    Input kinds must exist and be what they say (a device or a FIFO is named as such);
    ``input`` also takes globs, ``@list.txt`` and ``sample:NAME``, which are expanded later.
    Output kinds must be writable without writing anything (:func:`jaxstyle.files.check_can_write`
    probes the nearest existing folder), and an existing file or folder in the way must be of
    the right kind. A bucket URI (``gs://...``) of a kind in :data:`REMOTE_KINDS` is checked
    where it is used.
    """
    if not isinstance(value, str | os.PathLike):
        raise InputError(f"{where} expects a path, got {value!r}")
    text = os.fspath(value)
    if not text.strip():
        raise InputError(f"{where} is empty: give a path")
    if kind in REMOTE_KINDS and "://" in text:
        return
    if kind in INPUT_KINDS:
        _check_input(text, kind, where)
    else:
        _check_output(text, kind, where)


def _check_input(text: str, kind: str, where: str) -> None:
    if kind in ("input", "image") and text.startswith("sample:"):
        return  # a bundled image: jaxstyle.samples names the unknown ones
    if kind == "input" and (text.startswith("tfds:") or any(c in text for c in "*?[")):
        return
    if kind == "input" and text.startswith("@"):
        text, kind = text[1:], "file"
    if kind == "config":
        text = text.partition(":")[0]
        if not text.endswith(".py"):
            raise InputError(f"{where} {text}: not a Python config file (expected FILE.py or FILE.py:VARIANT)")
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(f"{where} {text}: no such file or folder")
    wanted = {"file": "a file", "image": "a file", "config": "a file", "dir": "a folder"}.get(kind, "a file or a folder")
    if (path.is_dir() and wanted != "a file") or (path.is_file() and wanted != "a folder"):
        return
    raise InputError(f"{where} {text}: is {_what(path)}, expected {wanted}")


def _check_output(text: str, kind: str, where: str) -> None:
    path = Path(text).expanduser()
    ends_with_sep = text.endswith(("/", os.sep))
    if kind == "new":  # stylize's rule: a name with a suffix is an image file unless it ends with /
        kind = "new-dir" if ends_with_sep or path.is_dir() or not path.suffix else "new-image"
    if kind == "new-image-dir" and path.suffix and not (ends_with_sep or path.is_dir()):
        raise InputError(f"{where} {text}: a folder name that looks like a file name; write {text}/ to "
                         "mean a folder")
    if kind == "new-image":
        _check_image_suffix(path, where, text)
    if kind in ("new-dir", "new-image-dir"):
        if path.exists() and not path.is_dir():
            raise InputError(f"{where} {text}: is {_what(path)}, expected a folder")
        probe = path / ".probe"
    else:
        if path.exists() and not path.is_file():  # a folder, or a device that a rename would replace
            raise InputError(f"{where} {text}: is {_what(path)}, expected a file")
        probe = path
    from jaxstyle.files import check_can_write

    try:
        check_can_write(probe)
    except OSError as e:
        raise InputError(f"{where} {text}: cannot write there ({e.strerror or e})") from None


def _check_image_suffix(path: Path, where: str, text: str) -> None:
    from jaxstyle.io import SAVE_FORMATS  # numpy and Pillow: only when a value is checked

    if path.suffix.lower() not in SAVE_FORMATS:
        raise InputError(f"{where} {text}: cannot write {path.suffix!r} images (use one of "
                         f"{', '.join(SAVE_FORMATS)}; a folder name with a dot ends with /)")


def _what(path: Path) -> str:
    """What a path that is not a plain file or folder is (``a device``, ``a FIFO``...)."""
    import stat

    if path.is_dir():
        return "a folder"
    try:
        mode = path.stat().st_mode
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a file" if stat.S_ISREG(mode) else "not a regular file"


# ---------------------------------------------------------------------- argparse


def add_options(parser: argparse.ArgumentParser | Any, options: Sequence[Option], *,
                given_only: bool = False) -> None:
    """Add one argparse argument per option (grouped by ``Option.group``).

    Values are parsed and checked by :meth:`Option.parse` as they are read. ``given_only``:
    options left out do not appear in the parsed namespace (argparse.SUPPRESS), so a caller can
    tell what the user gave; the help still shows each default. Each argparse action keeps its
    declaration as ``action.option`` (tests walk every command's options through it).
    """
    groups: dict[str | None, Any] = {}
    for opt in options:
        if opt.group not in groups:
            groups[opt.group] = parser if opt.group is None else _group(parser, opt.group)
        target = groups[opt.group]
        kwargs: dict[str, Any] = {"help": opt.help_text()}
        default = argparse.SUPPRESS if given_only else opt.default
        if opt.type == "bool":
            kwargs.update(action="store_true", default=argparse.SUPPRESS if given_only else bool(opt.default))
        else:
            kwargs.update(type=_parser_of(opt), default=default)
            if opt.nargs:
                kwargs["nargs"] = opt.nargs
            if opt.nargs == "?":
                kwargs["const"] = opt.const
            if opt.choices is not None:
                kwargs["metavar"] = opt.metavar or "{" + ",".join(map(str, opt.choices)) + "}"
            elif opt.metavar:
                kwargs["metavar"] = opt.metavar
        if opt.positional:  # required unless nargs makes it optional
            if opt.required:
                kwargs.pop("default", None)
            action = target.add_argument(opt.name, **kwargs)
        else:
            if opt.required and not given_only:  # given_only: the receiver refuses a missing one itself
                kwargs["required"] = True
            action = target.add_argument(opt.cli_flag, dest=opt.name, **kwargs)
        action.option = opt


def _group(parser: Any, title: str) -> Any:
    for group in getattr(parser, "_action_groups", ()):
        if group.title == title:
            return group
    return parser.add_argument_group(title)


def _parser_of(opt: Option):
    def parse(text: str) -> Any:
        try:
            return opt.parse(text)
        except InputError as e:  # argparse prints "argument --x: <message>"
            raise argparse.ArgumentTypeError(str(e).removeprefix(f"{opt.cli_flag} ")) from None

    parse.__name__ = opt.type  # argparse names the type in some messages
    return parse


def check_values(values: Mapping[str, Any], options: Sequence[Option], what: str) -> None:
    """Check Python-given ``values`` against their declarations; refuse names not declared.

    ``what`` names the receiver in the refusal (``--method gatys``).
    """
    declared = {opt.name: opt for opt in options}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        takes = ", ".join(declared[n].cli_flag for n in declared) or "none"
        raise InputError(f"{what} does not take {', '.join(map(flag, unknown))} (it takes: {takes})")
    for name, value in values.items():
        declared[name].check(value)


def defaults(options: Sequence[Option]) -> dict[str, Any]:
    """``{name: default}`` of the options that have one."""
    return {opt.name: opt.default for opt in options if opt.default is not None}


def with_defaults(options: Sequence[Option], **new: Any) -> tuple[Option, ...]:
    """``options`` with the defaults of those named in ``new`` changed (a method's own values)."""
    unknown = set(new) - {opt.name for opt in options}
    if unknown:
        raise ValueError(f"no option named {', '.join(sorted(unknown))}")
    return tuple(opt.with_default(new[opt.name]) if opt.name in new else opt for opt in options)
