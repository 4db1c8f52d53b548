"""DST and STROTSS per-iteration time vs Gatys at the same size (CPU or whatever JAX runs on).

  python benchmarks/dst_bench.py [--size 256] [--steps 3] [--repeats 2] [--out benchmarks/results/dst.md]

One pair (``tubingen`` content, ``starry_night`` style from ../shared/data/images, long side
``--size``), the embedded VGG16, the engine's own jitted chunk
(:class:`jaxstyle.optimize.engine.Bucket`, what the engine runs) for each program:

- ``gatys``: the Gatys objective (relu1_1..relu5_1 Grams, relu4_2 content), Adam (one
  loss + gradient per step, like the SGD of the others);
- ``strotss``: :class:`jaxstyle.optimize.strotss.Strotss`, 1 scale (so every step runs at
  ``--size``: the last and costliest scale of the official schedule), SGD, 2048 samples
  against 5000 style hypercolumns;
- ``dst-strotss`` / ``dst-gatys``: :class:`jaxstyle.methods.dst.objective.DST`, 1 scale, 80
  keypoints (a grid, targets shifted 3 px) + 324 border points, SGD / L-BFGS defaults;
- ``tps``: the warp alone (spline solve + flow on the grid + bilinear warp, forward and
  backward), to show what the warp itself costs.

Each program is compiled first (a 0-step chunk, timed as ``compile``), then run once; then
the timed rounds alternate the programs (round r runs them all in turn, order reversed on odd
rounds) and per-iteration = chunk time / ``--steps``; the median over rounds is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "images"


class _Chunk:
    """One program as the engine runs it (a one-pair :class:`~jaxstyle.optimize.engine.Bucket`):
    ``chunk(n)`` runs n steps, returns the loss; the first call builds it (targets, compile)."""

    def __init__(self, build):
        self.build, self.bucket = build, None

    def __call__(self, n: int) -> float:
        if self.bucket is None:
            self.bucket = self.build()
        return float(self.bucket.run(n)["total"][0])


def _programs(size: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxstyle.io import load_image, resize_long_side
    from jaxstyle.methods.dst.objective import DSTConfig, keypoint_inputs, pad_inputs
    from jaxstyle.ops import tps
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.engine import Bucket
    from jaxstyle.optimize.gatys import objective_with_networks
    from jaxstyle.optimize.strotss import StrotssConfig
    from jaxstyle.points import Correspondences
    from jaxstyle.weights.encoders import load_encoder

    enc = load_encoder("vgg16")
    content = resize_long_side(load_image(IMAGES / "content" / "tubingen.jpg"), size)
    style = resize_long_side(load_image(IMAGES / "style" / "starry_night.jpg"), size)
    h, w = content.shape[:2]
    gx, gy = np.meshgrid(np.linspace(0.15, 0.85, 10) * w, np.linspace(0.15, 0.85, 8) * h)
    src = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)  # 80 keypoints
    sh, sw = style.shape[:2]
    points = Correspondences(src, ((src + 3.0) * np.array([sw / w, sh / h])).astype(np.float32))
    extras = {k: v[0] for k, v in pad_inputs([keypoint_inputs(points, (h, w), (sh, sw))]).items()}

    configs = {
        "gatys": StylizeConfig(optimizer="adam", size=size),
        "strotss": StrotssConfig(size=size, scales=1),
        "dst-strotss": DSTConfig(size=size, scales=1),
        "dst-gatys": DSTConfig(size=size, scales=1, dst_loss="gatys"),
    }
    programs = {}
    for name, cfg in configs.items():
        objective = objective_with_networks(cfg, enc) if name == "gatys" else cfg.objective(enc)
        inputs = {"content": content, "style": style, **{k: extras[k] for k in objective.extra_inputs}}
        one = objective.init(inputs, np.random.default_rng(0), content.copy())
        engine = cfg.engine() if hasattr(cfg, "engine") else cfg
        programs[name] = _Chunk(lambda o=objective, i=inputs, v=one, e=engine: Bucket(o, o.frozen(), [i], [v], e))

    flow_args = (jnp.asarray(src), jnp.asarray(src + 3.0), jnp.asarray(content))

    @jax.jit
    def warp_grad(src, dst, image):
        return jax.grad(lambda d, x: jnp.mean(tps.warp_image(x, tps.tps_flow(src, d, None, (h, w))) ** 2),
                        argnums=(0, 1))(dst, image)

    def tps_chunk(n):
        out = None
        for _ in range(n):
            out = warp_grad(*flow_args)
        if out is not None:
            jax.block_until_ready(out)
        return 0.0

    def tps_compile(n):
        jax.block_until_ready(warp_grad(*flow_args))
        return 0.0

    programs["tps"] = lambda n: tps_compile(n) if n == 0 else tps_chunk(n)
    return programs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = p.parse_args()
    import jax

    load = os.getloadavg()
    programs = _programs(args.size)
    compile_s = {}
    for name, chunk in programs.items():
        t = time.perf_counter()
        chunk(0)
        compile_s[name] = time.perf_counter() - t
        chunk(1)  # first real run
        print(f"{name}: compiled in {compile_s[name]:.1f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in programs}
    for r in range(args.repeats):
        for name in (list(programs) if r % 2 == 0 else list(programs)[::-1]):
            t = time.perf_counter()
            programs[name](args.steps)
            times[name].append((time.perf_counter() - t) / args.steps)
    gatys = statistics.median(times["gatys"])
    lines = [f"size {args.size} px, {jax.devices()[0].platform}, load average before {load[0]:.1f}, "
             f"after {os.getloadavg()[0]:.1f}; {args.steps} steps x {args.repeats} rounds",
             "", "| program | compile s | s / iteration (median) | vs gatys |", "|---|---:|---:|---:|"]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"| {name} | {compile_s[name]:.1f} | {med:.3f} | {med / gatys:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
