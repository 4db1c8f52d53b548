"""Regenerate docs/methods/img/NAME.jpg: one method's defaults on three fixed photo x painting pairs.

    python docs/make_method_gallery.py --method gatys
    python docs/make_method_gallery.py --method adain --checkpoint runs/adain   # trained methods

The method runs with the CLI's defaults (its declaration: load options left out, ``--size`` its
declared default), one pair at a time, on the same three pairs for every method: the shared
photos (``../shared/data/images/content`` beside the checkout) with jaxstyle's bundled
public-domain paintings (``sample:NAME``); ``cin`` takes three of its built-in styles instead.
The sheet has one row per pair (content | style | result; content | result for a built-in
style), tiles 192 px high (long side about
256 px), JPEG quality 85. It is rewritten after every pair, so a run stopped early leaves the
pairs that finished.

Printed per pair, and written as JSON to ``--json`` (default ``../out/gallery/NAME.json``
beside the checkout, with each result as a PNG next to it):

- content LPIPS (:func:`jaxstyle.metrics.lpips`, VGG) between result and content;
- style distance: :func:`jaxstyle.metrics.gram_distance` between result and style at
  relu1_1..relu5_1 of VGG16, mean over layers (as ``benchmarks/objective_quality.py``); none
  for ``cin`` (no style image);
- wall seconds of the ``stylize`` call (the first pair includes compilation; DST's includes
  Neural Best-Buddies) and the 1-minute load average after it;
- for optimization methods, whether the result had settled (:class:`Trace`): the mean pixel
  change over the last 10 steps against steps 10-20, and the loss's fall over the last 10
  steps as a fraction of its whole fall.

``--resume`` keeps the pairs an earlier run of the same method, size and setting finished (their
figures from the JSON, their results from the PNGs beside it) and runs only the others, so a
long method (strotss, dst: most of an hour per pair on a 2-core CPU) can be finished over
several sessions.

Both scores are taken at a long side of ``--score-size`` (256): results larger than that are
downsized first, so the figures of methods with other default sizes (ghiasi, cin: 512) compare.
Methods that need trained weights (adain, rast, johnson, multimodal, wct, meanstd) are refused
in one line unless ``--checkpoint`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "images" / "content"
OUT = REPO.parent / "out" / "gallery"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
TILE_HEIGHT = 192  # px: the shared photos are 4:3 to 3:2, so a content tile's long side is 256-288
# (content photo, bundled painting, cin built-in style): the rows of every method's sheet.
PAIRS = (
    ("chicago", "starry_night", 5),
    ("golden_gate", "the_scream", 12),
    ("tubingen", "great_wave", 19),
)


def plan(name: str, checkpoint: list[str] | None = None) -> list[dict[str, Any]]:
    """The pairs method ``name`` runs: ``[{"content": Path, "style": "sample:..." or None,
    "cin_style": int or None, "label": str}]`` (no style image for cin, whose built-in styles are
    a control, nor for networks trained for one style). Refuses (one-line :class:`InputError`)
    an unknown method, one that needs trained weights without ``checkpoint``, and missing shared
    photos. Nothing is loaded."""
    from jaxstyle.errors import InputError
    from jaxstyle.methods import get_method

    method = get_method(name)
    if not method.runs_offline and not checkpoint:
        raise InputError(f"--method {name} needs trained weights ({method.needs}) and none ship with "
                         f"jaxstyle: give --checkpoint PATH")
    rows = []
    for content, style, cin_style in PAIRS:
        path = PHOTOS / f"{content}.jpg"
        if not path.is_file():
            raise InputError(f"{path}: shared photo not found (the gallery reads ../shared beside the checkout)")
        if method.style_images:
            rows.append({"content": path, "style": f"sample:{style}", "cin_style": None,
                         "label": f"{content} x {style}"})
        elif method.option("cin_style") is not None:  # cin: one of its built-in styles
            rows.append({"content": path, "style": None, "cin_style": cin_style,
                         "label": f"{content} x built-in style {cin_style}"})
        else:  # a network trained for one style (johnson, multimodal)
            rows.append({"content": path, "style": None, "cin_style": None, "label": f"{content} x trained style"})
    return rows


def score(encoder, result, content, style, size: int) -> dict[str, float | None]:
    """Content LPIPS and style distance of ``result`` (H, W, 3) at long side ``size`` (or its own, if smaller)."""
    import jax.numpy as jnp
    import numpy as np

    from jaxstyle.io import resize, resize_long_side
    from jaxstyle.metrics import gram_distance, lpips

    if max(result.shape[:2]) > size:
        result = resize_long_side(result, size)
    content = resize(content, result.shape[:2])
    out = {"content_lpips": float(lpips(jnp.asarray(result)[None], jnp.asarray(content)[None])[0]),
           "style_distance": None}
    if style is not None:
        style = resize_long_side(style, max(result.shape[:2]))
        fr = encoder(jnp.asarray(result)[None], STYLE_LAYERS)
        fs = encoder(jnp.asarray(style)[None], STYLE_LAYERS)
        out["style_distance"] = float(np.mean([float(gram_distance(fr[k], fs[k])[0]) for k in STYLE_LAYERS]))
    return out


FRAME_EVERY = 10  # steps: the engine's default chunk, so frames do not change how the steps are run


class Trace:
    """An optimization run's frames and losses (the engine's ``on_frame`` and ``progress`` hooks):
    how much the image and the loss still changed in the last :data:`FRAME_EVERY` steps."""

    def __init__(self):
        self.changes: list[float] = []  # mean |pixel change| between successive frames of one shape
        self.last = None
        self.losses: list[float] = []  # total loss after each chunk (the first: at step 0)

    def frame(self, step: int, pairs: list[int], images) -> None:
        import numpy as np

        image = np.asarray(images[0], np.float32)
        if self.last is not None and self.last.shape == image.shape:
            self.changes.append(float(np.mean(np.abs(image - self.last))))
        self.last = image

    def progress(self, step: int, losses: dict[str, float]) -> None:
        self.losses.append(float(losses.get("total", sum(losses.values()))))

    def summary(self) -> dict[str, float | None]:
        """``first_change``/``last_change``: mean |pixel change| (0..1) between the first two
        frames (steps 10 -> 20) and the last two of equal shape; ``last_loss_drop``: the loss's
        fall over the last chunk as a fraction of its whole fall."""
        total = self.losses[0] - self.losses[-1] if len(self.losses) > 1 else 0.0
        return {"first_change": self.changes[0] if self.changes else None,
                "last_change": self.changes[-1] if self.changes else None,
                "last_loss_drop": (self.losses[-2] - self.losses[-1]) / total if total else None}


def result_path(json_path: Path, method: str, label: str) -> Path:
    """Where the full-size result of pair ``label`` is kept (beside the JSON)."""
    return json_path.with_name(f"{method}_{label.replace(' ', '_')}.png")


def finished_pairs(json_path: Path, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{label: figures}`` of the pairs an earlier run recorded in ``json_path`` with the same
    method, size, score size and setting as ``record``, whose result PNG is still there;
    ``{}`` when there is no such run."""
    if not json_path.is_file():
        return {}
    old = json.loads(json_path.read_text())
    if any(old.get(k) != record[k] for k in ("method", "size", "score_size", "setting")):
        return {}
    return {p["pair"]: p for p in old.get("pairs", []) if result_path(json_path, old["method"], p["pair"]).is_file()}


def _setting(method) -> str:
    """What the third tile's label says about the run (steps for the optimization methods)."""
    steps = method.option("steps")
    if steps is None:
        return method.kind
    scales = method.option("scales")
    n_scales = scales.default if scales is not None else 1
    return f"{steps.default} steps" + (f" x {n_scales} scales" if n_scales > 1 else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", required=True)
    ap.add_argument("--checkpoint", nargs="+", help="a trained workdir or the method's official files")
    ap.add_argument("--size", type=int, help="long side of the run (default: the method's declared --size)")
    ap.add_argument("--score-size", type=int, default=256, help="long side at which results are scored")
    ap.add_argument("--out", type=Path, help="the sheet (default docs/methods/img/NAME.jpg)")
    ap.add_argument("--json", type=Path, help="the figures (default ../out/gallery/NAME.json beside the checkout)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the pairs an earlier run with the same settings finished; run the others")
    a = ap.parse_args(argv)

    from jaxstyle.errors import InputError

    try:
        rows = plan(a.method, a.checkpoint)
    except InputError as e:
        sys.exit(f"error: {e}")

    import jaxstyle
    from jaxstyle.io import load_image, make_grid_rows, resize_long_side, save_image
    from jaxstyle.methods import get_method, load_stylizer

    method = get_method(a.method)
    size = a.size or method.option("size").default
    out = a.out or REPO / "docs" / "methods" / "img" / f"{a.method}.jpg"
    json_path = a.json or OUT / f"{a.method}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    try:  # a bad --checkpoint: one line, as the CLI says it
        stylizer = load_stylizer(a.method, a.checkpoint)
    except InputError as e:
        sys.exit(f"error: {e}")
    encoder = jaxstyle.load_encoder("vgg16")
    setting = _setting(method)
    record = {"method": a.method, "size": size, "score_size": a.score_size, "setting": setting,
              "command": "python " + " ".join([Path(__file__).relative_to(REPO).as_posix(), *sys.argv[1:]]),
              "load1_start": os.getloadavg()[0], "pairs": []}
    kept = finished_pairs(json_path, record) if a.resume else {}
    print(f"# {a.method} at {size} px ({setting}); load {record['load1_start']:.1f}"
          + (f"; kept from the earlier run: {', '.join(kept)}" if kept else ""), flush=True)
    tiles, labels = [], []
    for row in rows:
        content = resize_long_side(load_image(row["content"]), size)
        style = resize_long_side(load_image(row["style"]), size) if row["style"] else None
        if row["label"] in kept:
            result, figures = load_image(result_path(json_path, a.method, row["label"])), kept[row["label"]]
        else:
            result, figures = run_pair(a.method, stylizer, row, content, style, size, a.score_size, encoder,
                                       json_path)
        record["pairs"].append(figures)
        content_name, _, style_name = row["label"].partition(" x ")
        if style is None:  # a built-in style: no style tile, the result's label names it
            tiles.append([content, result])
            labels.append([f"content: {content_name}", f"{a.method}, {style_name}"])
        else:
            tiles.append([content, style, result])
            labels.append([f"content: {content_name}", f"style: {style_name}", f"{a.method}, {setting}"])
        # written after every pair: a run stopped early keeps what finished
        save_image(out, make_grid_rows(tiles, height=TILE_HEIGHT, labels=labels), quality=85)
        done = record["pairs"]
        record["mean"] = {k: statistics.mean(p[k] for p in done) if done[0][k] is not None else None
                          for k in ("content_lpips", "style_distance", "seconds")}
        json_path.write_text(json.dumps(record, indent=1))
    print(f"wrote {out} ({out.stat().st_size // 1024} KB) and {json_path}")


def run_pair(method: str, stylizer, row: dict[str, Any], content, style, size: int, score_size: int, encoder,
             json_path: Path) -> tuple[Any, dict[str, Any]]:
    """Stylize one pair at ``method``'s defaults; keep its result (and side outputs) as PNGs
    beside ``json_path``; return the result and its figures (printed)."""
    import numpy as np

    from jaxstyle.io import save_image

    controls = {"size": size} | ({"cin_style": row["cin_style"]} if row["cin_style"] is not None else {})
    trace = Trace() if "save_every" in stylizer.controls else None
    if trace is not None:  # optimization: frames every chunk (its default, 10 steps) and losses
        controls |= {"save_every": FRAME_EVERY, "on_frame": trace.frame, "progress": trace.progress}
    t = time.perf_counter()
    result = stylizer.stylize([content], None if style is None else [style], **controls)[0]
    seconds = time.perf_counter() - t
    if isinstance(result, tuple):  # side outputs (DST: unwarped, keypoints): kept beside the JSON
        for tag, img in zip(stylizer.side_outputs, result[1:], strict=True):
            save_image(result_path(json_path, method, f"{row['label']}_{tag}"), img)
        result = result[0]
    result = np.asarray(result)
    save_image(result_path(json_path, method, row["label"]), result)
    figures = {"pair": row["label"], **score(encoder, result, content, style, score_size),
               "seconds": seconds, "load1": os.getloadavg()[0]}
    if trace is not None:
        figures["convergence"] = trace.summary()
    style_d = "n/a" if figures["style_distance"] is None else f"{figures['style_distance']:.4f}"
    print(f"{row['label']}: content LPIPS {figures['content_lpips']:.4f}, style distance {style_d}, "
          f"{seconds:.1f} s, load {figures['load1']:.1f}", flush=True)
    if trace is not None:
        print("  " + ", ".join(f"{k} {v:.4g}" for k, v in figures["convergence"].items() if v is not None))
    return result, figures


if __name__ == "__main__":
    main()
