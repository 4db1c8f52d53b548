"""Regenerate docs/gallery.jpg: the README's gallery, made with the CLI defaults.

    python docs/make_gallery.py [--size 256] [--steps 150] [--out docs/gallery.jpg]

Uses only the sample images bundled with scikit-image (``sample:NAME``), so anyone can
reproduce it offline. All pairs of one shape are optimized in one batched program.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jaxstyle.io import load_image, make_grid_rows, resize_long_side, save_image
from jaxstyle.optimize import StylizeConfig, make_pairs, stylize

# (content, style, method): each row of the gallery.
ROWS = [
    ("chelsea", "ihc", "gatys"),
    ("astronaut", "hubble", "gatys"),
    ("coffee", "ihc", "lapstyle"),
    ("motorcycle", "retina", "gatys"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", default=str(Path(__file__).with_name("gallery.jpg")))
    args = parser.parse_args()
    rows: list = [None] * len(ROWS)
    t0 = time.perf_counter()
    for method in dict.fromkeys(m for _, _, m in ROWS):  # one batched run per method
        idx = [i for i, row in enumerate(ROWS) if row[2] == method]
        contents = [load_image(f"sample:{ROWS[i][0]}") for i in idx]
        styles = [load_image(f"sample:{ROWS[i][1]}") for i in idx]
        cfg = StylizeConfig(method=method, size=args.size, steps=args.steps)
        results = stylize(contents, styles, cfg, pairs=make_pairs(contents, styles, "zip"))
        for i, content, style, result in zip(idx, contents, styles, results, strict=True):
            c, s, _ = ROWS[i]
            images = [resize_long_side(content, args.size), resize_long_side(style, args.size), result]
            rows[i] = (images, [f"content: {c}", f"style: {s}", f"{method}, {args.steps} steps"])
    grid = make_grid_rows([r[0] for r in rows], height=args.size, labels=[r[1] for r in rows])
    save_image(args.out, grid, quality=90)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
