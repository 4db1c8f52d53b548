"""Learning-rate schedules shared by the trainable methods (optax 0.2.8 has no inverse-time decay)."""

from __future__ import annotations

import jax
import optax


def inverse_time_decay(lr: float, decay: float) -> optax.Schedule:
    """``step -> lr / (1 + decay * step)``: pytorch-AdaIN's and RAST's ``adjust_learning_rate``.

    ``step`` is the optimizer's update count (optax passes it), so a resumed run continues the
    schedule from its checkpointed optimizer state. ``decay = 0`` is a constant ``lr``.
    """

    def schedule(step: jax.Array) -> jax.Array:
        return lr / (1.0 + decay * step)

    return schedule
