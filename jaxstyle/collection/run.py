"""Stylizing a collection: the items streamed through a stylizer in batches, results as they finish.

:class:`Collection` is the generator behind ``Stylizer.stylize_iter`` and ``jaxstyle stylize``:

- inputs are :class:`~jaxstyle.collection.sources.ImageRef` s: listed and their headers read
  up front (to plan buckets), decoded batch by batch on a bounded thread pool, a few batches
  ahead, and resized to ``size`` there; each style is decoded and resized once for the job.
  Never more than ``prefetch + 1`` batches of contents are held, and C contents x S styles
  never make C*S images: a batch holds its contents and references to the styles.
- items are bucketed by canonical canvas (:mod:`jaxstyle.shapes`, ``shape_buckets``), and
  every batch of a bucket has the same number of pairs (a short last batch is padded), so one
  compiled program serves the whole bucket.
- batch size: ``batch`` pairs per device, or by default the method's (feed-forward:
  ``batch_size``) or, for optimization, a few pairs checked against the device's memory: the
  compiled program's peak (XLA's memory analysis) against free device memory (GPU/TPU) or
  available RAM (CPU), with a margin; a bucket whose program does not fit runs smaller batches.
- processes: each process of a ``jax.distributed`` run stylizes every P-th item of each bucket
  on its own devices (no collective); a run whose ``spatial_shards`` span processes runs every
  batch on all of them together and each process yields the items it owns.

It yields :class:`Stylized` ``(content_id, style_id, image)`` as each batch finishes.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxstyle.collection.plan import Item, batches, bucket_key, group, make_items, share
from jaxstyle.collection.sources import ImageRef, image_refs
from jaxstyle.compiles import CompileCounter
from jaxstyle.errors import InputError
from jaxstyle.shapes import DEFAULT_BUCKETS, Batching

OPTIMIZATION_BATCH = {"cpu": 4}  # pairs per device per program by default; 32 on accelerators
ACCELERATOR_BATCH = 32
MEMORY_MARGIN = 0.6  # of the free device memory / available RAM a program may plan to use


@dataclasses.dataclass
class Stylized:
    """One finished output. Unpacks as ``content_id, style_id, image``.

    ``style_id``: the style's name, ``mix``/``masked`` for mixed styles, None for methods whose
    style is not an image; ``image``: (H, W, 3) float32 in [0, 1] (a tuple with side outputs
    for methods that make them); ``name``: ``content_id__style_id``; ``inputs``: the images a
    sheet shows left of it (content, styles) at the working size; ``keys``: the inputs' keys.
    """

    content_id: str
    style_id: str | None
    image: Any
    name: str
    inputs: tuple[np.ndarray, ...]
    keys: tuple[str, ...]

    def __iter__(self):
        return iter((self.content_id, self.style_id, self.image))


class Collection:
    """A collection job for ``stylizer`` (see the module docstring).

    Args:
      stylizer: any stylizer (:func:`jaxstyle.methods.load_stylizer`).
      contents, styles: specs, arrays or a source (:func:`~jaxstyle.collection.sources.image_refs`);
        ``styles`` None for methods whose style is not an image.
      pairs: ``product`` or ``zip``.
      shape_buckets: canonical canvases per size (None: exact shapes); ``fit``: pad or resize.
      batch: pairs per device per program (None: see the module docstring).
      process, processes: this process's index and the process count (default: jax's).
      prefetch: batches decoded ahead; ``threads``: decoding threads.
      hooks: the stylizer's hooks (``progress``, ``on_plan``; ``on_frame(step, names, images)``).
      **controls: the method's controls (``size``, ...), checked before any work.
    """

    def __init__(self, stylizer: Any, contents: Any, styles: Any = None, *, pairs: str = "product",
                 shape_buckets: int | None = DEFAULT_BUCKETS, fit: str = "pad", batch: int | None = None,
                 process: int | None = None, processes: int | None = None, prefetch: int = 2, threads: int = 4,
                 hooks: dict[str, Callable] | None = None, **controls: Any):
        self.stylizer = stylizer
        self.controls = {k: v for k, v in controls.items() if v is not None}
        self.hooks = dict(hooks or {})
        self.layout = Batching(shape_buckets, fit)  # checks both
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise InputError(f"--batch must be a positive integer, got {batch!r}")
        self.contents = image_refs(contents, "--content")
        spec = getattr(stylizer, "spec", None)
        if not stylizer.style_images:
            if styles is not None:
                raise InputError(f"--method {stylizer.method} takes no --style (its style is built in or learned)")
            self.styles: list[ImageRef] = []
        else:
            if styles is None:
                raise InputError("give style images (--style)")
            self.styles = image_refs(styles, "--style")
        mixing = [k for k in (spec.mixing if spec is not None else ()) if k in self.controls]
        tag = ("masked" if "masks" in mixing else "mix") if mixing else None
        stylizer.check_controls(self.controls, len(self.styles) if mixing else 1)
        self.items = make_items(self.contents, self.styles, pairs, tag)
        self.size = self.controls.get("size")
        self.fit = self.layout.fit_for(tuple(stylizer.fits))
        feed_forward = not getattr(stylizer, "engine_controls", False)
        keys = [bucket_key(item, self.contents, self.styles, self.size, shape_buckets, self.fit, feed_forward)
                for item in self.items]
        self.buckets = group(keys)
        self.prefetch, self.threads = max(0, prefetch), max(1, threads)
        self.batch = batch
        shards = int(getattr(getattr(stylizer, "settings", None), "spatial_shards", 1) or 1)
        self.processes = jax.process_count() if processes is None else processes
        self.process = jax.process_index() if process is None else process
        # Images split over processes' devices: every process runs every batch (one program).
        self.joint = self.processes > 1 and shards > jax.local_device_count()
        self.devices = jax.devices() if self.joint else jax.local_devices()
        if len(self.devices) % shards:  # before anything is written
            raise InputError(f"--spatial-shards {shards} must divide the device count {len(self.devices)}")
        self.shares = [members if self.joint else share(members, self.process, self.processes)
                       for members in self.buckets]
        self.skipped = 0
        self.compiles = CompileCounter()
        # With a folder here, each batch checkpoints into its own sub-folder (removed once the
        # batch's outputs are taken), so a killed run resumes inside its batch.
        self.checkpoint_dir: Path | None = None

    # ------------------------------------------------------------------ planning

    @property
    def names(self) -> list[str]:
        """Output names of this process's items (all of them in a joint run)."""
        return [self.items[i].name for members in self.shares for i in members]

    def per_device(self) -> int:
        """Pairs per device of each program: ``batch``, else the method's default."""
        if self.batch is not None:
            return self.batch
        if not getattr(self.stylizer, "engine_controls", False):
            return int(getattr(self.stylizer, "batch_size", 8))
        return OPTIMIZATION_BATCH.get(jax.default_backend(), ACCELERATOR_BATCH)

    def _batching(self, per_device: int) -> Batching:
        budget = None if self.batch is not None or per_device == 1 else memory_budget(self.devices)
        return Batching(self.layout.buckets, self.layout.fit, min_pairs=per_device * len(self.devices),
                        memory_budget=budget)

    # ------------------------------------------------------------------ running

    def __iter__(self) -> Iterator[Stylized]:
        return self.run()

    def run(self, skip: Container[str] = ()) -> Iterator[Stylized]:
        """Stylize every item of this process not in ``skip`` (output names); yields each
        :class:`Stylized` as its batch finishes. A batch whose items are all skipped is not
        run; one with some skipped runs whole (the same batch as an uninterrupted run, so the
        same results) and yields the others."""
        from jaxstyle.pairs import on_devices

        with ThreadPoolExecutor(self.threads) as pool, self.compiles:
            styles = [pool.submit(self._load, ref) for ref in self.styles]
            self.style_images = [f.result() for f in styles]  # each style once, for the whole job
            with on_devices(self.devices):
                for members in self.shares:
                    yield from self._run_bucket(members, skip, pool)

    def _run_bucket(self, members: list[int], skip: Container[str], pool: ThreadPoolExecutor) -> Iterator[Stylized]:
        from jaxstyle.optimize.engine import TooManyPairs

        per_device = self.per_device()
        todo = [b for b in batches(members, per_device * len(self.devices))
                if not all(self.items[i].name in skip for i in b)]
        self.skipped += sum(self.items[i].name in skip for i in members)
        loads: collections.deque[dict[int, Future]] = collections.deque()
        k = 0
        while k < len(todo):
            while len(loads) < min(self.prefetch + 1, len(todo) - k):  # decode ahead, bounded
                loads.append({c: pool.submit(self._load, self.contents[c])
                              for c in dict.fromkeys(self.items[i].content for i in todo[k + len(loads)])})
            batch = todo[k]
            contents = {c: f.result() for c, f in loads[0].items()}
            try:
                results = self._stylize(batch, contents, self._batching(per_device))
            except TooManyPairs as e:  # re-cut what is left of this bucket into batches that fit
                per_device = max(1, e.fits)
                rest = [i for b in todo[k:] for i in b]
                todo = todo[:k] + batches(rest, per_device * len(self.devices))
                loads.clear()
                continue
            loads.popleft()
            k += 1
            for i, image in zip(batch, results, strict=True):
                item = self.items[i]
                if image is not None and item.name not in skip:
                    yield self._stylized(item, image, contents[item.content])
            if self.checkpoint_dir is not None:  # its outputs are taken: resuming it is not needed
                shutil.rmtree(self._checkpoints(batch), ignore_errors=True)

    def _stylize(self, batch: list[int], contents: dict[int, np.ndarray], batching: Batching) -> list:
        items = [self.items[i] for i in batch]
        images = [contents[item.content] for item in items]
        if not self.styles:
            styles = None
        elif any(len(item.styles) != 1 for item in items):  # mixing: every style, per content
            styles = [tuple(self.style_images[k] for k in item.styles) for item in items]
        else:
            styles = [self.style_images[item.styles[0]] for item in items]
        hooks = {k: v for k, v in self.hooks.items() if k in self.stylizer.hooks and k != "on_frame"}
        if self.checkpoint_dir is not None:
            hooks["checkpoint_dir"] = str(self._checkpoints(batch))
        if "on_frame" in self.hooks and "on_frame" in self.stylizer.hooks:
            names = [item.name for item in items]
            on_frame = self.hooks["on_frame"]
            hooks["on_frame"] = lambda step, idx, frames: on_frame(step, [names[i] for i in idx], frames)
        return list(self.stylizer.stylize(images, styles, batching=batching, **self.controls, **hooks))

    def _checkpoints(self, batch: list[int]) -> Path:
        """The checkpoint folder of a batch, named by its outputs (the same in every re-run)."""
        names = "\n".join(self.items[i].name for i in batch)
        return self.checkpoint_dir / f"batch-{hashlib.sha256(names.encode()).hexdigest()[:16]}"

    def _stylized(self, item: Item, image: Any, content: np.ndarray) -> Stylized:
        content_id = self.contents[item.content].name
        styles = tuple(self.style_images[k] for k in item.styles)
        keys = (self.contents[item.content].key, *(self.styles[k].key for k in item.styles))
        return Stylized(content_id, item.style_id, image, item.name, (content, *styles), keys)

    def _load(self, ref: ImageRef) -> np.ndarray:
        """Decode one input and bring it to the working size (on a decoding thread)."""
        from jaxstyle.io import resize_long_side

        image = ref.load()
        return image if self.size is None else resize_long_side(image, self.size)


def memory_budget(devices: Sequence[jax.Device]) -> int | None:
    """Bytes one program may plan to hold per device: :data:`MEMORY_MARGIN` of the free memory
    of ``devices[0]`` (GPU/TPU ``memory_stats``), or of the available RAM shared by the CPU
    devices; None when unknown."""
    stats = None
    try:
        stats = devices[0].memory_stats()
    except Exception:  # CPU devices and some plugins have none
        stats = None
    if stats and "bytes_limit" in stats:
        return int(MEMORY_MARGIN * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    available = _available_ram()
    return None if available is None else int(MEMORY_MARGIN * available / max(1, len(devices)))


def _available_ram() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None

