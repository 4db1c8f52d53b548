"""Encoder zoo: one Gatys gradient step per network, JAX vs torchvision on the CPU.

For every zoo network: parameters used by the default Gatys taps, then the time of one
``value_and_grad`` of the Gatys style loss (Gram MSE at the network's default style taps +
feature MSE at its content tap) w.r.t. a 256 px image, JAX (jitted) against the same loss
through torchvision's module in PyTorch (eager, autograd), alternating the two
frameworks ``--repeats`` times and reporting medians and the JAX/torch ratio. Weights are
random (timing does not depend on their values). Writes a markdown table to stdout::

  python benchmarks/encoder_zoo.py [--size 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from jaxstyle.models.encoder import Encoder  # noqa: E402
from jaxstyle.models.zoo import ARCHITECTURES  # noqa: E402

# Our tap -> torchvision module path, for the default Gatys layers of each network.
TORCH_TAPS = {
    "vgg16": ("vgg16", {"relu1_1": "features.1", "relu2_1": "features.6", "relu3_1": "features.11",
                        "relu4_1": "features.18", "relu4_2": "features.20", "relu5_1": "features.25"}),
    "alexnet": ("alexnet", {f"relu{i}": f"features.{j}" for i, j in zip(range(1, 6), (1, 4, 7, 9, 11), strict=True)}),
    "resnet50": ("resnet50", {"relu": "relu", "layer1": "layer1", "layer2": "layer2", "layer3": "layer3"}),
    "densenet121": ("densenet121", {"relu0": "features.relu0", "transition1": "features.transition1",
                                    "transition2": "features.transition2", "transition3": "features.transition3",
                                    "denseblock2": "features.denseblock2"}),
    "efficientnet_b0": ("efficientnet_b0", {"stem": "features.0", "stage2": "features.2", "stage3": "features.3",
                                            "stage4": "features.4", "stage6": "features.6"}),
}


def gram(f):
    n, h, w, c = f.shape
    f = f.reshape(n, h * w, c)
    return jnp.einsum("npc,npd->ncd", f, f) / (h * w * c)


def jax_step(enc: Encoder, size: int):
    content, style = enc.default_layers()
    layers = tuple(dict.fromkeys(style + content))
    x0 = jnp.asarray(np.random.default_rng(0).random((1, size, size, 3), np.float32))
    targets = enc(x0 * 0.5, layers)
    grams = {k: gram(targets[k]) for k in style}

    def loss(x, enc):
        f = enc(x, layers)
        s = sum(jnp.mean((gram(f[k]) - grams[k]) ** 2) for k in style)
        return s + sum(jnp.mean((f[k] - targets[k]) ** 2) for k in content)

    step = jax.jit(jax.value_and_grad(loss))
    return lambda: jax.block_until_ready(step(x0, enc))


def torch_step(arch: str, size: int):
    import torch
    from test_encoder_zoo import torchvision

    builder, taps = TORCH_TAPS[arch]
    model = getattr(torchvision().models, builder)().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for m in model.modules():  # in-place ReLUs would overwrite hooked outputs
        if hasattr(m, "inplace"):
            m.inplace = False
    named, feats = dict(model.named_modules()), {}
    for tap, path in taps.items():
        named[path].register_forward_hook(lambda m, i, o, tap=tap: feats.__setitem__(tap, o))
    content, style = ARCHITECTURES[arch].content_layers, ARCHITECTURES[arch].style_layers
    x0 = torch.rand(1, 3, size, size)

    trunk = _truncated(model.features, taps.values()) if hasattr(model, "features") else _trunk(model)

    def run(x):
        feats.clear()
        trunk(x)
        return dict(feats)

    def g(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (h * w * c)

    with torch.no_grad():
        t = run(x0 * 0.5)
    grams = {k: g(t[k]) for k in style}

    def step():
        x = x0.clone().requires_grad_(True)
        f = run(x)
        loss = sum(((g(f[k]) - grams[k]) ** 2).mean() for k in style)
        loss = loss + sum(((f[k] - t[k]) ** 2).mean() for k in content)
        loss.backward()
        return loss.item()

    return step


def _truncated(features, paths):
    """``features`` up to the deepest child a tap needs (JAX stops there too)."""
    import torch

    names = [name for name, _ in features.named_children()]
    deepest = max(names.index(p.split(".")[1]) for p in paths)
    return torch.nn.Sequential(*list(features.children())[: deepest + 1])


def _trunk(model):
    """ResNet has no ``features``: its layers up to layer3 (the deepest default tap)."""
    import torch

    return torch.nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1, model.layer2,
                               model.layer3)


def used_params(enc: Encoder) -> float:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(enc.params)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--archs", nargs="+", default=list(TORCH_TAPS), choices=list(TORCH_TAPS))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print(f"load: {os.getloadavg()[0]:.1f}; size {args.size}; repeats {args.repeats}")
    print("| encoder | trunk params (M) | default content / style taps | compile (s) | JAX step (s) | torch step (s) | JAX/torch |")
    print("|---|---|---|---|---|---|---|")
    for arch in args.archs:
        enc = Encoder.random(arch, 0)
        t0 = time.perf_counter()
        ours = jax_step(enc, args.size)
        ours()
        compile_s = time.perf_counter() - t0
        theirs = torch_step(arch, args.size)
        theirs()
        a, b = [], []
        for _ in range(args.repeats):  # alternate, so load changes hit both alike
            t = time.perf_counter()
            ours()
            a.append(time.perf_counter() - t)
            t = time.perf_counter()
            theirs()
            b.append(time.perf_counter() - t)
        ma, mb = statistics.median(a), statistics.median(b)
        content, style = enc.default_layers()
        print(f"| {arch} | {used_params(enc):.1f} | {','.join(content)} / {','.join(style)} | {compile_s:.1f} | "
              f"{ma:.3f} | {mb:.3f} | {ma / mb:.2f} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
