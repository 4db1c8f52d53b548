"""Sweeps in one program: Gatys' loss weights as traced per-pair inputs (``traced_weights``).

A weight sweep is one compiled program run as one batch over the engine's pair axis, and each
of its rows equals the run of an ordinary (untraced) objective with those weights.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import FAST_COMPILE

from jaxstyle.compiles import CompileCounter
from jaxstyle.errors import InputError
from jaxstyle.io import load_image, resize_long_side
from jaxstyle.optimize import EngineConfig, Gatys, optimize_pairs
from jaxstyle.optimize.engine import init_opt_state, prepare_targets, run_chunk
from jaxstyle.pairs import Pair

STYLE_LAYERS = ("relu1_1", "relu1_2")  # two convolutions: the programs compile fast
CONTENT_LAYERS = ("relu1_2",)
SETTINGS = [  # (term weights, style layer weights or None (the mean), the untraced twin's style layers)
    ({"content": 1.0, "style": 1e5}, None, STYLE_LAYERS),
    ({"content": 1.0, "style": 1e4}, None, STYLE_LAYERS),
    ({"content": 0.0, "style": 1e5}, None, STYLE_LAYERS),
    ({"content": 5.0, "style": 1e5, "tv": 0.0}, None, STYLE_LAYERS),
    ({"content": 1.0, "style": 1e5}, {"relu1_1": 1.0}, ("relu1_1",)),  # one-hot = that layer alone
    ({"content": 1.0, "style": 1e5}, {"relu1_2": 1.0}, ("relu1_2",)),
]
ENGINE = EngineConfig(size=32, steps=4, optimizer="adam", chunk=2)  # two chunks: still one program


@pytest.fixture(scope="module")
def pair(content_paths, style_paths) -> Pair:
    return Pair(resize_long_side(load_image(content_paths[0]), 32), resize_long_side(load_image(style_paths[0]), 32))


def test_weight_sweep_compiles_once_and_equals_single_runs(vgg16, pair):
    sweep = Gatys(content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS, encoder=vgg16, traced_weights=True)
    weights = [sweep.weight_inputs(terms, layers) for terms, layers, _ in SETTINGS]
    extra = {name: [w[name] for w in weights] for name in sweep.extra_inputs}
    with CompileCounter() as compiles:
        batch = optimize_pairs(sweep, [pair] * len(SETTINGS), ENGINE, extra_inputs=extra)
    assert len(compiles.seconds("run_chunk")) == 1  # six settings, one optimization program (XLA compile events)
    for (terms, _, layers), row in zip(SETTINGS, batch, strict=True):
        single = Gatys(content_layers=CONTENT_LAYERS, style_layers=layers, encoder=vgg16,
                       content_weight=terms["content"], style_weight=terms["style"], tv_weight=terms.get("tv", 1.0))
        (alone,) = optimize_pairs(single, [pair], ENGINE)
        np.testing.assert_allclose(row.image, alone.image, atol=2e-5)
    # The weights matter: settings that differ only in weights give different images.
    assert np.abs(batch[0].image - batch[1].image).max() > 1e-3


def test_traced_weights_refuse_unknown_layers_and_missing_terms(vgg16):
    sweep = Gatys(style_layers=STYLE_LAYERS, encoder=vgg16, traced_weights=True, tv_weight=0.0)
    with pytest.raises(InputError, match="not among the objective's style layers"):
        sweep.weight_inputs(style_layers={"relu5_1": 1.0})
    with pytest.raises(InputError, match="unknown loss term"):
        sweep.weight_inputs({"contnet": 1.0})
    with pytest.raises(InputError, match="tv weight"):  # the program has no TV term to weigh
        sweep.weight_inputs({"tv": 1.0})
    assert not Gatys().extra_inputs  # untraced objectives keep their inputs (and programs) as before


def test_traced_weight_chunk_exports_for_gpu_and_tpu(vgg16):
    """The sweep's program serializes with jax.export for CUDA and TPU (as tests/test_export.py checks
    every other engine program; that file enumerates objectives without extra inputs)."""
    sweep = Gatys(content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS, encoder=vgg16, traced_weights=True)
    settings = ENGINE.program_key()
    one = sweep.weight_inputs()
    inputs = {"content": jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32),
              "style": jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32),
              **{k: jax.ShapeDtypeStruct((2, *v.shape), jnp.float32) for k, v in one.items()}}
    frozen = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), sweep.frozen())
    targets = jax.eval_shape(functools.partial(prepare_targets, objective=sweep), frozen, inputs)
    variables = {"image": jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)}
    opt_state = jax.eval_shape(functools.partial(init_opt_state, settings=settings), variables)
    args = (variables, opt_state, jax.ShapeDtypeStruct((), jnp.int32), targets, frozen)
    leaves, tree = jax.tree.flatten(args)

    def flat(*xs):
        return jax.tree.leaves(run_chunk(*jax.tree.unflatten(tree, xs), objective=sweep, settings=settings))

    exported = jax.export.export(jax.jit(flat), platforms=("cuda", "tpu"))(*leaves)
    assert "callback" not in exported.mlir_module()
    assert jax.export.deserialize(exported.serialize()).platforms == ("cuda", "tpu")


SHARDED = """
import json, numpy as np, jax
assert jax.device_count() == 4
from jaxstyle.study import RunOptions, StudyOptions
from jaxstyle.study.run import run_settings
from jaxstyle.study.studies import weights_study
from jaxstyle.io import load_image
opts = StudyOptions(ratios=(1e-4, 1e-2, 1, 1e2, 1e3), style_layers={layers}, content_layers={layers})
out = run_settings(weights_study(opts), load_image({content!r}), load_image({style!r}),
                   RunOptions(size=32, steps=3, chunk=3), log=lambda _: None)
np.savez({out!r}, *[o.image for o in out])
"""


@pytest.mark.slow
def test_study_batch_sharded_over_4_devices_equals_one_device(content_paths, style_paths, tmp_path):
    """Five settings on four devices (the pair axis padded to eight): the same images as on one."""
    from conftest import run_python

    from jaxstyle.study import RunOptions, StudyOptions
    from jaxstyle.study.run import run_settings
    from jaxstyle.study.studies import weights_study

    out = tmp_path / "four.npz"
    code = SHARDED.format(layers=STYLE_LAYERS, content=str(content_paths[0]), style=str(style_paths[0]), out=str(out))
    proc = run_python(code, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=4 {FAST_COMPILE}"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    four = np.load(out)
    opts = StudyOptions(ratios=(1e-4, 1e-2, 1, 1e2, 1e3), style_layers=STYLE_LAYERS, content_layers=STYLE_LAYERS)
    one = run_settings(weights_study(opts), load_image(content_paths[0]), load_image(style_paths[0]),
                       RunOptions(size=32, steps=3, chunk=3), log=lambda _: None)
    for k, outcome in enumerate(one):
        np.testing.assert_allclose(four[f"arr_{k}"], outcome.image, atol=2e-5)
