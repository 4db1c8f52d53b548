"""Exceptions that carry a one-line, user-facing message.

The CLI turns every :class:`JaxstyleError` into ``error: <message>`` on stderr and exit
code 2, with no traceback. Library users catch them like any other exception.
"""


class JaxstyleError(Exception):
    """Base class: bad input from the user (files, options, weights)."""


class InputError(JaxstyleError, ValueError):
    """An input file or option is missing, unreadable or invalid."""


class WeightsError(JaxstyleError, ValueError):
    """A weights file is missing, corrupt, unsafe, or does not match the model."""
