"""The field's evaluation protocol: score (stylized, content, style) triples as recent papers do.

Per pair (each mean and spread over the pairs; docs/evaluation.md defines each with its source):

- ``lpips_alex``: LPIPS(alex) of the stylized image to its content (ArtFID's content distance);
- ``cfsd``: StyleID's content-fidelity self-similarity distance on VGG19 relu3_1 (``cfsd_vgg16``:
  the embedded VGG16's relu3_1, when VGG19 is not imported);
- ``gram``: the scale-free Gram distance to the style image, mean over relu1_1..relu5_1 of VGG19
  (``gram_vgg16`` likewise);
- ``hist``: HistoGAN's RGB-uv histogram (Hellinger) distance to the style image.

Per set: ``fid`` between the stylized images and the style image of each pair (one style entry
per stylized image, as StyleID's ``sty_eval`` copies), FID-infinity above 5000 pairs; and
``artfid = (1 + lpips_alex) (1 + fid)``. FID uses ArtFID's ``art_inception``; with only
pytorch-fid's network imported the keys are ``fid_pt_inception``/``artfid_pt_inception``; with
neither they are null and the notes say what to import. Contents are resized to each stylized
image's size (LPIPS and CFSD compare positions); :func:`score_triples` takes styles at the size
given, :func:`evaluate_results` resizes each to its result's long side (the scale a stylizer
works at; the Gram distance depends on it).

:func:`score_triples` does the work on arrays; :func:`pair_result_files` pairs a folder of
results with its content and style folders (``jaxstyle eval --results``);
:func:`evaluate_results` does both.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import metrics
from jaxstyle.errors import InputError, WeightsError
from jaxstyle.files import write_text_atomic
from jaxstyle.io import expand_image_paths, load_image, resize, resize_long_side
from jaxstyle.models.encoder import Encoder
from jaxstyle.pairs import buckets
from jaxstyle.weights.encoders import load_encoder, resolve_encoder_name
from jaxstyle.weights.inception_import import INCEPTION_NETS
from jaxstyle.weights.pretrained import cache_path

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
FID_NETWORKS = ("auto", "art_inception", "pt_inception", "none")
# Lower is better for every protocol metric.
PAIR_KEYS = ("lpips_alex", "cfsd", "gram", "hist")
SEPARATORS = ("__", "_stylized_")  # jaxstyle stylize's CONTENT__STYLE, StyleID's CNT_stylized_STY

Log = Callable[[str], Any]


@dataclasses.dataclass
class Scorer:
    """The networks of the protocol, loaded once, and the labels their choice implies.

    ``keys`` maps each metric to its label in tables and JSON: ``cfsd`` or ``cfsd_vgg16``,
    ``gram`` or ``gram_vgg16``, ``fid``/``artfid`` or ``fid_pt_inception``/...; ``notes`` says
    why a metric is missing or what its label means.
    """

    lpips_alex: metrics.LPIPS
    vgg: Encoder
    inception: metrics.InceptionFeatures | None
    keys: dict[str, str]
    notes: list[str]

    @classmethod
    def load(cls, fid_network: str = "auto", vgg: str = "auto") -> Scorer:
        if fid_network not in FID_NETWORKS:
            raise InputError(f"--fid-network must be one of {', '.join(FID_NETWORKS)}, got {fid_network!r}")
        vgg_name = resolve_encoder_name(vgg)
        suffix = "" if vgg_name == "vgg19" else f"_{vgg_name}"
        keys = {"lpips_alex": "lpips_alex", "cfsd": f"cfsd{suffix}", "gram": f"gram{suffix}", "hist": "hist"}
        notes = []
        if suffix:
            notes.append(f"cfsd{suffix}, gram{suffix}: the embedded {vgg_name.upper()} stands in for VGG19, which is "
                         "not imported (`jaxstyle weights download vgg19`); not comparable with papers' CFSD")
        inception, net = None, _fid_network(fid_network)
        if net is None:
            keys |= {"fid": "fid", "artfid": "artfid"}
            if fid_network != "none":
                notes.append(f"fid, artfid: {INCEPTION_NETS['art_inception'].missing()}")
        else:
            suffix = "" if net == "art_inception" else f"_{net}"
            keys |= {"fid": f"fid{suffix}", "artfid": f"artfid{suffix}"}
            inception = metrics.InceptionFeatures.load(net)
            if suffix:
                notes.append(f"fid{suffix}, artfid{suffix}: pytorch-fid's ImageNet Inception, not ArtFID's "
                             "art_inception; not comparable with papers' ArtFID")
        return cls(metrics.default_lpips("alex"), load_encoder(vgg_name), inception, keys, notes)


def _fid_network(choice: str) -> str | None:
    """The imported Inception ``choice`` names (``auto``: art_inception, else pt_inception)."""
    if choice == "none":
        return None
    if choice != "auto":
        if not cache_path(choice).is_file():
            raise WeightsError(INCEPTION_NETS[choice].missing())
        return choice
    return next((n for n in ("art_inception", "pt_inception") if cache_path(n).is_file()), None)


@functools.lru_cache(maxsize=4)
def default_scorer(fid_network: str = "auto") -> Scorer:
    """:meth:`Scorer.load`, once per process and choice."""
    return Scorer.load(fid_network)


# ----------------------------------------------------------------------------- per pair


@jax.jit
def _content_metrics(lp: metrics.LPIPS, vgg: Encoder, out: jax.Array, content: jax.Array) -> dict[str, jax.Array]:
    fo = vgg(out, (metrics.CFSD_LAYER,))[metrics.CFSD_LAYER]
    fc = vgg(content, (metrics.CFSD_LAYER,))[metrics.CFSD_LAYER]
    return {"lpips_alex": lp(out, content), "cfsd": metrics.cfsd_from_features(fo, fc)}


@jax.jit
def _style_metrics(vgg: Encoder, out: jax.Array, style: jax.Array) -> dict[str, jax.Array]:
    fo, fs = vgg(out, STYLE_LAYERS), vgg(style, STYLE_LAYERS)
    gram = sum(metrics.gram_distance(fo[k], fs[k]) for k in STYLE_LAYERS) / len(STYLE_LAYERS)
    return {"gram": gram, "hist": metrics.histogram_distance(out, style)}


def _batched(fn: Callable[..., dict[str, jax.Array]], args: Sequence[Sequence[np.ndarray]],
             batch_size: int) -> list[dict[str, float]]:
    """``fn(*models, *stacked images)`` over every index, in batches of equal shapes."""
    n = len(args[0])
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for members in buckets([tuple(np.shape(a[i]) for a in args) for i in range(n)]):
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            values = jax.device_get(fn(*(jnp.asarray(np.stack([a[i] for i in chunk])) for a in args)))
            for k, i in enumerate(chunk):
                out[i] = {name: float(v[k]) for name, v in values.items()}
    return out


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """``{"mean", "std", "min", "max", "n"}`` (population std; NaN-free input)."""
    arr = np.asarray(values, np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std()), "min": float(arr.min()),
            "max": float(arr.max()), "n": int(arr.size)}


def score_triples(
    outputs: Sequence[np.ndarray],
    contents: Sequence[np.ndarray],
    styles: Sequence[np.ndarray | None],
    *,
    scorer: Scorer | None = None,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Protocol metrics of ``outputs[i]`` against ``contents[i]`` and ``styles[i]``.

    Args:
      outputs, contents: (H, W, 3) float images in [0, 1]; each content is resized to its
        output's size.
      styles: the style image of each pair, or None where the method took none (CIN's built-in
        styles): its style metrics and the FID are then left out.
      scorer: the networks (default :func:`default_scorer`).

    Returns:
      ``{"pairs": [{label: value}], "metrics": {label: summarize(...)}, "fid": {...} | None,
      "keys": scorer.keys, "notes": [...]}`` with labels from ``scorer.keys``.
    """
    scorer = scorer or default_scorer()
    keys = scorer.keys
    if not (len(outputs) == len(contents) == len(styles)) or not outputs:
        raise InputError(f"need one content and one style entry per output: {len(outputs)} outputs, "
                         f"{len(contents)} contents, {len(styles)} styles")
    contents = [c if c.shape[:2] == o.shape[:2] else resize(c, o.shape[:2]) for o, c in zip(outputs, contents, strict=True)]
    content_rows = _batched(functools.partial(_content_metrics, scorer.lpips_alex, scorer.vgg),
                            [outputs, contents], batch_size)
    styled = [i for i, s in enumerate(styles) if s is not None]
    style_rows = _batched(functools.partial(_style_metrics, scorer.vgg),
                          [[outputs[i] for i in styled], [styles[i] for i in styled]], batch_size) if styled else []
    pairs = [{keys[k]: v for k, v in row.items()} for row in content_rows]
    for i, row in zip(styled, style_rows, strict=True):
        pairs[i] |= {keys[k]: v for k, v in row.items()}
    result: dict[str, Any] = {"pairs": pairs, "keys": dict(keys), "notes": list(scorer.notes)}
    result["metrics"] = {keys[k]: summarize([p[keys[k]] for p in pairs if keys[k] in p])
                         for k in PAIR_KEYS if any(keys[k] in p for p in pairs)}
    result["fid"] = _set_metrics(scorer, outputs, styles, styled, result["metrics"], result["notes"])
    return result


def _set_metrics(scorer: Scorer, outputs: Sequence[np.ndarray], styles: Sequence[np.ndarray | None],
                 styled: list[int], summary: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """FID (or FID-infinity) of the stylized set against the style set, and ArtFID."""
    keys = scorer.keys
    if scorer.inception is None or not styled:
        return None
    if len(styled) < 2:
        notes.append(f"{keys['fid']}: needs at least 2 pairs with a style image")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # said once below, in the notes
            acts_out = scorer.inception([outputs[i] for i in styled])
            acts_style = scorer.inception([styles[i] for i in styled])
            fid = metrics.fid_score(acts_out, acts_style)
    except InputError as e:  # e.g. images below the network's 75 px
        notes.append(f"{keys['fid']}: {e}")
        return None
    if fid.warning:
        notes.append(f"{keys['fid']}: {fid.warning}")
    lpips_mean = summary[keys["lpips_alex"]]["mean"]
    return {keys["fid"]: fid.value, keys["artfid"]: metrics.art_fid(lpips_mean, fid.value), "mode": fid.mode,
            "n": fid.n, "network": scorer.inception.net.name}


# ----------------------------------------------------------------------------- folders of results


def _stems(paths: Sequence[Path]) -> dict[str, Path]:
    return {p.stem: p for p in paths}


def pair_result_files(results: Sequence[Path], contents: Sequence[Path], styles: Sequence[Path],
                      pairing: str = "auto") -> list[tuple[Path, Path, Path | None]]:
    """``(result, content, style or None)`` for every result file.

    ``names``: a result is named ``CONTENT__STYLE`` (jaxstyle) or ``CONTENT_stylized_STYLE``
    (StyleID) after the stems of a content and a style file; ``CONTENT`` alone (or
    ``CONTENT__METHOD``) is a result without a style image. ``sorted``: the three sorted lists
    zipped, art-fid's convention (equal counts, e.g. StyleID's ``cnt_eval``/``sty_eval`` copies).
    ``auto``: names when every result matches, else sorted when the counts agree.
    """
    if pairing not in ("auto", "names", "sorted"):
        raise InputError(f"--pairing must be auto, names or sorted, got {pairing!r}")
    if pairing in ("auto", "names"):
        matched, unmatched = _pair_by_name(results, contents, styles)
        if not unmatched:
            return matched
        if pairing == "names" or not len(results) == len(contents) == len(styles):
            raise InputError(
                f"{unmatched[0]}: no content/style pair is named by it (expected CONTENT__STYLE or "
                f"CONTENT_stylized_STYLE after the stems of --content and --style files; or as many results, "
                f"contents and styles for --pairing sorted: got {len(results)}, {len(contents)}, {len(styles)})")
    if not len(results) == len(contents) == len(styles):
        raise InputError(f"--pairing sorted needs as many results, contents and styles: got {len(results)}, "
                         f"{len(contents)}, {len(styles)}")
    return list(zip(sorted(results), sorted(contents), sorted(styles), strict=True))


def _pair_by_name(results, contents, styles):
    content_stems, style_stems = _stems(contents), _stems(styles)
    matched, unmatched = [], []
    for r in results:
        found = _match(r.stem, sorted(content_stems, key=len, reverse=True), style_stems)
        if found is None:
            unmatched.append(r)
        else:
            c, s = found
            matched.append((r, content_stems[c], None if s is None else style_stems[s]))
    return matched, unmatched


def _match(stem: str, content_stems: Sequence[str], style_stems: Sequence[str]) -> tuple[str, str | None] | None:
    """(content stem, style stem or None) that ``stem`` names; the longest content stem first."""
    for c in content_stems:
        if stem == c:
            return c, None
        for sep in SEPARATORS:
            if stem.startswith(c + sep) and stem[len(c) + len(sep) :] in style_stems:
                return c, stem[len(c) + len(sep) :]
        if stem.startswith(c + "__"):
            return c, None  # CONTENT__METHOD: a method without style images (jaxstyle stylize's naming)
    return None


def evaluate_results(results: str | Path, content: str | Path, style: str | Path, *, pairing: str = "auto",
                     fid_network: str = "auto", batch_size: int = 8, log: Log = print) -> dict[str, Any]:
    """Score a folder of stylized images (any tool's) against its content and style folders."""
    files = pair_result_files(expand_image_paths([results]), expand_image_paths([content]),
                              expand_image_paths([style]), pairing)
    scorer = default_scorer(fid_network)
    log(f"scoring {len(files)} results ({pairing} pairing)")
    images = {p: load_image(p) for p in {f for triple in files for f in triple if f is not None}}
    outputs = [images[r] for r, _, _ in files]
    # styles at the scale a stylizer used them: long side = the result's (the Gram distance depends on it)
    styles = [None if s is None else resize_long_side(images[s], max(images[r].shape[:2])) for r, _, s in files]
    result = score_triples(outputs, [images[c] for _, c, _ in files], styles, scorer=scorer, batch_size=batch_size)
    for rec, (r, c, s) in zip(result["pairs"], files, strict=True):
        rec |= {"result": r.name, "content": c.name, "style": None if s is None else s.name}
    return result


def write_results_report(results: str | Path, content: str | Path, style: str | Path, *, json_path: Path,
                         table_path: Path, **kw: Any) -> str:
    """:func:`evaluate_results`, written as JSON and a one-row markdown table (returned)."""
    result = evaluate_results(results, content, style, **kw)
    write_text_atomic(json_path, json.dumps(result, indent=2) + "\n")
    keys = result["keys"]
    table = markdown_table(["results", *protocol_header(keys)], [protocol_table_row(str(results), result, keys)])
    table += "".join(f"- {n}\n" for n in result["notes"])
    write_text_atomic(table_path, table)
    return table


def protocol_table_row(name: str, record: dict[str, Any], keys: dict[str, str]) -> list[str]:
    """Cells ``mean ± std`` per pair metric and the set metrics, for :func:`protocol_table`."""
    cells = [name]
    for k in PAIR_KEYS:
        m = record.get("metrics", {}).get(keys[k])
        cells.append(f"{m['mean']:.4g} ± {m['std']:.2g}" if m else "n/a")
    fid = record.get("fid") or {}
    cells += [f"{fid[keys[k]]:.4g}" if keys[k] in fid else "n/a" for k in ("fid", "artfid")]
    return cells


def protocol_header(keys: dict[str, str]) -> list[str]:
    return [f"{keys[k]} ↓" for k in (*PAIR_KEYS, "fid", "artfid")]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
