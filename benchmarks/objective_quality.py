"""Quality of Gatys variants on the shared photos: style distance and content LPIPS, wall time.

  python benchmarks/objective_quality.py [--size 128] [--steps 100] [--variants gram w2 bf16]
  python benchmarks/objective_quality.py --dry-run          # 32 px, 2 steps, one pair (tested)

Each variant is a :class:`jaxstyle.optimize.StylizeConfig` (``stylize``'s defaults otherwise:
VGG16, content relu4_2, style relu1_1..relu5_1, TV, L-BFGS) run on the same (content, style)
pairs, every content with one style, cycling through the styles. Reported per variant (means
over pairs):

- style distance: :func:`jaxstyle.metrics.gram_distance` between result and style at
  relu1_1..relu5_1 of VGG16, mean over layers (scale-free, lower is closer to the style);
- content LPIPS: :func:`jaxstyle.metrics.lpips` between result and content (lower keeps more);
- wall seconds of the ``stylize`` call (compile included), load average.

Variants: ``gram`` (the default), ``w2`` (``style_loss="w2"``), ``bf16``
(``compute_dtype="bfloat16"``), ``w2_bf16``, and ``coarse`` (``scales=3``, steps split over the
scales: a coarse-to-fine schedule with the same step count).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "images"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VARIANTS = {
    "gram": {},
    "w2": {"style_loss": "w2"},
    "bf16": {"compute_dtype": "bfloat16"},
    "w2_bf16": {"style_loss": "w2", "compute_dtype": "bfloat16"},
    "coarse": {"scales": 3},
}


def pairs(n: int, size: int):
    """``n`` (name, content, style) triples from the shared photos at long side ``size``."""
    from jaxstyle.io import load_image, resize_long_side

    contents = sorted((PHOTOS / "content").glob("*.jpg"))
    styles = sorted((PHOTOS / "style").glob("*.jpg"))
    return [(f"{c.stem}+{s.stem}", resize_long_side(load_image(c), size), resize_long_side(load_image(s), size))
            for c, s in zip(contents[:n], (styles * n)[:n], strict=True)]


def score(encoder, result, content, style) -> dict[str, float]:
    import jax.numpy as jnp

    from jaxstyle.metrics import gram_distance, lpips

    fr = encoder(jnp.asarray(result)[None], STYLE_LAYERS)
    fs = encoder(jnp.asarray(style)[None], STYLE_LAYERS)
    style_d = statistics.mean(float(gram_distance(fr[k], fs[k])[0]) for k in STYLE_LAYERS)
    return {"style_distance": style_d,
            "content_lpips": float(lpips(jnp.asarray(result)[None], jnp.asarray(content)[None])[0])}


def run(variant: str, size: int, steps: int, triples, encoder) -> dict:
    from jaxstyle.optimize import StylizeConfig, stylize

    options = dict(VARIANTS[variant])
    if options.get("scales"):
        options["steps"] = max(1, steps // options["scales"])
    cfg = StylizeConfig(size=size, steps=options.pop("steps", steps), **options)
    rows = []
    t = time.perf_counter()
    results = stylize([c for _, c, _ in triples], [s for _, _, s in triples], cfg, encoder=encoder, pairs="zip")
    seconds = time.perf_counter() - t
    for (name, content, style), result in zip(triples, results, strict=True):
        rows.append({"pair": name, **score(encoder, result, content, style)})
    return {"variant": variant, "size": size, "steps": steps, "seconds": seconds, "load1": os.getloadavg()[0],
            "style_distance": statistics.mean(r["style_distance"] for r in rows),
            "content_lpips": statistics.mean(r["content_lpips"] for r in rows), "pairs": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--variants", nargs="+", default=["gram", "w2", "bf16"], choices=list(VARIANTS))
    ap.add_argument("--dry-run", action="store_true", help="32 px, 2 steps, one pair, gram and w2_bf16")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.dry_run:
        a.size, a.steps, a.pairs, a.variants = 32, 2, 1, ["gram", "w2_bf16"]

    import jaxstyle

    encoder = jaxstyle.load_encoder("vgg16")
    triples = pairs(a.pairs, a.size)
    print(f"# {a.pairs} pairs at {a.size} px, {a.steps} steps; load {os.getloadavg()[0]:.1f}", flush=True)
    out = []
    for variant in a.variants:
        out.append(run(variant, a.size, a.steps, triples, encoder))
        print(json.dumps({k: v for k, v in out[-1].items() if k != "pairs"}), flush=True)
    print("\n| variant | style distance | content LPIPS | wall s | load1 |\n|---|---:|---:|---:|---:|")
    for r in out:
        print(f"| {r['variant']} | {r['style_distance']:.4f} | {r['content_lpips']:.4f} | {r['seconds']:.1f} | "
              f"{r['load1']:.1f} |")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
