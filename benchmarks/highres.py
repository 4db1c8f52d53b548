"""High resolution on one device: time per step and peak RSS against image side, tiled and untiled.

  python benchmarks/highres.py [--sides 256,512,1024,2048,4096] [--tile 512] [--overlap 64]
                               [--budget-gb 4] [--steps 3] [--out benchmarks/results/highres]

Each (side, mode) runs in its own subprocess, one Gatys scale of a side x side image (the
bundled sample pair resized, VGG16, Adam): ``untiled`` through the engine
(:func:`jaxstyle.optimize.optimize_pairs`), ``tiled`` through
:func:`jaxstyle.optimize.tiled.optimize_image` with ``--tile``/``--overlap`` (a side that fits
in one tile is one window). Reported: the time of the last step (compile and style targets
excluded), the wall time of the whole run, and the process's peak RSS (``ru_maxrss``; on the
CPU XLA's buffers live there). The parent polls the child's RSS and kills it past
``--budget-gb``: that side does not fit the budget, and the untiled series stops there. The
largest tiled side the budget allows is extrapolated from a linear fit of RSS against pixels.
Writes ``OUT.json`` and the chart ``OUT.png``.

  python benchmarks/highres.py --seam-check RESULT.png [--grid 512]

prints how far the largest jump between neighbouring rows/columns of a result stands out from the
median jump (``max/median``; a seam is a spike), and with ``--grid`` the mean jump at that fixed
grid's borders over the median (the naive tiling's seam positions; tests/test_tiled.py's metric).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def worker(side: int, mode: str, steps: int, tile: int, overlap: int) -> dict:
    import numpy as np

    from jaxstyle.io import load_image, resize
    from jaxstyle.optimize import StylizeConfig, make_pairs, optimize_pairs
    from jaxstyle.optimize.gatys import objective_with_networks
    from jaxstyle.optimize.tiled import ImageHooks, TileConfig, optimize_image

    content = resize(load_image("sample:chelsea"), (side, side))
    style = resize(load_image("sample:ihc"), (side, side))
    cfg = StylizeConfig(size=side, steps=steps, optimizer="adam", chunk=1)
    objective = objective_with_networks(cfg, None)
    stamps: list[float] = []

    def progress(step: int, losses: dict) -> None:
        stamps.append(time.perf_counter())

    t = time.perf_counter()
    if mode == "untiled":
        optimize_pairs(objective, make_pairs([content], [style]), cfg, progress=progress)
    else:
        optimize_image(objective, objective.frozen(), {"content": content, "style": style}, content, cfg,
                       TileConfig(tile, overlap), np.random.default_rng(0), ImageHooks(progress=progress))
    return {
        "side": side,
        "mode": mode,
        "tile": tile if mode == "tiled" else None,
        "steps": steps,
        "step_s": round(stamps[-1] - stamps[-2], 2),
        "wall_s": round(time.perf_counter() - t, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
    }


def _rss_gb(pid: int) -> float:
    """Resident set size of process ``pid`` (Linux /proc), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def measure(side: int, mode: str, a: argparse.Namespace) -> dict:
    """Run one worker; kill it when its RSS passes the budget."""
    cmd = [sys.executable, __file__, "--worker", mode, "--sides", str(side), "--steps", str(a.steps),
           "--tile", str(a.tile), "--overlap", str(a.overlap)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _rss_gb(proc.pid))
        if peak > a.budget_gb:
            proc.kill()
            proc.wait()
            return {"side": side, "mode": mode, "over_budget": True, "rss_gb_at_kill": round(peak, 3)}
        time.sleep(0.2)
    out, err = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {"side": side, "mode": mode, "failed": proc.returncode, "stderr": err[-300:]}
    return json.loads(lines[-1][7:])


def largest_tiled_side(rows: list[dict], budget_gb: float) -> int | None:
    """The side at which a line fitted to tiled RSS against pixel count (multi-window sides)
    reaches the budget."""
    import numpy as np

    # Only sides larger than a tile: below, the window (the activations) shrinks with the image.
    points = [(r["side"] ** 2, r["peak_rss_gb"]) for r in rows
              if r["mode"] == "tiled" and "peak_rss_gb" in r and r["side"] > r["tile"]]
    if len(points) < 2:
        return None
    slope, intercept = np.polyfit(*zip(*points, strict=True), 1)
    return int(((budget_gb - intercept) / slope) ** 0.5) if slope > 0 else None


def chart(rows: list[dict], budget_gb: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, style in (("untiled", "o-"), ("tiled", "s-")):
        done = [r for r in rows if r["mode"] == mode and "step_s" in r]
        sides = [r["side"] for r in done]
        ax_t.plot(sides, [r["step_s"] for r in done], style, label=mode)
        ax_m.plot(sides, [r["peak_rss_gb"] for r in done], style, label=mode)
        for r in rows:
            if r["mode"] == mode and r.get("over_budget"):
                ax_m.plot([r["side"]], [r["rss_gb_at_kill"]], "x", color="red", markersize=10)
    ax_m.axhline(budget_gb, color="red", linestyle=":", label=f"budget {budget_gb:g} GB")
    for ax, label in ((ax_t, "seconds per step"), (ax_m, "peak RSS (GB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        sides = sorted({r["side"] for r in rows})
        ax.set_xticks(sides, [str(s) for s in sides])
        ax.set_xlabel("image side (px)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Gatys (VGG16, Adam) on the CPU: untiled vs tiled")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def seam_check(path: str, grid: int | None) -> dict:
    """Row/column jump statistics of the image at ``path`` (see the module docstring)."""
    import numpy as np

    from jaxstyle.io import load_image

    img = load_image(path)
    jump_x = np.abs(np.diff(img, axis=1)).mean(axis=(0, 2))[2:-2]  # image edges left out
    jump_y = np.abs(np.diff(img, axis=0)).mean(axis=(1, 2))[2:-2]
    median = float(np.median(np.concatenate([jump_x, jump_y])))
    out = {"image": path, "shape": list(img.shape), "max_over_median": round(float(max(jump_x.max(), jump_y.max())) / median, 3),
           "p99_over_median": round(float(np.percentile(np.concatenate([jump_x, jump_y]), 99)) / median, 3)}
    if grid:
        at = [jump_x[b - 3] for b in range(grid, img.shape[1] - 2, grid)] + [jump_y[b - 3] for b in range(grid, img.shape[0] - 2, grid)]
        out["grid_borders_over_median"] = round(float(np.mean(at)) / median, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sides", default="256,512,1024,2048,4096")
    ap.add_argument("--modes", default="untiled,tiled")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--budget-gb", type=float, default=4.0)
    ap.add_argument("--out", default="benchmarks/results/highres")
    ap.add_argument("--seam-check", metavar="IMAGE")
    ap.add_argument("--grid", type=int)
    ap.add_argument("--worker", choices=["untiled", "tiled"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.seam_check:
        print(json.dumps(seam_check(a.seam_check, a.grid)))
        return
    sides = [int(s) for s in a.sides.split(",")]
    if a.worker:
        print("RESULT " + json.dumps(worker(sides[0], a.worker, a.steps, a.tile, a.overlap)), flush=True)
        return
    out = Path(a.out)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else []
    rows = [r for r in previous if (r["side"], r["mode"]) not in {(s, m) for s in sides for m in a.modes.split(",")}]
    for mode in a.modes.split(","):
        for side in sides:
            row = measure(side, mode, a)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if row.get("over_budget") and mode == "untiled":
                break  # larger sides need more
    rows.sort(key=lambda r: (r["mode"], r["side"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    chart(rows, a.budget_gb, out.with_suffix(".png"))
    print(f"largest tiled side within {a.budget_gb:g} GB (extrapolated): {largest_tiled_side(rows, a.budget_gb)}")


if __name__ == "__main__":
    main()
