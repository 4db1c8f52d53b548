"""Portability: every user-facing program serializes with ``jax.export`` for CUDA and TPU.

One test per program, found by enumerating the registries (never a hand-written list), so a
method added later is covered without touching this file:

- every trainable method's train step (:data:`jaxstyle.methods.METHODS` entries with a
  ``TRAINER``, built from ``configs/<method>.py:tiny``), as :mod:`jaxstyle.train` jits it;
- every stylizer's forward program (every registered method): a feed-forward stylizer's
  :meth:`~jaxstyle.methods.base.stylizer.FeedForwardStylizer.forward_program`, an optimization
  stylizer's engine chunk;
- the optimization chunk (:func:`jaxstyle.optimize.engine.run_chunk`) of every objective of
  the engine (:data:`jaxstyle.optimize.OBJECTIVES`) under every optimizer;
- ``--tile``'s window step and whole-image update (:mod:`jaxstyle.optimize.tiled`) of every
  objective that can be tiled.

A program that cannot be exported fails its test (no skips). All of them run in the default
suite (the train steps, which trace a value_and_grad of every loss, are the costliest at
0.2-5 s of CPU each), the pyramid objectives (strotss, dst) at one scale: their full
three-scale programs are slow-marked. Export lowers to StableHLO for
the target platforms without compiling, so these tests prove the *compilation inputs* are
valid for GPU and TPU (no host callbacks, no CPU-only custom calls such as LAPACK's); they say
nothing about numerics on those backends (docs/portability.md).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config, untrained_workdir

from jaxstyle.config import load_config
from jaxstyle.errors import InputError
from jaxstyle.methods import METHODS, get_method, get_trainer, load_stylizer
from jaxstyle.methods.base.optimization import OptimizationStylizer
from jaxstyle.methods.base.plugin import train_step_program
from jaxstyle.methods.base.stylizer import FeedForwardStylizer
from jaxstyle.optimize import OBJECTIVES
from jaxstyle.optimize.engine import OPTIMIZERS, init_opt_state, prepare_targets, run_chunk
from jaxstyle.optimize.tiled import TILED_OPTIMIZERS, Tileable, apply_update, tile_step, zero_report

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = ("cuda", "tpu")
SIZE = 64  # image side of every abstract input: export cost does not depend on it much
PAIRS = 2

TRAINABLE = [name for name in METHODS if get_method(name).trainer is not None]
# Every engine optimizer, and L-BFGS with its zoom line search (another program).
ENGINE_SETTINGS = [(opt, False, False) for opt in OPTIMIZERS] + [("lbfgs", True, False)]
ENGINE_SETTINGS += [("lbfgs", False, True)]  # --remat: jax.checkpoint'ed encoder blocks

# Host callbacks and custom calls that only XLA:CPU implements (LAPACK/ducc): on a GPU or TPU
# these would fail at compile time or silently run on the host.
_HOST_ONLY = re.compile(r"callback|lapack_|ducc_|cpu_")


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def export(jitted, args: tuple, **static: Any) -> jax.export.Exported:
    """Export ``jitted(*args, **static)`` for CUDA and TPU, serialize and read it back.

    Arguments and results are flattened first: the serialized form holds only arrays (optax
    states and encoders are pytrees of classes it cannot name).
    """
    leaves, tree = jax.tree.flatten(args)

    def flat(*xs):
        return jax.tree.leaves(jitted(*jax.tree.unflatten(tree, xs), **static))

    exported = jax.export.export(jax.jit(flat), platforms=PLATFORMS)(*leaves)
    module = exported.mlir_module()
    calls = set(re.findall(r"stablehlo\.custom_call @([\w.]+)", module))
    bad = sorted(c for c in calls if _HOST_ONLY.search(c)) + (["host callback"] if "callback" in module else [])
    assert not bad, f"not portable to {PLATFORMS}: {bad}"
    back = jax.export.deserialize(exported.serialize())
    assert back.platforms == PLATFORMS
    assert len(back.in_avals) == len(leaves) and back.out_avals == exported.out_avals
    return exported


def abstract(tree: Any) -> Any:
    """``ShapeDtypeStruct``s of a pytree of arrays."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), tree)


def images(n: int = PAIRS) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((n, SIZE, SIZE, 3), jnp.float32)


# One pair's value of each per-pair extra input an objective may declare (DST's keypoints: K
# points as (src, target) rows, their mask, the content's size as given).
EXTRA_INPUTS = {
    "keypoints": np.tile(np.array([[10.0, 12.0, 14.0, 11.0]], np.float32), (4, 1)) + np.arange(4)[:, None] * 9,
    "keypoint_mask": np.array([True, True, True, False]),
    "content_hw": np.array([SIZE, SIZE], np.int32),
}


def export_chunk(objective, settings) -> jax.export.Exported:
    """Export the engine's ``run_chunk`` of ``objective`` for PAIRS pairs of SIZE px."""
    missing = sorted(set(objective.extra_inputs) - set(EXTRA_INPUTS))
    assert not missing, f"extra inputs {missing} need an example value in EXTRA_INPUTS"
    key = settings.program_key()
    one_pair = {name: EXTRA_INPUTS[name] for name in objective.extra_inputs}
    inputs = {"content": images(), "style": images(),
              **{k: jax.ShapeDtypeStruct((PAIRS, *v.shape), v.dtype) for k, v in one_pair.items()}}
    frozen = abstract(objective.frozen())
    targets = jax.eval_shape(functools.partial(prepare_targets, objective=objective), frozen, inputs)
    zero = np.zeros((SIZE, SIZE, 3), np.float32)
    one = objective.init({"content": zero, "style": zero, **one_pair}, np.random.default_rng(0), zero)
    variables = jax.tree.map(lambda a: jax.ShapeDtypeStruct((PAIRS, *np.shape(a)), np.asarray(a).dtype), one)
    opt_state = jax.eval_shape(functools.partial(init_opt_state, settings=key), variables)
    n_steps = jax.ShapeDtypeStruct((), jnp.int32)
    export(functools.partial(prepare_targets, objective=objective), (frozen, inputs))
    return export(run_chunk, (variables, opt_state, n_steps, targets, frozen), objective=objective, settings=key)


def any_stylizer(name: str, images_dir: Path, tmp_path: Path):
    """``name``'s stylizer: built in (pretrained or optimization methods, no source), else an
    untrained model of its tiny config loaded from a workdir like any trained one."""
    try:
        return load_stylizer(name)
    except InputError:
        assert name in TRAINABLE, (
            f"{name}: load_stylizer(None) is refused and the method has no TRAINER, so its "
            "forward program cannot be built without user files"
        )
    return load_stylizer(name, untrained_workdir(name, images_dir, tmp_path / name))


# ------------------------------------------------------------------------------------------
# the tests
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TRAINABLE)
def test_export_train_step(name, images_dir):
    jitted, args = train_step_program(get_trainer(name)(tiny_config(name, images_dir)))
    params, opt_states, metrics = jax.eval_shape(jitted, *args)
    assert metrics["loss"].shape == ()
    exported = export(jitted, args)
    assert len(exported.out_avals) == len(jax.tree.leaves((params, opt_states, metrics)))


# Config variants whose train step is another program than the method's tiny one (another
# encoder network): (method, variant). ~5 s of CPU (RAST's loss traced with B0's blocks).
VARIANT_TRAIN_STEPS = [("rast", "tiny_efficientnet")]


@pytest.mark.parametrize(("name", "variant"), VARIANT_TRAIN_STEPS)
def test_export_variant_train_step(name, variant):
    cfg = load_config(f"{REPO / 'configs' / name}.py:{variant}")
    jitted, args = train_step_program(get_trainer(name)(cfg))
    exported = export(jitted, args)
    assert any(a.shape == () for a in exported.out_avals)  # the loss among the metrics


# Pyramid objectives trace the full VGG16 forward and backward once per scale (3 scales, and
# DST twice per scale: the image and its warp): ~10 s of CPU each, 48-65 s on the loaded
# 2-core box. The default suite exports their one-scale program (the same operations, a
# third of the trace: test_export_pyramid_stylizer_at_one_scale); the slow test, all scales.
SLOW_EXPORTS = {"strotss", "dst"}


@pytest.mark.parametrize("name", sorted(SLOW_EXPORTS))
def test_export_pyramid_stylizer_at_one_scale(name):
    import dataclasses

    stylizer = load_stylizer(name)
    assert isinstance(stylizer, OptimizationStylizer) and stylizer.objective.scales > 1
    export_chunk(dataclasses.replace(stylizer.objective, scales=1), stylizer.settings)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_EXPORTS else n
                                  for n in METHODS])
def test_export_stylizer(name, images_dir, tmp_path):
    stylizer = any_stylizer(name, images_dir, tmp_path)
    if isinstance(stylizer, OptimizationStylizer):  # its program is the engine's chunk
        export_chunk(stylizer.objective, stylizer.settings)
        return
    assert isinstance(stylizer, FeedForwardStylizer), f"{name}: no exportable program for {type(stylizer)}"
    styles = [images()] if stylizer.style_images else []
    jitted, args = stylizer.forward_program(images(), styles)
    exported = export(jitted, args)
    out = exported.out_avals[0]
    assert out.shape == (PAIRS, SIZE, SIZE, 3), out


@pytest.mark.parametrize(("objective", "optimizer", "line_search", "remat"),
                         [(o, *s) for o in OBJECTIVES for s in ENGINE_SETTINGS])
def test_export_optimization_chunk(objective, optimizer, line_search, remat, vgg16):
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.gatys import objective_with_networks

    cfg = StylizeConfig(objective_name=objective, optimizer=optimizer, line_search=line_search, remat=remat, size=SIZE)
    export_chunk(objective_with_networks(cfg, vgg16), cfg)


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if isinstance(OBJECTIVES[o](), Tileable)])
def test_export_tiled_step(objective, vgg16):
    """``--tile``'s two programs: the window step and the whole-image update (every tiled optimizer)."""
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.gatys import objective_with_networks

    obj = objective_with_networks(StylizeConfig(objective_name=objective, size=SIZE), vgg16)
    frozen = obj.frozen()
    full = jax.ShapeDtypeStruct((2 * SIZE, SIZE + 8, 3), jnp.float32)
    targets = jax.eval_shape(lambda s: jax.tree.map(lambda a: a[0], obj.style_targets(frozen, s)), images(1))
    report = zero_report(obj, frozen, targets, (SIZE, SIZE))
    box = jax.ShapeDtypeStruct((6,), jnp.int32)
    exported = export(functools.partial(tile_step, objective=obj, shape=(SIZE, SIZE)),
                      (full, abstract(report), full, full, box, targets, frozen))
    assert exported.out_avals[0].shape == full.shape
    for optimizer in TILED_OPTIMIZERS:
        settings = StylizeConfig(optimizer=optimizer).program_key()
        state = jax.eval_shape(settings.make_optimizer().init, {"image": full})
        export(functools.partial(apply_update, settings=settings), (full, state, full))
