"""Images/s of the paired content/style grain pipeline (decode, resize 512, crop 256).

Synthetic JPEGs at COCO-like size (640x480, ~quality 90, photo-like spectrum) are written
to a temporary folder; nothing is downloaded. Every configuration runs the real
``jaxstyle.data.build_paired_iterator`` and counts content + style images per second
after a warm-up (worker start-up excluded).

    .venv/bin/python benchmarks/data_throughput.py                 # default matrix
    .venv/bin/python benchmarks/data_throughput.py --style-size 1600x1200   # WikiArt-like
    .venv/bin/python benchmarks/data_throughput.py --workers 0 1 2 --threads 1 4 --cpus 1

``--cpus N`` pins the process (and the grain workers it spawns) to the first N CPUs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def synthetic_jpegs(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
    """Photo-like JPEGs: smooth colour fields plus fine noise (~100-200 KB at 640x480)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(count):
        coarse = rng.uniform(0, 255, (max(2, h // 60), max(2, w // 60), 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)
        img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.jpg", quality=90)
    return folder


def measure(cfg, global_batch: int, warmup: int, batches: int) -> tuple[float, float]:
    """(images/s over the timed batches, seconds to the first batch)."""
    from jaxstyle.data import build_paired_iterator

    t0 = time.perf_counter()
    it = build_paired_iterator(cfg, global_batch=global_batch, seed=0)
    next(it)
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = 2 * global_batch * batches / (time.perf_counter() - t)  # content + style
    it.close()
    return rate, first


def single_thread_cost(folder: Path, load_size: int, crop: int, n: int = 40) -> float:
    """ms per image for decode + resize + crop in this thread, without grain."""
    from jaxstyle.data.images import crop_short_side, decode_for_crop, random_resized_crop

    files = sorted(folder.glob("*.jpg"))[:n]
    blobs = [f.read_bytes() for f in files]
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for b in blobs:
        img = decode_for_crop(b, "x", load_size=load_size, crop_size=crop, small_images="upscale")
        short = crop_short_side(min(img.shape[:2]), load_size=load_size, crop_size=crop)
        random_resized_crop(img, short, crop, True, rng).astype(np.float32)
    return (time.perf_counter() - t) / len(blobs) * 1e3


def machine() -> str:
    import grain
    import jax
    import PIL

    cpu = "?"
    try:
        for line in os.popen("lscpu").read().splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), affinity {sorted(os.sched_getaffinity(0))}, "
        f"load average {os.getloadavg()[0]:.1f} at start; Python {platform.python_version()}, "
        f"grain {grain.__version__}, Pillow {PIL.__version__}, jax {jax.__version__}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--content", type=int, default=96, help="synthetic content JPEGs")
    p.add_argument("--style", type=int, default=48, help="synthetic style JPEGs")
    p.add_argument("--content-size", default="640x480")
    p.add_argument("--style-size", default="640x480")
    p.add_argument("--batch", type=int, default=8, help="global batch (pairs per step)")
    p.add_argument("--batches", type=int, default=25, help="timed batches per run")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration (median)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--threads", type=int, nargs="+", default=[1, 4], help="read threads per process"
    )
    p.add_argument("--cpus", type=int, default=0, help="pin to the first N CPUs (0 = all)")
    p.add_argument("--load-size", type=int, default=512)
    p.add_argument("--crop", type=int, default=256)
    args = p.parse_args()

    if args.cpus:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cpus]))
    from jaxstyle.data import default_data_config

    print(f"machine: {machine()}")
    csize = tuple(int(x) for x in args.content_size.split("x"))
    ssize = tuple(int(x) for x in args.style_size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        content = synthetic_jpegs(Path(tmp) / "content", args.content, csize, 0)
        style = synthetic_jpegs(Path(tmp) / "style", args.style, ssize, 1)
        kb = np.mean([f.stat().st_size for f in content.glob("*.jpg")]) / 1024
        print(
            f"data: {args.content} content {args.content_size} (mean {kb:.0f} KB), "
            f"{args.style} style {args.style_size}; load {args.load_size}, crop {args.crop}, "
            f"global batch {args.batch}"
        )
        for name, folder in (("content", content), ("style", style)):
            ms = single_thread_cost(folder, args.load_size, args.crop)
            print(f"single thread, no grain, {name}: {ms:.1f} ms/image = {1e3 / ms:.0f} images/s")
        print()
        print(
            "| workers | read threads | images/s (content+style), median | runs | first batch s |"
        )
        print("|---:|---:|---:|---|---:|")
        for workers in args.workers:
            for threads in args.threads:
                cfg = default_data_config()
                cfg.content_dir, cfg.style_dir = str(content), str(style)
                cfg.load_size, cfg.crop_size = args.load_size, args.crop
                cfg.workers, cfg.read_threads = workers, threads
                cfg.prefetch_buffer_size = 4 * args.batch
                runs = [
                    measure(cfg, args.batch, args.warmup, args.batches) for _ in range(args.repeats)
                ]
                rates = [r for r, _ in runs]
                shown = ", ".join(f"{r:.0f}" for r in rates)
                print(
                    f"| {workers} | {threads} | {statistics.median(rates):.0f} | {shown} | "
                    f"{statistics.median(f for _, f in runs):.1f} |",
                    flush=True,
                )


if __name__ == "__main__":  # grain's workers start by spawn and re-import this module
    main()
