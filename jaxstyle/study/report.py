"""A study's outputs: the labelled sheet, the markdown table, results.json and the charts.

Charts are drawn with matplotlib's Agg backend (files only, no display) and written atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxstyle.files import write_bytes_atomic, write_text_atomic
from jaxstyle.io import make_grid_rows, save_image
from jaxstyle.study.run import Outcome

# Table columns: (results.json key, header); arrows say which way is better.
COLUMNS = (
    ("setting", "setting"),
    ("program", "program"),
    ("batch", "batch"),
    ("content_loss", "content loss"),
    ("style_loss", "style loss"),
    ("total_loss", "total"),
    ("content_lpips", "content LPIPS ↓"),
    ("style_lpips", "style LPIPS ↓"),
    ("style_distance", "style distance ↓"),
    ("steps_per_s", "steps/s"),
    ("compiled", "compiled"),
    ("compile_s", "compile s"),
    ("wall_s", "wall s"),
)


def write_sheet(path: Path, outcomes: Sequence[Outcome], content: np.ndarray, style: np.ndarray,
                height: int) -> None:
    """Inputs on the first row, then one row per stage of results, each captioned with its setting."""
    rows: list[list[np.ndarray]] = [[content, style]]
    labels: list[list[str]] = [["content", "style"]]
    for stage in dict.fromkeys(o.setting.stage for o in outcomes):
        members = [o for o in outcomes if o.setting.stage == stage]
        rows.append([o.image for o in members])
        labels.append([o.setting.label + (" (diverged)" if "error" in o.record else "") for o in members])
    save_image(path, make_grid_rows(rows, labels=labels, height=height))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(name: str, reproduces: str, outcomes: Sequence[Outcome], header: dict[str, Any]) -> str:
    """The markdown table of a study: a caption, then one row per setting (grouped by stage)."""
    programs = max((o.record["program"] for o in outcomes), default=0)
    batches = len({o.record["run"] for o in outcomes})
    lines = [f"# jaxstyle study {name}", "", f"Reproduces {reproduces}.", "",
             ", ".join(f"{k} {v}" for k, v in header.items()) + f"; {len(outcomes)} settings in {batches} "
             f"batch(es) of {programs} compiled program(s).", ""]
    for stage in dict.fromkeys(o.setting.stage for o in outcomes):
        lines += [f"## {stage}", "", "| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for o in outcomes:
            if o.setting.stage == stage:
                lines.append("| " + " | ".join(_cell(o.record.get(k, "")) for k, _ in COLUMNS) + " |")
        lines.append("")
    lines += [f"- {o.setting.label}: {o.record['error']}" for o in outcomes if "error" in o.record]
    lines += ["content/style loss: the final unweighted terms (layer weights applied); total: the weighted "
              "objective; LPIPS: to the content / to the style image (seed 003's Distance); style distance: "
              "scale-free Gram distance to the style over relu1_1..relu4_1 of VGG16 (as `jaxstyle eval`); "
              "steps/s: of the setting's batch, after compilation; compiled / compile s: optimization programs "
              "the batch compiled (0: it reused one) and their XLA compile time.", ""]
    return "\n".join(lines)


def write_json(path: Path, outcomes: Sequence[Outcome]) -> None:
    """One object per setting; NaN (a diverged batch) is written as null, which JSON has."""
    records = [{k: None if isinstance(v, float) and v != v else v for k, v in o.record.items()} for o in outcomes]
    write_text_atomic(path, json.dumps(records, indent=2) + "\n")


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_bytes_atomic(path, buf.getvalue())


def loss_curves_chart(path: Path, outcomes: Sequence[Outcome], title: str) -> None:
    """Total loss of each batch against optimizer steps and against wall time (after compilation);
    a batch of several settings is drawn as their mean."""
    plt = _figure()
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 4))
    seen: set[int] = set()
    for o in outcomes:
        if o.record["run"] in seen or not o.curve:
            continue
        seen.add(o.record["run"])
        label = o.setting.label if o.record["batch"] == 1 else f"{o.setting.label} (+{o.record['batch'] - 1}, mean)"
        label += " (diverged)" if "error" in o.record else ""
        seconds, steps, totals = zip(*o.curve, strict=True)
        by_step.plot(steps, totals, ".-", label=label)  # markers: a batch that diverged early is one point
        by_time.plot(seconds, totals, ".-", label=label)
    for ax, xlabel in ((by_step, "optimizer step"), (by_time, "wall time after compilation (s)")):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("total loss")
        ax.grid(alpha=0.3)
    by_step.legend()
    fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)


def metrics_chart(path: Path, outcomes: Sequence[Outcome], title: str) -> None:
    """Content LPIPS, style LPIPS and style distance of every setting, as grouped bars."""
    plt = _figure()
    keys = ("content_lpips", "style_lpips", "style_distance")
    x = np.arange(len(outcomes))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(outcomes) + 2), 4))
    for k, key in enumerate(keys):
        ax.bar(x + (k - 1) * 0.27, [o.record[key] for o in outcomes], width=0.27, label=key.replace("_", " "))
    ax.set_xticks(x, [o.setting.label for o in outcomes], rotation=30, ha="right")
    ax.set_ylabel("lower is closer")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)


def tradeoff_chart(path: Path, outcomes: Sequence[Outcome], title: str) -> None:
    """Content and style losses (unweighted) against the alpha/beta ratio, log-log."""
    plt = _figure()
    ratios = [o.record["weights"]["content"] / o.record["weights"]["style"] for o in outcomes]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(ratios, [o.record["content_loss"] for o in outcomes], "o-", label="content loss")
    ax.loglog(ratios, [o.record["style_loss"] for o in outcomes], "s-", label="style loss")
    ax.set_xlabel("alpha / beta (content weight / style weight)")
    ax.set_ylabel("final loss (unweighted)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)
