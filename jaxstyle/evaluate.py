"""Evaluation of restorable style transfer over all content x style pairs (RAST, AdaIN, ...).

For every pair ``(c, s)`` with ``o = clip(T(c, s))`` (what a user would save):

- ``restoration_psnr`` / ``restoration_ssim`` / ``restoration_lpips``: ``clip(T(o, c))`` against
  ``c`` — how well the content is restored from the stylized image (RAST's claim);
- ``idempotency_error``: mean absolute difference of ``clip(T(o, s))`` and ``o`` on the [0, 1]
  scale — how much a second application of the same style still changes the image;
- ``content_lpips``: LPIPS of ``o`` to ``c`` (content preservation);
- ``style_distance_gram`` / ``style_distance_mean_std``: scale-free Gram and mean/std distances
  (:mod:`jaxstyle.metrics`) of ``o`` to ``s`` over relu1_1..relu4_1 of the embedded VGG16 — a
  fixed reference encoder, so models with different encoders compare fairly.
  ``style_distance`` is the mean/std one (the statistic RAST's own losses use).

The summary is the mean over pairs. :func:`write_report` writes the JSON, a markdown table and
an image grid (content | style | T(c,s) | T(T(c,s),c) | T(T(c,s),s) per pair).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import metrics
from jaxstyle.errors import InputError
from jaxstyle.files import write_text_atomic
from jaxstyle.io import expand_image_paths, load_image, make_grid_rows, resize, save_image
from jaxstyle.weights.encoders import load_encoder

Transfer = Callable[[jax.Array, jax.Array], jax.Array]  # (content, style) NHWC -> NHWC

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
METRIC_KEYS = (
    "restoration_psnr",
    "restoration_ssim",
    "restoration_lpips",
    "idempotency_error",
    "content_lpips",
    "style_distance",
    "style_distance_gram",
    "style_distance_mean_std",
)
# Which direction is better, for the table header.
HIGHER_IS_BETTER = {"restoration_psnr", "restoration_ssim"}


def load_square_images(paths: Sequence[str | Path], size: int) -> np.ndarray:
    """Images resized to ``size x size`` (as the official RAST eval does): (N, size, size, 3)."""
    if size % 16:
        raise InputError(f"evaluation size must be a multiple of 16, got {size}")
    return np.stack([resize(load_image(p), (size, size)) for p in paths]).astype(np.float32)


@jax.jit
def _image_metrics(lp, vgg, c, s, o, rc, idem):
    fo = vgg(o, STYLE_LAYERS)
    fs = vgg(s, STYLE_LAYERS)
    gram = sum(metrics.gram_distance(fo[k], fs[k]) for k in STYLE_LAYERS) / len(STYLE_LAYERS)
    ms = sum(metrics.mean_std_distance(fo[k], fs[k]) for k in STYLE_LAYERS) / len(STYLE_LAYERS)
    return {
        # Capped at 100 dB so a perfect restoration stays a finite JSON number.
        "restoration_psnr": jnp.minimum(metrics.psnr(rc, c), 100.0),
        "restoration_ssim": metrics.ssim(rc, c),
        "restoration_lpips": lp(rc, c),
        "idempotency_error": jnp.mean(jnp.abs(idem - o), axis=(1, 2, 3)),
        "content_lpips": lp(o, c),
        "style_distance": ms,
        "style_distance_gram": gram,
        "style_distance_mean_std": ms,
    }


def evaluate_pairs(
    transfer: Transfer,
    contents: np.ndarray,
    styles: np.ndarray,
    *,
    content_names: Sequence[str] | None = None,
    style_names: Sequence[str] | None = None,
    batch_size: int = 8,
    grid_rows: int = 16,
) -> dict[str, Any]:
    """Metrics over all ``len(contents) x len(styles)`` pairs.

    Args:
      transfer: ``T(content, style)`` on NHWC batches in [0, 1] (raw output; clipped here).
      contents, styles: (Nc, H, W, 3) and (Ns, H, W, 3) float images in [0, 1], same H, W.
      batch_size: pairs per call (the last batch is padded, so one compile serves all).
      grid_rows: pairs kept for the image grid.

    Returns:
      ``{"num_pairs", "image_size", <metric>: mean, ..., "pairs": [per-pair dicts],
      "grid_images": [[c, s, o, rc, idem], ...]}`` (drop ``grid_images`` before JSON).
    """
    if contents.ndim != 4 or styles.ndim != 4 or contents.shape[1:] != styles.shape[1:]:
        raise InputError(
            f"content {contents.shape} and style {styles.shape} batches must be (N, H, W, 3) of one size"
        )
    lp, vgg = metrics.default_lpips(), load_encoder("vgg16")
    content_names = list(content_names or [f"content_{i}" for i in range(len(contents))])
    style_names = list(style_names or [f"style_{j}" for j in range(len(styles))])
    pairs = [(i, j) for i in range(len(contents)) for j in range(len(styles))]
    per_pair: list[dict[str, Any]] = []
    grid: list[list[np.ndarray]] = []

    def clip(x):
        return jnp.clip(x, 0.0, 1.0)

    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        padded = chunk + [chunk[-1]] * (batch_size - len(chunk))
        c = jnp.asarray(contents[[i for i, _ in padded]])
        s = jnp.asarray(styles[[j for _, j in padded]])
        o = clip(transfer(c, s))
        rc = clip(transfer(o, c))
        idem = clip(transfer(o, s))
        values = jax.device_get(_image_metrics(lp, vgg, c, s, o, rc, idem))
        for k, (i, j) in enumerate(chunk):
            rec = {"content": content_names[i], "style": style_names[j]}
            rec |= {name: float(values[name][k]) for name in METRIC_KEYS}
            per_pair.append(rec)
            if len(grid) < grid_rows:
                grid.append([np.asarray(x[k]) for x in (c, s, o, rc, idem)])
    result: dict[str, Any] = {"num_pairs": len(per_pair), "image_size": list(contents.shape[1:3])}
    result |= {name: float(np.mean([p[name] for p in per_pair])) for name in METRIC_KEYS}
    result["pairs"] = per_pair
    result["grid_images"] = grid
    return result


def evaluate_dirs(
    transfer: Transfer, content: str | Path, style: str | Path, *, size: int = 256, **kw
):
    """:func:`evaluate_pairs` on every image in two folders (or glob/file specs)."""
    cpaths, spaths = expand_image_paths([content]), expand_image_paths([style])
    return evaluate_pairs(
        transfer,
        load_square_images(cpaths, size),
        load_square_images(spaths, size),
        content_names=[p.name for p in cpaths],
        style_names=[p.name for p in spaths],
        **kw,
    )


def metrics_table(
    rows: Mapping[str, Mapping[str, float]], keys: Sequence[str] = METRIC_KEYS[:6]
) -> str:
    """A markdown table: one row per model/variant, one column per metric (arrow = better)."""
    head = ["model", *(f"{k} {'↑' if k in HIGHER_IS_BETTER else '↓'}" for k in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in rows.items():
        cells = [f"{m[k]:.4g}" if isinstance(m.get(k), int | float) else "n/a" for k in keys]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    result: Mapping[str, Any],
    *,
    json_path: str | Path,
    table_path: str | Path | None = None,
    grid_path: str | Path | None = None,
    name: str = "model",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the JSON (atomically), the markdown table and the image grid; returns the JSON dict."""
    record = {k: v for k, v in result.items() if k != "grid_images"} | dict(extra or {})
    write_text_atomic(json_path, json.dumps(record, indent=2) + "\n")
    if table_path is not None:
        table = metrics_table({name: record})
        per_pair = metrics_table({f"{p['content']} x {p['style']}": p for p in record["pairs"]})
        write_text_atomic(table_path, f"## {name}\n\n{table}\n### per pair\n\n{per_pair}")
    if grid_path is not None and result.get("grid_images"):
        labels = [["content", "style", "T(c,s)", "T(T(c,s),c)", "T(T(c,s),s)"]]
        labels += [None] * (len(result["grid_images"]) - 1)
        save_image(grid_path, make_grid_rows(result["grid_images"], labels=labels))
    return record
