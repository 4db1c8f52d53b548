"""A multi-process run stops with one line when another process dies.

Without this, the survivors of a ``kill -9`` (an OOM kill, a preempted host) block in their
next collective until JAX's coordination service notices the missing heartbeats (100 s by
default) and then abort from C++: exit 134 and ~150 lines of stack traces, the cause buried.

:class:`PeerWatchdog` is a daemon thread in every process. Every beat (each second) it bumps a counter
of its own in the coordination service's key-value store and reads everybody's (one RPC
for all processes); a counter that has not moved for ``timeout_s`` seconds means that
process is gone, and RPCs that keep failing for ``timeout_s`` mean the coordinator (process 0)
is (one failed RPC is a network hiccup, not a death; with jax 0.10.2 JAX's own client aborts
the process from C++ first when process 0 dies, so that line is a fallback: tests/test_watchdog.py).
Either way it prints one ``error:`` line
and ends the process with exit status 3 (``os._exit``: the main thread may be stuck inside a
collective that would never return). Counters are compared with this process's own monotonic
clock, so host clocks need not agree.

``timeout_s`` defaults to 30 s, or ``$JAXSTYLE_PEER_TIMEOUT`` seconds: well below JAX's
100 s heartbeat timeout, so the watchdog speaks first, and well above the stalls a busy but
healthy host shows (a beat needs the GIL for a moment; a false alarm would end a good run).
Beats come every second, or every tenth of a shorter timeout: a death is reported between
``timeout_s`` and ``timeout_s`` plus two beats after it (tests/test_watchdog.py times it).

``jaxstyle train`` and ``jaxstyle stylize`` start one per process right after joining a run
(:func:`watch_peers`); on an unexpected exception ``jaxstyle.cli.main`` ends the run with
:func:`fail`.

The coordination service's client is reached through ``jax._src.distributed.global_state``:
the public API exposes no key-value store (checked for jax 0.10.2).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import jax

from jaxstyle.errors import first_line

EXIT_PEER_LOST = 3
DEFAULT_TIMEOUT_S = 30.0
PREFIX = "jaxstyle/alive/"


def _client():
    from jax._src import distributed  # private: see the module docstring

    return distributed.global_state.client


def _die(message: str) -> None:
    print(f"error: {message}; stopping this process too (re-run the same command on every host to "
          "resume from the last checkpoint)", file=sys.stderr, flush=True)
    os._exit(EXIT_PEER_LOST)


class PeerWatchdog:
    """Watches every other process of a ``jax.distributed`` run (see the module docstring).

    Args:
      timeout_s: seconds without a sign of life before a process counts as dead (default
        ``$JAXSTYLE_PEER_TIMEOUT`` or 30).
      interval_s: seconds between two beats (default 1, or a tenth of a shorter timeout).
    """

    def __init__(self, timeout_s: float | None = None, interval_s: float | None = None):
        if timeout_s is None:
            timeout_s = float(os.environ.get("JAXSTYLE_PEER_TIMEOUT", DEFAULT_TIMEOUT_S))
        if interval_s is None:
            interval_s = min(1.0, timeout_s / 10)
        self.timeout_s, self.interval_s = timeout_s, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeerWatchdog:
        """Start watching (a no-op in a single-process run)."""
        if jax.process_count() > 1 and _client() is not None:
            self._thread = threading.Thread(target=self._run, name="jaxstyle-peer-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, before a normal shutdown (processes then leave at different times)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def fail(self, err: BaseException) -> None:
        """End a multi-process run on ``err`` (raised by the main thread: typically a collective
        that lost its peer, "Gloo all-reduce failed ... Connection closed by peer") with one line
        and exit status 3, now: a normal exit would wait in JAX's shutdown barrier for the dead
        process and then abort with pages of C++ logs. Single-process runs re-raise ``err``."""
        if self._thread is None:
            raise err
        _die(f"{type(err).__name__}: {first_line(err)} (another process probably died)")

    def __enter__(self) -> PeerWatchdog:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        client, me, n = _client(), jax.process_index(), jax.process_count()
        seen: dict[int, str | None] = {}
        changed = {p: time.monotonic() for p in range(n) if p != me}
        beat, reached = 0, time.monotonic()
        while not self._stop.is_set():
            beat += 1
            try:
                client.key_value_set(f"{PREFIX}{me}", str(beat), allow_overwrite=True)
                values = {key.rsplit("/", 1)[-1]: value for key, value in client.key_value_dir_get(PREFIX)}
                reached = time.monotonic()
            except Exception as e:  # noqa: BLE001 - any failure to reach the coordinator
                if self._stop.is_set():
                    return
                if time.monotonic() - reached > self.timeout_s:
                    _die(f"lost the coordinator, process 0 of {n} ({first_line(e)})")
                self._stop.wait(self.interval_s)
                continue
            now = time.monotonic()
            for peer in changed:
                value = values.get(str(peer))
                if value != seen.get(peer):
                    seen[peer], changed[peer] = value, now
                elif now - changed[peer] > self.timeout_s and not self._stop.is_set():
                    _die(f"process {peer} of {n} stopped (no sign of life for {self.timeout_s:.0f} s)")
            self._stop.wait(self.interval_s)


_WATCHING: PeerWatchdog | None = None


def watch_peers() -> PeerWatchdog:
    """Start this process's watchdog (once; a no-op in a single-process run) and return it."""
    global _WATCHING
    if _WATCHING is None:
        _WATCHING = PeerWatchdog().start()
    return _WATCHING


def stop_watching() -> None:
    """Stop the watchdog :func:`watch_peers` started, before a normal exit."""
    global _WATCHING
    if _WATCHING is not None:
        _WATCHING.stop()
        _WATCHING = None


def fail(err: BaseException) -> None:
    """In a watched multi-process run, end it on ``err`` with one line, exit 3
    (:meth:`PeerWatchdog.fail`); otherwise return, for the caller to re-raise ``err``."""
    if _WATCHING is not None and _WATCHING._thread is not None:
        _WATCHING.fail(err)
