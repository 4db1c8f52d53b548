"""Every method's declaration is what its code does: declared defaults equal the loaders' and the
configs', every flag the CLI offers comes from a declaration, and the declarations load without
JAX (``jaxstyle --help`` and ``jaxstyle methods`` stay fast)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import subprocess
import sys

import pytest

from jaxstyle.methods import METHODS, get_method
from jaxstyle.methods.base.declaration import KINDS


def _loader(name: str):
    module, _, attr = get_method(name).loader.partition(":")
    return getattr(importlib.import_module(module), attr)


def _config_class(name: str):
    from jaxstyle.methods.dst.objective import DSTConfig
    from jaxstyle.methods.styleswap.objective import StyleSwapConfig
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.strotss import StrotssConfig

    return {"gatys": StylizeConfig, "lapstyle": StylizeConfig, "strotss": StrotssConfig, "dst": DSTConfig,
            "styleswap": StyleSwapConfig}.get(name)


def _effective_defaults(name: str) -> dict:
    """What the method runs with when an option is left out: its loader's keyword defaults, then
    its config's field defaults (gatys' loader sets the steps of the CLI's first run)."""
    out = {}
    cls = _config_class(name)
    if cls is not None:
        out.update({f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING})
    if name in ("gatys", "lapstyle"):
        from jaxstyle.methods.gatys.method import DEFAULT_STEPS

        out["steps"] = DEFAULT_STEPS
    params = inspect.signature(_loader(name)).parameters.values()
    out.update({p.name: p.default for p in params if p.kind == p.KEYWORD_ONLY and p.default is not p.empty})
    return out


@pytest.mark.parametrize("name", list(METHODS))
def test_declared_option_defaults_are_the_ones_the_method_runs_with(name):
    spec = get_method(name)
    effective = _effective_defaults(name)
    checked = 0
    for option in spec.options:
        if option.name == "source" or option.name not in effective:
            continue
        value = effective[option.name]
        if option.default is None:  # "decided by the method" (per mode, per loss...): no value to agree on
            continue
        assert option.default == value, f"{name}: --{option.name} declared {option.default!r}, runs {value!r}"
        checked += 1
    params = inspect.signature(_loader(name)).parameters.values()
    takes = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
    cls = _config_class(name)
    fields = {f.name for f in dataclasses.fields(cls)} if cls is not None else set()
    declared = {o.name for o in spec.options} - {"source"}
    assert declared <= takes | fields, f"{name}: declared options the method does not take: {declared - takes - fields}"
    assert not (takes - declared - set(spec.fixed)), f"{name}: loader options not declared: {takes - declared}"
    if spec.kind == "optimization":
        assert checked >= 5, (name, checked)


@pytest.mark.parametrize("name", [n for n in METHODS if get_method(n).kind == "feed-forward"])
def test_declared_control_defaults_are_the_networks_defaults(name):
    """A control left out in Python runs the declared default (the ``apply`` keyword defaults)."""
    module = importlib.import_module(get_method(name).loader.partition(":")[0])
    classes = [c for c in vars(module).values() if inspect.isclass(c) and getattr(c, "spec", None) is get_method(name)]
    assert len(classes) == 1, (name, classes)
    params = inspect.signature(classes[0].apply).parameters
    for control in get_method(name).controls:
        if control.name in params and params[control.name].default is not inspect.Parameter.empty:
            assert params[control.name].default == control.default, (name, control.name)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_declaration_is_complete_and_json_ready(name):
    spec = get_method(name)
    assert spec.name == name and spec.kind in KINDS and spec.summary and spec.needs
    assert {"size", "preserve_color"} <= {c.name for c in spec.controls}
    for option in spec.options + spec.controls:
        assert option.help, (name, option.name)
        if option.type in ("int", "float"):
            bounded = option.minimum is not None or option.exclusive_minimum is not None
            assert bounded, f"{name}: --{option.name} declares no lower bound"
    json.dumps(spec.describe())
    if spec.trainer:
        assert callable(getattr(spec.trainer_class(), "train_step", None)), name


def test_declarations_and_the_stylize_parser_load_without_jax():
    code = ("import argparse, sys; from jaxstyle.cli import stylize; from jaxstyle.methods import METHODS, get_method; "
            "[get_method(n).describe() for n in METHODS]; "
            "stylize.register(argparse.ArgumentParser().add_subparsers(), ['--method', 'cin']); "
            "print(sorted(m for m in ('jax', 'flax', 'optax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
