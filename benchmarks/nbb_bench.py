"""Neural Best-Buddies time: the whole jitted hierarchy (jaxstyle.ops.nbb.best_buddies).

For each frame size and mode (fast = down to relu2_1, DST's setting; full = down to relu1_1)
it compiles ahead of time (reported apart), then times ``--repeats`` runs on a content/style
pair from ../shared/data/images with the embedded VGG16, and reports the inversion steps the
plateau rule ran per level (capped at ``--invert-steps``) and the number of best buddies.

    python benchmarks/nbb_bench.py --sizes 256 512 --modes fast full

The feature inversions (Adam through a VGG block, ~100-250 steps per level) are nearly all of
the time, so a run's time is about (sum of steps) x (one fwd+bwd of the blocks).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import numpy as np

REPO = Path(__file__).resolve().parents[1]
IMAGES = Path(os.environ.get("JAXSTYLE_TEST_IMAGES", REPO.parent / "shared" / "data" / "images"))


def main() -> None:
    from jaxstyle.io import load_image, resize
    from jaxstyle.ops.nbb import best_buddies
    from jaxstyle.weights.encoders import load_encoder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--modes", nargs="+", default=["fast", "full"], choices=["fast", "full"])
    ap.add_argument("--invert-steps", type=int, default=400, help="cap per level (default 400, as the CLI)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--content", default=str(IMAGES / "content" / "golden_gate.jpg"))
    ap.add_argument("--style", default=str(IMAGES / "style" / "the_scream.jpg"))
    args = ap.parse_args()

    enc = load_encoder("vgg16")
    content, style = load_image(args.content), load_image(args.style)
    print(f"# {jax.devices()[0].device_kind}, load {os.getloadavg()[0]:.1f}, "
          f"{Path(args.content).name} vs {Path(args.style).name}, invert cap {args.invert_steps}")
    print("| frame | mode | compile s | run s (each) | inversion steps per level (A, B) | buddies |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        a = jax.numpy.asarray(resize(content, (size, size)))
        b = jax.numpy.asarray(resize(style, (size, size)))
        for mode in args.modes:
            static = dict(final_level=2 if mode == "fast" else 1, invert_steps=args.invert_steps)
            t0 = time.perf_counter()
            compiled = best_buddies.lower(enc, a, b, **static).compile()
            compile_s = time.perf_counter() - t0
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                state, steps = jax.block_until_ready(compiled(enc, a, b))
                runs.append(time.perf_counter() - t0)
            per_level = ", ".join(f"L{5 - i}->{4 - i}: {s[0]}/{s[1]}" for i, s in enumerate(np.asarray(steps)))
            print(f"| {size} | {mode} | {compile_s:.1f} | {', '.join(f'{r:.1f}' for r in runs)} | "
                  f"{per_level} | {int(np.asarray(state.alive).sum())} |", flush=True)


if __name__ == "__main__":
    main()
