"""Losses: small pure functions, batched over a leading axis, reductions documented.

Core image/feature losses live in :mod:`jaxstyle.losses.core` and are re-exported here;
method-specific terms live beside them (``losses/rast.py``, ``losses/depth.py``).
"""

from jaxstyle.losses.core import *  # noqa: F403
from jaxstyle.losses.core import __all__  # noqa: F401
