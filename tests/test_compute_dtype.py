"""``--compute-dtype bfloat16``: the encoder runs in bfloat16 while Grams, losses, the image
and its gradient stay float32, and the loss and gradient stay close to float32's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from conftest import run_cli

from jaxstyle.losses import gram_matrix
from jaxstyle.optimize import StylizeConfig


def _loss_and_grad(vgg16, content, style, dtype: str, style_loss: str = "gram"):
    objective = StylizeConfig(size=32, compute_dtype=dtype, style_loss=style_loss).objective(vgg16)
    frozen = objective.frozen()
    targets = jax.tree.map(lambda a: a[0], objective.prepare(frozen, {"content": content[None], "style": style[None]}))
    fn = jax.jit(jax.value_and_grad(lambda v: objective.loss(v, targets, frozen)[0]))
    return fn({"image": content}), jax.make_jaxpr(fn)({"image": content})


def test_bfloat16_activations_keep_loss_and_gradient_close_to_float32(vgg16):
    rng = np.random.default_rng(0)
    content = jnp.asarray(rng.uniform(0, 1, (32, 32, 3)), jnp.float32)
    style = jnp.asarray(rng.uniform(0, 1, (32, 32, 3)), jnp.float32)
    (v32, g32), _ = _loss_and_grad(vgg16, content, style, "float32")
    (v16, g16), jaxpr = _loss_and_grad(vgg16, content, style, "bfloat16")
    text = str(jaxpr)
    assert "conv_general_dilated" in text and "bf16[1,32,32,64]" in text  # relu1_1 in bfloat16
    assert g16["image"].dtype == jnp.float32 and v16.dtype == jnp.float32
    np.testing.assert_allclose(float(v16), float(v32), rtol=0.05)
    a, b = np.ravel(g16["image"]), np.ravel(g32["image"])
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.98


def test_gram_of_bfloat16_features_sums_in_float32():
    f = jnp.full((1, 64, 64, 2), 1.0 + 2.0**-7, jnp.bfloat16)  # 4096 terms: bf16 sums would round
    g = gram_matrix(f)
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(g), (1.0 + 2.0**-7) ** 2, rtol=1e-3)  # bf16 sums: off by ~75%


def test_compute_dtype_flag_is_declared(capsys):
    code, out, _ = run_cli(["stylize", "--method", "gatys", "--help"], capsys)
    assert code == 0 and "--compute-dtype" in out
