"""Stylizing a collection on the CPU: the streamed, bucketed job vs today's path vs a PyTorch loop.

  python benchmarks/collection.py [--crops 200] [--styles 2] [--size 128] [--steps 3] [--pairs 50 400]
  python benchmarks/collection.py --dry-run      # 4 crops x 1 style at 32 px, in-process (tested)
  python benchmarks/collection.py --quality gatys --size 128 --steps 60   # bucketed vs exact shapes
  python benchmarks/collection.py --shapes 48 --size 128 --steps 10      # 12 shapes vs one shape

Inputs: ``--crops`` crops of the shared photos (``../shared/data/images/content``), each a random
rectangle of random aspect ratio (short/long 0.5-1, landscape or portrait) resized to a random
long side in 128-256 px, written as PNGs; ``--styles`` shared paintings. Work: Gatys (the
``jaxstyle stylize`` objective: VGG16, content relu4_2, Gram relu1_1..relu5_1, TV) with Adam
(lr 0.02) for ``--steps`` steps at ``--size`` px, every crop with every style.

Each run is its own subprocess, reporting wall time (inputs listed to last file written, the
model load included), the process's CPU seconds (user + system: steadier than wall time on a
shared box), XLA programs compiled (``jax.monitoring``), peak RSS (``ru_maxrss``) and pairs/hour:

- ``new``: ``jaxstyle.stylize_collection`` (what ``jaxstyle stylize`` runs): streamed inputs,
  4 shape buckets (padded), 4 pairs per program, each output written as its batch ends;
- ``today``: the path before collections: every image loaded, ``stylizer.stylize`` on all
  pairs with exact shapes (one program per shape), every output written at the end;
- ``torch``: a PyTorch loop, one pair at a time (the same VGG16 weights and losses), for
  reference.

For the peak-RSS comparison ``new`` runs on the first N pairs of the job for each N of
``--pairs`` (contents in order, every style), and ``today``/``torch`` on the smallest N.

``--shapes N``: N crops of the shared photos (photo ``i % 4``, top-left, short/long ratio
``RATIOS[i % 12]``: 6 landscape and 6 portrait ratios, 0.56-0.95) vs N crops all resized to
one 3:4 shape, x 1 style, ``new`` and ``today`` (compilations and wall time: the Done-when's
"48 images of 12 shapes within 1.5x of 48 of one shape").

``--quality METHOD``: 8 crops of the shared photos (each photo's top-left corner at short/long
0.62 landscape and 0.77 portrait) x starry_night at ``--size``, stylized at exact shapes and on
padded and resized canvases (4 buckets); per crop, each layout's style distance (Gram distance
to the style, mean over relu1_1..relu5_1, :func:`jaxstyle.metrics.gram_distance`) relative to
the exact run's, its content LPIPS minus the exact run's, and LPIPS and max |difference| to the
exact result.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "images"
STEPS_LR = 0.02


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def make_crops(folder: Path, n: int, seed: int = 0, sizes: tuple[int, int] = (128, 256)) -> list[Path]:
    """``n`` random crops of the shared photos (aspect 0.5-1, either orientation) as PNGs."""
    import numpy as np

    from jaxstyle.io import load_image, resize_long_side, save_image

    rng = np.random.default_rng(seed)
    photos = [load_image(p) for p in sorted((PHOTOS / "content").glob("*.jpg"))]
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        ratio = rng.uniform(0.5, 1.0)
        ch = int(rng.uniform(0.4, 1.0) * h)
        cw = min(w, int(ch / ratio)) if rng.random() < 0.5 else min(w, int(ch * ratio))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = resize_long_side(photo[top : top + ch, left : left + cw], int(rng.integers(sizes[0], sizes[1] + 1)))
        paths.append(save_image(folder / f"crop{i:04d}.png", crop))
    return paths


def style_paths(n: int) -> list[Path]:
    return sorted((PHOTOS / "style").glob("*.jpg"))[:n]


# --------------------------------------------------------------------------- workers


def new_worker(a) -> dict:
    import jaxstyle

    t0 = time.perf_counter()
    summary = jaxstyle.stylize_collection(
        "gatys", a.contents, a.styles, a.output, options={"steps": a.steps, "optimizer": "adam"}, size=a.size,
        progress_line=False)
    return {"seconds": time.perf_counter() - t0, "pairs": summary.stylized, "compiled": summary.compiled}


def today_worker(a) -> dict:
    from jaxstyle.compiles import CompileCounter
    from jaxstyle.io import load_image, save_image
    from jaxstyle.methods import load_stylizer

    t0 = time.perf_counter()
    with CompileCounter() as compiles:
        contents = [load_image(p) for p in a.contents]
        styles = [load_image(p) for p in a.styles]
        stylizer = load_stylizer("gatys", steps=a.steps, optimizer="adam")
        pairs = [(c, s) for c in contents for s in styles]
        results = stylizer.stylize([c for c, _ in pairs], [s for _, s in pairs], size=a.size)
        for i, image in enumerate(results):
            save_image(Path(a.output) / f"{i:05d}.png", image)
    return {"seconds": time.perf_counter() - t0, "pairs": len(results), "compiled": compiles.total}


def torch_worker(a) -> dict:
    """One pair at a time in PyTorch: VGG16 through relu5_1 from jaxstyle's weights, the same losses."""
    import numpy as np
    import torch
    from torch import nn

    from jaxstyle.io import load_image, resize_long_side, save_image
    from jaxstyle.weights.registry import resolve_weights

    t0 = time.perf_counter()
    params = resolve_weights("vgg16", None).params
    layers, cin = [], 3
    for b, (n, cout) in enumerate(zip((2, 2, 3, 3, 1), (64, 128, 256, 512, 512), strict=True), start=1):
        for i in range(1, n + 1):
            conv = nn.Conv2d(cin, cout, 3, padding=1).requires_grad_(False)
            p = params[f"conv{b}_{i}"]
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(np.asarray(p["kernel"]).transpose(3, 2, 0, 1)))
            conv.bias.data = torch.from_numpy(np.asarray(p["bias"]).copy())
            layers += [(f"relu{b}_{i}", nn.Sequential(conv, nn.ReLU()))]
            cin = cout
        if b < 5:
            layers.append((f"pool{b}", nn.MaxPool2d(2, 2)))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    style_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

    def features(x):
        x, out = (x - mean) / std, {}
        for name, module in layers:
            x = module(x)
            out[name] = x
        return out

    def gram(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (h * w)

    def nchw(img):
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None]))

    styles = []
    with torch.no_grad():
        for p in a.styles:
            f = features(nchw(resize_long_side(load_image(p), a.size)))
            styles.append({k: gram(f[k]) for k in style_layers})
    done = 0
    for path in a.contents:
        content = nchw(resize_long_side(load_image(path), a.size))
        with torch.no_grad():
            target = features(content)["relu4_2"]
        for k, grams in enumerate(styles):
            x = content.clone().requires_grad_(True)
            opt = torch.optim.Adam([x], lr=STEPS_LR)
            for _ in range(a.steps):
                opt.zero_grad()
                f = features(x)
                c = torch.mean((f["relu4_2"] - target) ** 2)
                s = sum(torch.sum((gram(f[n]) - grams[n]) ** 2) / (4 * f[n].shape[1] ** 2) for n in style_layers) / 5
                tv = torch.mean((x[:, :, 1:] - x[:, :, :-1]) ** 2) + torch.mean((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)
                (c + 1e5 * s + tv).backward()
                opt.step()
            image = x.detach().clamp(0, 1)[0].numpy().transpose(1, 2, 0)
            save_image(Path(a.output) / f"{Path(path).stem}_{k}.png", image)
            done += 1
    return {"seconds": time.perf_counter() - t0, "pairs": done, "compiled": 0}


WORKERS = {"new": new_worker, "today": today_worker, "torch": torch_worker}


def quality(method: str, size: int, steps: int) -> None:
    """Bucketed (pad, resize) vs exact-shape results on shared-photo crops (see the module doc)."""
    import jax.numpy as jnp
    import numpy as np

    from jaxstyle import metrics
    from jaxstyle.io import load_image, resize_long_side
    from jaxstyle.methods import get_method, load_stylizer
    from jaxstyle.shapes import Batching
    from jaxstyle.weights.encoders import load_encoder

    crops = []
    for path in sorted((PHOTOS / "content").glob("*.jpg")):
        photo = load_image(path)
        h, w = photo.shape[:2]
        cw = min(w, int(h / 0.62))
        crops.append(photo[: int(cw * 0.62), :cw])
        ch = min(h, int(w * 1.3))
        crops.append(photo[:ch, : int(ch / 1.3)])
    style = load_image(PHOTOS / "style" / "starry_night.jpg")
    options = {"steps": steps} if get_method(method).kind == "optimization" else {}
    stylizer = load_stylizer(method, **options)
    results = {}
    for name, batching in (("exact", Batching()), ("pad", Batching(4, "pad")), ("resize", Batching(4, "resize"))):
        t0 = time.perf_counter()
        results[name] = stylizer.stylize(crops, [style], size=size, batching=batching)
        print(f"# {name}: {time.perf_counter() - t0:.0f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    vgg = load_encoder("vgg16")
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    target = vgg(jnp.asarray(resize_long_side(style, size))[None], layers)

    def style_distance(x):
        f = vgg(jnp.asarray(x)[None], layers)
        return float(sum(metrics.gram_distance(f[k], target[k])[0] for k in layers) / len(layers))

    def lpips(a, b):
        return float(metrics.lpips(a[None], b[None])[0])

    print("| crop | layout | style distance vs exact | content LPIPS - exact's | LPIPS to exact | max abs diff |")
    print("|---|---|---:|---:|---:|---:|")
    for i, crop in enumerate(crops):
        content, exact = resize_long_side(crop, size), results["exact"][i]
        for name in ("pad", "resize"):
            out = results[name][i]
            print(f"| {content.shape[0]}x{content.shape[1]} | {name} | {style_distance(out) / style_distance(exact) - 1:+.1%} "
                  f"| {lpips(out, content) - lpips(exact, content):+.4f} | {lpips(out, exact):.4f} "
                  f"| {np.abs(out - exact).max():.3f} |", flush=True)


RATIOS = (0.56, 0.62, 0.7, 0.75, 0.8, 0.9, -0.56, -0.62, -0.7, -0.75, -0.85, -0.95)  # short/long; <0: portrait


def shape_crops(folder: Path, n: int, distinct: bool, size: int) -> list[Path]:
    """``n`` top-left crops of the shared photos (photo ``i % 4``) at short/long ratio
    ``RATIOS[i % 12]`` (``distinct``: up to 12 shapes at ``size``), or all exactly 3:4
    landscape (one shape at ``size``), as PNGs."""
    from jaxstyle.io import load_image, resize_long_side, save_image

    photos = [resize_long_side(load_image(p), 2 * size) for p in sorted((PHOTOS / "content").glob("*.jpg"))]
    paths = []
    for i in range(n):
        photo, r = photos[i % len(photos)], RATIOS[i % len(RATIOS)]
        h, w = photo.shape[:2]
        if not distinct:  # exactly 3:4, so every crop is (3 size / 4, size) at ``size``
            cw = min(w, h * 4 // 3) // 4 * 4
            crop = photo[: cw * 3 // 4, :cw]
        elif r > 0:
            cw = min(w, int(h / r))
            crop = photo[: int(round(cw * r)), :cw]
        else:
            ch = min(h, int(w / -r))
            crop = photo[:ch, : int(round(ch * -r))]
        paths.append(save_image(folder / f"crop{i:04d}.png", crop))
    return paths


def shapes(n: int, size: int, steps: int, modes: list[str]) -> None:
    """``n`` images of distinct shapes vs ``n`` of one shape x 1 style (see ``--shapes``)."""
    from jaxstyle.io import load_image, long_side_shape

    print(f"# load average {os.getloadavg()[0]:.1f}; {n} images x 1 style, {size} px, {steps} Adam steps",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for distinct in (False, True):
            crops = shape_crops(tmp / f"crops{distinct}", n, distinct, size)
            n_shapes = len({long_side_shape(load_image(p).shape[:2], size) for p in crops})
            for mode in modes:
                result = run_worker(mode, crops, style_paths(1), size, steps, tmp / f"{mode}{distinct}")
                print(json.dumps({**result, "shapes": n_shapes, "load": round(os.getloadavg()[0], 1)}), flush=True)


def run_worker(mode: str, contents: list[Path], styles: list[Path], size: int, steps: int, output: Path) -> dict:
    """One measurement in a fresh process (peak RSS is the process's)."""
    spec = json.dumps({"mode": mode, "contents": list(map(str, contents)), "styles": list(map(str, styles)),
                       "size": size, "steps": steps, "output": str(output)})
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, env=env,
                          timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _worker_main(spec: str) -> None:
    a = argparse.Namespace(**json.loads(spec))
    out = WORKERS[a.mode](a)
    out["peak_rss_mb"] = round(_peak_rss_mb())
    usage = resource.getrusage(resource.RUSAGE_SELF)  # CPU seconds: steadier than wall time on a shared box
    out["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    out["pairs_per_hour"] = round(3600 * out["pairs"] / out["seconds"])
    out["seconds"] = round(out["seconds"], 1)
    print(json.dumps({"mode": a.mode, **out}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--crops", type=int, default=200)
    p.add_argument("--styles", type=int, default=2)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--pairs", type=int, nargs="+", default=[50, 400], help="job sizes of the new path")
    p.add_argument("--modes", nargs="+", default=list(WORKERS), choices=list(WORKERS))
    p.add_argument("--dry-run", action="store_true", help="4 crops x 1 style at 32 px, 1 step, in this process")
    p.add_argument("--quality", metavar="METHOD", help="bucketed vs exact-shape results of METHOD instead")
    p.add_argument("--shapes", type=int, metavar="N", help="N images of up to 12 shapes vs N of one shape instead")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return _worker_main(a.worker)
    if a.quality:
        return quality(a.quality, a.size, a.steps)
    if a.shapes:
        return shapes(a.shapes, a.size, a.steps, [m for m in a.modes if m != "torch"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.dry_run:
            crops = make_crops(tmp / "crops", 4, sizes=(40, 64))
            for mode in ("new", "today", "torch"):
                spec = argparse.Namespace(contents=crops, styles=style_paths(1), size=32, steps=1,
                                          output=str(tmp / mode))
                result = WORKERS[mode](spec)
                assert result["pairs"] == 4, result
                print(json.dumps({"mode": mode, **result}))
            return None
        print(f"# load average {os.getloadavg()[0]:.1f}; {a.crops} crops x {a.styles} styles, {a.size} px, "
              f"{a.steps} Adam steps", flush=True)
        crops, styles = make_crops(tmp / "crops", a.crops), style_paths(a.styles)
        smallest = min(a.pairs)
        for mode in a.modes:
            for n in sorted(a.pairs) if mode == "new" else [smallest]:
                contents = crops[: max(1, n // len(styles))]
                result = run_worker(mode, contents, styles, a.size, a.steps, tmp / f"{mode}{n}")
                print(json.dumps({**result, "load": round(os.getloadavg()[0], 1)}), flush=True)
    return None


if __name__ == "__main__":
    main()
