"""STROTSS (Kolkin et al. 2019) as an engine objective, with DST's coarse-to-fine pyramid schedule.

Per pair the variables are a Laplacian pyramid of the image, ``{"pyramid": (L_0 .. L_n)}``
(finest first, ``pyramid_levels`` band-pass levels + the low-pass residual). The official
schedule (sunniesuhyoung/DST ``styletransfer.py``, from futscdav/strotss) runs inside ONE
engine program: the first ``steps_per_scale`` steps optimise the image synthesised from the
coarsest levels only (1/4 of the size for 3 scales), the next ones from one more level, and so
on, so one optimizer (and its momentum) serves every scale, as in the official code. The
scale is picked on device from the engine's step (``takes_step``; a ``lax.switch`` over the
scales, each with its own shapes). The content weight is ``α_s = content_weight x
2^(scales-1-s)`` (32, 16, 8 for α 8), and the colour term is weighted ``1/max(α_s, 1)``.

Each step samples ``samples`` (2048) fresh locations of the result and the content from a key
folded with the step (so resuming is exact), and compares their hypercolumns
(:mod:`jaxstyle.losses.strotss`): self-similarity content loss, and REMD + moments + colour
against ``style_samples`` (5000) style hypercolumns drawn once per scale in ``prepare``.

What differs from the official code, and why: the style hypercolumns are 5000 distinct
locations (official: 5 draws of 1000, which may repeat); hypercolumns are sampled with the
pixel-centre convention at every layer (official: index / 2 per pooling); resizing is
antialiased bilinear (jax.image.resize; official: bilinear without antialiasing). The image
is parameterised in [0, 1] (official [-1, 1]); losses see the encoder's normalised input,
which is the same in both; the learning rate is scaled for it (:data:`SGD_LR`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.losses.strotss import (
    STROTSS_LAYERS,
    hypercolumns,
    sample_points,
    sample_valid_points,
    self_similarity_loss,
    strotss_style_loss,
)
from jaxstyle.models.encoder import Encoder
from jaxstyle.models.vgg import normalize_input
from jaxstyle.optimize.engine import EngineConfig, check_fields, check_scales

STYLE_SEED_OFFSET = 7919  # keeps the style draws' keys apart from the per-step keys
OFFICIAL_LR = 0.3  # DST job_example.sh: SGD (momentum 0.9) on a pyramid of the image in [-1, 1]
# The same steps on our pyramid of the image in [0, 1]: there the gradient is twice the official
# one (d/dx01 = 2 d/dx11) and a unit is half as wide, so one step moves 4x as far unless the
# rate is divided by 4 (docs/methods/strotss.md).
SGD_LR = OFFICIAL_LR / 4
# Adam on the pyramid (DST's gatys variant): the official STROTSS's rate on its [0, 1] pyramid
# (nkolkin13/STROTSS: RMSprop 2e-3). Adam steps every element by about lr whatever its gradient,
# and a pixel sums the steps of all 6 arrays; at the engine's 0.02 the finest band's independent
# per-pixel steps were red/green speckle (docs/methods/dst.md).
ADAM_LR = 2e-3
PYRAMID_LRS = {"sgd": SGD_LR, "adam": ADAM_LR}  # the image's default rate per optimizer (L-BFGS: the engine's)


OFFICIAL_COARSEST = 64  # px: the coarsest scale of the official runs (DST: 256 px / 4; STROTSS: 64 px)


def size_note(method: str, size: int, scales: int) -> str | None:
    """Refuse (one-line InputError) a ``size`` whose coarsest scale is below 32 px (VGG's deepest
    taps there hold no position: the Gram and hypercolumn targets are NaN); return a one-line
    warning when it is below the official :data:`OFFICIAL_COARSEST` px, else None."""
    check_scales(scales, size)
    coarsest = size / 2 ** (scales - 1)
    if coarsest >= OFFICIAL_COARSEST:
        return None
    fewer = 1 + int(np.floor(np.log2(size / OFFICIAL_COARSEST)))
    return (f"{method}: at --size {size} its coarsest scale is {coarsest:g} px, below the official "
            f"{OFFICIAL_COARSEST} px (--size 256 over 3 scales), where the content's layout may be lost; "
            f"use --size {OFFICIAL_COARSEST * 2 ** (scales - 1)} or --scales {max(fewer, 1)}")


@functools.cache
def check_size(method: str, size: int, scales: int) -> None:
    """:func:`size_note`, its warning printed once per process (a collection validates per batch)."""
    note = size_note(method, size, scales)
    if note:
        from jaxstyle.checkpoint import warn  # its one "warning:" line (main process only)

        warn(note)


# --------------------------------------------------------------------------- the pyramid


def level_shapes(hw: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """(H, W) of each of the ``levels + 1`` pyramid arrays, finest first (halved, floor, >= 1)."""
    shapes = [tuple(hw)]
    for _ in range(levels):
        h, w = shapes[-1]
        shapes.append((max(h // 2, 1), max(w // 2, 1)))
    return shapes


def _resize(x: jax.Array, hw: tuple[int, int]) -> jax.Array:
    return jax.image.resize(x, (*hw, x.shape[-1]), "linear")


def lap_pyramid(image: jax.Array, levels: int) -> tuple[jax.Array, ...]:
    """(H,W,C) -> ``levels`` band-pass images (finest first) + the low-pass residual.

    Level i is ``x_i - up(down(x_i))``; :func:`lap_synthesize` inverts it exactly (up to
    rounding) whatever the resampling kernel.
    """
    shapes = level_shapes(image.shape[:2], levels)
    out, current = [], image
    for i in range(levels):
        down = _resize(current, shapes[i + 1])
        out.append(current - _resize(down, shapes[i]))
        current = down
    return (*out, current)


def lap_synthesize(levels: tuple[jax.Array, ...] | list[jax.Array]) -> jax.Array:
    """The image of a pyramid (or of its coarsest part ``pyramid[b:]``): (h_b, w_b, C)."""
    current = levels[-1]
    for band in reversed(levels[:-1]):
        current = band + _resize(current, band.shape[:2])
    return current


# --------------------------------------------------------------------------- per-scale terms


@dataclasses.dataclass(frozen=True)
class StrotssTerms:
    """STROTSS content and style terms of one pair at one scale (hypercolumn sampling)."""

    samples: int = 2048
    style_samples: int = 5000

    name: ClassVar[str] = "strotss"

    def columns(self, encoder: Encoder, image: jax.Array, valid: jax.Array | None = None
                ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(H,W,3) in [0, 1] -> its normalised RGB and ``{layer: (h,w,C)}`` maps (of its ``valid``
        corner when it is a padded canvas)."""
        feats = encoder(image[None], STROTSS_LAYERS, None if valid is None else valid[None])
        return normalize_input(image, encoder.config.normalization), {k: v[0] for k, v in feats.items()}

    def targets(self, encoder: Encoder, content: jax.Array, style: jax.Array, key: jax.Array,
                valid: jax.Array | None = None) -> dict[str, Any]:
        """The content's maps (sampled afresh each step) and ``style_samples`` style hypercolumns."""
        rgb, maps = self.columns(encoder, content, valid)
        s_rgb, s_maps = self.columns(encoder, style)
        where = sample_points(key, style.shape[:2], self.style_samples)
        return {"rgb": rgb, "maps": maps, "style": hypercolumns(s_rgb, s_maps, STROTSS_LAYERS, where)}

    def content_and_style(self, encoder: Encoder, x: jax.Array, targets: dict[str, Any], key: jax.Array,
                          alpha: float, valid: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """(self-similarity content loss, style loss) of image ``x`` (H,W,3); on a padded canvas
        the locations are drawn from its ``valid`` corner only."""
        where = (sample_points(key, x.shape[:2], self.samples) if valid is None
                 else sample_valid_points(key, x.shape[:2], valid, self.samples))
        rgb, maps = self.columns(encoder, x, valid)
        cols = hypercolumns(rgb, maps, STROTSS_LAYERS, where)
        content = hypercolumns(targets["rgb"], targets["maps"], STROTSS_LAYERS, where)
        return self_similarity_loss(cols, content), self._style(cols, targets, alpha)

    def style(self, encoder: Encoder, x: jax.Array, targets: dict[str, Any], key: jax.Array, alpha: float) -> jax.Array:
        """Style loss of image ``x`` (H,W,3)."""
        where = sample_points(key, x.shape[:2], self.samples)
        rgb, maps = self.columns(encoder, x)
        return self._style(hypercolumns(rgb, maps, STROTSS_LAYERS, where), targets, alpha)

    @staticmethod
    def _style(cols: jax.Array, targets: dict[str, Any], alpha: float) -> jax.Array:
        return strotss_style_loss(cols, targets["style"], 1.0 / max(alpha, 1.0))


# --------------------------------------------------------------------------- the objective


@dataclasses.dataclass(frozen=True)
class Strotss:
    """STROTSS on a Laplacian-pyramid image, coarse to fine inside one program (module doc).

    ``encoder``: the frozen VGG16 (left out of equality; the engine passes it into jit).
    """

    content_weight: float = 8.0  # α at the finest scale
    scales: int = 3
    steps_per_scale: int = 150
    pyramid_levels: int = 5
    samples: int = 2048
    style_samples: int = 5000
    seed: int = 0
    encoder: Encoder | None = dataclasses.field(default=None, compare=False, repr=False)

    extra_inputs: ClassVar[tuple[str, ...]] = ()
    takes_step: ClassVar[bool] = True
    fits: ClassVar[tuple[str, ...]] = ("pad", "resize")  # canonical canvases (jaxstyle.shapes)

    def __post_init__(self):
        if self.scales > self.pyramid_levels + 1:
            raise InputError(f"--scales {self.scales} needs at least {self.scales - 1} pyramid levels")

    # ---- shared by every pyramid objective (DST extends these)
    def terms(self) -> StrotssTerms:
        return StrotssTerms(self.samples, self.style_samples)

    def alpha(self, scale: int) -> float:
        """α_s: the content weight at ``scale`` (0 = coarsest), doubled per coarser scale."""
        return self.content_weight * 2.0 ** (self.scales - 1 - scale)

    def first_level(self, scale: int) -> int:
        """Index of the finest pyramid level ``scale`` uses."""
        return self.scales - 1 - scale

    def frozen(self) -> dict[str, Any]:
        return {"encoder": self.encoder}

    def _key(self, step: jax.Array) -> jax.Array:
        return jax.random.fold_in(jax.random.key(self.seed), step)

    def scale_targets(self, frozen: dict[str, Any], content: jax.Array, style: jax.Array,
                      valid: jax.Array | None = None) -> list[Any]:
        """ONE pair's targets at every scale (coarsest first); ``valid``: the content is the
        corner of a padded canvas."""
        shapes = level_shapes(content.shape[:2], self.pyramid_levels)
        out = []
        for s in range(self.scales):
            b = self.first_level(s)
            sh = (max(style.shape[0] // 2**b, 1), max(style.shape[1] // 2**b, 1))
            key = jax.random.fold_in(jax.random.key(self.seed + STYLE_SEED_OFFSET), s)
            extra = () if valid is None else (_level_valid(valid, b),)
            out.append(self.terms().targets(frozen["encoder"], _resize(content, shapes[b]), _resize(style, sh), key,
                                            *extra))
        return out

    def prepare(self, frozen: dict[str, Any], inputs: dict[str, jax.Array]) -> dict[str, Any]:
        """Targets of P pairs: ``scales`` [per scale the terms' targets] (and the canvas' ``valid``
        corner when padded), leading axis P."""
        if "valid" not in inputs:
            return {"scales": jax.vmap(lambda c, s: self.scale_targets(frozen, c, s))(inputs["content"], inputs["style"])}
        scales = jax.vmap(lambda c, s, v: self.scale_targets(frozen, c, s, v))(inputs["content"], inputs["style"],
                                                                               inputs["valid"])
        return {"scales": scales, "valid": inputs["valid"]}

    def init(self, inputs: dict[str, np.ndarray], rng: np.random.Generator, image: np.ndarray) -> dict[str, Any]:
        return {"pyramid": tuple(np.asarray(a) for a in _host_pyramid(image, self.pyramid_levels))}

    def loss(self, variables: dict[str, Any], targets: dict[str, Any], frozen: dict[str, Any], step: jax.Array):
        """One pair at ``step``: ``(total, {term: weighted loss})`` at the step's scale."""
        scale = jnp.clip(step // self.steps_per_scale, 0, self.scales - 1)
        branches = [functools.partial(self.scale_loss, s) for s in range(self.scales)]
        return jax.lax.switch(scale, branches, variables, targets, frozen, self._key(step))

    def scale_loss(self, s: int, variables, targets, frozen, key):
        """``(total, parts)`` at scale ``s`` (static)."""
        alpha = self.alpha(s)
        b = self.first_level(s)
        x = lap_synthesize(variables["pyramid"][b:])
        valid = targets.get("valid")
        if valid is not None:
            valid = _level_valid(valid, b)
        content, style = self.terms().content_and_style(frozen["encoder"], x, targets["scales"][s], key, alpha,
                                                        valid)
        parts = {"content": alpha * content, "style": style}
        return sum(parts.values()), parts

    def image(self, variables: dict[str, Any]) -> jax.Array:
        return lap_synthesize(variables["pyramid"])


def _level_valid(valid: jax.Array, level: int) -> jax.Array:
    """The valid corner at pyramid ``level`` (halved ``level`` times, floor, >= 1, as level_shapes)."""
    return jnp.maximum(valid // 2**level, 1)


@functools.partial(jax.jit, static_argnums=1)
def _host_pyramid(image: np.ndarray, levels: int) -> tuple[jax.Array, ...]:
    return lap_pyramid(jnp.asarray(image, jnp.float32), levels)


@dataclasses.dataclass(frozen=True)
class StrotssConfig(EngineConfig):
    """Engine settings + the objective's, with the official defaults (DST ``job_example.sh``):
    SGD (momentum 0.9) from the content at the official rate (:data:`SGD_LR`, 0.3 on the
    official [-1, 1] image), 150 steps per scale, 3 scales, α 8. ``lr`` None: the rate of
    ``optimizer`` on the pyramid (:data:`PYRAMID_LRS`).

    ``steps`` and ``scales`` are the schedule's (per scale, and how many); the engine runs
    them as one program of ``steps x scales`` steps (:meth:`engine`).
    """

    steps: int = 150
    optimizer: str = "sgd"
    lr: float | None = None
    scales: int = 3
    content_weight: float = 8.0
    pyramid_levels: int = 5
    samples: int = 2048
    style_samples: int = 5000
    remat: bool = False

    def __post_init__(self):
        if self.lr is None and self.optimizer in PYRAMID_LRS:
            object.__setattr__(self, "lr", PYRAMID_LRS[self.optimizer])
        super().__post_init__()
        check_fields(self, choices={}, positive=("pyramid_levels", "samples", "style_samples"),
                     non_negative=("content_weight",))
        if self.samples < 2 or self.style_samples < 2:
            raise InputError("--samples and --style-samples must be at least 2 (a covariance needs 2)")

    def objective(self, encoder: Encoder | None = None) -> Strotss:
        return Strotss(content_weight=self.content_weight, scales=self.scales, steps_per_scale=self.steps,
                       pyramid_levels=max(self.pyramid_levels, self.scales - 1), samples=self.samples,
                       style_samples=self.style_samples, seed=self.seed, encoder=encoder)

    def engine(self) -> EngineConfig:
        """What the engine runs: one scale (the schedule is the objective's) of steps x scales."""
        return self.engine_settings(scales=1, steps=self.steps * self.scales)
