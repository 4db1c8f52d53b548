"""RAST loss terms: zero weights really remove terms, idempotency gradients, contrastive pairs.

Tiny random VGG encoder (width 1/16) and 32 px images keep every compile small.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.methods.rast.losses import (
    ABLATIONS,
    RASTLossWeights,
    contrastive_masks,
    contrastive_pairs,
    idempotency_loss,
    pair_ids,
    rast_losses,
)
from jaxstyle.methods.rast.model import RASTModel, feature_channels
from jaxstyle.models.encoder import random_vgg_encoder

OFF = RASTLossWeights(**dict.fromkeys(RASTLossWeights().terms(), 0.0))


@pytest.fixture(scope="module")
def tiny():
    enc = random_vgg_encoder(0, "vgg19", width=1 / 16)
    model = RASTModel(
        channels=feature_channels(enc), decoder_width=1 / 16, disc_width=1 / 16, proj_dim=16
    )
    params = model.init(1, 32)
    rng = np.random.default_rng(2)
    c = jnp.asarray(rng.uniform(size=(2, 32, 32, 3)), jnp.float32)
    s = jnp.asarray(rng.uniform(size=(2, 32, 32, 3)), jnp.float32)
    return enc, model, params, c, s


def _total(tiny, weights):
    enc, model, params, c, s = tiny
    return lambda gen: rast_losses(gen, params, c, s, model=model, encoder=enc, weights=weights)[0]


_FLOPS: dict = {}


def _flops(tiny, weights) -> float:
    enc, model, params, c, s = tiny
    if weights in _FLOPS:
        return _FLOPS[weights]

    def total(gen, disc, c, s):  # forward only: half the tracing, same conclusion
        return rast_losses(gen, disc, c, s, model=model, encoder=enc, weights=weights)[0]

    cost = jax.jit(total).lower(params["generator"], params, c, s).cost_analysis()
    _FLOPS[weights] = float(cost["flops"])
    return _FLOPS[weights]


@pytest.mark.parametrize("group", sorted(ABLATIONS))
def test_disabled_group_is_not_computed(tiny, group):
    """Zeroing a group removes its work from the step (fewer FLOPs); its terms stay reported."""
    enc, model, params, c, s = tiny
    base = RASTLossWeights()
    assert _flops(tiny, base.without(group)) < _flops(tiny, base)
    _, terms, _ = jax.eval_shape(
        lambda g: rast_losses(
            g, params, c, s, model=model, encoder=enc, weights=base.without(group)
        ),
        params["generator"],
    )
    assert set(terms) == set(base.terms())


# 65 s on the loaded 2-core box (a RAST gradient per ablation): opt-in, like the other heavy
# RAST checks; the default suite keeps RAST's training and workdir tests.
@pytest.mark.slow
def test_zero_weight_gives_exact_zero_value_and_gradient(tiny):
    """grad(total with X) == grad(total without X) + grad(X alone); X off is exactly 0."""
    enc, model, params, c, s = tiny
    with_x = dataclasses_replace(
        OFF, identity_pixel=50.0, contrastive_content=1.0, contrastive_style=1.0
    )
    without_x = with_x.without("contrastive")
    x_only = dataclasses_replace(OFF, contrastive_content=1.0, contrastive_style=1.0)

    @jax.jit
    def run(gen):
        out = {}
        for name, w in (("with", with_x), ("without", without_x), ("only", x_only)):

            def fn(g, w=w):
                total, terms, _ = rast_losses(g, params, c, s, model=model, encoder=enc, weights=w)
                return total, terms

            (total, terms), grad = jax.value_and_grad(fn, has_aux=True)(gen)
            out[name] = (total, grad)
            out[name + "_terms"] = terms
        return out

    out = run(params["generator"])
    t_without = out["without_terms"]
    assert (
        float(t_without["contrastive_content"]) == 0.0
        and float(t_without["contrastive_style"]) == 0.0
    )
    g_with, g_without, g_only = out["with"][1], out["without"][1], out["only"][1]
    # The heads are used by the contrastive terms only: exactly zero gradient without them.
    for leaf in jax.tree.leaves((g_without["proj_style"], g_without["proj_content"])):
        assert not np.any(np.asarray(leaf))
    assert any(np.any(np.asarray(x)) for x in jax.tree.leaves(g_only["proj_content"]))
    summed = jax.tree.map(jnp.add, g_without, g_only)
    # float32 sums of large (identity x50) and tiny gradients (some are mathematically zero,
    # e.g. key-conv biases under the softmax): tolerance relative to the largest gradient.
    scale = max(float(np.abs(np.asarray(a)).max()) for a in jax.tree.leaves(g_with))
    for a, b in zip(jax.tree.leaves(g_with), jax.tree.leaves(summed), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(
        float(out["with"][0]), float(out["without"][0]) + float(out["only"][0]), rtol=1e-5
    )


def dataclasses_replace(w, **kw):
    import dataclasses

    return dataclasses.replace(w, **kw)


@pytest.mark.slow  # 45 s on the loaded 2-core box (gradients through two RAST passes)
def test_idempotency_gradient_flows_through_both_passes(tiny):
    """d/dθ ||T_θ(T_θ(c,s),s) - T_θ(c,s)||² = outer-pass part + inner-pass part, both non-zero."""
    enc, model, params, c, s = tiny
    cp, sp = contrastive_pairs(c, s)
    gen = params["generator"]

    def split(g_outer, g_inner):
        once = model.stylize(g_inner, enc, cp, sp)
        return idempotency_loss(model.stylize(g_outer, enc, once, sp), once)

    weights = dataclasses_replace(OFF, idempotency=1.0)

    @jax.jit
    def run(gen):
        parts = jax.grad(split, argnums=(0, 1))(gen, gen)
        full = jax.grad(
            lambda g: rast_losses(g, params, c, s, model=model, encoder=enc, weights=weights)[0]
        )(gen)
        return parts, full

    (g_outer, g_inner), g_full = run(gen)
    norm = lambda t: float(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(t["decoder"])))  # noqa: E731
    assert norm(g_outer) > 0 and norm(g_inner) > 0
    summed = jax.tree.map(jnp.add, g_outer, g_inner)
    scale = max(float(np.abs(np.asarray(a)).max()) for a in jax.tree.leaves(g_full))
    for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(summed), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * scale)
    # and not just one of them (a stop_gradient on either pass would make these equal)
    assert not np.allclose(
        np.asarray(g_full["decoder"]["conv_1"]["kernel"]),
        np.asarray(g_outer["decoder"]["conv_1"]["kernel"]),
    )


def _official_comparisons(m: int, head: str) -> list[list[tuple[str, int]]]:
    """The official RAST training script's comparison lists (positive first), per anchor.

    Anchors are up[0..m-1] then down[0..m-1]; transcribed as index lists from its slicing.
    """
    up = lambda a, b=None: [("up", i) for i in range(m)][a:b]  # noqa: E731
    dn = lambda a, b=None: [("down", i) for i in range(m)][a:b]  # noqa: E731
    rows = []
    if head == "style":
        for i in range(m):
            if i == 0:
                rows.append(dn(0, m - 1) + up(1))
            elif i == 1:
                rows.append(dn(1) + up(0, 1) + up(2))
            elif i == m - 1:
                rows.append(dn(m - 1) + dn(0, m - 2) + up(0, m - 1))
            else:
                rows.append(dn(i) + dn(0, i - 1) + up(0, i) + up(i + 1))
        for i in range(m):
            if i == 0:
                rows.append(up(0, 1) + up(2) + dn(1))
            elif i == m - 2:
                rows.append(up(m - 2, m - 1) + up(0, m - 2) + dn(0, m - 2) + dn(m - 1))
            elif i == m - 1:
                rows.append(up(m - 1) + up(1, m - 1) + dn(0, m - 1))
            else:
                rows.append(up(i, i + 1) + up(0, i) + up(i + 2) + dn(0, i) + dn(i + 1))
    else:
        for i in range(m):
            if i == 0:
                rows.append(dn(m - 1) + dn(1, m - 1) + up(1))
            elif i == 1:
                rows.append(dn(0, 1) + dn(2) + up(0, 1) + up(2))
            elif i == m - 1:
                rows.append(dn(m - 2, m - 1) + dn(0, m - 2) + up(0, m - 1))
            else:
                rows.append(dn(i - 1, i) + dn(0, i - 1) + dn(i + 1) + up(0, i) + up(i + 1))
        for i in range(m):
            if i == 0:
                rows.append(up(1) + dn(1))
            elif i == m - 2:
                rows.append(up(m - 1) + up(0, m - 2) + dn(0, m - 2) + dn(m - 1))
            elif i == m - 1:
                rows.append(up(0, m - 1) + dn(0, m - 1))
            else:
                rows.append(up(i + 1, i + 2) + up(0, i) + up(i + 2) + dn(0, i) + dn(i + 1))
    return rows


@pytest.mark.parametrize("m", [3, 4, 5])
@pytest.mark.parametrize("head", ["style", "content"])
def test_contrastive_pairs_match_official_lists(m, head):
    content_ids, style_ids = pair_ids(m)
    same, other = (style_ids, content_ids) if head == "style" else (content_ids, style_ids)
    pos, neg = (np.asarray(x) for x in contrastive_masks(same, other))
    index = lambda t: t[1] + (m if t[0] == "down" else 0)  # noqa: E731
    for a, row in enumerate(_official_comparisons(m, head)):
        assert np.flatnonzero(pos[a]).tolist() == [index(row[0])]
        assert sorted(np.flatnonzero(neg[a]).tolist()) == sorted(index(t) for t in row[1:])


def test_weights_from_config_rejects_typos():
    from jaxstyle.errors import InputError

    assert RASTLossWeights.from_config({"idempotency": 2}).idempotency == 2.0
    with pytest.raises(InputError, match="idempotenc"):
        RASTLossWeights.from_config({"idempotenc": 1.0})
    with pytest.raises(InputError, match="lowres_size"):
        RASTLossWeights.from_config({"lowres_restoration": 1.0, "lowres_size": 16})
