"""--remat (jax.checkpoint per VGG block) really recomputes instead of storing activations.

XLA:CPU drops jax.checkpoint's CSE barriers (its ``cse_barrier_expander`` pass) and then merges
the recomputation back into the forward pass, so on the CPU remat only takes effect after
``keep_remat_on_cpu()`` (what the CLI calls for --remat). The check runs in a fresh process
(XLA reads its flags once) and counts the convolutions of the compiled programs.
"""

from __future__ import annotations

import json

from conftest import run_python

CODE = r"""
import json, jax, jax.numpy as jnp
from jaxstyle.models.vgg import VGGConfig, keep_remat_on_cpu, param_shapes, vgg_features
keep_remat_on_cpu()  # after `import jax`, before any computation, as in the CLI
params = {k: {"kernel": jnp.zeros(v["kernel"]), "bias": jnp.zeros(v["bias"])}
          for k, v in param_shapes("vgg16").items()}
x = jnp.zeros((1, 256, 256, 3))
layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
out = {}
for remat in (False, True):
    cfg = VGGConfig("vgg16", remat=remat)
    loss = lambda x, p: sum(jnp.sum(v * v) for v in vgg_features(p, x, layers, cfg).values())
    c = jax.jit(jax.grad(loss)).lower(x, params).compile()
    out[str(remat)] = c.as_text().count(" convolution(")
print(json.dumps(out))
"""


def test_remat_recomputes_the_blocks_on_cpu():
    proc = run_python(CODE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    # All 11 forward convolutions (conv1_1..conv5_1) run again in the backward pass; without
    # the flag XLA merges them back (memory figures: benchmarks/remat_memory.py).
    assert got["True"] - got["False"] == 11, got


def test_keep_remat_on_cpu_extends_an_existing_pass_list(monkeypatch):
    from jaxstyle.models.vgg import keep_remat_on_cpu

    monkeypatch.setenv("XLA_FLAGS", "--xla_foo=1 --xla_disable_hlo_passes=a,b")
    keep_remat_on_cpu()
    keep_remat_on_cpu()
    import os

    assert os.environ["XLA_FLAGS"] == "--xla_foo=1 --xla_disable_hlo_passes=a,b,cse_barrier_expander"
