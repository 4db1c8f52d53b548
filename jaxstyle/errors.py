"""Exceptions that carry a one-line, user-facing message.

The CLI turns every :class:`JaxstyleError` into ``error: <message>`` on stderr and exit
code 2, with no traceback. Library users catch them like any other exception.
:func:`one_line` and :func:`first_line` turn a third-party exception into text for such a
message; :func:`flag` names an option the way the CLI spells it;
:func:`non_finite_terms` lists the NaN/Inf terms of a loss dict. This module sits below everything else in jaxstyle and imports nothing from it.
"""

import math


class JaxstyleError(Exception):
    """Base class: bad input from the user (files, options, weights)."""


class InputError(JaxstyleError, ValueError):
    """An input file or option is missing, unreadable or invalid."""


class WeightsError(JaxstyleError, ValueError):
    """A weights file is missing, corrupt, unsafe, or does not match the model."""


def flag(name: str) -> str:
    """The CLI flag of an option or control name: ``style_weights`` -> ``--style-weights``.

    Messages name options by their flags, so the CLI can pass library errors on as they are.
    """
    return "--" + name.replace("_", "-")


def one_line(err: BaseException) -> str:
    """``err``'s message with its whitespace, line breaks included, squeezed to single spaces.

    For the middle of a one-line message (Pillow's messages sometimes span several lines);
    the exception's type name when the message is empty.
    """
    return " ".join(str(err).split()) or type(err).__name__


def first_line(err: BaseException) -> str:
    """The first non-empty line of ``err``'s message, stripped; else the type name.

    For libraries whose messages run to paragraphs after a first line that says what is wrong
    (safetensors, h5py, torch, JAX's shape errors).
    """
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


def non_finite_terms(values: dict[str, float]) -> str:
    """``"name=nan, other=inf"`` for the NaN/Inf entries of ``values``; "" when all are finite.

    The middle of the one-line "non-finite loss" messages of training and optimization.
    """
    return ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
