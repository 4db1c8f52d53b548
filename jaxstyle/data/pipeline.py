"""Paired content/style grain pipelines for training, with exact resume and bad-data skipping.

Shape of the pipeline (one ``MapDataset`` per stream, joined by index so the whole thing
has ONE iterator state)::

    source (folder | TFDS ArrayRecord)            records {"image": bytes, "name": str}
      -> [process_index::process_count]           hosts read disjoint records
      -> shuffle(seed) -> repeat()                 endless, a fresh permutation per epoch
      -> decode (skip bad)                         uint8, bad records replaced, see below
      -> random_map(resize shorter side, crop,     per-record rng: (seed, index); only the
                    flip)                          crop window is resampled
    zip(content, style) by index
      -> to_iter_dataset(threads) -> batch(local_batch) -> mp_prefetch(workers)
      -> account for skipped files (main process: warnings, bad-fraction check)

Bad records (corrupt, truncated, zero-byte, non-image, or smaller than the crop with
``small_images="skip"``) are replaced by the next record of the same shuffled stream, so
the output is a pure function of the element index and resume stays exact. Each element
reports whether ITS record was skipped; the main process turns that into one
:class:`~jaxstyle.data.images.BadImageWarning` per file and stops with an
:class:`~jaxstyle.errors.InputError` once more than ``max_bad_fraction`` of the records
read (after a minimum sample) were unreadable.

No shuffle buffer: ``MapDataset.shuffle`` is a global, index-based permutation.
Resume needs the same config, ``global_batch``, seed, process count and ``workers``
(grain's multiprocess state is per worker).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import grain
import jax
import ml_collections
import numpy as np
from absl import flags
from grain import checkpoint as grain_checkpoint

from jaxstyle.data.images import (
    SmallImageError,
    crop_short_side,
    decode_for_crop,
    random_resized_crop,
    short_reason,
    warn_skipped,
)
from jaxstyle.data.sources import open_image_source
from jaxstyle.errors import InputError

STREAMS = ("content", "style")

# Judge the bad fraction only after this many records (or one whole shard, if smaller):
# at 3% true corruption, 1000 draws exceed a 5% limit with negligible probability.
_MIN_SAMPLE = 1000


def default_data_config() -> ml_collections.ConfigDict:
    """Defaults for every key :func:`build_paired_iterator` reads (the trainer embeds this)."""
    c = ml_collections.ConfigDict()
    # Sources: exactly one of *_dir / *_tfds per stream. "" means unset.
    c.content_dir = ""  # image folder, e.g. COCO train2014/ (flat JPEGs)
    c.style_dir = ""  # image folder, e.g. wikiart/ (folder per style) or any paintings
    c.content_tfds = ""  # prepared ArrayRecord TFDS name, e.g. "coco/2017"
    c.style_tfds = ""  # e.g. "wikiart" (jaxstyle data prepare wikiart ...)
    c.tfds_data_dir = ""  # "" = TFDS default ($TFDS_DATA_DIR or ~/tensorflow_datasets)
    c.tfds_image_key = "image"
    c.split = "train"
    c.content_split = ""  # "" = use `split`
    c.style_split = ""
    # Per-image processing.
    c.load_size = 512  # shorter side after resize (0 = keep decoded size)
    c.crop_size = 256
    c.flip = True
    c.small_images = "upscale"  # or "skip": images whose shorter side < crop_size
    c.max_bad_fraction = 0.05
    # Parallelism: grain mp_prefetch worker processes (0 = in-process) and reader threads
    # per process (each worker has its own); prefetch_buffer_size is elements buffered by
    # those threads. One core decodes ~100-150 images/s at 640x480 -> 512 -> 256, so an
    # accelerator at 50 AdaIN steps/s (1600 images/s) wants ~12-16 workers
    # (benchmarks/results/data.md). Resuming needs the same `workers`.
    c.workers = 0
    c.read_threads = 8
    c.prefetch_buffer_size = 128
    return c


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """Validated view of a data config (any object with the attributes of the defaults)."""

    content_dir: str
    style_dir: str
    content_tfds: str
    style_tfds: str
    tfds_data_dir: str
    tfds_image_key: str
    split: str
    content_split: str
    style_split: str
    load_size: int
    crop_size: int
    flip: bool
    small_images: str
    max_bad_fraction: float
    workers: int
    read_threads: int
    prefetch_buffer_size: int

    @classmethod
    def from_config(cls, cfg: Any) -> DataSettings:
        defaults = default_data_config()
        values = {f.name: getattr(cfg, f.name, defaults[f.name]) for f in dataclasses.fields(cls)}
        values = {
            k: ("" if v is None and isinstance(defaults[k], str) else v) for k, v in values.items()
        }
        s = cls(**values)
        if s.crop_size <= 0:
            raise InputError(f"data.crop_size must be positive, got {s.crop_size}")
        if 0 < s.load_size < s.crop_size:
            raise InputError(
                f"data.load_size={s.load_size} is smaller than crop_size={s.crop_size}"
            )
        if s.small_images not in ("upscale", "skip"):
            raise InputError(
                f"data.small_images must be 'upscale' or 'skip', got {s.small_images!r}"
            )
        if not 0.0 <= s.max_bad_fraction <= 1.0:
            raise InputError(f"data.max_bad_fraction must be in [0, 1], got {s.max_bad_fraction}")
        if s.workers < 0 or s.read_threads < 1:
            raise InputError(
                f"data.workers must be >= 0 and read_threads >= 1, got {s.workers}, {s.read_threads}"
            )
        return s

    def source_args(self, stream: str) -> dict[str, Any]:
        """Arguments of :func:`open_image_source` for ``"content"`` or ``"style"``."""
        return dict(
            folder=getattr(self, f"{stream}_dir"),
            tfds_name=getattr(self, f"{stream}_tfds"),
            split=getattr(self, f"{stream}_split") or self.split,
            data_dir=self.tfds_data_dir or None,
            image_key=self.tfds_image_key,
            what=f"data.{stream}",
        )


def ensure_absl_flags_parsed() -> None:
    """Mark absl flags as parsed; grain's worker processes refuse to start otherwise.

    Programs that use ``absl.app.run`` already parse them; plain scripts, the jaxstyle CLI
    and notebooks do not, so the pipeline calls this for them.
    """
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _process_index_and_count() -> tuple[int, int]:
    return jax.process_index(), jax.process_count()


def _stream_seeds(seed: int) -> dict[str, tuple[int, int]]:
    """Independent (shuffle, crop) seeds per stream, derived from one config seed."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        s: tuple(int(x) for x in c.generate_state(2))
        for s, c in zip(STREAMS, children, strict=True)
    }


class _DecodeOrSkipDataset(grain.MapDataset):
    """Decode each record; replace bad ones by the next record of the same stream.

    Element: ``{"image": uint8 (H, W, 3), "skip": None | (kind, name, reason)}`` where
    ``skip`` describes this index's own record if it was skipped (kind "bad" or "small").
    Only the own record is reported, so every bad record is counted once per epoch.
    """

    def __init__(
        self,
        parent: grain.MapDataset,
        *,
        load_size: int,
        crop_size: int,
        small_images: str,
        max_tries: int,
        description: str,
    ):
        super().__init__(parent)
        self._load = dict(load_size=load_size, crop_size=crop_size, small_images=small_images)
        self._max_tries = max_tries
        self._description = description

    def __len__(self) -> int:
        return len(self._parent)

    def __str__(self) -> str:
        return f"DecodeOrSkip({self._description})"

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        skip = None
        for k in range(self._max_tries):
            record = self._parent[index + k]
            name = record["name"]
            try:
                if record.get("error"):
                    raise ValueError(record["error"])
                image = decode_for_crop(record["image"], name, **self._load)
                return {"image": image, "skip": skip}
            except SmallImageError as e:
                kind, exc = "small", e
            except Exception as e:  # any failure to decode is a property of the file
                kind, exc = "bad", e
            if k == 0:
                skip = (kind, name, short_reason(exc, name))
        raise InputError(
            f"{self._description}: no usable image in {self._max_tries} consecutive records "
            f"(last: {name}: {short_reason(exc, name)})"
        )


class _RandomResizedCrop(grain.transforms.RandomMap):
    """Resize the shorter side, random square crop (and flip) of a decoded element, at uint8."""

    def __init__(self, load_size: int, crop_size: int, flip: bool):
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip

    def random_map(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        image = element["image"]
        short = crop_short_side(
            min(image.shape[:2]), load_size=self.load_size, crop_size=self.crop_size
        )
        crop = random_resized_crop(image, short, self.crop_size, self.flip, rng)
        return {"image": crop, "skip": element["skip"]}


class _ZipByIndexDataset(grain.MapDataset):
    """``{"content": c[i], "style": s[i]}``: endless streams (by name) as one dataset."""

    def __init__(self, streams: dict[str, grain.MapDataset]):
        super().__init__(list(streams.values()))
        self.names = tuple(streams)

    def __len__(self) -> int:
        return min(len(p) for p in self.parents)

    def __str__(self) -> str:
        return f"ZipByIndex({', '.join(self.names)})"

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        elements = dict(zip(self.names, (p[index] for p in self.parents), strict=True))
        skips = [(s, *e["skip"]) for s, e in elements.items() if e["skip"]]
        return {**{s: e["image"] for s, e in elements.items()}, "skips": skips}


def _collate(elements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack crops into float32 [0, 1] batches; keep the skip reports as a flat list."""
    batch: dict[str, Any] = {}
    for s in (s for s in STREAMS if s in elements[0]):
        x = np.stack([e[s] for e in elements]).astype(np.float32)
        x /= 255.0  # division, not a multiply by 1/255, so 255 maps to exactly 1.0
        batch[s] = x
    batch["skips"] = [skip for e in elements for skip in e["skips"]]
    batch["count"] = len(elements)
    return batch


@dataclasses.dataclass
class StreamCounts:
    """Records read by one stream of this process and how many were skipped."""

    description: str
    shard_size: int
    read: int = 0
    bad: int = 0
    small: int = 0
    first_bad: str = ""


class SkipAccounting(grain.transforms.Map):
    """Runs in the main process: warns per skipped file and enforces max_bad_fraction.

    Also exposed on the iterator as ``it.data_counts`` (``{"content": StreamCounts, ...}``).
    Counts start from zero in every new iterator (they are not part of the grain state).
    """

    def __init__(self, counts: dict[str, StreamCounts], max_bad_fraction: float):
        self.counts, self.max_bad_fraction = counts, max_bad_fraction

    def map(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        for c in self.counts.values():
            c.read += batch["count"]
        for stream, kind, name, reason in batch["skips"]:
            c = self.counts[stream]
            if kind == "small":
                c.small += 1
                warn_skipped(name, f"smaller than the crop ({reason})")
                continue
            c.bad += 1
            c.first_bad = c.first_bad or f"{name}: {reason}"
            warn_skipped(name, reason)
        for c in self.counts.values():
            if c.read >= min(c.shard_size, _MIN_SAMPLE) and c.bad > self.max_bad_fraction * c.read:
                raise InputError(
                    f"{c.description}: {c.bad} of {c.read} records read were unreadable "
                    f"({c.bad / c.read:.1%} > max_bad_fraction {self.max_bad_fraction:.1%}); "
                    f"first: {c.first_bad}"
                )
        return {s: batch[s] for s in self.counts}


def _stream_dataset(
    settings: DataSettings, stream: str, shuffle_seed: int, crop_seed: int
) -> tuple[grain.MapDataset, StreamCounts]:
    source = open_image_source(**settings.source_args(stream))
    index, count = _process_index_and_count()
    ds = grain.MapDataset.source(source)[index::count]  # disjoint records per host
    shard_size = len(ds)
    if shard_size == 0:
        raise InputError(f"data.{stream}: {source} has fewer records than the {count} processes")
    description = f"data.{stream}: {source.describe()}"
    if count > 1:
        description += f", process {index} of {count}"
    ds = ds.shuffle(seed=shuffle_seed).repeat()
    ds = _DecodeOrSkipDataset(
        ds,
        load_size=settings.load_size,
        crop_size=settings.crop_size,
        small_images=settings.small_images,
        max_tries=min(max(2 * shard_size, 16), _MIN_SAMPLE),
        description=description,
    )
    crop = _RandomResizedCrop(settings.load_size, settings.crop_size, settings.flip)
    ds = ds.random_map(crop, seed=crop_seed)
    return ds, StreamCounts(description=description, shard_size=shard_size)


def build_paired_dataset(
    data_cfg: Any, global_batch: int, seed: int, streams: Sequence[str] = STREAMS
) -> tuple[grain.IterDataset, dict[str, StreamCounts]]:
    """The endless paired pipeline as a grain ``IterDataset`` plus its skip counters.

    Args:
      data_cfg: a :func:`default_data_config`-like object (ConfigDict or any attributes).
      global_batch: examples per step over all processes; each process yields
        ``global_batch // jax.process_count()``.
      seed: the run's seed; content and style derive independent seeds from it.
      streams: the streams to read; ``("content",)`` for methods trained on one fixed style
        image (Johnson et al.), which need no style source.

    Returns:
      ``(dataset, counts)``; iterating the dataset yields ``{"content", "style"}`` (the
      ``streams``) float32 arrays of shape (local_batch, crop, crop, 3) in [0, 1].
    """
    settings = DataSettings.from_config(data_cfg)
    _, count = _process_index_and_count()
    if global_batch <= 0 or global_batch % count:
        raise InputError(
            f"global batch {global_batch} is not a positive multiple of {count} processes"
        )
    ensure_absl_flags_parsed()
    seeds = _stream_seeds(seed)
    unknown = set(streams) - set(STREAMS)
    if unknown or not streams:
        raise ValueError(f"streams must be a non-empty subset of {STREAMS}, got {streams}")
    datasets, counts = {}, {}
    for s in (s for s in STREAMS if s in streams):
        datasets[s], counts[s] = _stream_dataset(settings, s, *seeds[s])
    ds = _ZipByIndexDataset(datasets)
    ds = ds.to_iter_dataset(
        grain.ReadOptions(
            num_threads=settings.read_threads, prefetch_buffer_size=settings.prefetch_buffer_size
        )
    )
    ds = ds.batch(global_batch // count, drop_remainder=True, batch_fn=_collate)
    if settings.workers > 0:
        ds = ds.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=settings.workers, per_worker_buffer_size=2)
        )
    ds = ds.map(SkipAccounting(counts, settings.max_bad_fraction))
    return ds, counts


def build_paired_iterator(
    data_cfg: Any, global_batch: int, seed: int, streams: Sequence[str] = STREAMS
) -> grain.DatasetIterator:
    """Endless iterator of this process's paired batches (see :func:`build_paired_dataset`).

    The result is a grain ``DatasetIterator``: ``get_state()``/``set_state()`` resume it
    exactly, :func:`iterator_checkpoint_args` saves it with Orbax, ``close()`` stops worker
    processes, and ``it.data_counts`` holds the skip counters of this process.

    With ``workers > 0`` grain starts worker processes by ``spawn``: a script that builds
    the iterator at import time must do so under ``if __name__ == "__main__":``.
    """
    ds, counts = build_paired_dataset(data_cfg, global_batch, seed, streams)
    it = iter(ds)
    it.data_counts = counts
    return it


def to_global_batch(batch: Any, sharding: Any) -> Any:
    """Assemble per-process batches into global ``jax.Array`` s (one per leaf).

    Args:
      batch: pytree of this process's arrays, leading axis = local batch.
      sharding: e.g. ``NamedSharding(mesh, P("data"))`` over all processes' devices.
    """
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def iterator_checkpoint_args(it: grain.DatasetIterator, *, restore: bool = False) -> Any:
    """Orbax args that save (or, with ``restore=True``, restore into) a grain iterator.

    Use as one item of an ``ocp.args.Composite`` next to the params, e.g.
    ``mngr.save(step, args=ocp.args.Composite(state=..., data=iterator_checkpoint_args(it)))``
    and ``mngr.restore(step, args=ocp.args.Composite(..., data=iterator_checkpoint_args(it,
    restore=True)))``. Each process writes its own ``process_<i>-of-<n>.json``.
    """
    cls = grain_checkpoint.CheckpointRestore if restore else grain_checkpoint.CheckpointSave
    return cls(it)
