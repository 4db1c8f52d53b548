"""Regenerate docs/gallery.jpg: the README's gallery, made with the CLI defaults.

    python docs/make_gallery.py [--size 256] [--steps 150] [--out docs/gallery.jpg]

Uses only the bundled sample images (scikit-image's photos, jaxstyle's public-domain
paintings), so anyone can reproduce it offline. Each method runs once over its rows (the
optimization rows as one batched program); the pretrained networks need nothing but the
installed packages.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jaxstyle.io import load_image, make_grid_rows, resize_long_side, save_image
from jaxstyle.methods import load_stylizer

# (content, style sample or cin style index, method): each row of the gallery.
ROWS = [
    ("chelsea", "starry_night", "gatys"),
    ("astronaut", "the_scream", "lapstyle"),
    ("coffee", "great_wave", "ghiasi"),
    ("motorcycle", "starry_night", "ghiasi"),
    ("rocket", 19, "cin"),
]


def _label(method: str, style, steps: int) -> str:
    if method in ("gatys", "lapstyle"):
        return f"{method}, {steps} steps"
    return "ghiasi, pretrained, one pass" if method == "ghiasi" else f"cin, built-in style {style}"


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
        options = {"steps": args.steps} if method in ("gatys", "lapstyle") else {}
        stylizer = load_stylizer(method, **options)
        contents = [load_image(f"sample:{ROWS[i][0]}") for i in idx]
        if method == "cin":
            styles, controls = None, {"cin_style": [ROWS[i][1] for i in idx]}
        else:
            styles, controls = [load_image(f"sample:{ROWS[i][1]}") for i in idx], {}
        results = stylizer.stylize(contents, styles, size=args.size, **controls)
        for k, (i, content, result) in enumerate(zip(idx, contents, results, strict=True)):
            c, s, _ = ROWS[i]
            shown = [resize_long_side(content, args.size)]
            shown.append(resize_long_side(styles[k], args.size) if styles else result * 0 + 1)
            rows[i] = ([*shown, result],
                       [f"content: {c}", f"style: {s}" if styles else "(built-in style)",
                        _label(method, s, args.steps)])
    grid = make_grid_rows([r[0] for r in rows], height=args.size, labels=[r[1] for r in rows])
    save_image(args.out, grid, quality=90)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
