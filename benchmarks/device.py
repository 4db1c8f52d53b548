"""Every main program timed on one accelerator (GPU/TPU): throughput, XLA's FLOPs and bytes, MFU.

  python benchmarks/device.py                          # the full set, < 10 minutes on an H100
  python benchmarks/device.py --only gatys train       # some groups
  python benchmarks/device.py --dry-run                # tiny sizes on any backend (tested on the CPU)
  python benchmarks/device.py --cost-only              # no timing: FLOPs/bytes and the roofline only

Programs (random weights throughout: speed does not depend on values; nothing is downloaded):

- ``gatys``: the optimization engine's chunk (Adam, VGG16 Gatys: content relu4_2, Gram
  relu1_1..relu5_1, TV) at 512/1024 px, batch 1/8/32, run as ``stylize`` runs it
  (:class:`jaxstyle.optimize.engine.Bucket`); one unit = one optimizer step of every pair;
- ``collection``: ``jaxstyle.stylize_collection`` on random images (long side 256-512, two
  styles, 4 shape buckets, padded) at 512 px, ``--collection-steps`` Adam steps: pairs/hour, wall
  time of the whole job (compiles included, as a user sees it);
- ``train``: the AdaIN, RAST, Johnson and WCT train steps (``train_step_program``, what
  ``jaxstyle train`` jits) at their ``paper`` configs' crop and batch size;
- ``infer``: ghiasi and cin (their stylizers' ``forward_program``) and AdaIN (its plug-in's
  ``sample``: encoder, AdaIN, decoder) at 512/1024/2048 px, batch 1.

For each: compile seconds, seconds per unit (median of ``--repeats`` after one warm-up), units/s
(steps/s or images/s), FLOPs and bytes accessed per unit from ``compiled.cost_analysis()``
(XLA's count for the program as compiled for this device), achieved FLOP/s and MFU against the
device's peak (:data:`PEAKS`: bf16 dense for the MFU column; these programs run in float32, so
the fp32 peak is reported too). The engine's chunk loops on device with a traced step count,
so its cost is that of one step compiled alone (the same loss, gradient and Adam update on the
same pairs). Writes ``--out``.json and ``--out``.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Published dense peaks: FLOP/s (bf16, fp32 without tensor cores) and memory bandwidth (B/s).
PEAKS: dict[str, dict[str, float]] = {
    "H100": {"bf16": 989e12, "fp32": 67e12, "bytes": 3.35e12},
    "H200": {"bf16": 989e12, "fp32": 67e12, "bytes": 4.8e12},
    "A100": {"bf16": 312e12, "fp32": 19.5e12, "bytes": 2.0e12},
    "TPU v5 lite": {"bf16": 197e12, "fp32": 197e12 / 4, "bytes": 819e9},  # v5e reports "TPU v5 lite"
    "TPU v5e": {"bf16": 197e12, "fp32": 197e12 / 4, "bytes": 819e9},
}


@dataclasses.dataclass
class Program:
    """One timed program: ``lower()`` lowers a program whose cost analysis is one unit's
    (None: no count); ``run(compiled)`` does one unit (given that program compiled) and waits."""

    group: str
    name: str
    unit: str  # "step" or "image"
    items: int  # images (pairs) per unit, for images/s
    lower: Callable[[], Any]
    run: Callable[[Any], None]


def peak_for(kind: str) -> dict[str, float] | None:
    return next((v for k, v in PEAKS.items() if k.lower() in kind.lower()), None)


def cost_of(compiled: Any) -> tuple[float | None, float | None]:
    """(FLOPs, bytes accessed) of a compiled executable, None where the backend has no count."""
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older jax: one dict per computation
        cost = cost[0] if cost else {}
    cost = cost or {}
    return cost.get("flops"), cost.get("bytes accessed")


def concrete(tree: Any, seed: int = 0) -> Any:
    """Random arrays for abstract ``jax.ShapeDtypeStruct`` leaves (keys for key dtypes)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(seed)

    def one(a):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            return jax.random.key(seed)
        if jnp.issubdtype(a.dtype, jnp.floating):
            return jnp.asarray(rng.normal(0.0, 0.05, a.shape), a.dtype)
        return jnp.zeros(a.shape, a.dtype)

    return jax.tree.map(one, tree)


# --------------------------------------------------------------------------- programs


def gatys_programs(sizes: list[int], batches: list[int], steps: int) -> list[Program]:
    import jax
    import numpy as np

    from jaxstyle.models.encoder import Encoder
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.engine import Bucket, prepare_targets

    encoder = Encoder.random("vgg16", 0)
    cfg = StylizeConfig(optimizer="adam")
    objective = cfg.objective(encoder)
    frozen = objective.frozen()
    rng = np.random.default_rng(0)
    programs = []
    for size in sizes:
        for batch in batches:
            holder: dict[str, Bucket] = {}

            def bucket(size=size, batch=batch, holder=holder) -> Bucket:
                """The pairs as one engine bucket (built on first use: random images, targets, compile)."""
                if "b" not in holder:
                    inputs = [{"content": rng.uniform(0, 1, (size, size, 3)).astype(np.float32),
                               "style": rng.uniform(0, 1, (size, size, 3)).astype(np.float32)} for _ in range(batch)]
                    starts = [objective.init(x, rng, x["content"].copy()) for x in inputs]
                    holder["b"] = Bucket(objective, frozen, inputs, starts, cfg)
                return holder["b"]

            def run(_, bucket=bucket):
                np.asarray(bucket().run(steps)["total"])  # host sync

            def lower(size=size, batch=batch):
                """One step of every pair (loss, gradient, Adam update) on abstract inputs."""
                image = jax.ShapeDtypeStruct((batch, size, size, 3), np.float32)
                targets = jax.eval_shape(lambda i: prepare_targets(frozen, i, objective=objective),
                                         {"content": image, "style": image})

                def one_step(variables, targets):
                    grad = jax.vmap(jax.grad(lambda v, t: objective.loss(v, t, frozen)[0]))(variables, targets)
                    state = jax.vmap(cfg.make_optimizer().init)(variables)
                    updates, _ = jax.vmap(cfg.make_optimizer().update)(grad, state, variables)
                    return updates

                return jax.jit(one_step).lower({"image": image}, targets)

            programs.append(Program("gatys", f"gatys chunk {size}px x{batch}", f"{steps} steps", batch, lower, run))
    return programs


def train_programs(crop: int | None = None, batch: int | None = None) -> list[Program]:
    import jax
    import numpy as np

    from jaxstyle.config import load_config
    from jaxstyle.io import save_image
    from jaxstyle.methods import get_trainer
    from jaxstyle.methods.base.plugin import train_step_program

    style = Path(tempfile.mkdtemp()) / "style.png"  # johnson learns one style image: a random one
    save_image(style, np.random.default_rng(0).uniform(0, 1, (256, 256, 3)).astype(np.float32))
    overrides = {
        "adain": [],
        "rast": ["--config.model.encoder=random_vgg19"],  # the paper VGG19 shapes, random weights
        "johnson": [f"--config.style_image={style}"],
        "wct": [],
    }
    programs = []
    for name, extra in overrides.items():
        cfg_over = list(extra)
        if crop:
            cfg_over += [f"--config.data.crop_size={crop}", f"--config.data.load_size={crop}"]
        if batch:
            cfg_over.append(f"--config.train.batch_size={batch}")
        cfg = load_config(f"{REPO / 'configs' / name}.py:paper", cfg_over)
        jitted, args = train_step_program(get_trainer(name)(cfg))
        state: dict[str, Any] = {}

        def run(compiled, args=args, state=state):
            if not state:
                state["args"] = list(concrete(args))
            a = state["args"]
            a[0], a[1], metrics = compiled(*a)  # params and optimizer states are donated
            jax.block_until_ready(metrics)

        n = int(cfg.train.batch_size)
        programs.append(Program("train", f"{name} train {cfg.data.crop_size}px x{n}", "step", n,
                                lambda jitted=jitted, args=args: jitted.lower(*args), run))
    return programs


def infer_programs(sizes: list[int]) -> list[Program]:
    import jax
    import jax.numpy as jnp

    from jaxstyle.config import load_config
    from jaxstyle.methods import get_trainer, load_stylizer
    from jaxstyle.methods.base.plugin import init_state

    programs = []
    for name in ("ghiasi", "cin"):
        stylizer = load_stylizer(name)
        for size in sizes:
            image = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
            styles = [jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)] if stylizer.style_images else []
            jitted, args = stylizer.forward_program(image, styles)
            weights = {k: getattr(stylizer, k) for k in args[0]}
            values = (weights, *concrete(args[1:]))

            programs.append(Program("infer", f"{name} {size}px", "image", 1,
                                    lambda jitted=jitted, values=values: jitted.lower(*values),
                                    lambda compiled, values=values: jax.block_until_ready(compiled(*values))))
    cfg = load_config(f"{REPO / 'configs' / 'adain'}.py:paper")
    method = get_trainer("adain")(cfg)
    frozen = method.load_frozen()
    for size in sizes:
        batch = {k: jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32) for k in ("content", "style")}
        params = jax.eval_shape(lambda b: init_state(method, method.optimizers(), frozen, jax.random.key(0), b)[0],
                                batch)
        sample = jax.jit(method.sample)
        values = (concrete(params), concrete(batch), frozen)

        programs.append(Program("infer", f"adain {size}px", "image", 1,
                                lambda sample=sample, values=values: sample.lower(*values),
                                lambda compiled, values=values: jax.block_until_ready(compiled(*values))))
    return programs


def collection_program(size: int, n_contents: int, steps: int) -> list[Program]:
    import numpy as np

    import jaxstyle

    rng = np.random.default_rng(0)
    contents = []
    for _ in range(n_contents):
        long, short = int(rng.integers(size // 2, size + 1)), int(rng.integers(size // 2, size + 1))
        shape = (long, min(short, long), 3) if rng.random() < 0.5 else (min(short, long), long, 3)
        contents.append(rng.uniform(0, 1, shape).astype(np.float32))
    styles = [rng.uniform(0, 1, (size, size, 3)).astype(np.float32) for _ in range(2)]

    def run(_):
        with tempfile.TemporaryDirectory() as out:
            jaxstyle.stylize_collection("gatys", contents, styles, out, options={"steps": steps, "optimizer": "adam"},
                                        size=size, progress_line=False)

    return [Program("collection", f"collection {len(contents) * 2} pairs {size}px {steps} steps", "job",
                    len(contents) * 2, lambda: None, run)]


# --------------------------------------------------------------------------- measuring


def measure(p: Program, repeats: int, timed: bool, peak: dict[str, float] | None, lowered_only: bool = False
            ) -> dict:
    """One program's row. ``lowered_only``: the cost of the lowered (unoptimized) HLO, nothing
    compiled or run: the same FLOPs (convolutions and dots), bytes before fusion (an upper bound)."""
    row: dict[str, Any] = {"group": p.group, "program": p.name, "unit": p.unit, "items": p.items}
    t = time.perf_counter()
    lowered = p.lower()
    compiled = lowered if lowered is None or lowered_only else lowered.compile()
    row["flops"], row["bytes"] = cost_of(compiled) if compiled is not None else (None, None)
    row["cost_s"] = time.perf_counter() - t
    if timed:
        t = time.perf_counter()
        p.run(compiled)  # warm-up: allocations (the Bucket and the collection compile here)
        row["first_s"] = time.perf_counter() - t
        times = []
        for _ in range(repeats if p.group != "collection" else 0):
            t = time.perf_counter()
            p.run(compiled)
            times.append(time.perf_counter() - t)
        row["s_per_unit"] = statistics.median(times) if times else row["first_s"]
        row["items_per_s"] = p.items / row["s_per_unit"]
        if p.group == "collection":
            row["pairs_per_hour"] = 3600 * row["items_per_s"]
        steps = int(p.unit.split()[0]) if p.unit.endswith("steps") else 1
        if row["flops"]:
            row["flop_per_s"] = row["flops"] * steps / row["s_per_unit"]
            if peak:
                row["mfu_bf16"] = row["flop_per_s"] / peak["bf16"]
                row["mfu_fp32"] = row["flop_per_s"] / peak["fp32"]
    return row


def _fmt(x: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if x is None else f"{x / scale:.{digits}g}"


def markdown(rows: list[dict], device: str, note: str) -> str:
    lines = [f"device: {device}; {note}", "",
             "| program | unit | s/unit | items/s | GFLOP/unit* | GB/unit* | TFLOP/s | MFU bf16 | MFU fp32 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        rate = f"{r['pairs_per_hour']:.0f} pairs/h" if "pairs_per_hour" in r else _fmt(r.get("items_per_s"))
        mfu = [f"{100 * r[k]:.1f}%" if k in r else "-" for k in ("mfu_bf16", "mfu_fp32")]
        lines.append(f"| {r['program']} | {r['unit']} | {_fmt(r.get('s_per_unit'))} | {rate} | "
                     f"{_fmt(r['flops'], 1e9)} | {_fmt(r['bytes'], 1e9)} | {_fmt(r.get('flop_per_s'), 1e12)} | "
                     f"{mfu[0]} | {mfu[1]} |")
    lines += ["", "*per optimizer step for the Gatys chunk (its unit runs several)."]
    return "\n".join(lines) + "\n"


# Where the roofline table puts each program (BENCHMARKS.md): (name, peak FLOP/s, bytes/s).
ROOFLINE_DEVICES = (("H100 bf16", 989e12, 3.35e12), ("H100 fp32", 67e12, 3.35e12), ("TPU v5e bf16", 197e12, 819e9))


def roofline(rows: list[dict]) -> str:
    """Markdown: each program's FLOPs and bytes per unit and its time at the published peaks of
    :data:`ROOFLINE_DEVICES` (the larger of FLOPs/peak and bytes/bandwidth), with the bound."""
    head = "| program | unit | GFLOP | GB | FLOP/B |" + "".join(f" {d} ms (bound) |" for d, _, _ in ROOFLINE_DEVICES)
    lines = [head, "|---|---|---:|---:|---:|" + "---:|" * len(ROOFLINE_DEVICES)]
    for r in rows:
        if not r.get("flops") or not r.get("bytes"):
            continue
        steps = int(r["unit"].split()[0]) if r["unit"].endswith("steps") else 1
        unit = "step" if steps > 1 else r["unit"]
        cells = []
        for _, flops, bandwidth in ROOFLINE_DEVICES:
            compute, memory = r["flops"] / flops, r["bytes"] / bandwidth
            cells.append(f"{1e3 * max(compute, memory):.3g} ({'compute' if compute >= memory else 'memory'})")
        lines.append(f"| {r['program']} | {unit} | {r['flops'] / 1e9:.4g} | {r['bytes'] / 1e9:.3g} | "
                     f"{r['flops'] / r['bytes']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", default=["gatys", "collection", "train", "infer"],
                    choices=["gatys", "collection", "train", "infer"])
    ap.add_argument("--gatys-sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--gatys-batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--gatys-steps", type=int, default=10, help="optimizer steps per timed chunk")
    ap.add_argument("--infer-sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--collection-size", type=int, default=512)
    ap.add_argument("--collection-contents", type=int, default=32)
    ap.add_argument("--collection-steps", type=int, default=50)
    ap.add_argument("--train-crop", type=int, default=None, help="override the paper crop (dry runs)")
    ap.add_argument("--train-batch", type=int, default=None, help="override the paper batch (dry runs)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cost-only", action="store_true", help="FLOPs and bytes only, nothing timed")
    ap.add_argument("--lowered", action="store_true",
                    help="with --cost-only: the lowered HLO's cost, nothing compiled (bytes before fusion)")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes, 1 repeat (any backend; tested on the CPU)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/device"))
    a = ap.parse_args(argv)
    if a.dry_run:
        a.gatys_sizes, a.gatys_batches, a.gatys_steps, a.infer_sizes = [32], [2], 1, [32]
        a.collection_size, a.collection_contents, a.collection_steps = 32, 2, 1
        a.train_crop, a.train_batch, a.repeats = 64, 2, 1
        a.out = Path(tempfile.mkdtemp()) / "device"

    import jax

    device = jax.devices()[0]
    kind = f"{device.platform} {device.device_kind} x{jax.device_count()}"
    peak = peak_for(device.device_kind)
    builders = {
        "gatys": lambda: gatys_programs(a.gatys_sizes, a.gatys_batches, a.gatys_steps),
        "collection": lambda: collection_program(a.collection_size, a.collection_contents, a.collection_steps),
        "train": lambda: train_programs(a.train_crop, a.train_batch),
        "infer": lambda: infer_programs(a.infer_sizes),
    }
    print(f"# {kind}; peak {peak}; load {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for group in a.only:
        if a.cost_only and group == "collection":
            continue
        for program in builders[group]():
            try:
                rows.append(measure(program, a.repeats, not a.cost_only, peak, a.cost_only and a.lowered))
            except Exception as e:  # noqa: BLE001 -- e.g. out of memory at batch 32: record it, go on
                if a.dry_run:
                    raise
                rows.append({"group": group, "program": program.name, "unit": program.unit, "items": program.items,
                             "flops": None, "bytes": None, "error": f"{type(e).__name__}: {str(e)[:200]}"})
            print(json.dumps(rows[-1]), flush=True)
    note = f"jax {jax.__version__}, load {os.getloadavg()[0]:.1f}, repeats {a.repeats}"
    text = markdown(rows, kind, note) + "\n" + roofline(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps({"device": kind, "peak": peak, "rows": rows}, indent=1))
    a.out.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {a.out.with_suffix('.json')} and {a.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
