"""Johnson et al. and Multimodal benchmarks: jaxstyle vs a PyTorch reference of the same model.

  python benchmarks/johnson_bench.py train [--crop 256 --batch 4 --steps 3 --rounds 2]
  python benchmarks/johnson_bench.py infer [--sizes 512 1024 --steps 3 --rounds 2]
  python benchmarks/johnson_bench.py multimodal [--sizes 1024 --steps 2]

Train: pytorch/examples' step on both sides — TransformerNet (0..255 in/out), VGG16
(embedded torchvision weights) taps relu1_2/2_2/3_3/4_3, content MSE at relu2_2, Gram MSE
(C*H*W), weights 1e5/1e10, Adam 1e-3; random content batch, the style Grams precomputed.
Infer: the network alone on one image (jaxstyle: the jitted stylizer call incl. clipping;
PyTorch: ``no_grad`` forward + clamp). Both sides run in one process, alternating round by
round (``--rounds``), so a change in the machine's load hits both; each figure is the median
of ``--steps`` timed calls after one warm-up (compile) call. Multimodal has no PyTorch side
here (jaxstyle only). Prints the 1-min load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONTENT, STYLE = "relu2_2", ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def timed(fn, steps: int) -> float:
    fn()  # warm-up / compile
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def jax_train_fn(crop: int, batch: int):
    import jax
    import jax.numpy as jnp
    import ml_collections

    from jaxstyle import load_encoder, losses
    from jaxstyle.methods.johnson.method import Johnson

    cfg = ml_collections.ConfigDict({"model": {"encoder": "vgg16", "width": 1.0, "upsample": "nearest"},
                                     "loss": {"content": 1e5, "style": 1e10}, "optim": {"lr": 1e-3}})
    method = Johnson(cfg)
    vgg = load_encoder("vgg16")
    rng = np.random.default_rng(0)
    style = jnp.asarray(rng.uniform(0, 1, (1, crop, crop, 3)), jnp.float32)
    feats = vgg(style, STYLE)
    frozen = {"vgg": vgg, "grams": {k: losses.gram_matrix(feats[k])[0] for k in STYLE}}
    batch_np = {"content": rng.uniform(0, 1, (batch, crop, crop, 3)).astype(np.float32)}
    params = method.init(jax.random.key(0), batch_np, frozen)
    state = {"p": params, "o": {k: tx.init(params[k]) for k, tx in method.optimizers().items()}}
    step = jax.jit(method.train_step, donate_argnums=(0, 1))
    b = jax.device_put(batch_np)

    def run():
        state["p"], state["o"], m = step(state["p"], state["o"], b, frozen, jax.random.key(0), jnp.int32(0))
        jax.block_until_ready(m["loss"])

    return run, vgg


def torch_train_fn(crop: int, batch: int, vgg_params):
    import torch
    from torch import nn

    sys.path.insert(0, str(REPO / "tests"))
    import torch_ref

    idx = torch_ref.torchvision_indices("vgg16")
    vgg = torch_ref.load_into(torch_ref.vgg_features("vgg16"), vgg_params, "vgg16")[: idx["relu4_3"] + 1]
    for p in vgg.parameters():
        p.requires_grad_(False)
    net = torch_ref.JohnsonTransformerNet().train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    mse = nn.MSELoss()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def taps(x):
        out = {}
        for i, m in enumerate(vgg):
            x = m(x)
            for name in STYLE:
                if idx[name] == i:
                    out[name] = x
        return out

    def gram(f):
        b, c, h, w = f.shape
        f = f.view(b, c, h * w)
        return f.bmm(f.transpose(1, 2)) / (c * h * w)

    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, crop, crop, generator=g) * 255
    with torch.no_grad():
        style_grams = {k: gram(v) for k, v in taps((torch.rand(1, 3, crop, crop, generator=g) - mean) / std).items()}

    def run():
        opt.zero_grad()
        y = net(x)
        fy, fx = taps((y / 255 - mean) / std), taps((x / 255 - mean) / std)
        loss = 1e5 * mse(fy[CONTENT], fx[CONTENT])
        for k in STYLE:
            loss = loss + 1e10 * mse(gram(fy[k]), style_grams[k].expand(batch, -1, -1))
        loss.backward()
        opt.step()

    return run


def infer_fns(size: int):
    import jax
    import jax.numpy as jnp
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    import torch_ref

    from jaxstyle.methods.johnson.method import JohnsonStylizer as Stylizer
    from jaxstyle.methods.johnson.model import JohnsonNet

    x = np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)).astype(np.float32)
    params = jax.jit(JohnsonNet().init)(jax.random.key(0), jnp.asarray(x))["params"]
    st = Stylizer(params)
    xj = jnp.asarray(x)
    net = torch_ref.JohnsonTransformerNet().eval()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous() * 255

    def jax_run():
        jax.block_until_ready(st.fn(st.params, xj))

    def torch_run():
        with torch.no_grad():
            net(xt).clamp(0, 255)

    return jax_run, torch_run


def multimodal_fn(size: int):
    import jax
    import jax.numpy as jnp

    from jaxstyle.methods.multimodal.method import MultimodalStylizer as Stylizer
    from jaxstyle.methods.multimodal.model import MultimodalNet

    x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)), jnp.float32)
    params = jax.jit(MultimodalNet().init)(jax.random.key(0), x)["params"]
    st = Stylizer(params)
    return lambda: jax.block_until_ready(st.fn(st.params, x))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "infer", "multimodal"])
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    if a.what == "train":
        jax_run, vgg = jax_train_fn(a.crop, a.batch)
        import jax

        torch_run = torch_train_fn(a.crop, a.batch, jax.tree.map(np.asarray, vgg.params))
        for r in range(a.rounds):
            tj, tt = timed(jax_run, a.steps), timed(torch_run, a.steps)
            print(f"train crop {a.crop} batch {a.batch} round {r}: jax {tj * 1e3:.0f} ms, torch {tt * 1e3:.0f} ms, "
                  f"jax/torch {tj / tt:.2f}", flush=True)
    elif a.what == "infer":
        for size in a.sizes or [512, 1024]:
            jax_run, torch_run = infer_fns(size)
            for r in range(a.rounds):
                tj, tt = timed(jax_run, a.steps), timed(torch_run, a.steps)
                print(f"infer {size} px round {r}: jax {tj * 1e3:.0f} ms, torch {tt * 1e3:.0f} ms, "
                      f"jax/torch {tj / tt:.2f}", flush=True)
    else:
        for size in a.sizes or [1024]:
            t = timed(multimodal_fn(size), a.steps)
            print(f"multimodal infer {size} px: jax {t * 1e3:.0f} ms", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
