"""Style swap on the CPU: jaxstyle's op vs PyTorch references, its peak memory, and the inversion's cost.

  python benchmarks/style_swap_bench.py [--sizes 512 1024] [--rounds 2] [--skip-opt]

* The op: one pair of relu3_1 feature maps of the embedded VGG16 (``tubingen`` content,
  ``starry_night`` style from ../shared/data/images, both resized to ``size`` x ``size``), so
  (size/4)^2 positions x (size/4 - 2)^2 patches of 3x3x256: 512 px = 16,384 x 15,876, 1024 px
  = 65,536 x 64,516. Patch 3, stride 1. Each (framework, size, round) runs in its own
  subprocess, frameworks alternating (order flipped every round); reported: the time of one
  call after warm-up (jax: ``jit(...).lower().compile()`` timed separately, then the compiled
  call), and the subprocess's peak RSS (``VmHWM``). Workers:
  - ``jax``: :func:`jaxstyle.ops.style_swap.style_swap`, chunk 1024 (also XLA's compiled temp
    memory from ``memory_analysis``);
  - ``torch``: the same algorithm in PyTorch: style patches by unfold, normalised, scores by
    ``conv2d`` over chunks of 1024 patches with a running max, reconstruction by gathering the
    chosen patches and ``fold`` (overlap-add) divided by ``fold`` of ones;
  - ``torch-official`` (512 px only; the 1024 px score map is 17 GB): the official
    unchunked algorithm (:func:`tests.torch_ref.style_swap_torch`: conv2d over all patches,
    one-hot, two ``conv_transpose2d``).
  The PyTorch workers import neither jax nor jaxstyle (features come in an ``.npy``).
* The inversion: per-iteration time of ``--method styleswap`` (Adam) vs ``--method gatys``
  (default L-BFGS, and Adam) at 256 px (the CLI's size), one pair, through the stylizer;
  per-iteration = median time between progress reports (every 10 steps) after the first, / 10.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "images"
CHUNK = 1024


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


# ----------------------------------------------------------------------------- workers


def worker_jax(content_npy: str, style_npy: str) -> dict:
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(REPO))
    from jaxstyle.ops.style_swap import style_swap

    c, s = jnp.asarray(np.load(content_npy)), jnp.asarray(np.load(style_npy))
    t0 = time.perf_counter()
    compiled = jax.jit(functools.partial(style_swap, chunk=CHUNK)).lower(c, s).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    t0 = time.perf_counter()
    out = compiled(c, s).block_until_ready()
    run_s = time.perf_counter() - t0
    np.save(Path(content_npy).with_suffix(".jax_out.npy"), np.asarray(out))
    return {"run_s": run_s, "compile_s": compile_s, "xla_temp_gb": mem.temp_size_in_bytes / 1e9,
            "peak_rss_mb": _vmhwm_mb()}


def _torch_chunked(content, style, chunk: int):
    """(1,C,H,W), (1,C,h,w) -> (1,C,H,W): chunked scores with running max, gather + fold."""
    import torch
    import torch.nn.functional as F

    c = style.shape[1]
    cols = F.unfold(style, 3)[0].T.contiguous()  # (P, C*9), rows are raw patches
    n = cols.shape[0]
    kernels = (cols / (cols.norm(dim=1, keepdim=True) + 1e-8)).reshape(n, c, 3, 3)
    best = best_idx = None
    for start in range(0, n, chunk):
        scores = F.conv2d(content, kernels[start : start + chunk])[0]  # (chunk, Ho, Wo)
        val, idx = scores.max(dim=0)
        idx = idx + start
        if best is None:
            best, best_idx = val, idx
        else:
            better = val > best
            best, best_idx = torch.where(better, val, best), torch.where(better, idx, best_idx)
    chosen = cols[best_idx.flatten()].T[None]  # (1, C*9, Ho*Wo)
    size = content.shape[2:]
    total = F.fold(chosen, size, 3)
    count = F.fold(torch.ones_like(chosen[:, :9]), size, 3)
    return total / count


def worker_torch(content_npy: str, style_npy: str, official: bool) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, str(REPO))
    c = torch.from_numpy(np.load(content_npy)).permute(2, 0, 1)[None].contiguous()
    s = torch.from_numpy(np.load(style_npy)).permute(2, 0, 1)[None].contiguous()
    if official:
        from tests.torch_ref import style_swap_torch

        fn = lambda: style_swap_torch(c, s)  # noqa: E731
    else:
        fn = lambda: _torch_chunked(c, s, CHUNK)  # noqa: E731
    with torch.no_grad():
        t0 = time.perf_counter()
        out = fn()
        run_s = time.perf_counter() - t0
    ours = np.load(Path(content_npy).with_suffix(".jax_out.npy")) if Path(content_npy).with_suffix(".jax_out.npy").exists() else None
    diff = None if ours is None else float(np.abs(out[0].permute(1, 2, 0).numpy() - ours).max())
    return {"run_s": run_s, "peak_rss_mb": _vmhwm_mb(), "max_abs_diff_vs_jax": diff}


# ----------------------------------------------------------------------------- driver


def make_features(sizes: list[int], tmp: Path) -> dict[int, tuple[str, str]]:
    import numpy as np

    sys.path.insert(0, str(REPO))
    from jaxstyle.io import load_image, resize
    from jaxstyle.weights.encoders import load_encoder

    vgg = load_encoder("vgg16")
    out = {}
    for size in sizes:
        paths = []
        for name, image in (("content", IMAGES / "content" / "tubingen.jpg"), ("style", IMAGES / "style" / "starry_night.jpg")):
            img = resize(load_image(image), (size, size))[None]
            feats = np.asarray(vgg(img, ("relu3_1",))["relu3_1"][0])
            path = tmp / f"{name}_{size}.npy"
            np.save(path, feats)
            paths.append(str(path))
        out[size] = tuple(paths)
    return out


def run_worker(kind: str, content: str, style: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, content, style],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_op(sizes: list[int], rounds: int) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        feats = make_features(sizes, Path(tmp))
        for size in sizes:
            kinds = ["jax", "torch"] + (["torch-official"] if size <= 512 else [])
            for r in range(rounds):
                order = kinds if r % 2 == 0 else kinds[::-1]
                for kind in order:
                    res = run_worker(kind, *feats[size])
                    results.setdefault(size, {}).setdefault(kind, []).append(res)
                    print(f"size {size} round {r} {kind}: {json.dumps(res)}", flush=True)
    return results


def bench_inversion(size: int = 256, steps: int = 40, rounds: int = 2) -> dict:
    sys.path.insert(0, str(REPO))
    from jaxstyle.io import load_image
    from jaxstyle.methods import load_stylizer

    content = load_image(IMAGES / "content" / "golden_gate.jpg")
    style = load_image(IMAGES / "style" / "starry_night.jpg")
    setups = {"styleswap (adam)": ("styleswap", {}), "gatys (lbfgs)": ("gatys", {}),
              "gatys (adam)": ("gatys", {"optimizer": "adam"})}
    out: dict = {}
    for r in range(rounds):
        names = list(setups) if r % 2 == 0 else list(setups)[::-1]
        for name in names:
            method, opts = setups[name]
            stamps: list[float] = []
            stylizer = load_stylizer(method, steps=steps, **opts)
            stylizer.stylize([content], [style], size=size, progress=lambda *_, s=stamps: s.append(time.perf_counter()))
            per_iter = statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)) / 10
            out.setdefault(name, []).append(per_iter)
            print(f"inversion {name} round {r}: {per_iter * 1e3:.1f} ms/iteration", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--skip-op", action="store_true")
    p.add_argument("--skip-opt", action="store_true")
    p.add_argument("--worker", nargs=3, metavar=("KIND", "CONTENT", "STYLE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        kind, content, style = args.worker
        res = worker_jax(content, style) if kind == "jax" else worker_torch(content, style, kind == "torch-official")
        print(json.dumps(res))
        return
    summary = {}
    if not args.skip_op:
        summary["op"] = bench_op(args.sizes, args.rounds)
    if not args.skip_opt:
        summary["inversion"] = bench_inversion()
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
