"""The method registry: one line per method, everything a method provides behind its name.

Each line names a method's declaration (:class:`~jaxstyle.methods.base.declaration.Method`,
``"package:ATTR"``), which lives in the method's own folder ``jaxstyle/methods/<name>/``. The
declaration says what the method is and needs and declares its load options and controls; the
CLI's flags, its refusals, the checks below and ``jaxstyle methods --json`` all come from it.

- :func:`load_stylizer` ``(name, source=None, **options)``: a stylizer (the one call of
  :mod:`jaxstyle.methods.base.stylizer`) from a workdir, files or options;
- :func:`get_trainer` ``(name)``: the training plug-in of :mod:`jaxstyle.train`
  (interface in :mod:`jaxstyle.methods.base.plugin`);
- :func:`get_method` ``(name)``: the declaration; :func:`register_method` adds one at run time.

Declarations import nothing heavy, so the registry costs nothing at start-up; a method's code is
imported when it is loaded. Adding a method is a new folder plus one line in :data:`METHODS`
(README "Adding a method"), or one :func:`register_method` call from your own package.
"""

from __future__ import annotations

import importlib
from typing import Any

from jaxstyle.errors import InputError
from jaxstyle.methods.base.declaration import Method
from jaxstyle.options import check_values

METHODS: dict[str, str] = {
    "gatys": "jaxstyle.methods.gatys:METHOD",
    "lapstyle": "jaxstyle.methods.gatys:LAPSTYLE",
    "adain": "jaxstyle.methods.adain:METHOD",
    "rast": "jaxstyle.methods.rast:METHOD",
    "cin": "jaxstyle.methods.cin:METHOD",
    "ghiasi": "jaxstyle.methods.ghiasi:METHOD",
    "johnson": "jaxstyle.methods.johnson:METHOD",
    "multimodal": "jaxstyle.methods.multimodal:METHOD",
    "styleswap": "jaxstyle.methods.styleswap:METHOD",
    "meanstd": "jaxstyle.methods.meanstd:METHOD",
    "strotss": "jaxstyle.methods.strotss:METHOD",
    "dst": "jaxstyle.methods.dst:METHOD",
    "wct": "jaxstyle.methods.wct:METHOD",
}
_REGISTERED: dict[str, Method] = {}


def register_method(method: Method) -> None:
    """Add ``method`` to the registry for this process (a plug-in package, a test)."""
    METHODS[method.name] = f"<registered>:{method.name}"
    _REGISTERED[method.name] = method


def get_method(name: str) -> Method:
    """The declaration of method ``name``; one-line :class:`InputError` for an unknown name."""
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    if name in _REGISTERED:
        return _REGISTERED[name]
    module, _, attr = METHODS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def get_trainer(name: str) -> type:
    """The training plug-in class of method ``name``."""
    trainer = get_method(name).trainer_class()
    if trainer is None:
        trainable = ", ".join(n for n in METHODS if get_method(n).trainer is not None)
        raise InputError(f"method {name!r} is not trained (trainable methods: {trainable})")
    return trainer


def check_options(method: Method, source: Any, options: dict[str, Any]) -> None:
    """Refuse, in one line, load options ``method`` does not declare, bad values, a ``source``
    (``--checkpoint``) it cannot take or a missing one it needs. Nothing is loaded."""
    check_values(options, [o for o in method.options if o.name != "source"], f"--method {method.name}")
    if source is not None:
        if not method.takes_source():
            raise InputError(f"--method {method.name} has no trained model to load (--checkpoint): it "
                             f"{'optimizes each image' if method.kind == 'optimization' else 'needs none'}")
        method.option("source").check(list(source) if isinstance(source, list | tuple) else source)
    elif method.takes_source() and method.option("source").required:
        raise InputError(f"--method {method.name} needs {method.needs} (--checkpoint)")


def load_stylizer(name: str, source: Any = None, **options: Any):
    """A :class:`~jaxstyle.methods.base.stylizer.Stylizer` for method ``name``.

    ``options`` are checked against the method's declaration (one-line refusal of names it
    does not declare and of bad values); ``None`` values mean the declared default. ``source``
    (``--checkpoint``): a path, or a list of paths for methods whose official release is
    several files.
    """
    method = get_method(name)
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(source, list | tuple) and len(source) == 1:
        source = source[0]
    check_options(method, source, options)
    stylizer = method.load(source, **method.fixed, **options)
    stylizer.spec = method
    return stylizer
