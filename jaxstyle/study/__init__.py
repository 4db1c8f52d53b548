"""``jaxstyle study``: the seeds' experiments as commands, each sweep in as few programs as it allows.

A study (:data:`STUDIES`) is a small function producing :class:`Setting` rows. Settings that do
not change shapes or networks (loss weights, per-layer weights, the start image) share one
compiled program: the Gatys objective takes their weights as traced per-pair inputs and the
engine runs them as one batch over the pair axis (sharded over the devices). Settings that
change the network, the pooling, the content loss, the layer lists or the optimizer are
separate programs; the table says which setting ran in which program and batch.

Python API::

    from jaxstyle.study import RunOptions, StudyOptions, run_study
    outcomes = run_study("weights", "photo.jpg", "painting.jpg", "runs/weights",
                         RunOptions(size=256, steps=200), StudyOptions(ratios=(1e-6, 1e-5, 1e-4)))

writes ``runs/weights/sheet.png``, ``table.md``, ``results.json`` and the charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaxstyle.errors import InputError
from jaxstyle.files import check_can_write, write_text_atomic
from jaxstyle.io import load_image, resize_long_side
from jaxstyle.study import report
from jaxstyle.study.run import Log, Outcome, RunOptions, Setting, run_settings
from jaxstyle.study.studies import STUDIES, Study, StudyOptions

OUTPUTS = ("sheet.png", "table.md", "results.json", "metrics.png")
# Extra charts of some studies: {study: (file, chart function)}.
CHARTS = {"optimizer": ("loss.png", report.loss_curves_chart), "weights": ("tradeoff.png", report.tradeoff_chart)}

__all__ = ["STUDIES", "Outcome", "RunOptions", "Setting", "Study", "StudyOptions",
           "check_output_dir", "run_study"]


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise InputError(f"unknown study {name!r}; expected one of {', '.join(STUDIES)}")
    return STUDIES[name]


def check_output_dir(output: str | Path, name: str) -> Path:
    """``output`` as a folder the study's files can be written in (checked before any work)."""
    out = Path(output).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"--output {out} is a file; the study writes a folder of files there")
    files = [*OUTPUTS, *([CHARTS[name][0]] if name in CHARTS else [])]
    for file in files:
        try:
            check_can_write(out / file)
        except OSError as e:
            raise InputError(f"--output {out}: cannot write {file} ({e})") from None
    return out


def run_study(name: str, content: str | Path, style: str | Path, output: str | Path,
              run: RunOptions | None = None, options: StudyOptions | None = None, log: Log = print) -> list[Outcome]:
    """Run study ``name`` on one (content, style) pair and write its outputs in ``output``.

    Outputs: ``sheet.png`` (inputs, then one captioned row of results per stage),
    ``table.md``, ``results.json`` (one object per setting) and ``metrics.png`` (LPIPS and
    style distance per setting), plus ``loss.png`` (optimizer: loss against steps and wall
    time) or ``tradeoff.png`` (weights: losses against alpha/beta).
    """
    study = get_study(name)
    run, options = run or RunOptions(), options or StudyOptions()
    out = check_output_dir(output, name)
    content_img, style_img = load_image(content), load_image(style)
    settings = study.settings(options)
    log(f"study {name}: {len(settings)} settings at {run.size} px, {run.steps} steps")
    outcomes = run_settings(settings, content_img, style_img, run, log)
    out.mkdir(parents=True, exist_ok=True)
    c, s = resize_long_side(content_img, run.size), resize_long_side(style_img, run.size)
    report.write_sheet(out / "sheet.png", outcomes, c, s, height=min(max(run.size, 160), 256))  # tiny runs upscaled: room for the captions
    header: dict[str, Any] = {"content": Path(content).name, "style": Path(style).name, "size": run.size,
                              "steps": run.steps}
    report.write_json(out / "results.json", outcomes)
    write_text_atomic(out / "table.md", report.table(name, study.reproduces, outcomes, header))
    title = f"jaxstyle study {name} ({Path(content).name} x {Path(style).name}, {run.size} px, {run.steps} steps)"
    report.metrics_chart(out / "metrics.png", outcomes, title)
    if name in CHARTS:
        file, chart = CHARTS[name]
        chart(out / file, outcomes, title)
    log(f"wrote {out}/sheet.png, table.md, results.json and charts")
    return outcomes
