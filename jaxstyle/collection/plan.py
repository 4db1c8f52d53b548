"""What a collection job runs: its items, their shape buckets, and each process's batches.

An :class:`Item` is one output: a (content, style) pair, a content with all the styles mixed
(``style_weights``/``masks``), or a content alone (methods whose style is not an image). Items
are grouped by the program they run (:func:`bucket_key`: the content's canonical canvas, and
for feed-forward methods the styles' shapes); a bucket's items are dealt to the processes
round-robin (:func:`share`), so the split depends only on the item list and the process count,
and each process cuts its share of a bucket into batches of a fixed size (:func:`batches`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jaxstyle.collection.sources import ImageRef
from jaxstyle.errors import InputError
from jaxstyle.io import long_side_shape
from jaxstyle.shapes import canvas_shape

PAIRINGS = ("product", "zip")


@dataclasses.dataclass(frozen=True)
class Item:
    """One output of the job: content index, style indices (K for mixing, none for methods
    without style images), and its name (``content__style``, ``content__mix``, ``content``)."""

    name: str
    content: int
    styles: tuple[int, ...]

    @property
    def style_id(self) -> str | None:
        """The style part of the name (``starry_night``, ``mix``, ``masked``), None without styles."""
        return self.name.split("__", 1)[1] if "__" in self.name else None


def make_items(contents: Sequence[ImageRef], styles: Sequence[ImageRef], pairing: str = "product",
               mixing: str | None = None) -> list[Item]:
    """The job's items in output order: every content with every style (``product``), the i-th
    with the i-th (``zip``), one per content with all styles (``mixing`` = its name tag), or one
    per content when ``styles`` is empty (the method's style is not an image)."""
    if not styles:
        return [Item(c.name, i, ()) for i, c in enumerate(contents)]
    if mixing is not None:
        return [Item(f"{c.name}__{mixing}", i, tuple(range(len(styles)))) for i, c in enumerate(contents)]
    if pairing == "zip":
        if len(contents) != len(styles):
            raise InputError(f"--pairs zip needs as many content as style images, got {len(contents)} and "
                             f"{len(styles)}")
        return [Item(f"{c.name}__{s.name}", i, (i,)) for i, (c, s) in enumerate(zip(contents, styles, strict=True))]
    if pairing != "product":
        raise InputError(f"unknown pairing {pairing!r}; expected one of {', '.join(PAIRINGS)}")
    return [Item(f"{c.name}__{s.name}", i, (j,)) for i, c in enumerate(contents) for j, s in enumerate(styles)]


def bucket_key(item: Item, contents: Sequence[ImageRef], styles: Sequence[ImageRef], size: int | None,
               buckets: int | None, fit: str | None, with_styles: bool) -> tuple:
    """What decides an item's program: its content's canvas at ``size`` (its own shape without
    a fit), and with ``with_styles`` (feed-forward networks) its styles' shapes at ``size``."""
    hw = contents[item.content].hw if size is None else long_side_shape(contents[item.content].hw, size)
    canvas = canvas_shape(hw, buckets if fit else None, fit or "pad")
    if not with_styles:
        return (canvas,)
    return (canvas, *(styles[k].hw if size is None else long_side_shape(styles[k].hw, size) for k in item.styles))


def group(keys: Sequence[tuple]) -> list[list[int]]:
    """Item indices grouped by equal key; groups in first-seen order, members in item order."""
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def share(members: Sequence[int], process: int, processes: int) -> list[int]:
    """The members of one bucket that ``process`` of ``processes`` stylizes: every
    ``processes``-th, starting at its index (a split that depends only on the list)."""
    return list(members[process::processes])


def batches(members: Sequence[int], size: int) -> list[list[int]]:
    """``members`` cut into consecutive batches of ``size`` (the last may be shorter)."""
    return [list(members[i : i + size]) for i in range(0, len(members), size)]
