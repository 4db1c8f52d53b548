"""The shared learning-rate schedule."""

from __future__ import annotations

import numpy as np
import optax
import pytest

from jaxstyle.schedules import inverse_time_decay


def test_inverse_time_decay_is_the_official_adjust_learning_rate():
    schedule = inverse_time_decay(1e-4, 5e-5)
    for step in (0, 1, 1000, 160_000):
        assert float(schedule(np.int32(step))) == pytest.approx(1e-4 / (1 + 5e-5 * step), rel=1e-6)
    assert float(inverse_time_decay(1e-3, 0.0)(np.int32(10**6))) == pytest.approx(1e-3)


def test_optimizer_steps_by_the_decayed_rate():
    tx = optax.sgd(inverse_time_decay(1.0, 1.0))
    params = np.zeros((), np.float32)
    state = tx.init(params)
    steps = []
    for _ in range(3):  # sgd moves by lr * grad: 1, 1/2, 1/3 for grad 1
        updates, state = tx.update(np.ones((), np.float32), state, params)
        steps.append(-float(updates))
    assert steps == pytest.approx([1.0, 1 / 2, 1 / 3])
