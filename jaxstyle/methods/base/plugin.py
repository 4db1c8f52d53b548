"""The training plug-in interface: what a trainable method gives the one trainer (:mod:`jaxstyle.train`).

A method's module (registered in :mod:`jaxstyle.methods`) exposes ``TRAINER``, a class built
from the run config, ``trainer = TRAINER(cfg)`` (``cfg.method`` names the method). The
trainer owns everything generic (mesh, input, sharding, jit, checkpoints, metrics, the
loop); the method owns its networks, its losses and its update.

The interface (AdaIN is the first user; RAST, with a generator and two discriminators
updated in one jitted LSGAN step, is the reason for parameter *groups*)::

    class TrainingPlugin(Protocol):
        def load_frozen(self) -> dict[str, Any]
            # The frozen networks (feature encoder, depth network...) as one pytree. The
            # trainer passes it INTO the jitted step as an argument (never closed over:
            # ~60 MB of constants); ``frozen`` below.

        def init(self, rng, batch, frozen) -> dict[str, Params]
            # Parameter groups, e.g. {"decoder": ...} or {"generator": ..., "disc_a": ...,
            # "disc_b": ...}. ``batch`` is a host batch {"content", "style"} for shapes.

        def optimizers(self) -> dict[str, optax.GradientTransformation]
            # One optax transform per group (same keys as ``init``); a group without an
            # entry is frozen.

        def train_step(self, params, opt_states, batch, frozen, rng, step)
            -> (params, opt_states, metrics)
            # Pure and jit-able: the trainer jits it with params/opt_states donated, the batch
            # sharded on 'data' and params replicated. ``rng`` is already fold_in(seed, step).
            # ``metrics`` is a flat dict of scalars; it must hold "loss" (the NaN guard
            # watches it) and may hold one entry per loss term ("loss/content", ...).

        def sample(self, params, batch, frozen) -> jax.Array
            # Stylized images (N, H, W, 3) in [0, 1] for the sample grids.

Single-group methods write a loss function and get ``train_step`` from
:func:`gradient_step`; multi-group methods (GANs) write ``train_step`` themselves, using
:func:`apply_updates` for each group — all in one jitted function, so the discriminator and
generator updates of one step are fused by XLA.

:func:`step_function` is the step the trainer jits (the base key folded with the step number,
then ``train_step``); :func:`train_step_program` returns it jitted with abstract arguments
for ``jax.export`` (tests/test_export.py proves every method's step compiles for CUDA and TPU).

Loss weights live in the config (``cfg.loss.<term>``); a term whose weight is 0 must not be
computed at all (methods check ``weight != 0`` at trace time), so ablations cost nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax

Params = Any  # a pytree of arrays
Metrics = dict[str, jax.Array]


class TrainingPlugin(Protocol):
    """See the module docstring."""

    cfg: Any

    def load_frozen(self) -> dict[str, Any]: ...

    def init(self, rng: jax.Array, batch: Mapping[str, Any], frozen: Any) -> dict[str, Params]: ...

    def optimizers(self) -> dict[str, optax.GradientTransformation]: ...

    def train_step(
        self,
        params: dict[str, Params],
        opt_states: dict[str, Any],
        batch: Mapping[str, jax.Array],
        frozen: Any,
        rng: jax.Array,
        step: jax.Array,
    ) -> tuple[dict[str, Params], dict[str, Any], Metrics]: ...

    def sample(self, params: dict[str, Params], batch: Mapping[str, jax.Array], frozen: Any) -> jax.Array: ...


def apply_updates(
    tx: optax.GradientTransformation, grads: Params, opt_state: Any, params: Params
) -> tuple[Params, Any]:
    """One optax update of one parameter group: ``(new_params, new_opt_state)``."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def weighted_loss(terms: Mapping[str, jax.Array], weights: Mapping[str, float]) -> tuple[jax.Array, Metrics]:
    """``sum_k weights[k] * terms[k]`` and the metrics ``{"loss/<k>": terms[k]}`` (unweighted)."""
    loss = sum(weights[k] * v for k, v in terms.items())
    return loss, {f"loss/{k}": v for k, v in terms.items()}


def gradient_step(
    loss_fn: Callable[..., tuple[jax.Array, Metrics]],
    optimizers: Mapping[str, optax.GradientTransformation],
) -> Callable[..., tuple[dict[str, Params], dict[str, Any], Metrics]]:
    """A ``train_step`` for methods whose groups all minimise one loss.

    Args:
      loss_fn: ``loss_fn(params, batch, frozen, rng) -> (loss, metrics)`` where ``params`` is
        the dict of trainable groups.
      optimizers: one optax transform per trainable group.
    """

    def train_step(params, opt_states, batch, frozen, rng, step):
        del step  # the schedule lives in the optimizer state
        trainable = {k: v for k, v in params.items() if k in optimizers}
        fixed = {k: v for k, v in params.items() if k not in optimizers}

        def total(p):
            return loss_fn({**fixed, **p}, batch, frozen, rng)

        (loss, metrics), grads = jax.value_and_grad(total, has_aux=True)(trainable)
        new_params, new_states = dict(params), dict(opt_states)
        for name, tx in optimizers.items():
            new_params[name], new_states[name] = apply_updates(
                tx, grads[name], opt_states[name], params[name]
            )
        return new_params, new_states, {"loss": loss, **metrics}

    return train_step


class OneLossPlugin:
    """Base of plug-ins whose trainable groups all minimise one loss: subclasses define
    ``loss_fn(params, batch, frozen, rng) -> (loss, metrics)`` and ``optimizers()``, and get
    ``train_step`` (:func:`gradient_step`)."""

    def train_step(self, params, opt_states, batch, frozen, rng, step):
        return gradient_step(self.loss_fn, self.optimizers())(params, opt_states, batch, frozen, rng, step)


def streams(method: TrainingPlugin) -> tuple[str, ...]:
    """The image streams a plug-in trains on: its ``streams``, by default content and style."""
    return getattr(method, "streams", ("content", "style"))


def init_state(method: TrainingPlugin, optimizers: Mapping[str, optax.GradientTransformation], frozen: Any,
               rng: jax.Array, batch: Mapping[str, Any]) -> tuple[dict[str, Params], dict[str, Any]]:
    """Fresh parameters (``method.init``) and one optimizer state per trainable group."""
    params = method.init(rng, batch, frozen)
    return params, {k: tx.init(params[k]) for k, tx in optimizers.items()}


# ------------------------------------------------------------------------------------------
# The jitted step as a program (the trainer's, and for jax.export / portability tests).
# ------------------------------------------------------------------------------------------
def step_function(method: TrainingPlugin) -> Callable[..., tuple[dict[str, Params], dict[str, Any], Metrics]]:
    """The function :mod:`jaxstyle.train` jits as its step:
    ``step(params, opt_states, batch, frozen, rng, step) -> (params, opt_states, metrics)``,
    ``rng`` the run's base key (folded with ``step`` here, so a resumed run repeats exactly)."""

    def step_fn(params, opt_states, batch, frozen, rng, step):
        return method.train_step(params, opt_states, batch, frozen, jax.random.fold_in(rng, step), step)

    return step_fn


def train_step_program(method: TrainingPlugin, frozen: Any | None = None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """The jitted train step of ``method`` (built from its config) and abstract arguments.

    Returns ``(jitted_step, args)`` where ``args`` are :class:`jax.ShapeDtypeStruct` pytrees
    (params, optimizer states, a global batch of ``cfg.train.batch_size`` crops of
    ``cfg.data.crop_size`` px for the method's ``streams``, frozen networks, base key, step)
    shaped as the trainer feeds them. Nothing is computed (parameters come from a trace of
    ``init``), so this is cheap: ``jax.export.export(jitted_step, platforms=...)(*args)``
    serializes the step for other backends (tests/test_export.py). ``frozen``: the result of
    ``method.load_frozen()`` if already loaded.
    """
    cfg = method.cfg
    frozen = method.load_frozen() if frozen is None else frozen
    optimizers = method.optimizers()
    crop, n = int(cfg.data.crop_size), int(cfg.train.batch_size)
    batch = {k: jax.ShapeDtypeStruct((n, crop, crop, 3), jnp.float32) for k in streams(method)}
    rng = jax.eval_shape(lambda: jax.random.key(0))
    params, opt_states = jax.eval_shape(functools.partial(init_state, method, optimizers, frozen), rng, batch)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), frozen)
    step = jax.ShapeDtypeStruct((), jnp.int32)
    jitted = jax.jit(step_function(method), donate_argnums=(0, 1))
    return jitted, (params, opt_states, batch, abstract, rng, step)
