"""WCT transform (whiten + colour, features given) vs PyTorch references of the same operations, CPU.

  python benchmarks/wct_bench.py [--sizes 512 1024 --rounds 5]

Features: the embedded VGG16's relu1_1..relu5_1 of a photo and a painting from
../shared/data/images, both at the given long side (computed once, handed to every framework
as the same float32 arrays). Cases: one level (relu4_1, relu5_1) and the five levels'
transforms in sequence (the transform part of the multi-level pipeline: no encoder, no
decoders). Frameworks, alternating within each round so that the box's load hits all alike:

- ``jax``: :func:`jaxstyle.ops.wct.wct` jitted, float32, ``jnp.linalg.eigh``, masked
  eigenvalues (compile excluded: one warm-up call per shape).
- ``torch_eigh``: the same algorithm in PyTorch, float32, ``torch.linalg.eigh``.
- ``torch_svd``: the form the PyTorch ports use (PytorchWCT's ``util.py``): float64,
  ``torch.svd`` of both covariances (the content's plus the identity), truncation at the first
  singular value below 1e-5 found by a Python loop, then whiten and colour with the kept columns.

Prints per case the min and median seconds of ``--rounds`` rounds and the ratios to jax (on a
shared box the min is the steadier figure).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "images"
LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CASES = {"relu4_1": ("relu4_1",), "relu5_1": ("relu5_1",), "5 levels": LEVELS}


def features(size: int) -> dict[str, tuple]:
    """{level: (content (H,W,C), style (h,w,C))} float32 numpy, VGG16 at ``size`` px long side."""
    import jax.numpy as jnp
    import numpy as np

    import jaxstyle
    from jaxstyle.io import load_image, resize_long_side

    vgg = jaxstyle.load_encoder("vgg16")
    out = {}
    for role, name in (("content", "content/tubingen.jpg"), ("style", "style/starry_night.jpg")):
        img = resize_long_side(load_image(IMAGES / name), size)
        feats = vgg(jnp.asarray(img)[None], LEVELS)
        out[role] = {k: np.asarray(v[0]) for k, v in feats.items()}
    return {k: (out["content"][k], out["style"][k]) for k in LEVELS}


def jax_runner(feats):
    import jax
    import jax.numpy as jnp

    from jaxstyle.ops.wct import wct

    fn = jax.jit(wct)
    arrays = {k: (jnp.asarray(c), jnp.asarray(s)) for k, (c, s) in feats.items()}

    def run(levels):
        for lv in levels:
            jax.block_until_ready(fn(*arrays[lv]))

    return run


def torch_eigh_wct(c, s, eps=1e-5, rel_eps=3e-7):
    """The jaxstyle algorithm in PyTorch float32 (masked eigenvalues, rank bound)."""
    import torch

    def stats(x):
        x = x.reshape(-1, x.shape[-1])
        m = x.mean(0)
        xc = x - m
        d, e = torch.linalg.eigh(xc.T @ xc / (x.shape[0] - 1))
        rank = min(x.shape[0] - 1, d.shape[0])
        keep = (d > max(eps, rel_eps * float(d[-1]))) & (torch.arange(d.shape[0]) >= d.shape[0] - rank)
        return m, d, e, keep

    mc, dc, ec, kc = stats(c)
    ms, ds, es, ks = stats(s)
    inv = torch.where(kc, dc.clamp_min(1e-30).rsqrt(), torch.zeros_like(dc))
    sq = torch.where(ks, ds.clamp_min(0).sqrt(), torch.zeros_like(ds))
    matrix = (ec * inv) @ ec.T @ (es * sq) @ es.T
    return (c.reshape(-1, c.shape[-1]) - mc) @ matrix + ms


def torch_svd_wct(c, s, eps=1e-5):
    """The PyTorch ports' form: float64, SVD, the content covariance + I, Python truncation loop."""
    import torch

    def decompose(x, add_identity):
        x = x.reshape(-1, x.shape[-1]).double().T  # (C, N), the ports' layout
        m = x.mean(1, keepdim=True)
        xc = x - m
        cov = xc @ xc.T / (x.shape[1] - 1)
        if add_identity:
            cov = cov + torch.eye(cov.shape[0], dtype=cov.dtype)
        u, d, _ = torch.svd(cov, some=False)
        k = d.shape[0]
        for i in range(d.shape[0]):  # first singular value below eps (sorted descending)
            if d[i] < eps:
                k = i
                break
        return m, xc, u[:, :k], d[:k]

    _, xc, uc, dc = decompose(c, True)
    ms, _, us, ds = decompose(s, False)
    whitened = uc @ torch.diag(dc.pow(-0.5)) @ uc.T @ xc
    return (us @ torch.diag(ds.pow(0.5)) @ us.T @ whitened + ms).T.float()


def torch_runner(feats, fn):
    import torch

    arrays = {k: (torch.tensor(c), torch.tensor(s)) for k, (c, s) in feats.items()}

    def run(levels):
        with torch.no_grad():
            for lv in levels:
                fn(*arrays[lv])

    return run


def check_agreement(feats) -> None:
    """RMS difference / std of each torch form from jax's output, per level (same operations?)."""
    import jax
    import numpy as np
    import torch

    from jaxstyle.ops.wct import wct

    row = []
    for lv, (c, s) in feats.items():
        ref = np.asarray(jax.jit(wct)(c, s)).reshape(-1, c.shape[-1])
        with torch.no_grad():
            for name, fn in (("eigh", torch_eigh_wct), ("svd", torch_svd_wct)):
                out = fn(torch.tensor(c), torch.tensor(s)).numpy()
                row.append(f"{lv} {name} {np.sqrt(np.mean((out - ref) ** 2)) / ref.std():.1e}")
    print("rms(torch - jax) / std:", ", ".join(row), flush=True)


def timed(run, levels) -> float:
    t = time.perf_counter()
    run(levels)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    import torch

    print(f"load average {os.getloadavg()}, torch threads {torch.get_num_threads()}", flush=True)
    for size in args.sizes:
        feats = features(size)
        runners = {"jax": jax_runner(feats), "torch_eigh": torch_runner(feats, torch_eigh_wct),
                   "torch_svd": torch_runner(feats, torch_svd_wct)}
        for run in runners.values():
            run(LEVELS)  # warm-up: compiles every shape once
        check_agreement(feats)
        times = {(case, name): [] for case in CASES for name in runners}
        for _ in range(args.rounds):
            for case, levels in CASES.items():
                for name, run in runners.items():
                    times[case, name].append(timed(run, levels))
        print(f"\n{size} px (content {feats['relu1_1'][0].shape[:2]} at relu1_1), {args.rounds} rounds, "
              f"load {os.getloadavg()[0]:.1f}; seconds as min / median")
        print("| case | jax | torch eigh | torch svd (ports) | eigh / jax (min, median) | svd / jax (min, median) |")
        print("|---|---|---|---|---|---|")
        for case in CASES:
            lo = {n: min(times[case, n]) for n in runners}
            med = {n: statistics.median(times[case, n]) for n in runners}
            cells = " | ".join(f"{lo[n]:.3f} / {med[n]:.3f}" for n in runners)
            ratios = " | ".join(f"{lo[n] / lo['jax']:.2f}, {med[n] / med['jax']:.2f}" for n in ("torch_eigh", "torch_svd"))
            print(f"| {case} | {cells} | {ratios} |", flush=True)


if __name__ == "__main__":
    main()
