"""``jaxstyle bench``: every method on every (content, style) pair, scored by the field's protocol.

For each method spec (:func:`parse_method_spec`: ``gatys``, ``cin:19``, ``adain:runs/adain``,
``strotss:steps=50:scales=2``), the method is loaded through the registry, runs every pair in
batches (:func:`stylize_pairs`, the one place methods run), is timed and measured, and its
outputs are scored (:mod:`jaxstyle.protocol`). Written under the output folder:

- ``images/<method>/<content>__<style>.png``: every result (``<content>.png`` for methods whose
  style is built in), so ``jaxstyle eval --results`` can score them again;
- ``table.md`` and ``results.json``: per method the mean and spread of each metric, FID and
  ArtFID, images/s (after compilation), XLA compile time and peak memory (device memory on a
  GPU/TPU, the process's resident set on the CPU);
- ``sheet.png``: methods x pairs; ``plot.png``: content fidelity (CFSD) against style distance
  (ArtFID, or the Gram distance without an Inception), and throughput.

``--protocol styleid`` is StyleID's (CVPR 2024) selection: 20 content images (MS-COCO) x 40 style
images (WikiArt) at 512 x 512, the images of its repository's ``data/cnt`` and ``data/sty``
(docs/evaluation.md says where to get them and what differs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxstyle.compiles import CompileCounter
from jaxstyle.errors import InputError
from jaxstyle.files import write_bytes_atomic, write_text_atomic
from jaxstyle.io import (
    expand_image_paths,
    load_image,
    make_grid_rows,
    resize,
    resize_long_side,
    save_image,
)
from jaxstyle.methods import check_options, get_method, load_stylizer
from jaxstyle.methods.base.declaration import Method
from jaxstyle.methods.base.stylizer import GENERIC_CONTROLS
from jaxstyle.protocol import (
    Scorer,
    markdown_table,
    protocol_header,
    protocol_table_row,
    score_triples,
)

Log = Callable[[str], Any]


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A fixed evaluation set-up (what ``--protocol`` selects)."""

    name: str
    contents: int
    styles: int
    size: int
    summary: str


PROTOCOLS = {
    "styleid": Protocol(
        "styleid", 20, 40, 512,
        "StyleID (Chung et al., CVPR 2024): 20 MS-COCO content x 40 WikiArt style images, 512 x 512 (the files "
        "data/cnt/00-19.png and data/sty/00-39.png of github.com/jiwoogit/StyleID); 800 pairs, so FID is the plain "
        "FID (FID-infinity needs more than 5000)"),
}


# ----------------------------------------------------------------------------- method specs


@dataclasses.dataclass
class MethodSpec:
    """One ``--methods`` entry: the method, its checkpoint and its declared options/controls."""

    label: str
    method: Method
    source: Any = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    controls: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def folder(self) -> str:
        """A file-system name for its images (``cin:19`` -> ``cin-19``)."""
        return re.sub(r"[^A-Za-z0-9._=-]+", "-", self.label).strip("-") or self.method.name


def _style_control(method: Method):
    """The control that picks a built-in style (CIN's ``cin_style``), if the method has one."""
    if method.style_images:
        return None
    return next((o for o in method.controls if o.name not in GENERIC_CONTROLS and o.type == "str"), None)


def parse_method_spec(text: str, steps: int | None = None) -> MethodSpec:
    """``NAME[:ARG][:KEY=VALUE]...`` -> a checked :class:`MethodSpec` (one-line InputError).

    ``KEY=VALUE`` sets a load option or control the method declares (``steps=50``,
    ``alpha=0.5``). A bare ``ARG`` is, from the declaration: the control that picks a built-in
    style for methods without style images (``cin:19`` is ``--cin-style 19``), else the trained
    model (``--checkpoint``: ``adain:runs/adain``). ``steps`` applies to every method that
    declares a ``steps`` option and was not given one.
    """
    name, *parts = text.split(":")
    method = get_method(name.strip())
    spec = MethodSpec(text, method)
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq:
            key, value = _positional(method, part, text), part
        key = key.strip().replace("-", "_")
        option = method.option(key)
        if option is None:
            declared = ", ".join(o.name for o in method.options + method.controls if o.name not in GENERIC_CONTROLS)
            raise InputError(f"--methods {text}: {name} declares no option {key!r} (it has: {declared or 'none'})")
        parsed = _parse(option, value, text)
        if key == "source":
            spec.source = parsed
        elif option in method.controls:
            spec.controls[key] = parsed
        else:
            spec.options[key] = parsed
    if steps is not None and method.option("steps") is not None and "steps" not in spec.options:
        spec.options["steps"] = steps
    check_options(method, spec.source, spec.options)
    return spec


def _positional(method: Method, value: str, text: str) -> str:
    control = _style_control(method)
    if control is not None:
        return control.name
    if method.takes_source():
        return "source"
    raise InputError(f"--methods {text}: {method.name} takes no bare argument; give KEY=VALUE (e.g. "
                     f"{method.name}:steps=50)")


def _parse(option, value: str, text: str) -> Any:
    if option.type == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise InputError(f"--methods {text}: {option.name} takes true or false, got {value!r}")
        return value.lower() in ("true", "1")
    try:
        parsed = option.parse(value)
    except InputError as e:
        raise InputError(f"--methods {text}: {e}") from None
    return [parsed] if option.nargs in ("+", "*") else parsed


# ----------------------------------------------------------------------------- running methods


def stylize_pairs(stylizer: Any, contents: Sequence[np.ndarray], styles: Sequence[np.ndarray] | None,
                  controls: dict[str, Any], batch_size: int) -> list[np.ndarray]:
    """THE place where ``jaxstyle bench`` runs a method: ``stylizer.stylize`` over the pairs in
    batches of ``batch_size`` (styles None for methods whose style is built in). Results in
    pair order, (H, W, 3) in [0, 1].

    Collection streaming (content x style sets, resumable, written as they land) is being built
    on another branch; when it is in main, this loop is what should hand the pairs to it.
    """
    results: list[np.ndarray] = []
    for start in range(0, len(contents), batch_size):
        batch_styles = None if styles is None else list(styles[start : start + batch_size])
        out = stylizer.stylize(list(contents[start : start + batch_size]), batch_styles, **controls)
        results += [np.asarray(r[0] if isinstance(r, tuple) else r, np.float32) for r in out]
    return results


class PeakMemory:
    """Peak memory over a block: device ``peak_bytes_in_use`` on a GPU/TPU (the process's peak so
    far: XLA cannot reset it), the resident set's high-water mark (VmHWM, reset at the start
    through ``/proc/self/clear_refs``) on the CPU."""

    def __init__(self):
        device = jax.local_devices()[0]
        self.kind = "device" if device.platform != "cpu" else "rss"
        self.device = device

    def reset(self) -> None:
        if self.kind == "rss":
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")

    def peak_bytes(self) -> int | None:
        if self.kind == "device":
            stats = self.device.memory_stats() or {}
            return stats.get("peak_bytes_in_use")
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


# ----------------------------------------------------------------------------- the benchmark


@dataclasses.dataclass
class Inputs:
    """The images of a run: names and arrays at the benchmark's size."""

    content_names: list[str]
    style_names: list[str]
    contents: list[np.ndarray]
    styles: list[np.ndarray]


def load_inputs(content: str | Path, style: str | Path, size: int, keep_aspect: bool) -> Inputs:
    cpaths, spaths = expand_image_paths([content]), expand_image_paths([style])

    def load(p: Path) -> np.ndarray:
        img = load_image(p)
        return resize_long_side(img, size) if keep_aspect else resize(img, (size, size))

    return Inputs([p.stem for p in cpaths], [p.stem for p in spaths], [load(p) for p in cpaths],
                  [load(p) for p in spaths])


def run_method(spec: MethodSpec, inputs: Inputs, out_dir: Path, scorer: Scorer, batch_size: int,
               memory: PeakMemory, log: Log) -> dict[str, Any]:
    """Load, run, time, save and score one method; its record for results.json."""
    pairs = [(i, j) for i in range(len(inputs.contents)) for j in range(len(inputs.styles))]
    styled = spec.method.style_images
    record: dict[str, Any] = {"method": spec.method.name, "source": spec.source, "options": spec.options,
                              "controls": spec.controls, "folder": spec.folder, "memory_kind": memory.kind}
    memory.reset()
    t0 = time.perf_counter()
    with CompileCounter() as compiles:  # every compilation: loading and stylizing
        stylizer = load_stylizer(spec.method.name, spec.source, **spec.options)
        record["load_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if styled:
            outs = stylize_pairs(stylizer, [inputs.contents[i] for i, _ in pairs],
                                 [inputs.styles[j] for _, j in pairs], spec.controls, batch_size)
        else:  # one result per content, shown against every style
            outs = stylize_pairs(stylizer, inputs.contents, None, spec.controls, batch_size)
        wall = time.perf_counter() - t1
    compile_s = sum(compiles.seconds())
    record |= {"images": len(outs), "wall_s": wall, "compile_s": compile_s,
               "images_per_s": len(outs) / max(wall - compile_s, 1e-9), "peak_memory_bytes": memory.peak_bytes()}
    names = ([f"{inputs.content_names[i]}__{inputs.style_names[j]}" for i, j in pairs] if styled
             else list(inputs.content_names))
    folder = out_dir / "images" / spec.folder
    for name, img in zip(names, outs, strict=True):
        save_image(folder / f"{name}.png", img)
    log(f"wrote {folder}/ ({len(outs)} images)")
    per_pair = outs if styled else [outs[i] for i, _ in pairs]
    scored = score_triples(per_pair, [inputs.contents[i] for i, _ in pairs],
                           [inputs.styles[j] if styled else None for _, j in pairs], scorer=scorer,
                           batch_size=batch_size)
    for rec, (i, j) in zip(scored["pairs"], pairs, strict=True):
        rec |= {"content": inputs.content_names[i], "style": inputs.style_names[j]}
    record |= {"metrics": scored["metrics"], "fid": scored["fid"], "pairs": scored["pairs"],
               "notes": [n for n in scored["notes"] if n not in scorer.notes]}
    record["sheet_row"] = per_pair
    return record


def run_bench(
    methods: Sequence[str],
    content: str | Path,
    style: str | Path,
    output: str | Path,
    *,
    size: int | None = None,
    keep_aspect: bool = False,
    steps: int | None = None,
    batch_size: int = 8,
    protocol: str | None = None,
    fid_network: str = "auto",
    sheet_pairs: int = 8,
    log: Log = print,
) -> dict[str, Any]:
    """Run ``jaxstyle bench`` (see the module docstring); returns the results.json record.

    Every spec is parsed and checked, and the inputs read, before any method runs; a method that
    fails at run time is recorded (``error``) and the others still run.
    """
    proto = PROTOCOLS.get(protocol) if protocol else None
    if protocol and proto is None:
        raise InputError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    size = size or (proto.size if proto else 512)
    specs = [parse_method_spec(m, steps) for m in methods]
    if len({s.folder for s in specs}) != len(specs):
        raise InputError(f"--methods names a method twice: {', '.join(methods)}")
    inputs = load_inputs(content, style, size, keep_aspect)
    if proto and (len(inputs.contents), len(inputs.styles)) != (proto.contents, proto.styles):
        log(f"warning: --protocol {proto.name} expects {proto.contents} content and {proto.styles} style images, "
            f"got {len(inputs.contents)} and {len(inputs.styles)}")
    for spec in specs:  # the benchmark's size, not the method's default (optimization engines resize to it)
        if any(o.name == "size" for o in spec.method.controls):
            spec.controls.setdefault("size", size)
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    scorer = Scorer.load(fid_network)
    memory = PeakMemory()
    records: dict[str, dict[str, Any]] = {}
    for spec in specs:
        log(f"-- {spec.label}: {len(inputs.contents)} content x {len(inputs.styles)} style images at {size} px")
        try:
            records[spec.label] = run_method(spec, inputs, out_dir, scorer, batch_size, memory, log)
        except Exception as e:  # noqa: BLE001 -- one method's failure must not lose the others' results
            log(f"   failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            records[spec.label] = {"method": spec.method.name, "error": f"{type(e).__name__}: {e}".splitlines()[0]}
        else:
            r = records[spec.label]
            log(f"   {r['images']} images in {r['wall_s']:.1f} s (compile {r['compile_s']:.1f} s): "
                f"{r['images_per_s']:.3g} images/s")
        # after every method: an interrupted run keeps the table of what finished
        result = write_tables(out_dir, records, inputs, scorer, size, keep_aspect, proto)
    write_sheet(out_dir / "sheet.png", records, inputs, sheet_pairs)
    write_plot(out_dir / "plot.png", result)
    for name in ("table.md", "results.json", "sheet.png", "plot.png"):
        log(f"wrote {out_dir / name}")
    return result


def write_tables(out_dir: Path, records: dict[str, dict[str, Any]], inputs: Inputs, scorer: Scorer, size: int,
                 keep_aspect: bool, proto: Protocol | None) -> dict[str, Any]:
    """results.json and table.md of the methods in ``records`` so far; returns the results record."""
    result = {
        "protocol": proto.summary if proto else None, "size": size, "square": not keep_aspect,
        "contents": inputs.content_names, "styles": inputs.style_names, "keys": scorer.keys, "notes": scorer.notes,
        "machine": machine(), "methods": {k: {f: v for f, v in r.items() if f != "sheet_row"} for k, r in records.items()},
    }
    write_text_atomic(out_dir / "results.json", json.dumps(result, indent=2, default=_jsonable) + "\n")
    write_text_atomic(out_dir / "table.md", bench_table(result))
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    device = jax.local_devices()[0]
    return {"platform": device.platform, "device": device.device_kind, "devices": jax.device_count(),
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None, "jax": jax.__version__}


# ----------------------------------------------------------------------------- reports


def bench_table(result: dict[str, Any]) -> str:
    """table.md: one row per method, ``mean ± std`` over pairs, then speed and memory."""
    keys = result["keys"]
    memory = next((r.get("memory_kind") for r in result["methods"].values() if "memory_kind" in r), "rss")
    header = ["method", *protocol_header(keys), "images/s", "compile s", f"peak {'RSS' if memory == 'rss' else 'device'} MiB"]
    rows = []
    for label, r in result["methods"].items():
        if "error" in r:
            rows.append([label, f"failed: {r['error']}"] + [""] * (len(header) - 2))
            continue
        peak = r.get("peak_memory_bytes")
        rows.append([*protocol_table_row(label, r, keys), f"{r['images_per_s']:.3g}", f"{r['compile_s']:.1f}",
                     "n/a" if peak is None else f"{peak / 2**20:.0f}"])
    m = result["machine"]
    text = [f"# jaxstyle bench: {len(result['contents'])} content x {len(result['styles'])} style images, "
            f"{result['size']} px{' squares' if result['square'] else ' (long side)'}", ""]
    if result["protocol"]:
        text += [f"Protocol: {result['protocol']}", ""]
    text += [markdown_table(header, rows)]
    notes = list(result["notes"]) + sorted({n for r in result["methods"].values() for n in r.get("notes", [])})
    text += [f"- {n}" for n in notes]
    text += ["- mean ± std over pairs (lower is better for every metric); methods with built-in styles (CIN) have "
             "no style metrics: their style is not the style image",
             "- images/s after compilation (wall time of the stylize calls minus XLA compile time)",
             f"- machine: {m['device']} ({m['platform']}), {m['cpus']} CPUs, load average "
             f"{', '.join(f'{x:.1f}' for x in m['load_average'] or [])} at the end, jax {m['jax']}", ""]
    return "\n".join(text)


def write_sheet(path: Path, records: dict[str, dict[str, Any]], inputs: Inputs, max_pairs: int,
                height: int = 128) -> None:
    """sheet.png: a content row, a style row, then one row per method; one column per pair."""
    pairs = [(i, j) for i in range(len(inputs.contents)) for j in range(len(inputs.styles))][:max_pairs]
    rows = [[inputs.contents[i] for i, _ in pairs], [inputs.styles[j] for _, j in pairs]]
    labels = [[f"{inputs.content_names[i]} x {inputs.style_names[j]}" for i, j in pairs], None]
    for label, r in records.items():
        if "sheet_row" in r:
            rows.append(r["sheet_row"][: len(pairs)])
            labels.append([label] + [""] * (len(pairs) - 1))
    save_image(path, make_grid_rows(rows, height=height, labels=labels))


def write_plot(path: Path, result: dict[str, Any]) -> None:
    """plot.png: CFSD against ArtFID (Gram distance without an Inception), one point per method,
    beside images/s per method."""
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    keys = result["keys"]
    done = {k: r for k, r in result["methods"].items() if "error" not in r}
    with_fid = [k for k, r in done.items() if r.get("fid") and keys["artfid"] in r["fid"]]
    y_key = keys["artfid"] if with_fid and len(with_fid) == len(done) else keys["gram"]
    fig, (ax, speed) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, r in done.items():
        x = r["metrics"].get(keys["cfsd"])
        y = r["fid"][y_key] if y_key == keys["artfid"] else (r["metrics"].get(y_key) or {}).get("mean")
        if x is None or y is None:
            continue
        ax.errorbar(x["mean"], y, xerr=x["std"], fmt="o", capsize=3)
        ax.annotate(label, (x["mean"], y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(f"{keys['cfsd']} (content fidelity, lower is closer)")
    ax.set_ylabel(f"{y_key} ({'ArtFID' if y_key == keys['artfid'] else 'mean over pairs'}, lower is closer)")
    ax.grid(alpha=0.3)
    ax.set_title("content vs style, one point per method")
    labels = list(done)
    speed.barh(labels, [done[k]["images_per_s"] for k in labels])
    speed.set_xscale("log")
    speed.set_xlabel("images/s after compilation (log)")
    speed.invert_yaxis()
    speed.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())

