"""(content, style) pairs: pairing, shape buckets, and the pair axis laid out over devices.

Every stylizer, optimization-based or feed-forward, runs pairs the same way: pairs whose
inputs have equal shapes form a *bucket* (aspect ratios are never changed to make shapes
match), and a bucket's pair axis is split over every device of every process with a
``NamedSharding`` (:class:`PairAxis`). Each process feeds, and gets back, only its rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from jaxstyle import sharding as shd
from jaxstyle.errors import InputError

PAIRINGS = ("product", "zip")


@dataclasses.dataclass
class Pair:
    """One (content, style) job; ``name`` is used for output files."""

    content: np.ndarray  # H,W,3 float32 [0,1] at the original size
    style: np.ndarray
    name: str = "pair"
    content_index: int = 0
    style_index: int = 0


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

    The axis is padded to a multiple of the device count by repeating the last pair; process
    ``p`` feeds rows ``rows`` (pair indices ``local``) and gets back the results of the pairs
    it owns (:meth:`owned`), padding dropped.
    """

    def __init__(self, n_pairs: int, mesh: Mesh | None = None):
        if n_pairs <= 0:
            raise InputError("a bucket needs at least one pair")
        self.mesh = mesh or shd.make_mesh()
        self.sharding = shd.data_sharded(self.mesh)
        n_dev = self.mesh.devices.size
        self.n_pairs = n_pairs
        self.padded = -(-n_pairs // n_dev) * n_dev
        self.order = list(range(n_pairs)) + [n_pairs - 1] * (self.padded - n_pairs)
        per = self.padded // jax.process_count()
        self.rows = slice(jax.process_index() * per, (jax.process_index() + 1) * per)
        self.local: list[int] = self.order[self.rows]

    def to_global(self, local: Any) -> Any:
        """Host arrays (or a pytree of them) with one row per ``local`` pair -> global arrays."""
        return jax.tree.map(
            lambda a: jax.make_array_from_process_local_data(
                self.sharding, np.asarray(a), (self.padded, *np.shape(a)[1:])
            ),
            local,
        )

    def stack(self, per_pair: Sequence[Any]) -> Any:
        """``per_pair[i]`` for every pair -> global arrays of this process's rows."""
        rows = [per_pair[i] for i in self.local]
        return self.to_global(jax.tree.map(lambda *xs: np.stack(xs), *rows))

    def owned(self, x: jax.Array) -> list[np.ndarray | None]:
        """Host copies of the pairs whose rows live on this process (None for the others)."""
        out: list[np.ndarray | None] = [None] * self.n_pairs
        for shard in x.addressable_shards:
            start = shard.index[0].start or 0
            data = np.asarray(shard.data)
            for k in range(data.shape[0]):
                row = start + k
                if row < self.n_pairs and self.order[row] == row:
                    out[row] = data[k]
        return out
