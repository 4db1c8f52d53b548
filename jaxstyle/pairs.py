"""(content, style) pairs: pairing, shape buckets, and the pair axis laid out over devices.

Every stylizer, optimization-based or feed-forward, runs pairs the same way: pairs whose
inputs have equal shapes form a *bucket* (:mod:`jaxstyle.shapes` places images on a few
canonical canvases so that collections form few buckets), and a bucket's pair axis is split
over every device of every process with a ``NamedSharding`` (:class:`PairAxis`). Each process
feeds, and gets back, only its rows. Inside :func:`on_devices` the pair axes span only the
devices given (a collection run where each process stylizes its own share of the pairs).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from jaxstyle import sharding as shd
from jaxstyle.errors import InputError

# progress(done, losses): steps (optimization) or pairs (feed-forward) done, and the mean of
# each reported loss (empty for networks run once).
ProgressFn = Callable[[int, dict[str, float]], None]

PAIRINGS = ("product", "zip")


@dataclasses.dataclass
class Pair:
    """One (content, style) job; ``name`` is used for output files."""

    content: np.ndarray  # H,W,3 float32 [0,1] at the original size
    style: np.ndarray
    name: str = "pair"
    content_index: int = 0
    style_index: int = 0
    seed: int | None = None  # of its random start (noise); None: its index in the call


_DEVICES: contextvars.ContextVar[tuple[jax.Device, ...] | None] = contextvars.ContextVar("pair_devices",
                                                                                       default=None)


@contextlib.contextmanager
def on_devices(devices: Sequence[jax.Device]) -> Iterator[None]:
    """Pair axes made inside this context span ``devices`` only (default: every device of every
    process). A process of a multi-process collection run stylizes its own pairs on its own
    devices this way, with no collective across processes."""
    token = _DEVICES.set(tuple(devices))
    try:
        yield
    finally:
        _DEVICES.reset(token)


def pair_devices() -> list[jax.Device]:
    """The devices pair axes span here (see :func:`on_devices`)."""
    return list(_DEVICES.get() or jax.devices())


def make_pairs(
    contents: Sequence[np.ndarray],
    styles: Sequence[np.ndarray],
    mode: str = "product",
    content_names: Sequence[str] | None = None,
    style_names: Sequence[str] | None = None,
) -> list[Pair]:
    """All content x style combinations (``product``) or element-wise (``zip``, equal counts)."""
    content_names = list(content_names or [f"content{i}" for i in range(len(contents))])
    style_names = list(style_names or [f"style{i}" for i in range(len(styles))])
    if not len(contents) or not len(styles):
        raise InputError("need at least one content and one style image")
    if mode == "product":
        idx = [(i, j) for i in range(len(contents)) for j in range(len(styles))]
    elif mode == "zip":
        if len(contents) != len(styles):
            raise InputError(
                f"--pairs zip needs as many content as style images, got {len(contents)} and {len(styles)}"
            )
        idx = [(i, i) for i in range(len(contents))]
    else:
        raise InputError(f"unknown pairing {mode!r}; expected one of {', '.join(PAIRINGS)}")
    return [
        Pair(contents[i], styles[j], f"{content_names[i]}__{style_names[j]}", i, j) for i, j in idx
    ]


def buckets(keys: Sequence[Hashable]) -> list[list[int]]:
    """Indices grouped by equal key (e.g. image shapes), groups and members in first-seen order."""
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


class PairAxis:
    """The pair axis of one bucket of ``n_pairs`` pairs, split over every device of every process.

    The axis is padded to a multiple of the ``data`` axis size (and to at least ``min_pairs``)
    by repeating the last pair;
    process ``p`` feeds rows ``rows`` (pair indices ``local``) and gets back the results of
    the pairs it owns (:meth:`owned`), padding dropped.

    With ``spatial_shards`` N > 1 the mesh is 2-D, ``(data, space)`` with ``space`` of size N
    (:func:`jaxstyle.sharding.make_pair_space_mesh`): each pair's maps are split along their
    height over N devices (:attr:`layout`, a :class:`~jaxstyle.sharding.SpatialLayout`), which
    may belong to several processes; all of them feed that pair, and the one holding its
    first height shard owns it.
    """

    def __init__(self, n_pairs: int, mesh: Mesh | None = None, spatial_shards: int = 1, min_pairs: int = 1):
        if n_pairs <= 0:
            raise InputError("a bucket needs at least one pair")
        if mesh is None:
            devices = pair_devices()
            mesh = (shd.make_mesh(devices=devices) if spatial_shards == 1 else
                    shd.make_pair_space_mesh(spatial_shards, devices))
        self.mesh = mesh
        self.layout = shd.SpatialLayout(mesh) if shd.SPACE_AXIS in mesh.axis_names else None
        self.sharding = shd.data_sharded(self.mesh)  # rows on `data`, whole along `space`
        self.groups = dict(self.mesh.shape)[shd.DATA_AXIS]  # device groups splitting the pairs
        self.n_pairs = n_pairs
        # ``min_pairs``: a short last batch is padded up to the others' size, so it runs their program
        self.padded = -(-max(n_pairs, min_pairs) // self.groups) * self.groups
        self.order = list(range(n_pairs)) + [n_pairs - 1] * (self.padded - n_pairs)
        held = sorted({r for index in self.sharding.addressable_devices_indices_map((self.padded,)).values()
                       for r in range(*index[0].indices(self.padded))})
        self.rows = slice(held[0], held[-1] + 1)  # contiguous: mesh rows are consecutive devices
        self.local: list[int] = self.order[self.rows]

    def sharding_of(self, per_pair_shape: Sequence[int]) -> NamedSharding:
        """Where a leaf with this per-pair shape lives."""
        return self.sharding if self.layout is None else self.layout.sharding(per_pair_shape)

    def to_global(self, local: Any) -> Any:
        """Host arrays (or a pytree of them) with one row per ``local`` pair -> global arrays
        (maps also split along their height when spatially sharded)."""

        def leaf(a):
            a = np.asarray(a)
            shape = (self.padded, *a.shape[1:])
            return jax.make_array_from_callback(
                shape, self.sharding_of(shape[1:]),
                lambda index: a[(self._local_slice(index[0]), *index[1:])],
            )

        return jax.tree.map(leaf, local)

    def _local_slice(self, rows: slice) -> slice:
        start, stop, _ = rows.indices(self.padded)
        return slice(start - self.rows.start, stop - self.rows.start)

    def stack(self, per_pair: Sequence[Any]) -> Any:
        """``per_pair[i]`` for every pair -> global arrays of this process's rows."""
        rows = [per_pair[i] for i in self.local]
        return self.to_global(jax.tree.map(lambda *xs: np.stack(xs), *rows))

    def owned(self, x: jax.Array) -> list[np.ndarray | None]:
        """Host copies of the pairs this process owns (None for the others)."""
        if self.layout is not None:  # gather each pair's height shards (across processes too)
            x = _whole_rows(x, self.sharding)
            leaders = set(self.mesh.devices[:, 0].flat)  # first height shard of each row group
        else:
            leaders = set(self.mesh.devices.flat)
        out: list[np.ndarray | None] = [None] * self.n_pairs
        for shard in x.addressable_shards:
            if shard.device not in leaders:
                continue
            start = shard.index[0].start or 0
            data = np.asarray(shard.data)
            for k in range(data.shape[0]):
                row = start + k
                if row < self.n_pairs and self.order[row] == row:
                    out[row] = data[k]
        return out


@functools.partial(jax.jit, static_argnums=1)
def _whole_rows(x: jax.Array, sharding: NamedSharding) -> jax.Array:
    """``x`` resharded so each device holds whole pair rows (an all-gather over ``space``)."""
    return jax.lax.with_sharding_constraint(x, sharding)
