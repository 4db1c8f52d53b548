"""jaxstyle side by side with an official implementation's own examples, on the same inputs.

  python benchmarks/official_examples.py REPO --out DIR [--dry-run] [--only NAME ...]

``REPO`` is a fetched official repository: a work tree, or a bare git directory (its ``HEAD``
is read with ``git show``). Which repository it is comes from the files it holds. Its example
inputs (and its published outputs, where it has them) are read from there and never copied
into jaxstyle. jaxstyle then runs on the same inputs at the official settings. ``DIR`` must lie
outside the jaxstyle repository; it receives:

- ``NAME.png``: a sheet per example (content | style | official output | jaxstyle);
- ``results.json`` and ``table.md``: content LPIPS (AlexNet LPIPS of the output to the content)
  and style distance (:func:`jaxstyle.metrics.mean_std_distance` over relu1_1..relu4_1 of the
  embedded VGG16, the measure of :mod:`jaxstyle.evaluate`), for ours and the official output.
  The official output is resized to ours.

Examples known (repository: what is compared):

- nkolkin13/STROTSS: ``content_im.jpg`` x ``style_im.jpg`` against its ``output.png`` (512 px);
  jaxstyle strotss at 512 px over 4 scales (coarsest 64 px, as the official 64 -> 512).
- sunniesuhyoung/DST: ``example/content.jpg`` x ``example/style.jpg`` at 256 px (the
  repository holds no output: ours only); keypoints by jaxstyle's Neural Best-Buddies.
- rtqichen/style-swap: ``bike`` x starry_night / small_worlds / Composition X, and brad_pitt x
  la_muse, against ``images/examples/*_3x3_max.jpg``. Content at its own size up to 640 px
  (``maxContentSize``), 3x3 patches, max pooling; the style at the content's size (official:
  up to 512 px).

``--dry-run`` lists the examples found and the runs it would make, without running them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Example:
    """One official example: inputs and output (paths in the official repository)."""

    name: str
    content: str
    style: str
    official: str | None  # None: the repository publishes no output for it
    method: str
    size: int  # long side jaxstyle runs at
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    upscale: bool = True  # False: ``size`` is a cap, smaller contents keep their size (style-swap)


_SWAP = {"patch_size": 3}
EXAMPLES = {
    "nkolkin13/STROTSS": ("styleTransfer.py", [
        Example("strotss", "content_im.jpg", "style_im.jpg", "output.png", "strotss", 512, {"scales": 4}),
    ]),
    "sunniesuhyoung/DST": ("cleanpoints.py", [
        Example("dst", "example/content.jpg", "example/style.jpg", None, "dst", 256),
    ]),
    "rtqichen/style-swap": ("style-swap.lua", [
        Example(f"styleswap_{c}_{tag}", f"images/content/{c}.jpg", f"images/style/{s}",
                f"images/examples/{c}_{tag}_3x3_max.jpg", "styleswap", 640, _SWAP, upscale=False)
        for c, tag, s in (("bike", "starry", "starry_night.jpg"), ("bike", "swo", "small_worlds_one.jpg"),
                          ("bike", "compx", "compx_wk.jpg"), ("brad_pitt", "lamuse", "la_muse.jpg"))
    ]),
}


class Repo:
    """Files of a fetched repository: a work tree, or a (bare) git directory read at HEAD."""

    def __init__(self, path: Path):
        self.path = path
        self.bare = (path / "HEAD").is_file() and (path / "objects").is_dir()

    def files(self) -> set[str]:
        if not self.bare:
            return {str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file()}
        out = subprocess.run(["git", "--git-dir", str(self.path), "ls-tree", "-r", "--name-only", "HEAD"],
                             check=True, capture_output=True, text=True).stdout
        return set(out.split())

    def read(self, name: str) -> bytes:
        if not self.bare:
            return (self.path / name).read_bytes()
        return subprocess.run(["git", "--git-dir", str(self.path), "show", f"HEAD:{name}"], check=True,
                              capture_output=True).stdout


def identify(repo: Repo) -> tuple[str, list[Example]]:
    """``(name, examples present)`` of the official repository ``repo`` (SystemExit if unknown)."""
    files = repo.files()
    for name, (marker, examples) in EXAMPLES.items():
        if marker in files:
            present = [e for e in examples if e.content in files and e.style in files]
            return name, present
    sys.exit(f"error: {repo.path} is none of {', '.join(EXAMPLES)} (no {' / '.join(m for m, _ in EXAMPLES.values())})")


def _image(repo: Repo, name: str):
    from jaxstyle.io import decode_image

    return decode_image(repo.read(name), name).astype("float32") / 255.0


def run_example(repo: Repo, ex: Example, out: Path) -> dict[str, Any]:
    """Stylize one example with jaxstyle, measure ours and the official output, write its sheet."""
    import jax.numpy as jnp

    from jaxstyle import metrics
    from jaxstyle.evaluate import STYLE_LAYERS
    from jaxstyle.io import make_grid, resize, resize_long_side, save_image
    from jaxstyle.methods import load_stylizer
    from jaxstyle.weights.encoders import load_encoder

    content, style = _image(repo, ex.content), _image(repo, ex.style)
    size = ex.size if ex.upscale else min(ex.size, max(content.shape[:2]))
    result = load_stylizer(ex.method, **ex.options).stylize(content, style, size=size)
    ours = result[0]  # one content in, a list of one out
    ours = ours[0] if isinstance(ours, tuple) else ours  # dst: (warped, unwarped, sheet)
    c = resize_long_side(content, size)
    outputs = {"jaxstyle": ours}
    if ex.official is not None:
        outputs["official"] = resize(_image(repo, ex.official), ours.shape[:2])
    vgg = load_encoder("vgg16")
    fs = vgg(jnp.asarray(resize_long_side(style, size))[None], STYLE_LAYERS)
    row: dict[str, Any] = {"example": ex.name, "method": ex.method, "size": size, **ex.options}
    for who, img in outputs.items():
        fo = vgg(jnp.asarray(img)[None], STYLE_LAYERS)
        dist = sum(float(metrics.mean_std_distance(fo[k], fs[k])[0]) for k in STYLE_LAYERS) / len(STYLE_LAYERS)
        row[f"{who}_content_lpips"] = float(metrics.lpips(jnp.asarray(img)[None], jnp.asarray(c)[None])[0])
        row[f"{who}_style_distance"] = dist
    panels = [c, resize(style, c.shape[:2]), *outputs.values()]
    save_image(out / f"{ex.name}.png", make_grid(panels, labels=["content", "style", *outputs], height=256))
    print(f"wrote {out / f'{ex.name}.png'}", flush=True)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    keys = ("content_lpips", "style_distance")
    head = "| example | " + " | ".join(f"{who} {k}" for k in keys for who in ("jaxstyle", "official")) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(keys))]
    for r in rows:
        cells = [f"{r[f'{who}_{k}']:.3f}" if f"{who}_{k}" in r else "n/a" for k in keys for who in ("jaxstyle", "official")]
        lines.append(f"| {r['example']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="a fetched official repository (work tree or git directory)")
    parser.add_argument("--out", type=Path, required=True, help="output folder, outside the jaxstyle repository")
    parser.add_argument("--only", nargs="+", default=None, help="example names to run (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="list the examples and runs, run nothing")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        sys.exit(f"error: --out {args.out} lies inside the jaxstyle repository; official images stay outside it")
    repo = Repo(args.repo)
    name, examples = identify(repo)
    examples = [e for e in examples if args.only is None or e.name in args.only]
    for ex in examples:
        settings = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in ex.options.items())
        print(f"{name}: {ex.name}: {ex.content} x {ex.style} -> jaxstyle {ex.method} --size {ex.size} {settings}".rstrip()
              + f"; official output {ex.official or 'none'}")
    if args.dry_run:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    rows = [run_example(repo, ex, out) for ex in examples]
    (out / "results.json").write_text(json.dumps({"repository": name, "rows": rows}, indent=1))
    (out / "table.md").write_text(table(rows))
    print(table(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
