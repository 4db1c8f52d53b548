"""Deformable Style Transfer (Kim et al. 2020) as an engine objective.

Per pair the variables are the image (a Laplacian pyramid, scheduled coarse to fine as
STROTSS, :mod:`jaxstyle.optimize.strotss`) AND the keypoint displacements ``θ`` (K,2) in
pixels of the working (last-scale) image: ``{"pyramid": (...), "theta": (K,2)}``. The
thin-plate-spline warp ``W(X, θ)`` moves each source keypoint ``p_i`` to ``p_i + θ_i``
(:mod:`jaxstyle.ops.tps`, 4 + 4x80 fixed border points). At scale ``s`` the loss is

    α_s L_content(X) + L_style(X) + L_style(W(X, θ)) + β mean_i |p_i + θ_i - p'_i| + γ TV(flow)

with ``p'_i`` the style keypoints mapped into the content frame by the inverse of the
similarity (Umeyama) that best takes the content keypoints onto them, then clamped 5 px inside
the image (official ``utils_keypoints.init_keypoint_params`` and ``styletransfer.py``). The
warp loss is in working-image pixels at every scale (θ is one variable across scales); the
TV is over the flow of the current scale, in its pixels, as the official code.

``style_loss`` picks the content/style terms: ``strotss`` (the official ones) or ``gatys``
(the paper's first variant: feature MSE at ``content_layers`` and the Gram loss at
``style_layers`` of :mod:`jaxstyle.optimize.gatys`, times ``style_weight``; there is no Gatys
variant in the official code). The gatys terms are divided by the weighted Gram loss of the
content image itself (per pair and scale, :class:`GramTerms`), so each style term starts at 1
as STROTSS's do and β, γ weigh the warp as in the official setting; unnormalised the Gram term
is ~1e6 times the warp term and θ does not move. :class:`WarpEngineConfig` gives θ its own
learning rate (``warp_lr``, px per step), the gatys default under Adam.

Per-pair inputs (``extra_inputs``, one array per pair, padded to one K so pairs share a
program; :func:`keypoint_inputs` builds them from a :class:`jaxstyle.points.Correspondences`):
``keypoints`` (K,4) ``[src_x, src_y, target_x, target_y]`` in pixels of the content *as
given*, ``keypoint_mask`` (K,) (padding rows False), ``content_hw`` (2,) that content's size;
:meth:`DST.prepare` rescales them to the working size, so the engine carries them unchanged.

The result (:meth:`DST.render`) is the warped image, sampled at the nearest pixel as the
official ``sharp`` final warp; :meth:`DST.image` is the unwarped stylization.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxstyle.errors import InputError
from jaxstyle.losses import gram_matrix
from jaxstyle.models.encoder import Encoder
from jaxstyle.ops.tps import (
    BORDER_POINTS,
    bilinear_sample,
    flow_tv,
    similarity_align,
    tps_flow,
    warp_image,
)
from jaxstyle.optimize.engine import EngineConfig, check_fields
from jaxstyle.optimize.gatys import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    content_term,
    style_term,
)
from jaxstyle.optimize.strotss import (
    OFFICIAL_LR,
    Strotss,
    StrotssConfig,
    StrotssTerms,
    lap_synthesize,
)
from jaxstyle.points import Correspondences, check_inside, pad_points

STYLE_LOSSES = ("strotss", "gatys")
TARGET_MARGIN = 5.0  # px: targets are clamped this far inside the image (official)
GATYS_WARP_LR = 0.1  # px per Adam step of θ at the working size (README "Deformable style transfer")
UNIT_FLOOR = 1e-12  # a style image equal to the content has a zero start loss: keep 1/start finite
NORM_EPS = 1e-8  # px²: the warp loss' norm is sqrt(|d|² + eps), differentiable at d = 0
DEFAULT_WEIGHTS = {  # per style loss: α, style weight (README "Deformable style transfer")
    "strotss": (8.0, 1.0),
    "gatys": (1e5, 1e5),  # α 1 (the Gatys balance) lost the content under Adam (README)
}


@dataclasses.dataclass(frozen=True)
class GramTerms:
    """The Gatys terms of one pair at one scale (:func:`~jaxstyle.optimize.gatys.content_term`,
    :func:`~jaxstyle.optimize.gatys.style_term`), in units of the content's own style loss."""

    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_weight: float = 1e5

    def _layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.style_layers + self.content_layers))

    def targets(self, encoder: Encoder, content: jax.Array, style: jax.Array, key: jax.Array) -> dict[str, Any]:
        """Style Grams, content features and ``unit``: 1 / the weighted Gram loss of the content
        image itself (the loss's value at the start), the unit both terms are measured in."""
        del key
        grams = encoder(style[None], self.style_layers)
        targets = {"grams": {k: gram_matrix(v)[0] for k, v in grams.items()},
                   "content": {k: v[0] for k, v in encoder(content[None], self._layers()).items()}}
        start = self._style(targets["content"], {**targets, "unit": 1.0}, batched=False)
        targets["content"] = {k: targets["content"][k] for k in self.content_layers}
        return {**targets, "unit": 1.0 / jnp.maximum(start, UNIT_FLOOR)}

    def _style(self, feats: dict[str, jax.Array], targets: dict[str, Any], batched: bool = True) -> jax.Array:
        feats = feats if batched else {k: v[None] for k, v in feats.items()}
        return targets["unit"] * self.style_weight * style_term(feats, targets["grams"], self.style_layers)

    def content_and_style(self, encoder: Encoder, x: jax.Array, targets: dict[str, Any], key: jax.Array,
                          alpha: float) -> tuple[jax.Array, jax.Array]:
        feats = encoder(x[None], self._layers())
        content = content_term(feats, targets["content"], self.content_layers)
        return targets["unit"] * content, self._style(feats, targets)

    def style(self, encoder: Encoder, x: jax.Array, targets: dict[str, Any], key: jax.Array, alpha: float) -> jax.Array:
        return self._style(encoder(x[None], self.style_layers), targets)


@dataclasses.dataclass(frozen=True)
class DST(Strotss):
    """DST: STROTSS's pyramid schedule + a keypoint warp optimised jointly (module doc).

    ``content_weight``/``style_weight`` None: the defaults of ``style_loss``
    (:data:`DEFAULT_WEIGHTS`).
    """

    style_loss: str = "strotss"
    content_weight: float | None = None
    style_weight: float | None = None
    warp_weight: float = 0.5  # β
    reg_weight: float = 50.0  # γ
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    border_points: int = BORDER_POINTS

    extra_inputs: ClassVar[tuple[str, ...]] = ("keypoints", "keypoint_mask", "content_hw")
    # Exact shapes only: θ and the keypoints are in pixels of the image as optimized, which a
    # canvas would shift (resize) or the warp would carry into the padding.
    fits: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        super().__post_init__()
        if self.style_loss not in STYLE_LOSSES:
            raise InputError(f"unknown --dst-loss {self.style_loss!r}; expected one of {', '.join(STYLE_LOSSES)}")

    def weight(self, term: str) -> float:
        """``content`` (α at the finest scale) or ``style``, defaults per style loss filled in."""
        value = getattr(self, f"{term}_weight")
        return float(DEFAULT_WEIGHTS[self.style_loss][term == "style"] if value is None else value)

    def alpha(self, scale: int) -> float:
        return self.weight("content") * 2.0 ** (self.scales - 1 - scale)

    def terms(self) -> StrotssTerms | GramTerms:
        if self.style_loss == "gatys":
            return GramTerms(self.content_layers, self.style_layers, self.weight("style"))
        return StrotssTerms(self.samples, self.style_samples)

    def prepare(self, frozen: dict[str, Any], inputs: dict[str, jax.Array]) -> dict[str, Any]:
        """Targets of P pairs: the scales' targets, and ``src``/``target`` (P,K,2) in working
        pixels (targets clamped inside), ``mask`` (P,K)."""
        targets = super().prepare(frozen, inputs)
        hw = inputs["content"].shape[1:3]
        ratio = jnp.asarray(hw[::-1], jnp.float32) / inputs["content_hw"][:, None, ::-1].astype(jnp.float32)
        points = (inputs["keypoints"].reshape(*inputs["keypoints"].shape[:2], 2, 2) + 0.5) * ratio[:, :, None] - 0.5
        low = TARGET_MARGIN
        high = jnp.asarray([hw[1] - 1 - TARGET_MARGIN, hw[0] - 1 - TARGET_MARGIN], jnp.float32)
        return {**targets, "src": points[:, :, 0], "target": jnp.clip(points[:, :, 1], low, high),
                "mask": inputs["keypoint_mask"].astype(bool)}

    def init(self, inputs: dict[str, np.ndarray], rng: np.random.Generator, image: np.ndarray) -> dict[str, Any]:
        # θ starts at 0 (official: U(0, 1e-4), to keep the norm of the warp loss off its kink;
        # a smoothed norm does that here, and a start that does not depend on the pair's index
        # keeps a pair's result the same alone or in a batch).
        return {**super().init(inputs, rng, image), "theta": np.zeros((np.shape(inputs["keypoints"])[0], 2), np.float32)}

    def _flow(self, variables, targets, hw: tuple[int, int], full_hw: tuple[int, int]) -> jax.Array:
        """The backward flow (h,w,2) at an (h, w) scale of the (H, W) working image."""
        src = targets["src"]
        dst = src + variables["theta"]
        dst = jnp.clip(dst, -0.5, jnp.asarray([full_hw[1] - 0.5, full_hw[0] - 0.5]))  # official: inside
        return tps_flow(src, dst, targets["mask"], hw, frame_hw=full_hw, per_side=self.border_points)

    def scale_loss(self, s: int, variables, targets, frozen, key):
        alpha = self.alpha(s)
        full_hw = variables["pyramid"][0].shape[:2]
        x = lap_synthesize(variables["pyramid"][self.first_level(s):])
        flow = self._flow(variables, targets, x.shape[:2], full_hw)
        warped = warp_image(x, flow)
        terms, encoder, scale_targets = self.terms(), frozen["encoder"], targets["scales"][s]
        content, style = terms.content_and_style(encoder, x, scale_targets, key, alpha)
        style_warped = terms.style(encoder, warped, scale_targets, jax.random.fold_in(key, 1), alpha)
        mask = targets["mask"].astype(jnp.float32)
        gap = targets["src"] + variables["theta"] - targets["target"]
        dist = jnp.sqrt(jnp.sum(gap * gap, axis=-1) + NORM_EPS)  # smooth where a point sits on its target
        parts = {
            "content": alpha * content,
            "style": style + style_warped,
            "warp": self.warp_weight * jnp.sum(dist * mask) / jnp.maximum(jnp.sum(mask), 1.0),
            "warp_tv": self.reg_weight * flow_tv(flow),
        }
        return sum(parts.values()), parts

    def render(self, variables: dict[str, Any], targets: dict[str, Any]) -> jax.Array:
        """The warped result (H,W,3), nearest-pixel sampled (the official final ``sharp`` warp)."""
        x = self.image(variables)
        hw = x.shape[:2]
        flow = self._flow(variables, targets, hw, hw)
        ys, xs = jnp.meshgrid(jnp.arange(hw[0], dtype=x.dtype), jnp.arange(hw[1], dtype=x.dtype), indexing="ij")
        return bilinear_sample(x, jnp.round(jnp.stack([xs, ys], -1) - flow))


def keypoint_inputs(points: Correspondences, content_hw: tuple[int, int], style_hw: tuple[int, int],
                    name: str = "points") -> dict[str, np.ndarray]:
    """One pair's DST inputs from its correspondences (pixels of each image as given).

    Checks the points lie inside their images and that no two content points coincide (the
    spline would be singular), and maps the style points into the content frame by the
    inverse similarity (:func:`jaxstyle.ops.tps.similarity_align`). Returns unpadded
    ``keypoints`` (K,4), ``keypoint_mask`` (K,) and ``content_hw`` (2,); :func:`pad_inputs`
    pads a list of them to one K.
    """
    if len(points.content) == 0:
        raise InputError(f"{name}: no keypoints between the content and the style (give them with --points FILE)")
    check_inside(points.content, content_hw, f"{name}: content")
    check_inside(points.style, style_hw, f"{name}: style")
    src = np.asarray(points.content, np.float32)
    rounded = np.round(src, 3)
    _, first, counts = np.unique(rounded, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = int(first[np.argmax(counts > 1)])
        raise InputError(f"{name}: content point {i} ({src[i, 0]:.1f}, {src[i, 1]:.1f}) is given twice; "
                         "each content point can move to one target only")
    target = similarity_align(src, np.asarray(points.style, np.float32))
    return {"keypoints": np.concatenate([src, target], 1).astype(np.float32),
            "keypoint_mask": np.ones(len(src), bool), "content_hw": np.asarray(content_hw, np.int32)}


def pad_inputs(per_pair: list[dict[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Per-pair :func:`keypoint_inputs` padded to the largest K -> the engine's ``extra_inputs``."""
    src, mask = pad_points([p["keypoints"][:, :2] for p in per_pair])
    target, _ = pad_points([p["keypoints"][:, 2:] for p in per_pair])
    rows = np.concatenate([src, target], axis=2)
    return {"keypoints": list(rows), "keypoint_mask": list(mask), "content_hw": [p["content_hw"] for p in per_pair]}


@dataclasses.dataclass(frozen=True)
class WarpEngineConfig(EngineConfig):
    """The engine's settings + ``warp_lr``: θ's own learning rate (px per step under Adam).

    The image (pyramid levels in [0, 1] units) and θ (pixels) differ in scale by ~100x, so one
    Adam rate cannot suit both; ``warp_lr`` None: one optimizer over both (the official SGD).
    """

    warp_lr: float | None = None

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, choices={}, non_negative=("warp_lr",))
        if self.warp_lr is not None and self.optimizer == "lbfgs":
            raise InputError("--warp-lr needs --optimizer adam or sgd (L-BFGS takes one step for all variables)")

    def make_optimizer(self) -> optax.GradientTransformation:
        image = super().make_optimizer()
        if self.warp_lr is None:
            return image
        theta = EngineConfig(optimizer=self.optimizer, lr=self.warp_lr).make_optimizer()
        return optax.multi_transform({"image": image, "theta": theta}, _theta_labels)

    def program_key(self) -> WarpEngineConfig:
        return WarpEngineConfig(**vars(super().program_key()), warp_lr=self.warp_lr)


def _theta_labels(variables: dict[str, Any]) -> dict[str, Any]:
    """``"theta"`` for θ, ``"image"`` for every pyramid level (optax.multi_transform labels)."""
    return {k: jax.tree.map(lambda _, k=k: "theta" if k == "theta" else "image", v) for k, v in variables.items()}


@dataclasses.dataclass(frozen=True)
class DSTConfig(StrotssConfig):
    """Engine settings + DST's (the CLI flags map 1:1 onto these fields); schedule as STROTSS.

    ``content_weight``/``style_weight`` None: the defaults of ``dst_loss``. ``optimizer``,
    ``lr``, ``warp_lr`` None: SGD momentum 0.9 at the official lr 0.3 on θ (px) and on the image
    (0.3 on the official [-1, 1] image is :data:`~jaxstyle.optimize.strotss.SGD_LR` on ours) for
    strotss, or Adam at :data:`~jaxstyle.optimize.strotss.ADAM_LR` on the image and
    :data:`GATYS_WARP_LR` px/step on θ (gatys).
    """

    dst_loss: str = "strotss"
    optimizer: str | None = None
    lr: float | None = None
    warp_lr: float | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    warp_weight: float = 0.5
    reg_weight: float = 50.0
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS

    def __post_init__(self):
        if self.optimizer is None:  # Gram losses diverge under SGD at lr 0.3 (README)
            object.__setattr__(self, "optimizer", "sgd" if self.dst_loss == "strotss" else "adam")
        if self.warp_lr is None and self.optimizer == "sgd" and self.dst_loss == "strotss":
            object.__setattr__(self, "warp_lr", OFFICIAL_LR)  # θ is in px, as the official θ
        if self.warp_lr is None and self.optimizer == "adam" and self.dst_loss == "gatys":
            object.__setattr__(self, "warp_lr", GATYS_WARP_LR)
        super().__post_init__()  # the image's rate per optimizer (StrotssConfig)
        check_fields(self, choices={"dst_loss": STYLE_LOSSES},
                     non_negative=("content_weight", "style_weight", "warp_weight", "reg_weight"))

    def engine(self) -> WarpEngineConfig:
        return WarpEngineConfig(**vars(super().engine()), warp_lr=self.warp_lr)

    def objective(self, encoder: Encoder | None = None) -> DST:
        return DST(style_loss=self.dst_loss, content_weight=self.content_weight, style_weight=self.style_weight,
                   warp_weight=self.warp_weight, reg_weight=self.reg_weight, content_layers=self.content_layers,
                   style_layers=self.style_layers, scales=self.scales, steps_per_scale=self.steps,
                   pyramid_levels=max(self.pyramid_levels, self.scales - 1), samples=self.samples,
                   style_samples=self.style_samples, seed=self.seed, encoder=encoder)
