"""Two JAX processes on the CPU read disjoint shards that together cover the data, and
assemble one global batch with make_array_from_process_local_data."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from conftest import REPO
from test_data import make_id_images

WORKER = r"""
import json, sys
import jax
jax.distributed.initialize(coordinator_address="127.0.0.1:{port}", num_processes=2, process_id={pid})
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
sys.path.insert(0, {tests!r})
from test_data import cfg_for, ids_of
from jaxstyle.data import build_paired_iterator, to_global_batch

it = build_paired_iterator(cfg_for({content!r}, {style!r}), global_batch=4, seed=0)
batches = [next(it) for _ in range(5)]  # 10 local elements: two epochs of a 5-record shard
content = sum((ids_of(b["content"]) for b in batches), [])
style = sum((ids_of(b["style"]) for b in batches), [])

mesh = jax.make_mesh((jax.device_count(),), ("data",))
garr = to_global_batch(batches[0], NamedSharding(mesh, PartitionSpec("data")))
total = float(jax.jit(lambda x: x.sum())(garr["content"]))
json.dump(dict(content=content, style=style, shape=list(garr["content"].shape),
               local_sum=float(batches[0]["content"].astype(np.float64).sum()), global_sum=total),
          open({out!r}, "w"))
it.close()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_read_disjoint_shards_covering_the_data(tmp_path):
    content = make_id_images(tmp_path / "content", 10)
    style = make_id_images(tmp_path / "style", 7)
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    procs, outs = [], []
    for pid in range(2):
        out = tmp_path / f"p{pid}.json"
        code = WORKER.format(
            port=port,
            pid=pid,
            tests=str(REPO / "tests"),
            content=str(content),
            style=str(style),
            out=str(out),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        outs.append(out)
    for p in procs:
        log = p.communicate(timeout=240)[0].decode()
        assert p.returncode == 0, log[-3000:]
    r0, r1 = (json.loads(o.read_text()) for o in outs)

    # Content: 10 records -> 5 per process; each process's first epoch is its whole shard.
    c0, c1 = set(r0["content"][:5]), set(r1["content"][:5])
    assert len(c0) == len(c1) == 5 and not c0 & c1 and c0 | c1 == set(range(10))
    assert set(r0["content"]) == c0 and set(r1["content"]) == c1  # never leaves its shard
    # Style: 7 records -> shards of 4 and 3, disjoint, covering all 7.
    s0, s1 = set(r0["style"]), set(r1["style"])
    assert not s0 & s1 and s0 | s1 == set(range(7)) and {len(s0), len(s1)} == {3, 4}

    # One global (4, 16, 16, 3) array whose sum is the sum of both processes' local batches.
    assert r0["shape"] == r1["shape"] == [4, 16, 16, 3]
    expected = r0["local_sum"] + r1["local_sum"]
    assert abs(r0["global_sum"] - expected) < 1e-3 * expected
    assert r0["global_sum"] == r1["global_sum"]
