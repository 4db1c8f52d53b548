"""The multi-process watchdog (jaxstyle/watchdog.py): a process whose peer dies stops with one
line and exit status 3, on time, through the same ``watch_peers()`` the CLI starts.

Two real ``jax.distributed`` processes over 127.0.0.1 (no model: seconds). The survivor's main
thread blocks forever, as in a collective that never returns, so only the watchdog can end it;
the timeout is shortened through ``$JAXSTYLE_PEER_TIMEOUT`` (the variable users set), and the
beat interval shrinks with it, so the stop is timed to a fraction of a second plus a loaded
machine's scheduling slack. The slow tests in tests/test_reliability.py kill a process of a
real ``jaxstyle train`` and ``stylize`` run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO

TIMEOUT_S = 3.0
SLACK_S = 3.0  # scheduling on the shared 2-core box: a daemon thread may wake late

PROCESS = """
import sys, threading
import jax
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
from jaxstyle.watchdog import watch_peers
watchdog = watch_peers()
print("watching", watchdog.timeout_s, watchdog.interval_s, flush=True)
threading.Event().wait()  # blocked for good, like a collective whose peer is gone
"""


def _start_pair() -> list[subprocess.Popen]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", "JAXSTYLE_PEER_TIMEOUT": str(TIMEOUT_S)}
    return [subprocess.Popen([sys.executable, "-c", PROCESS, f"127.0.0.1:{port}", str(rank)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for rank in range(2)]  # fmt: skip


def _kill_and_time(procs: list[subprocess.Popen], victim: int) -> tuple[float, int, str]:
    """Wait until both processes watch, SIGKILL ``victim``; the survivor's seconds to its exit,
    its exit status and its stderr."""
    try:
        for p in procs:
            line = p.stdout.readline()  # blocks until that process has joined and started watching
            assert line.split()[:2] == ["watching", str(TIMEOUT_S)], (line, p.stderr.read()[-2000:] if p.poll() else "")
            assert float(line.split()[2]) == pytest.approx(TIMEOUT_S / 10)  # beats shrink with the timeout
        time.sleep(1.0)  # several beats exchanged: each has seen the other alive
        assert all(p.poll() is None for p in procs), "a process stopped before the kill"
        procs[victim].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        survivor = procs[1 - victim]
        _, err = survivor.communicate(timeout=TIMEOUT_S + 30)
        return time.monotonic() - killed_at, survivor.returncode, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def test_survivor_of_a_killed_peer_stops_with_one_line_within_the_timeout():
    waited, code, err = _kill_and_time(_start_pair(), victim=1)
    lines = err.strip().splitlines()
    assert code == 3, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: process 1 of 2 stopped (no sign of life for 3 s)"), err
    assert "stopping this process too" in lines[0]
    # The peer's last beat was seen at most one beat before or after the kill, and the silence
    # is checked every beat: the stop comes between timeout - 1 beat and timeout + 2 beats.
    interval = TIMEOUT_S / 10
    assert TIMEOUT_S - interval <= waited <= TIMEOUT_S + 2 * interval + SLACK_S, waited


def test_a_dead_coordinator_aborts_the_others_before_the_watchdog_can_speak():
    """A limit, not a guarantee: when process 0 (the coordination service) dies, JAX 0.10.2's
    client in every other process aborts from C++ at once (SIGABRT, a stack trace: its error
    poll fails), so the watchdog's "lost the coordinator" line is never reached. If a JAX
    upgrade changes this, this test fails and the documentation (docs/guarantees.md) changes."""
    waited, code, err = _kill_and_time(_start_pair(), victim=0)
    assert code == -signal.SIGABRT and "coordination service" in err, (code, err[-3000:])
    assert waited < TIMEOUT_S, waited


def test_the_default_timeout_is_30_s_and_the_variable_overrides_it(monkeypatch):
    from jaxstyle.watchdog import DEFAULT_TIMEOUT_S, PeerWatchdog

    monkeypatch.delenv("JAXSTYLE_PEER_TIMEOUT", raising=False)
    default = PeerWatchdog()
    assert DEFAULT_TIMEOUT_S == default.timeout_s == 30.0 and default.interval_s == 1.0
    monkeypatch.setenv("JAXSTYLE_PEER_TIMEOUT", "4.5")
    assert PeerWatchdog().timeout_s == 4.5 and PeerWatchdog().interval_s == pytest.approx(0.45)
