"""AdaIN benchmarks: training step (jaxstyle vs a PyTorch reference), inference, device scaling.

  python benchmarks/adain_bench.py train  [--crop 256 --batch 8 --steps 3]
  python benchmarks/adain_bench.py infer  [--size 512 --steps 3]
  python benchmarks/adain_bench.py scale  [--crop 128 --batch 8 --steps 3]   # 1..8 forced CPU devices

Both sides use the same model: VGG19 (vgg_normalised layout) to relu4_1, AdaIN, the
pytorch-AdaIN decoder, content + mean/std style losses (relu1_1..relu4_1), Adam. Weights are
random (timing does not depend on values; no VGG19 weights ship offline). Times are the median
of ``--steps`` steps after one warm-up (compile) step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _jax_setup(crop: int, batch: int):
    import jax
    import jax.numpy as jnp
    import ml_collections
    import numpy as np

    from jaxstyle.methods.adain.method import AdaIN
    from jaxstyle.models.encoder import Encoder
    from jaxstyle.models.vgg import VGGConfig, param_shapes

    rng = np.random.default_rng(0)
    params = {
        k: {"kernel": rng.normal(0, (2 / np.prod(v["kernel"][:3])) ** 0.5, v["kernel"]).astype(np.float32),
            "bias": np.zeros(v["bias"], np.float32)}
        for k, v in param_shapes("vgg19").items()
    }  # fmt: skip
    vgg = Encoder(params=jax.tree.map(jnp.asarray, params), config=VGGConfig("vgg19", padding="reflect", normalization="none"))
    cfg = ml_collections.ConfigDict({
        "model": {"decoder_width": 1.0, "dtype": "float32"},
        "loss": {"content": 1.0, "style": 10.0, "laplacian": 0.0, "depth": 0.0, "laplacian_pool": 2},
        "optim": {"lr": 1e-4, "lr_decay": 5e-5, "b1": 0.9, "b2": 0.999},
    })  # fmt: skip
    method = AdaIN(cfg)
    frozen = {"vgg": vgg}
    batch_np = {k: rng.uniform(0, 1, (batch, crop, crop, 3)).astype(np.float32) for k in ("content", "style")}
    return jax, jnp, method, frozen, batch_np


def jax_train(crop: int, batch: int, steps: int, num_devices: int | None = None) -> float:
    jax, jnp, method, frozen, batch_np = _jax_setup(crop, batch)
    from jaxstyle import sharding as shd

    mesh = shd.make_mesh(num_devices)
    repl = shd.replicated(mesh)
    optimizers = method.optimizers()
    params = jax.device_put(method.init(jax.random.key(0), batch_np, frozen), repl)
    opt_states = jax.device_put({k: tx.init(params[k]) for k, tx in optimizers.items()}, repl)
    frozen = jax.device_put(frozen, repl)
    step = jax.jit(method.train_step, donate_argnums=(0, 1))
    b = shd.global_batch(batch_np, mesh)
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        params, opt_states, m = step(params, opt_states, b, frozen, jax.random.key(i), jnp.int32(i))
        jax.block_until_ready(m["loss"])
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def _torch_model():
    import torch
    from torch import nn

    sys.path.insert(0, str(REPO / "tests"))
    from test_adain_official import official_decoder  # the verbatim pytorch-AdaIN layout
    from torch_ref import vgg_normalised, vgg_normalised_indices

    idx = vgg_normalised_indices()
    vgg = vgg_normalised()[: idx["relu4_1"] + 1]
    for p in vgg.parameters():
        p.requires_grad_(False)
    cuts = [idx[k] + 1 for k in ("relu1_1", "relu2_1", "relu3_1", "relu4_1")]
    stages = [vgg[a:b] for a, b in zip([0] + cuts[:-1], cuts, strict=True)]
    return torch, nn, stages, official_decoder()


def torch_train(crop: int, batch: int, steps: int) -> float:
    torch, nn, stages, dec = _torch_model()
    torch.set_num_threads(os.cpu_count() or 1)
    from test_adain_official import torch_adain, torch_mean_std

    def feats(x):
        out = []
        for s in stages:
            x = s(x)
            out.append(x)
        return out

    opt = torch.optim.Adam(dec.parameters(), lr=1e-4)
    mse = nn.MSELoss()
    g = torch.Generator().manual_seed(0)
    c = torch.rand(batch, 3, crop, crop, generator=g)
    s = torch.rand(batch, 3, crop, crop, generator=g)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        sf = feats(s)
        with torch.no_grad():
            tt = torch_adain(feats(c)[-1], sf[-1])
        out = dec(tt)
        of = feats(out)
        loss_c = mse(of[-1], tt)
        loss_s = 0
        for a, b in zip(of, sf, strict=True):
            am, asd = torch_mean_std(a)
            bm, bsd = torch_mean_std(b)
            loss_s = loss_s + mse(am, bm) + mse(asd, bsd)
        loss = loss_c + 10 * loss_s
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def jax_infer(size: int, steps: int) -> float:
    jax, jnp, method, frozen, _ = _jax_setup(size, 1)
    from jaxstyle.methods.adain.method import AdaINStylizer as Stylizer

    params = method.init(jax.random.key(0), {"content": jnp.zeros((1, size, size, 3))}, frozen)["decoder"]
    st = Stylizer(params, frozen["vgg"])
    x = jnp.asarray(__import__("numpy").random.default_rng(0).uniform(0, 1, (1, size, size, 3)), jnp.float32)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        jax.block_until_ready(st.stylize(x, x))
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def torch_infer(size: int, steps: int) -> float:
    torch, nn, stages, dec = _torch_model()
    from test_adain_official import torch_adain

    enc = nn.Sequential(*stages)
    x = torch.rand(1, 3, size, size)
    times = []
    with torch.no_grad():
        for _ in range(steps + 1):
            t = time.perf_counter()
            dec(torch_adain(enc(x), enc(x))).clamp(0, 1)
            times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "infer", "scale", "_scale_child"])
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--devices", type=int, default=1)
    a = ap.parse_args()
    if a.what == "train":
        tj = jax_train(a.crop, a.batch, a.steps)
        tt = torch_train(a.crop, a.batch, a.steps)
        print(json.dumps({"crop": a.crop, "batch": a.batch, "jax_s_per_step": tj, "torch_s_per_step": tt,
                          "jax_images_per_s": a.batch / tj, "torch_images_per_s": a.batch / tt,
                          "jax_over_torch_time": tj / tt}))  # fmt: skip
    elif a.what == "infer":
        tj, tt = jax_infer(a.size, a.steps), torch_infer(a.size, a.steps)
        print(json.dumps({"size": a.size, "jax_images_per_s": 1 / tj, "torch_images_per_s": 1 / tt}))
    elif a.what == "_scale_child":
        print(json.dumps({"devices": a.devices, "s_per_step": jax_train(a.crop, a.batch, a.steps, a.devices)}))
    else:
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
        for n in (1, 2, 4, 8):
            out = subprocess.run(
                [sys.executable, __file__, "_scale_child", "--devices", str(n), "--crop", str(a.crop),
                 "--batch", str(a.batch), "--steps", str(a.steps)],
                env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
