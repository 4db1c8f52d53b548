"""Does the hierarchical network keep fine brushwork at high resolution better than Johnson's
single-scale network? (Wang et al. 2017's claim, seed 004.) A small but real run.

Both networks learn one style from the same content photos and are evaluated on the same
photos at the "high" resolution; the figure is the scale-free Gram distance
(``jaxstyle.metrics.gram_distance``) between output and style at relu1_1 and relu2_1 (fine
texture), the style taken at the output's resolution. Everything is the paper's setting
scaled down by ``--scale`` (default 8: 256/512/1024 px become 32/64/128 px) to fit a CPU:

- ``johnson@low``: trained on low-res (S/4) content crops with style Grams at S/4 (the
  paper's "singular transfer, style size 256"), applied at S;
- ``johnson@high``: the same, style Grams at S ("style size 1024");
- ``multimodal``: outputs at S/4, S/2, S, style Grams at each.

  python benchmarks/multimodal_evidence.py --steps 300 [--scale 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "images"
FINE, COARSE = ("relu1_1", "relu2_1"), ("relu3_1", "relu4_1")


def run_config(config: str, workdir: Path, overrides: list[str]) -> float:
    from jaxstyle.config import load_config
    from jaxstyle.train import train

    cfg = load_config(str(REPO / config), overrides)
    t0 = time.perf_counter()
    train(cfg, workdir)
    return time.perf_counter() - t0


def evaluate(method: str, workdir: Path, contents: list, style, size: int) -> dict[str, float]:
    """Mean Gram distance per layer (outputs at ``size`` vs the style square-cropped to it)."""
    import jax.numpy as jnp
    import numpy as np

    from jaxstyle import load_encoder, metrics
    from jaxstyle.methods import load_stylizer
    from jaxstyle.methods.base.per_style import square_crop

    stylizer = load_stylizer(method, workdir)
    outs = stylizer.stylize(contents, None)
    vgg = load_encoder("vgg16")
    layers = FINE + COARSE
    fs = vgg(jnp.asarray(square_crop(style, size))[None], layers)
    result = {k: [] for k in layers}
    for out in outs:
        fo = vgg(jnp.asarray(out)[None], layers)
        for k in layers:
            result[k].append(float(metrics.gram_distance(fo[k], fs[k])[0]))
    return {k: float(np.mean(v)) for k, v in result.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--scale", type=int, default=8, help="divide the paper's 256/512/1024 by this")
    p.add_argument("--style", default=str(sorted((IMAGES / "style").glob("*.jpg"))[0]))
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--out", default="/tmp/jaxstyle_evidence")
    p.add_argument("--multimodal-style", default="", metavar="W1,W2,W3",
                   help="style weights per output instead of the config's 2e4,1e5,1e3")
    args = p.parse_args()

    from jaxstyle.io import load_image, resize_long_side

    high = 1024 // args.scale
    low = high // 4
    out = Path(args.out)
    common = [f"--config.data.content_dir={IMAGES / 'content'}", f"--config.style_image={args.style}",
              f"--config.train.steps={args.steps}", f"--config.train.batch_size={args.batch}",
              "--config.train.sample_every=0", f"--config.train.checkpoint_every={args.steps}",
              f"--config.train.log_every={max(1, args.steps // 10)}", "--config.optim.lr=1e-3"]
    runs = {
        "johnson@low": ("johnson", "configs/johnson.py:paper",
                        [f"--config.data.crop_size={low}", f"--config.data.load_size={low}",
                         f"--config.style_size={low}"]),
        "johnson@high": ("johnson", "configs/johnson.py:paper",
                         [f"--config.data.crop_size={low}", f"--config.data.load_size={low}",
                          f"--config.style_size={high}"]),
    }
    mm_name = f"multimodal[{args.multimodal_style}]" if args.multimodal_style else "multimodal"
    runs[mm_name] = ("multimodal", "configs/multimodal.py:paper",
                     [f"--config.data.crop_size={high}", f"--config.data.load_size={high}"]
                     + ([f"--config.loss.style=({args.multimodal_style})"] if args.multimodal_style else []))
    contents = [resize_long_side(load_image(c), high) for c in sorted((IMAGES / "content").glob("*.jpg"))]
    style = load_image(args.style)
    table = {}
    for name, (method, config, extra) in runs.items():
        workdir = out / name.replace("@", "_").replace("[", "_").replace("]", "").replace(",", "_")
        seconds = run_config(config, workdir, common + extra) if not (workdir / "checkpoints").is_dir() else 0.0
        logs = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        table[name] = {"train_s": seconds, "loss_first": logs[0]["loss"], "loss_last": logs[-1]["loss"],
                       **evaluate(method, workdir, contents, style, high)}
        print(name, json.dumps(table[name]), flush=True)
    print(f"\n{args.steps} steps, batch {args.batch}, evaluation at {high} px on {len(contents)} photos, "
          f"style {Path(args.style).name}\n")
    print("| network | loss first -> last | relu1_1 | relu2_1 | relu3_1 | relu4_1 | train s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in table.items():
        print(f"| {name} | {r['loss_first']:.4g} -> {r['loss_last']:.4g} | {r['relu1_1']:.3f} | "
              f"{r['relu2_1']:.3f} | {r['relu3_1']:.3f} | {r['relu4_1']:.3f} | {r['train_s']:.0f} |")


if __name__ == "__main__":
    main()
