"""Ruder et al.'s short-term temporal loss as one more objective input, for any objective.

:class:`Temporal` wraps an objective of the engine (Gatys, Lapstyle, STROTSS, ...) and adds
two per-pair inputs: ``previous`` (H, W, 3), the previous stylized frame warped onto this
frame by the optical flow, and ``reliability`` (H, W) in [0, 1], Ruder et al.'s per-pixel
weights c (0 at disocclusions, motion boundaries and where the flow leaves the frame:
:func:`jaxstyle.video.flow.reliability_ruder`). Its loss is the wrapped objective's plus

    temporal_weight * (1 / 3HW) * sum_x c(x) * |x(x) - previous(x)|^2

(the size-averaged weighted MSE of ``WeightedContentLoss`` in artistic-videos, on the image as
the engine optimizes it, in [0, 1]), and each pair starts from ``previous`` when any pixel of
it is reliable (Ruder's ``prevWarped`` initialisation), else from the engine's start image. A
first frame (``reliability`` all 0) thus runs the wrapped objective alone, in the same
compiled program as every later frame.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

TEMPORAL_INPUTS = ("previous", "reliability")


@dataclasses.dataclass(frozen=True)
class Temporal:
    """``base`` plus the temporal term weighted ``weight`` (see the module docstring)."""

    base: Any
    weight: float = 2e3

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        return (*self.base.extra_inputs, *TEMPORAL_INPUTS)

    @property
    def fits(self) -> tuple[str, ...]:
        return ()  # exact shapes: the warped previous frame is on the frame's own grid

    @property
    def takes_step(self) -> bool:
        return getattr(self.base, "takes_step", False)

    @property
    def render(self):
        """The wrapped objective's ``render`` on its own targets, or None (the engine uses ``image``)."""
        base_render = getattr(self.base, "render", None)
        if base_render is None:
            return None
        return lambda variables, targets: base_render(variables, targets["base"])

    def frozen(self) -> Any:
        return self.base.frozen()

    def prepare(self, frozen: Any, inputs: dict[str, jax.Array]) -> dict[str, Any]:
        """The wrapped objective's targets (``base``), and ``previous`` (P,H,W,3), ``reliability`` (P,H,W)."""
        base = self.base.prepare(frozen, {k: v for k, v in inputs.items() if k not in TEMPORAL_INPUTS})
        return {"base": base, **{k: inputs[k] for k in TEMPORAL_INPUTS}}

    def init(self, inputs: dict[str, np.ndarray], rng: np.random.Generator, image: np.ndarray) -> Any:
        base_inputs = {k: v for k, v in inputs.items() if k not in TEMPORAL_INPUTS}
        start = inputs["previous"] if np.any(inputs["reliability"] > 0) else image
        return self.base.init(base_inputs, rng, np.asarray(start, np.float32))

    def loss(self, variables: Any, targets: dict[str, Any], frozen: Any, **step: Any):
        """One pair: the wrapped ``(total, parts)`` plus ``parts["temporal"]``, the weighted temporal term."""
        total, parts = self.base.loss(variables, targets["base"], frozen, **step)
        render = self.render
        x = self.base.image(variables) if render is None else render(variables, targets)
        c = targets["reliability"][..., None]
        temporal = self.weight * jnp.mean(c * jnp.square(x - targets["previous"]))
        return total + temporal, {**parts, "temporal": temporal}

    def image(self, variables: Any) -> jax.Array:
        return self.base.image(variables)
