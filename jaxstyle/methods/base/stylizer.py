"""The one stylizer call every method provides: ``stylize(contents, styles, **controls)``.

A *stylizer* is what :func:`jaxstyle.methods.load_stylizer` returns for any method,
optimization-based or feed-forward::

    stylizer = load_stylizer("adain", "runs/adain")
    outs = stylizer.stylize(contents, styles, alpha=0.8, size=512, preserve_color="histogram")

- ``contents``: N images ``(H_i, W_i, 3)`` float32 in [0, 1] (a list, or one ``(N, H, W, 3)``
  array); ``styles``: one entry per content (or one entry for all), each an image
  ``(h, w, 3)`` — or, for methods that mix styles (``style_weights``/``masks``), a sequence of
  K images. A 4-D ``(N or 1, h, w, 3)`` array is N entries.
- Returns the N results ``(H_i, W_i, 3)`` in [0, 1] in pair order: a list (``None`` for pairs
  owned by other processes of a multi-host run), or one array when ``contents`` was an array.
  Controls that ask for side outputs (Multimodal's ``all_scales``) make each result a tuple
  ``(final, *side_outputs)``.

Pairs whose inputs have equal shapes run as one batch with the pair axis sharded over every
device (:mod:`jaxstyle.pairs`); ``batching`` (:class:`jaxstyle.shapes.Batching`, a keyword
of ``stylize``, not a control) places contents on a few canonical canvases so many shapes
share a few compiled programs, for stylizers that declare the ``fits`` they support. Each
stylizer declares the ``controls`` it honours; anything else is refused with a one-line
:class:`~jaxstyle.errors.InputError`, never ignored. Two controls every method gets from this
base: ``size`` (resize so the long side is ``size``; styles too) and ``preserve_color``
(:mod:`jaxstyle.color` modes, done around the method).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxstyle import color
from jaxstyle.errors import InputError
from jaxstyle.io import resize, resize_long_side
from jaxstyle.methods.base.declaration import PRESERVE_COLOR, SIZE, Method
from jaxstyle.options import Option, check_values
from jaxstyle.pairs import PairAxis, ProgressFn, buckets, pair_devices
from jaxstyle.shapes import AS_GIVEN, Batching, Placement, placement

GENERIC_CONTROLS = ("size", "preserve_color")
# Controls only the optimization engine implements (declared by optimization methods).
ENGINE_CONTROLS = ("save_every", "checkpoint_dir", "checkpoint_every", "tile", "tile_overlap")



def as_images(x: Any, what: str) -> list[np.ndarray]:
    """An ``(N, H, W, 3)`` array or a sequence of ``(H, W, 3)`` images -> list of float32 images."""
    if isinstance(x, np.ndarray | jax.Array) and np.ndim(x) == 4:
        x = list(np.asarray(x))
    images = [np.asarray(img, np.float32) for img in (x if isinstance(x, list | tuple) else [x])]
    for i, img in enumerate(images):
        if img.ndim != 3 or img.shape[-1] != 3:
            raise InputError(f"{what} {i} must be (H, W, 3), got shape {img.shape}")
    return images


def stack_if_array(contents: Any, results: list) -> Any:
    """Results as one ``(N, H, W, 3)`` array when the contents came as one (and all are here)."""
    as_array = isinstance(contents, np.ndarray | jax.Array) and np.ndim(contents) == 4
    stackable = all(r is not None and not isinstance(r, tuple) for r in results)
    return np.stack(results) if as_array and stackable else results


def style_sets(styles: Any, n: int, mixing: bool) -> list[tuple[np.ndarray, ...]]:
    """One tuple of style images per pair (length 1 unless ``mixing``)."""
    if isinstance(styles, np.ndarray | jax.Array) and np.ndim(styles) == 4:
        styles = list(np.asarray(styles))
    entries = list(styles) if isinstance(styles, list | tuple) else [styles]
    if mixing:
        sets = [tuple(as_images(e, "style")) for e in entries]
    else:
        sets = [(img,) for img in as_images(entries, "style")]
    if len(sets) == 1:
        sets = sets * n
    if len(sets) != n:
        raise InputError(f"need one style entry per content (or one for all): got {len(sets)} for {n}")
    if len({len(s) for s in sets}) != 1:
        raise InputError("every pair must mix the same number of styles")
    return sets


class Stylizer:
    """Base class. Subclasses set ``spec`` (their method's declaration) and implement :meth:`_run`.

    The controls a stylizer honours are its declaration's (:attr:`spec`), less those only the
    optimization engine implements (:data:`ENGINE_CONTROLS`) unless it is one; the registry
    sets ``spec`` on what it loads, so one class can serve several registrations.
    """

    spec: Method | None = None
    hooks: tuple[str, ...] = ()  # callbacks it calls (progress, frames...): no effect on results
    engine_controls: bool = False  # whether it runs the optimization engine (frames, checkpoints, tiles)
    restorable: bool = False
    side_outputs: tuple[str, ...] = ()  # file-name tags of the extra images a tuple result carries
    # How contents may take a canonical canvas (jaxstyle.shapes): () keeps exact shapes.
    fits: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return self.spec.name if self.spec is not None else type(self).__name__

    @property
    def declared_controls(self) -> tuple[Option, ...]:
        """The declarations of the controls this stylizer honours."""
        declared = self.spec.controls if self.spec is not None else (SIZE, PRESERVE_COLOR)
        return tuple(o for o in declared if self.engine_controls or o.name not in ENGINE_CONTROLS)

    @property
    def controls(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.declared_controls)

    @property
    def style_images(self) -> bool:
        return self.spec is None or self.spec.style_images

    def check_controls(self, controls: dict[str, Any], n_styles: int = 1) -> None:
        """Refuse, in one line, a control this method does not honour or a bad value.

        Run before any work (the CLI calls it before writing anything); ``n_styles`` is K
        when styles are mixed. Values are checked against the declarations, then by
        :meth:`validate` for what a declaration cannot say.
        """
        hooks = {k: v for k, v in controls.items() if k in self.hooks}
        for name, value in hooks.items():
            if not callable(value):
                raise InputError(f"{name} must be a callable, got {type(value).__name__}")
        values = {k: v for k, v in controls.items() if k not in hooks and k != "batching"}
        check_values(values, self.declared_controls, f"--method {self.method}")
        if "masks" in controls and len(controls["masks"]) != n_styles:
            raise InputError(f"--mask needs one mask per style: got {len(controls['masks'])} for {n_styles} styles")
        self.validate(values, n_styles)

    def validate(self, controls: dict[str, Any], n_styles: int) -> None:
        """Method-specific value checks of ``controls`` (one-line InputErrors)."""

    def stylize(self, contents: Any, styles: Any, *, batching: Batching = AS_GIVEN, **controls: Any) -> Any:
        """See the module docstring. Controls left at ``None`` mean the method's default."""
        controls = {k: v for k, v in controls.items() if v is not None}
        if self.fits and batching != AS_GIVEN:
            controls["batching"] = batching
        images = as_images(contents, "content")
        sets = self._style_sets(styles, len(images), controls)
        self.check_controls(controls, len(sets[0]))
        size = controls.pop("size", None)
        mode = controls.pop("preserve_color", "none")
        if size is not None:
            images = [resize_long_side(c, size) for c in images]
            sets = [tuple(resize_long_side(s, size) for s in ss) for ss in sets]
        seen, shown = images, sets
        if mode != "none":
            seen = [color.prepare_pair(c, c, mode)[0] for c in images]
            shown = [tuple(color.prepare_pair(c, s, mode)[1] for s in ss) for c, ss in zip(images, sets, strict=True)]
        results = self._run(seen, shown, **controls)
        results = [None if r is None else _finish_result(r, c, mode) for r, c in zip(results, images, strict=True)]
        return stack_if_array(contents, results)

    def stylize_iter(self, contents: Any, styles: Any = None, *, pairs: str = "product", shape_buckets: int | None = 4,
                     fit: str = "pad", batch: int | None = None, **controls: Any):
        """Stylize a collection, yielding ``(content_id, style_id, image)`` as each batch finishes.

        ``contents``/``styles``: folders, globs, ``@list.txt``, ``tfds:NAME``, arrays or a
        random-access source (:func:`jaxstyle.collection.sources.image_refs`), streamed: never all
        loaded. ``pairs``: every content with every style, or ``zip``; ``shape_buckets``/``fit``:
        canonical canvases (:mod:`jaxstyle.shapes`, None: exact shapes); ``batch``: pairs per
        device per program. Each yielded :class:`~jaxstyle.collection.run.Stylized` also carries
        its ``name`` and ``inputs``. In a multi-process run each process yields its own share.
        """
        from jaxstyle.collection.run import Collection

        return iter(Collection(self, contents, styles, pairs=pairs, shape_buckets=shape_buckets, fit=fit,
                               batch=batch, **controls))

    def _style_sets(self, styles: Any, n: int, controls: dict[str, Any]) -> list[tuple[np.ndarray, ...]]:
        """Per pair the tuple of style images (empty for methods whose style is a control)."""
        if not self.style_images:
            if styles is not None:
                raise InputError(f"--method {self.method} takes no style images (its styles are built in)")
            return [()] * n
        mixing = self.spec.mixing if self.spec is not None else ()
        return style_sets(styles, n, any(k in controls for k in mixing))

    def _run(self, contents: list[np.ndarray], styles: list[tuple[np.ndarray, ...]], **controls: Any) -> list:
        """Results for prepared pairs (``styles[i]`` a tuple of K images); None where not owned."""
        raise NotImplementedError

    def output_files(self, name: str, inputs: Sequence[np.ndarray], result: Any, controls: Mapping[str, Any],
                     sheet_height: int | None = None) -> list[tuple[str, np.ndarray]]:
        """The files one result is written as: ``(file stem, image)``, the main result first.

        The one hook for method-specific outputs (CIN's contact sheet overrides it). ``name``:
        the pair's name (``content__style``; the content's name for methods whose style is not
        an image); ``inputs``: the images shown left of the result on its sheet; ``controls``:
        those of the call. Default: the result (``NAME``, or ``NAME__<method>`` without style
        images), the extra images of a tuple result (``NAME_<tag>``: :attr:`side_outputs`, or
        their long side), and with ``sheet_height`` the sheet inputs | result (``NAME_sheet``).
        """
        from jaxstyle.io import make_grid

        stem = name if self.style_images else f"{name}__{self.method}"
        final, *side = result if isinstance(result, tuple) else (result,)
        tags = [self.side_outputs[k] if k < len(self.side_outputs) else max(img.shape[:2])
                for k, img in enumerate(side)]
        files = [(stem, final), *((f"{stem}_{tag}", img) for tag, img in zip(tags, side, strict=True))]
        if sheet_height:
            files.append((f"{stem}_sheet", make_grid([*inputs, final], height=sheet_height)))
        return files

    def transfer(self, contents: Any, styles: Any) -> np.ndarray:
        """``T(c, s)`` on equal-shape batches ``(N, H, W, 3)`` with default controls (evaluation)."""
        return np.stack(self.stylize(as_images(contents, "content"), styles))

    def restore(self, stylized: Any, references: Any, **controls: Any) -> Any:
        """The content of ``stylized`` restored towards ``references`` (restorable methods only)."""
        if not self.restorable:
            raise InputError(f"method {self.method!r} cannot restore content from a stylized image")
        return self.stylize(stylized, references, **controls)


class FeedForwardStylizer(Stylizer):
    """A network run once per batch. Subclasses implement :meth:`apply` (jitted inside).

    ``batch_size`` caps the pairs per device per call (memory); buckets larger than
    ``batch_size x devices`` run in several calls.
    """

    batch_size: int = 8
    hooks = ("progress",)
    fits = ("pad", "resize")

    def per_pair(self, controls: dict[str, Any], n: int) -> tuple[dict[str, list[np.ndarray]], dict[str, Any]]:
        """Split controls into per-pair arrays (batched with the pairs, passed to :meth:`apply`
        as ``(P, ...)`` arrays) and the controls that hold for every pair. Default: none per pair."""
        return {}, controls

    def apply(self, contents: jax.Array, styles: tuple[jax.Array, ...], masks: jax.Array | None,
              **controls: Any) -> jax.Array:
        """``(P, H, W, 3)`` contents, K ``(P, h, w, 3)`` styles, masks ``(P, K, H, W)`` -> ``(P, H, W, 3)``."""
        raise NotImplementedError

    def forward_program(self, contents: jax.ShapeDtypeStruct, styles: Sequence[jax.ShapeDtypeStruct] = (),
                        **controls: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The network this stylizer runs, as one jitted program with its weights as arguments.

        Returns ``(jitted, args)``: ``jitted(state, contents, styles, pair_inputs)`` computes
        :meth:`apply` for a ``(P, H, W, 3)`` batch and ``args`` are abstract
        (:class:`jax.ShapeDtypeStruct`) values of those arguments: ``state``, every attribute
        of this stylizer that is a pytree of arrays (weights, encoders), ``contents``,
        ``styles`` (K ``(P, h, w, 3)`` entries; none for methods without style images) and the
        per-pair inputs :meth:`per_pair` derives from ``controls``. Nothing is computed, so
        ``jax.export.export(jitted, platforms=("cuda", "tpu"))(*args)`` serializes the
        forward pass for other backends (tests/test_export.py) or for serving. Generic for
        every :class:`FeedForwardStylizer` whose :meth:`apply` reads its weights from ``self``.
        """
        n = contents.shape[0]
        state = {k: v for k, v in vars(self).items() if _is_array_tree(v)}
        pair_inputs, fixed = self.per_pair(dict(controls), n)
        stacked = {k: np.stack([np.asarray(x) for x in v]) for k, v in pair_inputs.items()}

        def program(state, contents, styles, pair_inputs):
            clone = copy.copy(self)
            clone.__dict__.update(state)  # the traced weights instead of the concrete ones
            return clone.apply(contents, tuple(styles), None, **pair_inputs, **fixed)

        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), (state, stacked))
        return jax.jit(program), (abstract[0], contents, tuple(styles), abstract[1])

    def _run(self, contents, styles, *, masks: Any = None, progress: ProgressFn | None = None,
             batching: Batching = AS_GIVEN, **controls: Any) -> list:
        per_pair_masks = None
        if masks is not None:
            per_pair_masks = _masks_per_pair(masks, contents)
        wheres = _placements(contents, batching, self.fits)
        contents = [w.place(c) for w, c in zip(wheres, contents, strict=True)]
        if per_pair_masks is not None:  # (K, H, W) -> on the content's canvas
            per_pair_masks = [np.moveaxis(w.place(np.moveaxis(m, 0, -1)), -1, 0)
                              for w, m in zip(wheres, per_pair_masks, strict=True)]
        pair_inputs, controls = self.per_pair(controls, len(contents))
        keys = [(c.shape, tuple(s.shape for s in ss)) for c, ss in zip(contents, styles, strict=True)]
        results: list[np.ndarray | None] = [None] * len(contents)
        per_call = max(self.batch_size * len(pair_devices()), batching.min_pairs)
        done = 0
        for members in buckets(keys):
            for start in range(0, len(members), per_call):
                chunk = members[start : start + per_call]
                axis = PairAxis(len(chunk), min_pairs=batching.min_pairs)
                c = axis.stack([contents[i] for i in chunk])
                s = tuple(axis.stack([styles[i][k] for i in chunk]) for k in range(len(styles[0])))
                m = None if per_pair_masks is None else axis.stack([per_pair_masks[i] for i in chunk])
                extra = {k: axis.stack([v[i] for i in chunk]) for k, v in pair_inputs.items()}
                out = self.apply(c, s, m, **extra, **controls)
                for k, img in enumerate(_owned_outputs(axis, out)):
                    results[chunk[k]] = _unplace(wheres[chunk[k]], img)
                done += len(chunk)
                if progress is not None:
                    progress(done, {})
        return results


def _placements(contents: list[np.ndarray], batching: Batching, fits: tuple[str, ...]) -> list[Placement]:
    """Each content's canvas under ``batching`` (its own shape without batching or fits)."""
    fit = batching.fit_for(fits)
    if fit is None or batching.buckets is None:
        return [Placement(c.shape[:2], c.shape[:2]) for c in contents]
    return [placement(c.shape[:2], batching.buckets, fit) for c in contents]


def _unplace(where: Placement, result: Any) -> Any:
    """A result (or each output of a tuple, at its own scale of the canvas) back at its content's shape."""
    if result is None or where.identity:
        return result
    if not isinstance(result, tuple):
        return where.unplace(result)
    out = []
    for img in result:  # a side output k times the canvas: the valid corner k times the content
        scale = img.shape[0] / where.canvas[0]
        valid = (max(1, round(where.valid[0] * scale)), max(1, round(where.valid[1] * scale)))
        out.append(Placement(valid, img.shape[:2], where.fit).unplace(img))
    return tuple(out)


def _is_array_tree(x: Any) -> bool:
    """Whether ``x`` is a non-empty pytree whose leaves are all arrays (weights, an encoder)."""
    leaves = jax.tree.leaves(x)
    return bool(leaves) and all(isinstance(leaf, np.ndarray | jax.Array) for leaf in leaves)


def _owned_outputs(axis: PairAxis, out: jax.Array | tuple[jax.Array, ...]) -> list:
    """Per pair its image, or its tuple of images when ``apply`` returned several outputs."""
    if not isinstance(out, tuple):
        return axis.owned(out)
    return [None if any(i is None for i in imgs) else imgs for imgs in zip(*map(axis.owned, out), strict=True)]


def _finish_result(result: Any, content: np.ndarray, mode: str) -> Any:
    """:func:`color.finish` of a result, or of each output (at its own size) of a tuple."""
    if not isinstance(result, tuple):
        return color.finish(result, content, mode)
    return tuple(color.finish(r, resize(content, r.shape[:2]), mode) for r in result)


def _masks_per_pair(masks: Any, contents: list[np.ndarray]) -> list[np.ndarray]:
    """K masks (any size, 2-D or 3-channel) -> per pair a ``(K, H, W)`` stack at its content's size."""
    masks = [np.asarray(m, np.float32) for m in masks]
    masks = [m.mean(-1) if m.ndim == 3 else m for m in masks]
    if any(m.ndim != 2 for m in masks):
        raise InputError("masks must be 2-D (H, W) images")
    return [
        np.stack([resize(m[..., None], c.shape[:2])[..., 0] for m in masks]) for c in contents
    ]


def check_alpha_and_mixing(controls: dict[str, Any], n_styles: int) -> None:
    """The usual checks of ``alpha`` (in [0, 1]), ``style_weights`` (K valid weights) and
    ``masks`` (not together with style_weights), for methods that take them."""
    if not 0.0 <= controls.get("alpha", 1.0) <= 1.0:
        raise InputError(f"--alpha must be in [0, 1], got {controls['alpha']}")
    if "masks" in controls and "style_weights" in controls:
        raise InputError("give --style-weights or --mask, not both")
    check_weights(controls.get("style_weights"), n_styles, "--style-weights")


def check_weights(values: Sequence[float] | None, k: int, what: str) -> None:
    """``values`` is None or K non-negative numbers with a positive sum (e.g. style weights)."""
    if values is None:
        return
    if len(values) != k or min(values) < 0 or sum(values) <= 0:
        raise InputError(f"{what} needs {k} non-negative weights with a positive sum, got {list(values)}")
