"""Time to quality (issue 27): coarse-to-fine schedules against the single-scale reference.

  python benchmarks/time_to_quality.py --pairs tubingen+starry_night chicago+udnie \\
      --variants ref sqrt2 "h3=128:50,256:30,512:50"
  python benchmarks/time_to_quality.py --dry-run      # 32-64 px, 2 steps, one pair (tested)

The reference is today's ``jaxstyle stylize --method gatys --size 512``: one level (schedule
``halving``, ``scales=1``), 150 L-BFGS steps, VGG16, the Gatys defaults. Each variant is the same
:class:`jaxstyle.optimize.StylizeConfig` with other levels:

- ``ref``: ``schedule="halving"`` with ``--steps`` (150) at ``--size``;
- ``sqrt2``: ``schedule="sqrt2"`` with ``--sqrt2-steps`` at the full size
  (:func:`jaxstyle.optimize.engine.schedule_levels`);
- ``NAME=SIZE:STEPS,SIZE:STEPS,...``: an explicit level list, coarsest first, ending at
  ``--size`` (to explore schedules before naming one).

Pairs run one at a time, every variant of a pair back to back in the order given (so load
changes hit all of them), each after ``jax.clear_caches()``: its wall time includes compiling
its own programs. Reported per (pair, variant): style distance and content LPIPS
(:func:`benchmarks.objective_quality.score`: Gram distance at relu1..5 of VGG16, LPIPS to the
content), wall s, XLA compile s (:mod:`jax.monitoring`, all compilations), process CPU s (all
threads: less sensitive than wall time to other work on the machine), load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from objective_quality import PHOTOS, score  # noqa: E402

from jaxstyle.optimize import StylizeConfig  # noqa: E402
from jaxstyle.optimize.engine import Level  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ExplicitLevels(StylizeConfig):
    """A :class:`StylizeConfig` whose levels are given: ``((size, steps), ...)``, coarsest first."""

    explicit_levels: tuple[tuple[int, int], ...] = ()

    def levels(self) -> list[Level]:
        return [Level(size, steps) for size, steps in self.explicit_levels] or super().levels()


def config(variant: str, size: int, steps: int, sqrt2_steps: int) -> StylizeConfig:
    """The config of ``variant`` (``ref``, ``sqrt2`` or ``NAME=SIZE:STEPS,...``) at long side ``size``."""
    if variant == "ref":
        return StylizeConfig(size=size, steps=steps)
    if variant == "sqrt2":
        return StylizeConfig(size=size, steps=sqrt2_steps, schedule="sqrt2")
    _, _, spec = variant.partition("=")
    levels = tuple(tuple(int(x) for x in level.split(":")) for level in spec.split(","))
    if levels[-1][0] != size:
        raise SystemExit(f"{variant}: the last level must be --size {size}")
    return ExplicitLevels(size=size, explicit_levels=levels)


def run_one(cfg: StylizeConfig, content, style, encoder) -> tuple[dict, object]:
    """One stylize call from cold caches: its result and timings."""
    import jax

    from jaxstyle.compiles import CompileCounter
    from jaxstyle.optimize import stylize

    jax.clear_caches()
    load = os.getloadavg()[0]
    with CompileCounter() as compiles:
        wall, cpu = time.perf_counter(), time.process_time()
        [result] = stylize([content], [style], cfg, encoder=encoder, pairs="zip")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s": wall, "compile_s": sum(compiles.seconds()), "cpu_s": cpu, "load1": (load + os.getloadavg()[0]) / 2,
            "levels": [(lv.size, lv.steps) for lv in cfg.levels()]}, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=150, help="the reference's steps")
    ap.add_argument("--sqrt2-steps", type=int, default=None, help="sqrt2's steps at the full size "
                    "(default: --steps)")
    ap.add_argument("--pairs", nargs="+", default=["tubingen+starry_night"], metavar="CONTENT+STYLE")
    ap.add_argument("--variants", nargs="+", default=["ref", "sqrt2"])
    ap.add_argument("--dry-run", action="store_true", help="64 px, 2 steps, one pair, ref sqrt2 and a level list")
    ap.add_argument("--json", type=Path, help="append one JSON line per run here")
    a = ap.parse_args()
    if a.dry_run:
        a.size, a.steps, a.sqrt2_steps = 64, 2, 2
        a.pairs, a.variants = a.pairs[:1], ["ref", "sqrt2", "two=32:2,64:2"]
    if a.sqrt2_steps is None:
        a.sqrt2_steps = a.steps

    import jaxstyle
    from jaxstyle.io import load_image, resize_long_side

    encoder = jaxstyle.load_encoder("vgg16")
    configs = {v: config(v, a.size, a.steps, a.sqrt2_steps) for v in a.variants}
    print(f"# {len(a.pairs)} pairs at {a.size} px; load {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for pair in a.pairs:
        c, s = pair.split("+")
        content = resize_long_side(load_image(PHOTOS / "content" / f"{c}.jpg"), a.size)
        style = resize_long_side(load_image(PHOTOS / "style" / f"{s}.jpg"), a.size)
        for variant, cfg in configs.items():
            timing, result = run_one(cfg, content, style, encoder)
            rows.append({"pair": pair, "variant": variant, **timing, **score(encoder, result, content, style)})
            print(json.dumps(rows[-1]), flush=True)
            if a.json:
                with a.json.open("a") as f:
                    f.write(json.dumps(rows[-1]) + "\n")
    print("\n| pair | variant | style distance | content LPIPS | wall s | compile s | CPU s | load1 |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['pair']} | {r['variant'].partition('=')[0]} | {r['style_distance']:.4f} | "
              f"{r['content_lpips']:.4f} | {r['wall_s']:.1f} | {r['compile_s']:.1f} | {r['cpu_s']:.1f} | "
              f"{r['load1']:.1f} |")


if __name__ == "__main__":
    main()
