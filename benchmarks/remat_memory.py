"""Peak memory and time of Gatys stylization with and without ``--remat`` (jax.checkpoint per block).

  python benchmarks/remat_memory.py [--size 2048] [--steps 2] [--optimizer adam]

Each configuration runs ``jaxstyle.optimize.stylize`` on the bundled sample pair (content
resized to ``size`` on its long side, style likewise) in its own subprocess and reports the
process's peak RSS (``ru_maxrss``, which on the CPU is where XLA's buffers live) and the wall
time of the run (compile included). Weights: the embedded VGG16.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def worker(size: int, steps: int, optimizer: str, remat: bool) -> dict:
    from jaxstyle.io import load_image, resize_long_side
    from jaxstyle.optimize import StylizeConfig, stylize

    content = resize_long_side(load_image("sample:chelsea"), size)
    style = resize_long_side(load_image("sample:ihc"), size)
    cfg = StylizeConfig(size=size, steps=steps, optimizer=optimizer, remat=remat, chunk=steps)
    t = time.perf_counter()
    stylize([content], [style], cfg)
    return {
        "size": size,
        "content_shape": list(content.shape),
        "remat": remat,
        "optimizer": optimizer,
        "steps": steps,
        "wall_s": round(time.perf_counter() - t, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "lbfgs", "sgd"])
    ap.add_argument("--worker", choices=["remat", "plain"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print("RESULT " + json.dumps(worker(a.size, a.steps, a.optimizer, a.worker == "remat")))
        return
    for mode in ("plain", "remat"):
        cmd = [sys.executable, __file__, "--worker", mode, "--size", str(a.size), "--steps",
               str(a.steps), "--optimizer", a.optimizer]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        print(lines[-1][7:] if lines else f"{mode}: failed ({out.returncode}) {out.stderr[-300:]}", flush=True)


if __name__ == "__main__":
    main()
