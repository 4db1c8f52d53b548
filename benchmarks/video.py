"""Video on the CPU: flicker (warping error) per frame vs ``--temporal``, for gatys and ghiasi.

  python benchmarks/video.py [--frames 60] [--fps 24] [--shape 72 96] [--steps 30] [--out DIR]

The clip: :class:`jaxstyle.video.synthetic.PanZoom` over the shared photo tubingen.jpg, a slow
pan and zoom of ``--frames`` frames at ``--fps`` (2.5 s by default), whose exact flow is known:
the endpoint error of OpenCV's DIS flow (the ``medium`` preset that ``jaxstyle video`` uses)
against it is reported first. Frames are written as PNGs (lossless input) and as an MP4.

Each run is ``jaxstyle video`` in its own subprocess (its summary line gives frames/s and
programs compiled, model load excluded from frames/s but not from the wall time):

- ghiasi per frame and ``--temporal`` (the blend, reusing the per-frame frames) on the whole clip;
- gatys (L-BFGS, ``--steps``) per frame and ``--temporal`` on every other frame (a 2.5 s clip at
  half the rate: optimization is ~100x slower per frame).

For each result: the warping error (Lai et al., as ``jaxstyle eval --video``), the style
distance of every frame to the painting (Gram and mean/std over VGG16 relu1_1..relu4_1, as
``jaxstyle eval``), and the content LPIPS of every frame to its input frame, averaged over
frames. A strip of frames (rows: input, ghiasi, ghiasi --temporal, gatys, gatys --temporal) is
written to ``--strip``. Results go to benchmarks/results/video.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "images"


def make_clip(out: Path, frames: int, fps: float, shape: tuple[int, int]) -> dict:
    from jaxstyle.io import load_image, save_image
    from jaxstyle.video.flow import endpoint_error, flow
    from jaxstyle.video.io import write_video
    from jaxstyle.video.synthetic import PanZoom

    clip = PanZoom(load_image(PHOTOS / "content" / "tubingen.jpg"), frames=frames, shape=shape)
    full, half = out / "pan_full", out / "pan_half"
    for t, frame in enumerate(clip):
        save_image(full / f"{t:05d}.png", frame)
        if t % 2 == 0:
            save_image(half / f"{t // 2:05d}.png", frame)
    write_video(out / "pan.mp4", iter(clip), fps)
    epe = {step: float(np.mean([endpoint_error(flow(clip.frame(t), clip.frame(t + step)), clip.true_flow(t, t + step))
                                for t in range(0, frames - step, step)])) for step in (1, 2)}
    speed = {step: float(np.mean([np.sqrt((clip.true_flow(t, t + step) ** 2).sum(-1)).mean()
                                  for t in range(0, frames - step, step)])) for step in (1, 2)}
    return {"endpoint_error": epe, "mean_motion_px": speed}


def run(args: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "jaxstyle", "video", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    line = proc.stdout.strip().splitlines()[-1]
    print(line, flush=True)
    parts = line.replace(",", "").replace(";", "").split()
    return {"summary": line, "wall_s": time.perf_counter() - t0,
            "frames_per_s": float(parts[parts.index("frames/s") - 1]),
            "compiled": int(parts[parts.index("programs") - 1]),
            "warping_error": float(parts[-1])}


def frame_metrics(outputs: list[Path], contents: list[Path], style: Path) -> dict:
    import jax.numpy as jnp

    from jaxstyle import metrics
    from jaxstyle.evaluate import STYLE_LAYERS
    from jaxstyle.io import load_image, resize
    from jaxstyle.weights.encoders import load_encoder

    vgg = load_encoder("vgg16")
    o = jnp.stack([load_image(p) for p in outputs])
    c = jnp.stack([load_image(p) for p in contents])
    s = jnp.asarray(resize(load_image(style), (256, 256)))[None]
    fo, fs = vgg(o, STYLE_LAYERS), vgg(s, STYLE_LAYERS)
    gram = sum(metrics.gram_distance(fo[k], jnp.broadcast_to(fs[k], (len(outputs), *fs[k].shape[1:])))
               for k in STYLE_LAYERS) / len(STYLE_LAYERS)
    ms = sum(metrics.mean_std_distance(fo[k], jnp.broadcast_to(fs[k], (len(outputs), *fs[k].shape[1:])))
             for k in STYLE_LAYERS) / len(STYLE_LAYERS)
    return {"style_gram": float(gram.mean()), "style_mean_std": float(ms.mean()),
            "content_lpips": float(metrics.lpips(o, c).mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--shape", type=int, nargs=2, default=(72, 96))
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--style", default="starry_night.jpg")
    p.add_argument("--out", default="/tmp/jaxstyle-video-bench")
    p.add_argument("--strip", default=str(REPO / "docs" / "video_strip.png"))
    p.add_argument("--only", nargs="*", default=("ghiasi", "gatys"))
    a = p.parse_args()
    out = Path(a.out)
    size = str(max(a.shape))
    style = PHOTOS / "style" / a.style
    record: dict = {"clip": {"frames": a.frames, "fps": a.fps, "shape": list(a.shape), "photo": "tubingen.jpg",
                             "style": a.style}, "load": os.getloadavg()}
    record["flow"] = make_clip(out, a.frames, a.fps, tuple(a.shape))  # the same clip again: same files
    print(json.dumps(record["flow"]), flush=True)
    common = ["--style", str(style), "--size", size]
    ff = ["--fps", str(a.fps), *common]
    opt = ["--fps", str(a.fps / 2), "--steps", str(a.steps), *common]
    # name: (jaxstyle video arguments, folder of its final frames, their pattern, the input frames)
    plans = {
        "ghiasi": ([str(out / "pan_full"), str(out / "ghiasi.mp4"), "--method", "ghiasi", *ff],
                   out / "ghiasi.mp4.frames", "*__*.png", out / "pan_full"),
        "ghiasi --temporal": ([str(out / "pan_full"), str(out / "ghiasi.mp4"), "--method", "ghiasi", "--temporal",
                               *ff], out / "ghiasi.mp4.frames" / "blended", "*.png", out / "pan_full"),
        "gatys": ([str(out / "pan_half"), str(out / "gatys"), "--method", "gatys", *opt],
                  out / "gatys", "*__*.png", out / "pan_half"),
        "gatys --temporal": ([str(out / "pan_half"), str(out / "gatys_t"), "--method", "gatys", "--temporal", *opt],
                             out / "gatys_t", "*__*.png", out / "pan_half"),
    }
    record["runs"] = {}
    runs = {}
    for name, (args, folder, pattern, contents) in plans.items():
        cached = out / f"{name.replace(' --', '_')}.json"
        if name.split()[0] in a.only:  # runs of other methods: their last results, if any
            shutil.rmtree(folder, ignore_errors=True)  # measured from scratch, not resumed
            result = run(args)
            result.update(frame_metrics(sorted(folder.glob(pattern)), sorted(contents.glob("*.png")), style))
            cached.write_text(json.dumps(result) + "\n")
        elif cached.is_file():
            result = json.loads(cached.read_text())
        else:
            continue
        record["runs"][name] = result
        runs[name] = (result, folder, pattern, contents)
        print(name, json.dumps(result), flush=True)
    write_strip(out, runs, Path(a.strip))
    results = REPO / "benchmarks" / "results" / "video.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {results}")


def write_strip(out: Path, runs: dict, path: Path, columns: int = 5) -> None:
    """Rows: input, then each run; columns: frames spread over the clip (the half-rate clip's
    frame k is the full clip's frame 2k)."""
    from jaxstyle.io import load_image, make_grid_rows, save_image

    full = sorted((out / "pan_full").glob("*.png"))
    picks = np.linspace(0, len(full) - 1, columns).round().astype(int) // 2 * 2
    rows = [[load_image(full[i]) for i in picks]]
    for _name, (_, folder, pattern, contents) in runs.items():
        frames = sorted(folder.glob(pattern))
        step = 2 if contents.name == "pan_half" else 1
        rows.append([load_image(frames[i // step]) for i in picks])
    save_image(path, make_grid_rows(rows))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
