"""Run configs: ``path/to/config.py:variant`` files plus ``--config.a.b=value`` overrides.

A config file defines ``get_config(arg=None) -> ml_collections.ConfigDict`` (see
``configs/*.py``); ``arg`` picks a variant. :func:`load_config` is the one way to read them,
for the CLI and for Python callers alike::

  cfg = load_config("configs/adain.py:tiny", ["--config.train.steps=5"])

This is our own small loader rather than absl's ``ml_collections.config_flags``: that one
binds a config to a global absl flag and is filled in by absl's ``app.run`` flag parsing, so
it cannot serve a library call (``train(load_config(...))`` from a notebook or a test), nor
our argparse CLI, nor two configs in one process (``jaxstyle ablate``).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ml_collections

from jaxstyle.errors import InputError


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """Load ``get_config(variant)`` from a config file and apply ``--config.x.y=v`` overrides.

    Args:
      spec: ``FILE`` or ``FILE:VARIANT`` (the text after the colon is ``get_config``'s ``arg``).
      overrides: items for :func:`apply_override`, applied in order.

    Raises:
      InputError: a missing file, an unknown variant (the config's ``ValueError``) or a bad
        override.
    """
    path, _, arg = spec.partition(":")
    if not Path(path).is_file():
        raise InputError(f"{path}: config file not found")
    module_spec = importlib.util.spec_from_file_location(
        f"_jaxstyle_config_{Path(path).stem}", path
    )
    if module_spec is None:  # not a .py file: nothing to import it with
        raise InputError(f"{path}: not a Python config file (expected FILE.py or FILE.py:VARIANT)")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
        cfg = module.get_config(arg or None)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def apply_override(cfg: ml_collections.ConfigDict, item: str) -> None:
    """Apply one ``--config.a.b=value`` (or ``a.b=value``) to ``cfg`` in place.

    The value is coerced to the type of the existing field: bool accepts true/false/1/0;
    ints, floats and strings as usual; a ``None`` field takes the string; tuples and lists
    are Python literals. Unknown keys and sections are errors (typos must not pass silently).
    """
    key, sep, raw = item.removeprefix("--").removeprefix("config.").partition("=")
    if not sep:
        raise InputError(f"config override {item!r} needs the form --config.KEY=VALUE")
    *parents, leaf = key.split(".")
    node = cfg
    for p in parents:
        if p not in node or not isinstance(node[p], ml_collections.ConfigDict):
            raise InputError(f"config override {item!r}: no config section {p!r}")
        node = node[p]
    if leaf not in node:
        raise InputError(f"config override {item!r}: unknown key {key!r}")
    old = node[leaf]
    try:
        node[leaf] = _coerce(raw, old)
    except (ValueError, SyntaxError):
        raise InputError(
            f"config override {item!r}: {raw!r} is not a valid {type(old).__name__}"
        ) from None


def _coerce(raw: str, old: Any) -> Any:
    """``raw`` as a value of ``old``'s type (see :func:`apply_override`)."""
    if isinstance(old, bool):  # before int: bool is an int
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(raw)
        return raw.lower() in ("true", "1")
    if isinstance(old, int | float):
        return type(old)(raw)
    if isinstance(old, str) or old is None:
        return raw
    return type(old)(ast.literal_eval(raw))


def make_tiny(cfg: ml_collections.ConfigDict, *, crop_size: int) -> ml_collections.ConfigDict:
    """Shrink ``cfg`` in place to a seconds-long smoke run (the ``tiny`` config variants).

    A decoder 1/16 as wide (where the model has one), ``crop_size`` crops of images resized to ``crop_size + 8`` (a
    margin so random crops still vary), batch 2, 20 steps, every step logged, checkpoints
    and sample grids every 10 steps, and lr 1e-3 (a tiny decoder needs a bigger step to move
    in 20 steps). Method-specific shrinking (discriminators, heads) stays in the config file.
    Returns ``cfg``.
    """
    if "decoder_width" in cfg.model:
        cfg.model.decoder_width = 1 / 16
    cfg.data.load_size = crop_size + 8
    cfg.data.crop_size = crop_size
    cfg.train.update(
        steps=20, batch_size=2, log_every=1, checkpoint_every=10, sample_every=10, num_samples=2
    )
    cfg.optim.lr = 1e-3
    return cfg


# Fields of cfg.train that count something: must be positive (sample_every: 0 = never).
_POSITIVE_TRAIN = ("steps", "batch_size", "log_every", "checkpoint_every")
_NON_NEGATIVE_TRAIN = ("sample_every", "num_samples")


def _numbers(node: Any, prefix: str):
    """``(dotted_key, value)`` of every int/float leaf under ``node`` (bools left out)."""
    for key, value in node.items():
        if isinstance(value, ml_collections.ConfigDict):
            yield from _numbers(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield f"{prefix}{key}", value


def validate_train_config(cfg: ml_collections.ConfigDict) -> None:
    """One-line :class:`InputError` for a config no run can use, before anything is made.

    Checks: ``seed`` an integer in 0..2**32-1 (as ``--seed``); ``train.steps``, ``batch_size``,
    ``log_every``, ``checkpoint_every`` positive; ``sample_every``, ``num_samples`` >= 0;
    ``keep_checkpoints`` None or >= 1; every number in ``optim`` and ``loss`` finite, and
    ``optim.lr`` and every ``loss`` weight >= 0 (a NaN or infinite weight would train to a black
    image with exit 0).
    """
    import math

    from jaxstyle.methods.base.declaration import SEED  # what a seed may be, declared once

    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED.minimum <= seed <= SEED.maximum:
        raise InputError(f"--config.seed must be an integer {SEED.range_text()}, got {seed!r}")
    train = cfg.train
    for name in _POSITIVE_TRAIN:
        if name in train and not train[name] > 0:
            raise InputError(f"--config.train.{name} must be positive, got {train[name]}")
    for name in _NON_NEGATIVE_TRAIN:
        if name in train and not train[name] >= 0:
            raise InputError(f"--config.train.{name} must be >= 0, got {train[name]}")
    keep = train.get("keep_checkpoints")
    if keep is not None and keep < 1:
        raise InputError(f"--config.train.keep_checkpoints must be >= 1 (or None: keep all), got {keep}")
    for section in ("optim", "loss"):
        if section not in cfg:
            continue
        for key, value in _numbers(cfg[section], f"{section}."):
            if not math.isfinite(value):
                raise InputError(f"--config.{key} must be a finite number, got {value}")
            if (section == "loss" or key == "optim.lr") and value < 0:
                raise InputError(f"--config.{key} must be >= 0, got {value}")
