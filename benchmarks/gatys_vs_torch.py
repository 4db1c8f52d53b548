"""Gatys optimization on the CPU: jaxstyle vs a plain PyTorch reference (same workload).

  python benchmarks/gatys_vs_torch.py [--sizes 256 512] [--batches 1 4] [--steps N] [--quick | --dry-run]

Both sides run the same problem: the embedded torchvision VGG16 (torch normalisation, zero
padding, max pooling) truncated at relu5_1; content MSE at relu4_2 (mean), Gatys Gram loss on
relu1_1..relu5_1 (``jaxstyle.losses.gram_style_loss``: position-normalised Grams,
``sum((G-A)^2) / (4 C^2)``, averaged over layers), squared TV; weights content 1, style 1e5,
TV 1 (``jaxstyle stylize`` defaults); init = content; square ``size`` x ``size`` content
(the bundled ``sample:astronaut``) and the bundled styles (``ihc``, ``hubble``, ``retina``,
cycled over the batch) at long side ``size``.

* Per-iteration time: Adam (lr 0.02), one objective+gradient evaluation + update per
  iteration in both frameworks. jaxstyle runs the pairs as one :class:`jaxstyle.optimize.engine.Bucket`
  (what ``stylize`` runs per bucket: its compiled ``run_chunk``, with the engine's
  defaults, e.g. ``pair_batch`` 1 on the CPU: on-device ``fori_loop`` over ``--steps`` iterations, then a loss report,
  i.e. one extra forward per chunk, counted against jaxstyle); PyTorch runs its usual
  zero_grad/forward/backward/step loop. Reported: median over ``--repeats`` chunks of
  chunk time / ``--steps``, after warm-up (compile time reported separately).
* Time to loss: L-BFGS at ``--lbfgs-size``, batch 1, ``--lbfgs-steps`` iterations, memory 10
  on both sides. ``--lbfgs-line-search none`` (the default, what ``jaxstyle stylize`` runs):
  ``optax.lbfgs(linesearch=None)``, lr 1, vs ``torch.optim.LBFGS(line_search_fn=None)``, lr 1,
  one evaluation per iteration each (the classic neural-style setting); ``zoom``:
  ``optax.lbfgs`` with its zoom line search vs ``torch.optim.LBFGS(line_search_fn=
  "strong_wolfe")``. Target = the worse of the two best losses, so both reach it. jaxstyle's time
  is one ``run_chunk`` of the steps it needs, from the initial image; PyTorch's is the time
  of its first objective evaluation at or below the target.
* Peak RSS: each (framework, size, batch, optimizer) runs in its own subprocess and reports
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. The PyTorch worker imports neither jax nor
  jaxstyle (inputs and weights come in an ``.npz``).

Pass ``--xla-flags "..."`` to try XLA CPU options (appended to ``XLA_FLAGS`` of the jax worker).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
WEIGHTS = {"content": 1.0, "style": 1e5, "tv": 1.0}
ADAM_LR = 0.02
LBFGS_MEMORY = 10
CONTENT_SAMPLE = "astronaut"
STYLE_SAMPLES = ("ihc", "hubble", "retina")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _load1() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- inputs


def prepare_inputs(size: int, batch: int, path: Path) -> None:
    """Write content batch, style images and VGG16 weights (numpy) to ``path`` (.npz)."""
    import numpy as np

    from jaxstyle.io import load_image, resize, resize_long_side
    from jaxstyle.weights.registry import resolve_weights

    content = resize(load_image(f"sample:{CONTENT_SAMPLE}"), (size, size))
    arrays = {"content": np.stack([content] * batch).astype(np.float32)}
    for i in range(batch):
        name = STYLE_SAMPLES[i % len(STYLE_SAMPLES)]
        arrays[f"style{i}"] = resize_long_side(load_image(f"sample:{name}"), size).astype(np.float32)
    params = resolve_weights("vgg16", None).params
    for layer, p in params.items():
        arrays[f"w/{layer}/kernel"] = np.asarray(p["kernel"], np.float32)
        arrays[f"w/{layer}/bias"] = np.asarray(p["bias"], np.float32)
    np.savez(path, **arrays)


def _read_inputs(path: Path):
    import numpy as np

    data = np.load(path)
    batch = data["content"].shape[0]
    styles = [data[f"style{i}"] for i in range(batch)]
    params: dict[str, dict[str, np.ndarray]] = {}
    for key in data.files:
        if key.startswith("w/"):
            _, layer, what = key.split("/")
            params.setdefault(layer, {})[what] = data[key]
    return data["content"], styles, params


# --------------------------------------------------------------------------- jaxstyle worker


def jax_worker(args) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxstyle.models.encoder import Encoder
    from jaxstyle.models.vgg import VGGConfig
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.engine import Bucket

    t_start = time.perf_counter()
    contents, styles, params = _read_inputs(Path(args.inputs))
    encoder = Encoder(
        params=jax.tree.map(jnp.asarray, params),
        config=VGGConfig("vgg16", pooling="max", padding="zero", normalization="torch"),
    )
    cfg = StylizeConfig(
        optimizer=args.optimizer,
        lr=ADAM_LR if args.optimizer == "adam" else None,
        style_layers=STYLE_LAYERS,
        content_layers=(CONTENT_LAYER,),
        content_weight=WEIGHTS["content"],
        style_weight=WEIGHTS["style"],
        tv_weight=WEIGHTS["tv"],
        line_search=args.optimizer == "lbfgs" and args.lbfgs_line_search == "zoom",
    )
    objective = cfg.objective(encoder)
    frozen = objective.frozen()
    inputs = [{"content": c, "style": s} for c, s in zip(contents, styles, strict=True)]
    rng = np.random.default_rng(0)

    def fresh() -> Bucket:
        """The pairs as the engine's one bucket (targets, state, compiled chunk): what stylize runs."""
        starts = [objective.init(x, rng, x["content"].copy()) for x in inputs]
        return Bucket(objective, frozen, inputs, starts, cfg)

    def chunk(bucket: Bucket, n: int) -> np.ndarray:
        return np.asarray(bucket.run(n)["total"])  # host sync: the chunk is done

    t0 = time.perf_counter()
    bucket = fresh()  # prepares the targets and compiles the chunk, releasing the compiler's heap
    total0 = chunk(bucket, 0)
    compile_s = time.perf_counter() - t0
    program = cfg.program_key()
    out = {
        "framework": "jax",
        "jax": jax.__version__,
        "devices": str(jax.devices()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "setup_s": t0 - t_start,
        "compile_s": compile_s,
        "initial_loss": float(total0.mean()),
    }
    if args.optimizer == "adam":
        chunk(bucket, 1)  # first real run: allocations, thread pools
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            total = chunk(bucket, args.steps)
            times.append((time.perf_counter() - t) / args.steps)
        out.update(per_iter_s=statistics.median(times), per_iter_all=times, final_loss=float(total.mean()))
    else:
        losses, evals = [], []
        for _ in range(args.steps):
            total = chunk(bucket, 1)
            losses.append(float(total[0]))
            if program.line_search:  # optax.lbfgs = chain(..., scale_by_zoom_linesearch)
                evals.append(int(np.asarray(bucket.state["opt_state"][-1].info.num_linesearch_steps)[0]))
            else:
                evals.append(1)
        target = max(args.target, min(losses)) if args.target else min(losses)
        k = next(i for i, v in enumerate(losses, start=1) if v <= target)
        bucket = fresh()
        chunk(bucket, 0)
        t = time.perf_counter()
        total = chunk(bucket, k)
        out.update(
            losses=losses,
            evals_per_step=evals,
            target=target,
            steps_to_target=k,
            evals_to_target=sum(evals[:k]),
            time_to_target_s=time.perf_counter() - t,
            check_loss=float(total[0]),
        )
    return out


# --------------------------------------------------------------------------- PyTorch worker


def torch_worker(args) -> dict:
    import numpy as np
    import torch
    from torch import nn

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    contents, styles, params = _read_inputs(Path(args.inputs))

    # torchvision vgg16().features through relu5_1, built from the same numpy params.
    layers: list[tuple[str, nn.Module]] = []
    cin = 3
    for b, (n, cout) in enumerate(zip((2, 2, 3, 3, 1), (64, 128, 256, 512, 512), strict=True), start=1):
        for i in range(1, n + 1):
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            p = params[f"conv{b}_{i}"]
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(p["kernel"].transpose(3, 2, 0, 1)))
            conv.bias.data = torch.from_numpy(p["bias"].copy())
            conv.requires_grad_(False)
            layers += [(f"conv{b}_{i}", conv), (f"relu{b}_{i}", nn.ReLU())]
            cin = cout
        if b < 5:
            layers.append((f"pool{b}", nn.MaxPool2d(2, 2)))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    wanted = set(STYLE_LAYERS) | {CONTENT_LAYER}

    def features(x):
        x = (x - mean) / std
        out = {}
        for name, module in layers:
            x = module(x)
            if name in wanted:
                out[name] = x
        return out

    def gram(f):  # (N,C,H,W) -> (N,C,C) / (H*W)
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (h * w)

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))

    with torch.no_grad():
        content = nchw(contents)
        content_target = features(content)[CONTENT_LAYER]
        style_targets = {lay: [] for lay in STYLE_LAYERS}
        for s in styles:
            f = features(nchw(s[None]))
            for lay in STYLE_LAYERS:
                style_targets[lay].append(gram(f[lay]))
        style_targets = {lay: torch.cat(v) for lay, v in style_targets.items()}

    def per_pair_total(x):
        f = features(x)
        c_loss = (f[CONTENT_LAYER] - content_target).square().mean(dim=(1, 2, 3))
        s_loss = sum(
            (gram(f[lay]) - style_targets[lay]).square().sum(dim=(1, 2)) / (4.0 * f[lay].shape[1] ** 2)
            for lay in STYLE_LAYERS
        ) / len(STYLE_LAYERS)
        tv = (x[:, :, 1:] - x[:, :, :-1]).square().mean(dim=(1, 2, 3)) + (
            x[:, :, :, 1:] - x[:, :, :, :-1]
        ).square().mean(dim=(1, 2, 3))
        return WEIGHTS["content"] * c_loss + WEIGHTS["style"] * s_loss + WEIGHTS["tv"] * tv

    x = content.clone().requires_grad_(True)
    with torch.no_grad():
        initial = per_pair_total(x)
    out = {
        "framework": "torch",
        "torch": torch.__version__,
        "default_threads": default_threads,
        "threads": torch.get_num_threads(),
        "initial_loss": float(initial.mean()),
    }
    if args.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=ADAM_LR)

        def step():
            opt.zero_grad(set_to_none=True)
            # Sum of per-pair losses: each pair's gradient is its own objective's gradient.
            loss = per_pair_total(x).sum()
            loss.backward()
            opt.step()
            return loss

        step()  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(args.steps):
                loss = step()
            times.append((time.perf_counter() - t) / args.steps)
        out.update(per_iter_s=statistics.median(times), per_iter_all=times, final_loss=float(loss) / len(x))
    else:
        opt = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=args.steps, max_eval=args.steps * 25, history_size=LBFGS_MEMORY,
            tolerance_grad=0.0, tolerance_change=0.0,
            line_search_fn="strong_wolfe" if args.lbfgs_line_search == "zoom" else None,
        )  # fmt: skip
        trace = []
        t0 = time.perf_counter()

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = per_pair_total(x).sum()
            loss.backward()
            trace.append((time.perf_counter() - t0, float(loss)))
            return loss

        opt.step(closure)
        state = opt.state[x]
        out.update(trace=trace, iterations=state["n_iter"], evaluations=state["func_evals"])
    return out


# --------------------------------------------------------------------------- orchestration


def _run_worker(framework: str, inputs: Path, optimizer: str, a, extra=()) -> dict:
    env = dict(os.environ)
    if framework == "jax" and a.xla_flags:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + a.xla_flags).strip()
    cmd = [
        sys.executable, __file__, "--worker", framework, "--inputs", str(inputs),
        "--optimizer", optimizer, "--torch-threads", str(a.torch_threads),
        "--lbfgs-line-search", a.lbfgs_line_search, *map(str, extra),
    ]  # fmt: skip
    if optimizer == "adam":
        cmd += ["--steps", str(a.steps), "--repeats", str(a.repeats)]
    else:
        cmd += ["--steps", str(a.lbfgs_steps)]
    load_before = _load1()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{framework} worker failed ({proc.returncode})")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT ") :])
    res["load1"] = (load_before, _load1())
    return res


def _combine(runs: list[dict]) -> dict:
    """Several worker runs of one configuration -> median time, worst RSS, load range."""
    out = dict(runs[-1])
    out["per_iter_s"] = statistics.median(r["per_iter_s"] for r in runs)
    out["per_iter_rounds"] = [r["per_iter_s"] for r in runs]
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    if "compile_s" in out:
        out["compile_s"] = statistics.median(r["compile_s"] for r in runs)
    loads = [x for r in runs for x in r["load1"]]
    out["load1"] = (min(loads), max(loads))
    return out


def _fmt_load(r: dict) -> str:
    return f"{r['load1'][0]:.1f}/{r['load1'][1]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--steps", type=int, default=5, help="Adam iterations per timed chunk")
    ap.add_argument("--repeats", type=int, default=3, help="timed chunks (median taken)")
    ap.add_argument("--lbfgs-size", type=int, default=256, help="0 skips the L-BFGS time-to-loss run")
    ap.add_argument("--lbfgs-steps", type=int, default=30)
    ap.add_argument("--lbfgs-line-search", choices=["none", "zoom"], default="none",
                    help="none: jaxstyle's default L-BFGS (and torch's without line search)")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=1, help="alternating jax/torch runs per config")
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--frameworks", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    ap.add_argument("--xla-flags", default="", help="extra XLA_FLAGS for the jax worker")
    ap.add_argument("--quick", action="store_true", help="256 px, batch 1, 2x2 steps, 10 L-BFGS steps")
    ap.add_argument("--dry-run", action="store_true", help="32 px, batch 2, 1 step, 2 L-BFGS steps (tested)")
    ap.add_argument("--json", type=Path, help="also write all raw results here")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["jax", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--optimizer", default="adam", help=argparse.SUPPRESS)
    ap.add_argument("--target", type=float, default=0.0, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker:
        res = (jax_worker if a.worker == "jax" else torch_worker)(a)
        res["peak_rss_mb"] = _peak_rss_mb()
        print("RESULT " + json.dumps(res), flush=True)
        return
    if a.quick:
        a.sizes, a.batches, a.steps, a.repeats, a.lbfgs_steps = [256], [1], 2, 2, 10
    if a.dry_run:
        a.sizes, a.batches, a.steps, a.repeats, a.lbfgs_size, a.lbfgs_steps = [32], [2], 1, 1, 32, 2

    print(f"# load average at start: {os.getloadavg()}", flush=True)
    rows, raw = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes:
            for batch in a.batches:
                inputs = Path(tmp) / f"in_{size}_{batch}.npz"
                prepare_inputs(size, batch, inputs)
                runs: dict[str, list[dict]] = {fw: [] for fw in a.frameworks}
                for r in range(a.rounds):
                    # Alternate the order: on a shared box the load drifts, and pairing each
                    # jax run with an adjacent torch run keeps the ratio honest.
                    for fw in a.frameworks if r % 2 == 0 else a.frameworks[::-1]:
                        runs[fw].append(_run_worker(fw, inputs, "adam", a))
                    line = {fw: round(v[-1]["per_iter_s"] * 1e3) for fw, v in runs.items()}
                    print(f"# {size}px batch {batch} round {r + 1}: ms/iter {line}", flush=True)
                res = {fw: _combine(v) for fw, v in runs.items()}
                raw.append({"size": size, "batch": batch, "optimizer": "adam", **res})
                rows.append((size, batch, res))
        lbfgs = None
        if a.lbfgs_size and set(a.frameworks) == {"jax", "torch"}:
            inputs = Path(tmp) / "in_lbfgs.npz"
            prepare_inputs(a.lbfgs_size, 1, inputs)
            tr = _run_worker("torch", inputs, "lbfgs", a)
            torch_best = min(v for _, v in tr["trace"])
            jr = _run_worker("jax", inputs, "lbfgs", a, extra=("--target", repr(torch_best)))
            target = jr["target"]
            hit = next(((i, t) for i, (t, v) in enumerate(tr["trace"], 1) if v <= target), None)
            tr["evals_to_target"], tr["time_to_target_s"] = hit if hit else (None, None)
            lbfgs = {"jax": jr, "torch": tr, "target": target}
            raw.append({"size": a.lbfgs_size, "batch": 1, "optimizer": "lbfgs", **lbfgs})

    _print_tables(rows, lbfgs, a)
    if a.json:
        a.json.write_text(json.dumps(raw, indent=1))


def rows_ratio(j: dict, t: dict) -> list[float]:
    """Per-round jax/torch ratios (each jax run against the torch run next to it)."""
    return [a / b for a, b in zip(j["per_iter_rounds"], t["per_iter_rounds"], strict=True)]


def _print_tables(rows, lbfgs, a) -> None:
    both = set(a.frameworks) == {"jax", "torch"}
    print(f"\n## Adam: per-iteration time (objective + gradient + update), median of {a.repeats} chunks "
          f"of {a.steps} iterations per run, median of {a.rounds} alternating run(s) per framework; "
          "ratio = median of the per-round jax/torch ratios\n")  # fmt: skip
    hdr = "| size | batch | jaxstyle ms/iter | PyTorch ms/iter | ratio jax/torch | jaxstyle ms/pair | PyTorch ms/pair "
    hdr += "| jax compile s | jax peak RSS MB | torch peak RSS MB | load1 jax | load1 torch |"
    print(hdr)
    print("|" + "---:|" * 12)
    per_pair: dict[tuple[str, int], dict[int, float]] = {}
    for size, batch, res in rows:
        j, t = res.get("jax"), res.get("torch")
        res = {k: v for k, v in res.items() if k in ("jax", "torch")}
        cells = [str(size), str(batch)]
        cells += [f"{r['per_iter_s'] * 1e3:.0f}" if r else "-" for r in (j, t)]
        cells.append(f"{statistics.median(rows_ratio(j, t)):.2f}" if both else "-")
        cells += [f"{r['per_iter_s'] * 1e3 / batch:.0f}" if r else "-" for r in (j, t)]
        cells.append(f"{j['compile_s']:.1f}" if j else "-")
        cells += [f"{r['peak_rss_mb']:.0f}" if r else "-" for r in (j, t)]
        cells += [_fmt_load(r) if r else "-" for r in (j, t)]
        print("| " + " | ".join(cells) + " |")
        for fw, r in res.items():
            per_pair.setdefault((fw, size), {})[batch] = r["per_iter_s"] / batch
    gains = [
        f"{fw} {size}px: batch {max(d)} gives {d[min(d)] / d[max(d)]:.2f}x the per-pair throughput of batch {min(d)}"
        for (fw, size), d in per_pair.items()
        if len(d) > 1
    ]
    if gains:
        print("\nBatching gain (per-pair throughput, largest vs smallest batch):")
        for g in gains:
            print(f"- {g}")
    if rows:
        r0 = rows[0][2]
        if "torch" in r0:
            print(f"\nPyTorch {r0['torch']['torch']}: default threads {r0['torch']['default_threads']}, "
                  f"ran with {r0['torch']['threads']}.")  # fmt: skip
        if "jax" in r0:
            print(f"jax {r0['jax']['jax']}, XLA_FLAGS={r0['jax']['xla_flags']!r}.")
    if lbfgs:
        j, t = lbfgs["jax"], lbfgs["torch"]
        print(f"\n## L-BFGS (line search: {a.lbfgs_line_search}) time to loss {lbfgs['target']:.4g} "
              f"({a.lbfgs_size}px, batch 1, {a.lbfgs_steps} iterations each)\n")  # fmt: skip
        print("| framework | iterations to target | evaluations to target | evals/iteration (whole run) "
              "| time to target s | best loss | peak RSS MB | load1 |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        ls = a.lbfgs_line_search
        print(f"| jaxstyle (optax.lbfgs, {ls}) | {j['steps_to_target']} | {j['evals_to_target']} | "
              f"{sum(j['evals_per_step']) / len(j['evals_per_step']):.2f} | {j['time_to_target_s']:.1f} | "
              f"{min(j['losses']):.4g} | {j['peak_rss_mb']:.0f} | {_fmt_load(j)} |")  # fmt: skip
        tt = t["time_to_target_s"]
        print(f"| PyTorch (LBFGS, {'strong_wolfe' if ls == 'zoom' else 'none'}) | - | {t['evals_to_target']} | "
              f"{t['evaluations'] / max(t['iterations'], 1):.2f} | {tt:.1f} | "
              f"{min(v for _, v in t['trace']):.4g} | {t['peak_rss_mb']:.0f} | {_fmt_load(t)} |")  # fmt: skip
        print(f"\nratio jax/torch time to target: {j['time_to_target_s'] / tt:.3f}")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
