"""The objective protocol: what one optimization problem gives the engine.

An objective says what each (content, style) pair optimizes and against what; the engine
(:mod:`jaxstyle.optimize.engine`, whose docstring has a worked example) owns everything else.
Per-pair functions are written for ONE pair; the engine ``vmap``s them over the pair axis.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Protocol

import jax
import numpy as np

Variables = Any  # a pytree of arrays: what one pair optimizes
Targets = Any  # a pytree of arrays: what one pair is compared against
Frozen = Any  # a pytree of arrays: the fixed networks (encoder, LPIPS, ...)


class Objective(Hashable, Protocol):
    """One optimization problem per pair.

    An objective is a jit *static* argument: it must be hashable, and equal objectives must
    trace the same program (a frozen dataclass whose networks are ``compare=False`` fields).
    Its ``repr`` goes into checkpoint fingerprints, so it must describe its settings.
    Networks reach jitted code only through :meth:`frozen`, as arguments: read them from the
    ``frozen`` parameter, never from ``self`` (that would embed them as constants).
    """

    extra_inputs: tuple[str, ...]
    """Per-pair inputs beyond ``content`` and ``style`` (e.g. ``("keypoints",)``). Passed to
    the engine as ``extra_inputs={name: [one array per pair]}``, as given (not resized)."""

    def frozen(self) -> Frozen:
        """The fixed networks, passed into every jitted function as an argument."""
        ...

    def prepare(self, frozen: Frozen, inputs: Mapping[str, jax.Array]) -> Targets:
        """Targets of a batch of P pairs, on device (jitted by the engine).

        ``inputs``: ``content`` (P,H,W,3) and ``style`` (P,h,w,3) in [0, 1], as the objective
        should see them (resized, colour-prepared), plus every :attr:`extra_inputs` entry,
        each with the leading pair axis. Returns a pytree with the leading pair axis.
        """
        ...

    def init(
        self, inputs: Mapping[str, np.ndarray], rng: np.random.Generator, image: np.ndarray
    ) -> Variables:
        """Initial variables of ONE pair, on the host (numpy), e.g. ``{"image": image}``.

        ``inputs``: that pair's inputs without the pair axis. ``image`` (H,W,3): the starting
        image the engine picked (content, style or noise per ``EngineConfig.init``, or the
        previous scale's result upsampled). ``rng``: this pair's generator, seeded by
        ``(EngineConfig.seed, pair index)``.
        """
        ...

    def loss(
        self, variables: Variables, targets: Targets, frozen: Frozen
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """ONE pair's ``(total, parts)``: scalars, ``parts`` the weighted terms (for progress).

        Pure: the engine differentiates it with respect to ``variables`` and vmaps it.
        """
        ...

    def image(self, variables: Variables) -> jax.Array:
        """ONE pair's image (H,W,3) to report and save."""
        ...

    # Optional hooks (the engine looks for them with ``getattr``; most objectives need neither):
    #
    # takes_step: bool = False
    #     True: ``loss`` is called as ``loss(variables, targets, frozen, step=step)``, ``step``
    #     an int32 scalar: the optimizer step being taken (0-based within a scale; the same in
    #     every evaluation of one line search; restored on resume). For per-step randomness
    #     (``jax.random.fold_in(key, step)``: STROTSS resamples its locations every step) and
    #     step schedules (DST's coarse-to-fine pyramid inside one program).
    #
    # def render(self, variables, targets) -> jax.Array:
    #     ONE pair's image (H,W,3) to report and save when it depends on the pair's targets
    #     (DST's result is the image warped by the pair's keypoints); used instead of ``image``.
