"""How far RAST's gradient moves when its parameters move by rounding-sized amounts.

Why 8 data-parallel devices and 1 device train RAST along different trajectories (issue 17):
for each loss term, the generator gradient ``g(p)`` at initialisation is compared with
``g(p * (1 + scale * N(0, 1)))`` for a few seeds, on one device, by default entirely in float64
(``jax_enable_x64``, ``model.dtype=float64``, a float64 encoder and batch), so no float32
rounding takes part. Printed per term: ``||g(p') - g(p)|| / ||g(p)||`` (L2 over every
generator leaf). A smooth loss moves by about ``scale`` times a modest constant; a term
whose figure is of order 1 at ``scale=1e-7`` has a gradient that any change of summation
order (another device count, another XLA version, GPU atomics) redraws. The trainer's Adam
then turns the different gradients into different parameters from step 2 on::

  python benchmarks/rast_sensitivity.py [--config configs/rast.py:tiny] [--batch 4]
      [--images ../shared/data/images] [--dtype float64] [--scales 1e-7 1e-5] [--seeds 2]
      [--terms identity_pixel,content_restoration,...]

Each term compiles its own gradient (about 1 min in float64 at batch 4 on 2 cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxstyle.config import load_config  # noqa: E402
from jaxstyle.methods import get_trainer  # noqa: E402
from jaxstyle.methods.rast.losses import rast_losses  # noqa: E402
from jaxstyle.methods.rast.method import DISCRIMINATORS, GENERATOR, build_model  # noqa: E402
from jaxstyle.train import build_input  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
DEFAULT_TERMS = (
    "identity_pixel,identity_feature,content_transitive,style_transitive,"
    "content_restoration,style_restoration"
)


def relative_change(a, b) -> float:
    """``||a - b|| / ||a||`` over all leaves of two gradient pytrees."""
    num = sum(
        float(jnp.sum((x - y) ** 2))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    return float(np.sqrt(num / sum(float(jnp.sum(x**2)) for x in jax.tree.leaves(a))))


def perturb(params, scale: float, seed: int):
    """Every parameter times ``1 + scale * N(0, 1)`` (independent draws)."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(
        tree,
        [
            p * (1 + scale * jax.random.normal(k, p.shape, p.dtype))
            for p, k in zip(leaves, keys, strict=True)
        ],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/rast.py:tiny")
    ap.add_argument(
        "--images", type=Path, default=DEFAULT_IMAGES, help="folder with content/ and style/"
    )
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--scales", type=float, nargs="+", default=(1e-7, 1e-5))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--terms", default=DEFAULT_TERMS)
    args = ap.parse_args()

    overrides = [
        f"--config.data.content_dir={args.images / 'content'}",
        f"--config.data.style_dir={args.images / 'style'}",
        f"--config.train.batch_size={args.batch}",
        f"--config.model.dtype={args.dtype}",
    ]
    cfg = load_config(args.config, overrides)
    method = get_trainer(cfg.method)(cfg)
    terms, weights = args.terms.split(","), method.weights.terms()
    if unknown := set(terms) - set(weights):
        raise SystemExit(f"error: unknown RAST loss term(s) {', '.join(sorted(unknown))}")
    if off := [t for t in terms if weights[t] == 0.0]:
        raise SystemExit(
            f"error: {', '.join(off)} weighted 0 in {args.config}: no gradient to compare"
        )
    dtype = jnp.dtype(args.dtype)
    frozen = jax.tree.map(lambda a: jnp.asarray(a, dtype), method.load_frozen())
    batch = jax.tree.map(
        lambda a: jnp.asarray(a, dtype), next(build_input(cfg, ("content", "style")))
    )
    params = jax.jit(lambda r: method.init(r, batch, frozen))(jax.random.key(cfg.seed))
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), params)
    model = build_model(cfg.model, frozen["encoder"])
    gen, disc = params[GENERATOR], {d: params[d] for d in DISCRIMINATORS}

    header = " | ".join(f"{s:.0e} (seed {k})" for s in args.scales for k in range(args.seeds))
    print(f"{args.config}, batch {args.batch}, {args.dtype}, one device\n")
    print(f"| term | weighted value | {header} |")
    print("|---|---:|" + "---:|" * (len(args.scales) * args.seeds))
    for term in terms:
        only = method.weights.without(*(k for k in weights if k != term))

        def loss(g, d, b, enc, only=only):  # images and networks as arguments, not constants
            return rast_losses(
                g, d, b["content"], b["style"], model=model, encoder=enc, weights=only
            )[0]

        value_and_grad = jax.jit(jax.value_and_grad(loss))
        value, grad = value_and_grad(gen, disc, batch, frozen["encoder"])
        changes = [
            relative_change(
                grad, value_and_grad(perturb(gen, s, k), disc, batch, frozen["encoder"])[1]
            )
            for s in args.scales
            for k in range(args.seeds)
        ]
        print(
            f"| {term} | {float(value):.4g} | " + " | ".join(f"{c:.1e}" for c in changes) + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
