"""CFSD on VGG19 (StyleID's definition) against ``cfsd_vgg16`` (jaxstyle's stand-in), on a bench run.

Needs torchvision's ImageNet VGG19 imported (``jaxstyle weights download vgg19``). For every
result of a finished ``jaxstyle bench`` folder, CFSD to its content with both networks; prints
per method the two means and their ratio, and the Spearman rank correlation of the two over the
pairs and over the methods' means (does ``cfsd_vgg16`` rank like ``cfsd``?)::

    python benchmarks/cfsd_vgg19_vs_vgg16.py BENCH_OUTPUT --content DIR

Not run on the development machine: VGG19's weights cannot be downloaded there
(docs/evaluation.md, "VGG19 or VGG16").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (no ties expected among float metrics)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path, help="a jaxstyle bench --output folder")
    parser.add_argument("--content", required=True, help="its content folder")
    args = parser.parse_args()

    from jaxstyle import metrics
    from jaxstyle.errors import WeightsError
    from jaxstyle.io import expand_image_paths, load_image, resize

    try:
        vgg19, key19 = metrics.cfsd_encoder("vgg19")
    except WeightsError as e:
        raise SystemExit(f"error: {e}") from None
    vgg16, key16 = metrics.cfsd_encoder("vgg16")
    result = json.loads((args.bench / "results.json").read_text())
    contents = {p.stem: load_image(p) for p in expand_image_paths([args.content])}
    rows, pair19, pair16 = [], [], []
    for label, record in result["methods"].items():
        if "error" in record:
            continue
        folder = args.bench / "images" / record["folder"]
        v19, v16 = [], []
        for path in sorted(folder.glob("*.png")):
            out = load_image(path)[None]
            content = resize(contents[path.stem.split("__")[0]], out.shape[1:3])[None]
            v19.append(float(metrics.cfsd(out, content, vgg19)[0]))
            v16.append(float(metrics.cfsd(out, content, vgg16)[0]))
        rows.append((label, np.mean(v19), np.mean(v16)))
        pair19 += v19
        pair16 += v16
    print(f"| method | {key19} | {key16} | ratio |\n|---|---|---|---|")
    for label, a, b in rows:
        print(f"| {label} | {a:.4g} | {b:.4g} | {b / a:.3g} |")
    print(f"\nSpearman over {len(pair19)} pairs: {spearman(np.array(pair19), np.array(pair16)):.3f}; "
          f"over {len(rows)} methods: {spearman(np.array([r[1] for r in rows]), np.array([r[2] for r in rows])):.3f}")


if __name__ == "__main__":
    main()
