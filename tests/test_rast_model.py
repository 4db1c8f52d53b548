"""RAST networks: parameters whose effect the next operation cancels get no gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.methods.rast.model import RASTModel


def _tiny_model() -> RASTModel:
    return RASTModel(channels=(16, 16), decoder_width=1 / 16, disc_width=1 / 16, proj_dim=8)


def _with_random_biases(tree, seed: int):
    """Every ``bias`` leaf of ``tree`` replaced by random values (init sets them to zero)."""
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map_with_path(
        lambda p, a: jnp.asarray(rng.standard_normal(a.shape), a.dtype) if p[-1].key == "bias" else a, tree
    )


def test_sanet_key_bias_changes_nothing_and_gets_exactly_zero_gradient():
    model = _tiny_model()
    transform = _with_random_biases(model.init(0, 32)["generator"]["transform"], 1)
    rng = np.random.default_rng(2)
    c4, s4 = (jnp.asarray(rng.standard_normal((2, 4, 4, 16)), jnp.float32) for _ in range(2))
    c5, s5 = (jnp.asarray(rng.standard_normal((2, 2, 2, 16)), jnp.float32) for _ in range(2))

    def out(t):
        return model.transform.apply({"params": t}, c4, s4, c5, s5)

    grads = jax.jit(jax.grad(lambda t: jnp.sum(jnp.sin(out(t)))))(transform)
    for block in ("sanet4_1", "sanet5_1"):
        assert np.all(np.asarray(grads[block]["g"]["bias"]) == 0.0)  # exactly: no rounding noise
        assert np.abs(np.asarray(grads[block]["f"]["bias"])).max() > 1e-3  # the query bias matters
        assert np.abs(np.asarray(grads[block]["g"]["kernel"])).max() > 1e-3
    # The softmax over keys cancels the key bias: the output does not depend on it.
    zeroed = jax.tree.map(lambda a: a, transform)
    for block in ("sanet4_1", "sanet5_1"):
        zeroed[block]["g"]["bias"] = jnp.zeros_like(zeroed[block]["g"]["bias"])
    np.testing.assert_allclose(out(zeroed), out(transform), rtol=1e-4, atol=1e-4)


def test_discriminator_biases_before_instance_norm_get_exactly_zero_gradient():
    model = _tiny_model()
    disc = _with_random_biases(model.init(0, 32)["disc_style"], 3)
    x = jnp.asarray(np.random.default_rng(4).uniform(size=(2, 32, 32, 3)), jnp.float32)
    grads = jax.jit(jax.grad(lambda d: sum(jnp.sum(jnp.sin(o)) for o in model.discriminate(d, x))))(disc)
    for scale in grads.values():
        for i in (1, 2, 3):  # followed by InstanceNorm: the mean subtraction removes the bias
            assert np.all(np.asarray(scale[f"conv_{i}"]["bias"]) == 0.0)
    # The full-scale discriminator's other parameters do learn. (At 32 px the 1/4-scale one
    # ends in a 1x1 InstanceNorm, which is identically 0: only its output bias learns.)
    full = grads["disc_0"]
    assert np.abs(np.asarray(full["conv_0"]["bias"])).max() > 1e-6  # no norm after conv_0
    assert np.abs(np.asarray(full["conv_1"]["kernel"])).max() > 1e-6
