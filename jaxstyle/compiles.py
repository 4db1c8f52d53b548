"""Counting XLA compilations: the one listener behind collections' compile bound, the studies'
program counts and ``jaxstyle bench``'s compile times.

``jax.monitoring`` reports every backend compilation as a duration event with the jitted
function's name (``jit(run_chunk)`` for the optimization engine's loop).
"""

from __future__ import annotations

import collections
from typing import Any

import jax

EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """While active (``with CompileCounter() as c:``), every XLA compilation as
    ``(fun_name, seconds)`` in :attr:`events`."""

    def __init__(self):
        self.events: list[tuple[str, float]] = []

    def _listen(self, event: str, duration: float, **meta: Any) -> None:
        if event == EVENT:
            self.events.append((str(meta.get("fun_name")), duration))

    def __enter__(self) -> CompileCounter:
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc: Any) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listen)

    @property
    def total(self) -> int:
        return len(self.events)

    @property
    def by_name(self) -> collections.Counter[str]:
        """Compilations per jitted function name (``jit(run_chunk)``: the optimization loop)."""
        return collections.Counter(name for name, _ in self.events)

    def seconds(self, fun_name: str | None = None) -> list[float]:
        """Durations of the compilations of ``fun_name`` (``run_chunk`` matches ``jit(run_chunk)``;
        None: all)."""
        names = None if fun_name is None else (fun_name, f"jit({fun_name})")
        return [s for name, s in self.events if names is None or name in names]
