"""RAST loss terms (Ma et al., WACV 2023) plus the idempotency and low-resolution extensions.

Every term is a small pure function; :func:`rast_losses` computes all the passes of one
training step and combines the terms with the weights of a :class:`RASTLossWeights`.
A weight that is exactly ``0.0`` (weights are static, hashable Python floats) removes its term
*at trace time*: the passes only it needs are never built, it adds a constant ``0.0`` to the
total and contributes an exactly-zero gradient. That is how the ablation configs work.

Batch layout (as in the official training script): ``m`` content and ``m`` style images are
paired into ``2m`` (content, style) pairs, ``(c_i, s_i)`` and ``(c_{i+1 mod m}, s_i)``, so every
stylized image has one other with the same style and one with the same content — the positives
of the contrastive terms. Feature lists are the five encoder taps (``relu1_1 .. relu5_1``).

Reductions: pixel/feature MSEs are means (over N, H, W, C); mean/std style terms use
:func:`jaxstyle.losses.mean_std_style_loss` summed over the five taps; contrastive terms are
*summed* over anchors (InfoNCE per anchor), like the official code, so the paper's weights
keep their meaning. The LSGAN terms sum, over discriminator scales, the mean squared distance
to the target label.

Differences from the official code, on purpose: the mean/std style statistics use the biased
variance (the shared jaxstyle loss); generator and discriminators are updated from the same
forward pass (the official code steps the discriminators first and scores the generator with
the updated ones).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxstyle.errors import InputError
from jaxstyle.losses.core import content_loss, mean_std_style_loss
from jaxstyle.methods.rast.model import FeatureEncoder, RASTModel, mean_variance_norm

Feats = Sequence[jax.Array]

# ----------------------------------------------------------------------------- weights

# The study's ablation groups: removing a group zeroes every weight in it.
ABLATIONS: dict[str, tuple[str, ...]] = {
    "contrastive": ("contrastive_content", "contrastive_style"),
    "identity": ("identity_pixel", "identity_feature"),
    "style_difference": ("style_difference",),
    "transitive": ("content_transitive", "style_transitive"),
    "multi_restoration": ("content_restoration", "style_restoration"),
    "adversarial": ("adversarial",),
}


@dataclasses.dataclass(frozen=True)
class RASTLossWeights:
    """Static loss weights (hashable, so they can be a ``jit`` static argument).

    Defaults are the official training script's; the extensions are off.
    """

    contrastive_content: float = 1.0
    contrastive_style: float = 1.0
    identity_pixel: float = 50.0
    identity_feature: float = 1.0
    style_difference: float = 2.0
    content_transitive: float = 2.0
    style_transitive: float = 2.0
    content_restoration: float = 1.0
    style_restoration: float = 1.0
    adversarial: float = 5.0
    idempotency: float = 0.0
    lowres_restoration: float = 0.0
    lowres_size: int = 32
    temperature: float = 0.2

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> RASTLossWeights:
        """From a ``config.loss`` mapping; unknown keys are an error (typos must not pass silently)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise InputError(f"unknown RAST loss keys {unknown}; expected some of {sorted(names)}")
        kw = {k: (int(v) if k == "lowres_size" else float(v)) for k, v in dict(cfg).items()}
        w = cls(**kw)
        if w.lowres_restoration and (w.lowres_size < 32 or w.lowres_size % 16):
            # relu5_1 is at 1/16 scale and needs >= 2x2 positions for an unbiased std.
            raise InputError(
                f"loss.lowres_size must be a multiple of 16 and >= 32, got {w.lowres_size}"
            )
        return w

    def without(self, *groups: str) -> RASTLossWeights:
        """These weights with the named :data:`ABLATIONS` groups (or single terms) set to 0."""
        names = []
        for g in groups:
            if g in ABLATIONS:
                names += ABLATIONS[g]
            elif g in self.terms():
                names.append(g)
            else:
                raise InputError(
                    f"unknown RAST loss or ablation {g!r}; expected one of {sorted(ABLATIONS)}"
                )
        return dataclasses.replace(self, **dict.fromkeys(names, 0.0))

    def terms(self) -> dict[str, float]:
        """The weighted terms' names and weights (everything except the hyper-parameters)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("lowres_size", "temperature")
        }


# ----------------------------------------------------------------------------- pure terms


def normalized_content_loss(x: jax.Array, y: jax.Array) -> jax.Array:
    """MSE of mean-variance-normalised features: (N,H,W,C) x2 -> scalar (mean)."""
    return content_loss(mean_variance_norm(x), mean_variance_norm(y))


def multi_layer_style_loss(xs: Feats, ys: Feats) -> jax.Array:
    """Sum over taps of the mean/std style loss: lists of (N,H,W,C) -> scalar."""
    return sum(mean_std_style_loss(x, y) for x, y in zip(xs, ys, strict=True))


def multi_layer_content_loss(xs: Feats, ys: Feats) -> jax.Array:
    """Sum over taps of the feature MSE: lists of (N,H,W,C) -> scalar."""
    return sum(content_loss(x, y) for x, y in zip(xs, ys, strict=True))


def deep_content_loss(xs: Feats, ys: Feats) -> jax.Array:
    """Normalised content loss at the 4th and 5th taps (relu4_1 + relu5_1): scalar."""
    return normalized_content_loss(xs[3], ys[3]) + normalized_content_loss(xs[4], ys[4])


def pair_ids(m: int) -> tuple[jax.Array, jax.Array]:
    """Content and style ids of the ``2m`` pairs: ``(c_i, s_i)`` then ``(c_{i+1 mod m}, s_i)``."""
    i = jnp.arange(m)
    return jnp.concatenate([i, (i + 1) % m]), jnp.concatenate([i, i])


def contrastive_pairs(content: jax.Array, style: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The ``2m`` (content, style) pairs of one step, laid out as :func:`pair_ids` says.

    ``m`` content and ``m`` style images (m,H,W,3) -> two (2m,H,W,3) batches in which every
    pair shares its style with one other pair and its content with another: the positives of
    the contrastive terms (every other pair is a negative).
    """
    return jnp.concatenate([content, jnp.roll(content, -1, axis=0)]), jnp.concatenate(
        [style, style]
    )


def info_nce_loss(
    z: jax.Array, positive: jax.Array, negative: jax.Array, temperature: float = 0.2
) -> jax.Array:
    """InfoNCE summed over anchors: z (N,D) L2-normalised, masks (N,N) bool -> scalar.

    Each anchor ``a`` is scored against its positive(s) and negatives by ``z_a . z_b / tau``:
    ``-log(exp(pos) / (exp(pos) + sum exp(neg)))`` (cross-entropy with the positive as label).
    """
    logits = z @ z.T / temperature
    denom = jax.nn.logsumexp(jnp.where(positive | negative, logits, -jnp.inf), axis=-1)
    pos = jnp.sum(jnp.where(positive, logits, 0.0), axis=-1) / jnp.maximum(positive.sum(-1), 1)
    return jnp.sum(denom - pos)


def contrastive_masks(same: jax.Array, other: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Positives share the attribute (not self); negatives differ in both attributes. -> (N,N) x2."""
    eye = jnp.eye(same.shape[0], dtype=bool)
    pos = (same[:, None] == same[None, :]) & ~eye
    neg = (same[:, None] != same[None, :]) & (other[:, None] != other[None, :])
    return pos, neg


def style_contrastive_loss(
    z_style: jax.Array, content_ids, style_ids, temperature=0.2
) -> jax.Array:
    """Style-head InfoNCE: same style = positive, different style and content = negative. Scalar (sum)."""
    pos, neg = contrastive_masks(style_ids, content_ids)
    return info_nce_loss(z_style, pos, neg, temperature)


def content_contrastive_loss(
    z_content: jax.Array, content_ids, style_ids, temperature=0.2
) -> jax.Array:
    """Content-head InfoNCE: same content = positive, different content and style = negative. Scalar (sum)."""
    pos, neg = contrastive_masks(content_ids, style_ids)
    return info_nce_loss(z_content, pos, neg, temperature)


def identity_pixel_loss(
    icc: jax.Array, content: jax.Array, iss: jax.Array, style: jax.Array
) -> jax.Array:
    """``MSE(T(c,c), c) + MSE(T(s,s), s)`` on images (N,H,W,3): scalar."""
    return content_loss(icc, content) + content_loss(iss, style)


def identity_feature_loss(fcc: Feats, fc: Feats, fss: Feats, fs: Feats) -> jax.Array:
    """Feature MSE of the identity passes summed over the five taps: scalar."""
    return multi_layer_content_loss(fcc, fc) + multi_layer_content_loss(fss, fs)


def inverse_style_difference_loss(fo1: Feats, fc: Feats, fo2: Feats, fs: Feats) -> jax.Array:
    """``1/d(T(c,s), c) + 1/d(T(s,c), s)`` with ``d`` the 5-tap mean/std distance: scalar."""
    return 1.0 / multi_layer_style_loss(fo1, fc) + 1.0 / multi_layer_style_loss(fo2, fs)


def content_transitive_loss(frc1: Feats, fc: Feats, frs2: Feats, fs: Feats) -> jax.Array:
    """Content restored by ``T(T(c,s), c)`` matches c, and ``T(T(s,c), s)`` matches s (deep taps): scalar."""
    return deep_content_loss(frc1, fc) + deep_content_loss(frs2, fs)


def style_transitive_loss(frs1: Feats, fs: Feats, frc2: Feats, fc: Feats) -> jax.Array:
    """Style restored by ``T(s, T(c,s))`` matches s, and ``T(c, T(s,c))`` matches c (5 taps): scalar."""
    return multi_layer_style_loss(frs1, fs) + multi_layer_style_loss(frc2, fc)


def content_restoration_loss(frc1: Feats, frc2: Feats, frs1: Feats, frs2: Feats) -> jax.Array:
    """Multi-restoration, content part: the two restorations of c (and of s) agree (deep taps): scalar."""
    return deep_content_loss(frc1, frc2) + deep_content_loss(frs1, frs2)


def style_restoration_loss(frc1: Feats, frc2: Feats, frs1: Feats, frs2: Feats) -> jax.Array:
    """Multi-restoration, style part: mean/std of both restorations agree (5 taps): scalar."""
    return multi_layer_style_loss(frc1, frc2) + multi_layer_style_loss(frs1, frs2)


def lsgan_loss(outputs: Sequence[jax.Array], target: float) -> jax.Array:
    """LSGAN: sum over discriminator scales of ``mean((D(x) - target)^2)``: scalar."""
    return sum(jnp.mean(jnp.square(o - target)) for o in outputs)


def idempotency_loss(twice: jax.Array, once: jax.Array) -> jax.Array:
    """``||T(T(c,s),s) - T(c,s)||^2`` as a mean over pixels (N,H,W,3): scalar."""
    return content_loss(twice, once)


def downsample(images: jax.Array, size: int) -> jax.Array:
    """Antialiased bilinear resize of NHWC images to ``size x size`` (the study's LowRes)."""
    n, _, _, c = images.shape
    return jax.image.resize(images, (n, size, size, c), "linear", antialias=True)


# ----------------------------------------------------------------------------- passes

# name -> (content-role input, style-role input) of T, grouped in stages: every pass of a stage
# depends only on earlier stages, so a stage runs as ONE batched transform + decoder + encoder
# call (a third of the XLA graph of pass-by-pass code: faster to compile and to run).
STAGES: tuple[dict[str, tuple[str, str]], ...] = (
    {"o1": ("c", "s"), "o2": ("s", "c"), "icc": ("c", "c"), "iss": ("s", "s")},
    {"rc1": ("o1", "c"), "rs1": ("s", "o1"), "rc2": ("c", "o2"), "rs2": ("o2", "s"),
     "idem": ("o1", "s")},
)  # fmt: skip
RECIPES = {k: v for stage in STAGES for k, v in stage.items()}

# term -> (images it reads, images whose features it reads).
TERM_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "contrastive_content": ((), ("o1",)),
    "contrastive_style": ((), ("o1",)),
    "identity_pixel": (("icc", "iss"), ()),
    "identity_feature": ((), ("icc", "iss", "c", "s")),
    "style_difference": ((), ("o1", "c", "o2", "s")),
    "content_transitive": ((), ("rc1", "c", "rs2", "s")),
    "style_transitive": ((), ("rs1", "s", "rc2", "c")),
    "content_restoration": ((), ("rc1", "rc2", "rs1", "rs2")),
    "style_restoration": ((), ("rc1", "rc2", "rs1", "rs2")),
    "adversarial": (("o1", "o2"), ()),
    "idempotency": (("idem", "o1"), ()),
    "lowres_restoration": ((), ()),  # its own chain at low resolution
}
MULTI_RESTORATION_NEEDS = ((), ("rc1", "rc2", "rs1", "rs2"))


def _closure(needs) -> tuple[set[str], set[str]]:
    """Images and features to build for the given (images, feats) requests."""
    images, feats = set(), set()
    todo_i = [n for i, _ in needs for n in i] + [n for _, f in needs for n in f]
    feats.update(n for _, f in needs for n in f)
    while todo_i:
        name = todo_i.pop()
        if name in images:
            continue
        images.add(name)
        for src in RECIPES.get(name, ()):
            feats.add(src)
            todo_i.append(src)
    return images, feats


def _concat_taps(feats: Sequence[Sequence[jax.Array]]) -> list[jax.Array]:
    return [jnp.concatenate(taps) for taps in zip(*feats, strict=True)]


class Passes:
    """The style-transfer passes of one paired (content, style) batch, built stage by stage.

    Only the passes the requested terms need are traced, so a zero weight also removes the
    compute of the passes that only its term needs.
    """

    def __init__(self, model: RASTModel, gen, encoder: FeatureEncoder, content, style, needs):
        self.images: dict[str, jax.Array] = {"c": content, "s": style}
        self._feats: dict[str, list[jax.Array]] = {}
        want_images, want_feats = _closure(needs)
        n = content.shape[0]

        def encode(names):
            names = [x for x in names if x in want_feats]
            if names:
                taps = model.encode(encoder, jnp.concatenate([self.images[x] for x in names]))
                for k, name in enumerate(names):
                    self._feats[name] = [t[k * n : (k + 1) * n] for t in taps]

        encode(["c", "s"])
        for stage in STAGES:
            names = [x for x in stage if x in want_images]
            if not names:
                continue
            cf = _concat_taps([self._feats[stage[x][0]] for x in names])
            sf = _concat_taps([self._feats[stage[x][1]] for x in names])
            out = model.transfer_features(gen, cf, sf)
            for k, name in enumerate(names):
                self.images[name] = out[k * n : (k + 1) * n]
            encode(names)

    def image(self, name: str) -> jax.Array:
        return self.images[name]

    def feats(self, name: str) -> list[jax.Array]:
        return self._feats[name]

    def built(self) -> set[str]:
        return set(self.images) - {"c", "s"}


def _multi_restoration(p: Passes) -> jax.Array:
    f = p.feats
    return content_restoration_loss(
        f("rc1"), f("rc2"), f("rs1"), f("rs2")
    ) + style_restoration_loss(f("rc1"), f("rc2"), f("rs1"), f("rs2"))


def rast_losses(
    gen: Mapping[str, Any],
    disc: Mapping[str, Any],
    content: jax.Array,
    style: jax.Array,
    *,
    model: RASTModel,
    encoder: FeatureEncoder,
    weights: RASTLossWeights,
) -> tuple[jax.Array, dict[str, jax.Array], dict[str, jax.Array]]:
    """All generator terms of one RAST step.

    Args:
      gen: the ``"generator"`` parameter group.
      disc: ``{"disc_style": ..., "disc_content": ...}`` (used for the adversarial term only;
        their gradient here is not used).
      content, style: ``m`` images each, (m,H,W,3) in [0, 1]; paired into ``2m`` pairs.
      model, encoder, weights: the static model, the frozen encoder pytree, static weights.

    Returns:
      ``(total, terms, images)``: the weighted total; every term *already weighted* (disabled
      ones are exactly ``0.0``); and the images the discriminators need
      (``o1 = T(c,s)``, ``o2 = T(s,c)``, and the real ``c``/``s`` pairs), plus ``rc1`` when built.
    """
    c, s = contrastive_pairs(content, style)
    w = weights
    enabled = [name for name, weight in w.terms().items() if weight != 0.0]
    p = Passes(model, gen, encoder, c, s, [TERM_NEEDS[t] for t in enabled])
    f = p.feats
    content_ids, style_ids = pair_ids(content.shape[0])

    terms: dict[str, Callable[[], jax.Array]] = {
        "contrastive_content": lambda: content_contrastive_loss(
            model.project_content(gen, f("o1")[3]), content_ids, style_ids, w.temperature
        ),
        "contrastive_style": lambda: style_contrastive_loss(
            model.project_style(gen, f("o1")[2]), content_ids, style_ids, w.temperature
        ),
        "identity_pixel": lambda: identity_pixel_loss(p.image("icc"), c, p.image("iss"), s),
        "identity_feature": lambda: identity_feature_loss(f("icc"), f("c"), f("iss"), f("s")),
        "style_difference": lambda: inverse_style_difference_loss(f("o1"), f("c"), f("o2"), f("s")),
        "content_transitive": lambda: content_transitive_loss(f("rc1"), f("c"), f("rs2"), f("s")),
        "style_transitive": lambda: style_transitive_loss(f("rs1"), f("s"), f("rc2"), f("c")),
        "content_restoration": lambda: content_restoration_loss(
            f("rc1"), f("rc2"), f("rs1"), f("rs2")
        ),
        "style_restoration": lambda: style_restoration_loss(f("rc1"), f("rc2"), f("rs1"), f("rs2")),
        "adversarial": lambda: (
            lsgan_loss(model.discriminate(disc["disc_style"], p.image("o1")), 1.0)
            + lsgan_loss(model.discriminate(disc["disc_content"], p.image("o2")), 1.0)
        ),
        # T(o1, s) with o1 NOT stopped: the gradient flows through both applications of T.
        "idempotency": lambda: idempotency_loss(p.image("idem"), p.image("o1")),
        "lowres_restoration": lambda: _multi_restoration(
            Passes(
                model,
                gen,
                encoder,
                downsample(c, w.lowres_size),
                downsample(s, w.lowres_size),
                [MULTI_RESTORATION_NEEDS],
            )
        ),
    }
    weighted: dict[str, jax.Array] = {}
    for name, weight in w.terms().items():
        # Static zero: skip the term (and, via Passes' needs, the passes only it needs).
        weighted[name] = weight * terms[name]() if weight != 0.0 else jnp.zeros((), jnp.float32)
    total = sum(weighted.values())
    images = {"content": c, "style": s} | {k: p.images[k] for k in ("o1", "o2") if k in p.images}
    return total, weighted, images


def discriminator_losses(
    disc: Mapping[str, Any], images: Mapping[str, jax.Array], *, model: RASTModel
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """LSGAN losses of both discriminators on real images and (stopped) stylized images.

    ``disc_style`` (D1): real style images -> 1, ``T(c,s)`` -> 0; ``disc_content`` (D2): real
    content images -> 1, ``T(s,c)`` -> 0. Returns ``(sum, {"disc_style": .., "disc_content": ..})``.
    """
    o1, o2 = jax.lax.stop_gradient(images["o1"]), jax.lax.stop_gradient(images["o2"])
    d1 = lsgan_loss(model.discriminate(disc["disc_style"], images["style"]), 1.0) + lsgan_loss(
        model.discriminate(disc["disc_style"], o1), 0.0
    )
    d2 = lsgan_loss(model.discriminate(disc["disc_content"], images["content"]), 1.0) + lsgan_loss(
        model.discriminate(disc["disc_content"], o2), 0.0
    )
    return d1 + d2, {"disc_style": d1, "disc_content": d2}
