"""Per-device compiled memory of one Gatys optimization split over 1/2/4/8 height shards.

  python benchmarks/spatial_shards.py [--sizes 512 1024 2048 4096] [--shards 1 2 4 8] [--optimizer lbfgs]

Nothing runs: for each (size, shards) the engine's optimization loop (``run_chunk``, what
``jaxstyle stylize --spatial-shards N`` runs) is compiled from shapes only on 8 forced CPU
devices and XLA's ``memory_analysis`` is read (:func:`jaxstyle.optimize.engine.chunk_memory`):
``temp`` (activations, gradients, loop temporaries), ``argument`` (each device's part of the
image, optimizer state and targets, plus the whole VGG16), ``output``/``alias`` (the donated
state), ``peak`` = temp + argument + output - alias. One square ``size`` x ``size`` pair, VGG16
(embedded weights) to relu5_1, the ``stylize`` defaults (content relu4_2, style relu1_1..relu5_1,
TV). These are the compiler's per-device figures for XLA:CPU; a GPU's buffer assignment differs
in detail, not in how it scales with N.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam", "sgd"])
    a = ap.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={max(a.shards)}").strip()
    import jax

    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.engine import chunk_memory
    from jaxstyle.weights.encoders import load_encoder

    encoder = load_encoder("vgg16")
    print(f"# load average at start: {os.getloadavg()}; jax {jax.__version__}, {jax.device_count()} CPU devices\n")
    print("| size | shards | temp MiB | argument MiB | output MiB | peak MiB/device | peak x N / peak(1) | compile s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    mib = 2.0**-20
    for size in a.sizes:
        base = None
        for n in a.shards:
            cfg = StylizeConfig(size=size, optimizer=a.optimizer, spatial_shards=n)
            t = time.perf_counter()
            m = chunk_memory(cfg.objective(encoder), cfg, (size, size), devices=jax.devices()[:n])
            took = time.perf_counter() - t
            base = m["peak"] if n == 1 else base
            ratio = f"{m['peak'] * n / base:.2f}" if base else "-"
            print(f"| {size} | {n} | {m['temp'] * mib:.0f} | {m['argument'] * mib:.0f} | {m['output'] * mib:.0f} "
                  f"| {m['peak'] * mib:.0f} | {ratio} | {took:.0f} |", flush=True)
    print(f"\n# load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
