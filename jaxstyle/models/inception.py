"""Inception-v3 up to its 2048-d pool features: the FID network and torchvision's variant, NHWC.

Two networks share one layout (torchvision's ``Inception3``; parameters mirror its state_dict
module paths, ``Mixed_5b/branch1x1``...) and differ in four pooling branches:

==========  =====================================================================================
variant     pooling branch of Mixed_5b-5d (A), 6b-6e (C), 7b (E), 7c (E)
==========  =====================================================================================
``fid``     pytorch-fid's ``FIDInceptionA/C/E_1``: 3x3/1 average pool that does NOT count the
            zero padding (TensorFlow's), and ``FIDInceptionE_2`` (Mixed_7c): 3x3/1 MAX pool.
            The network of FID (pytorch-fid's ``pt_inception-2015-12-05``, ported from TF).
``tv``      torchvision's blocks: 3x3/1 average pools that count the padded zeros, average pool
            in both E blocks. ArtFID's ``art_inception`` (its ``inception.py`` copies torchvision).
==========  =====================================================================================

Each ``BasicConv2d`` (conv without bias, batch norm eps 1e-3, ReLU) is stored with its batch
norm folded in: ``{"kernel": HWIO, "bias"}`` (the importer,
:mod:`jaxstyle.weights.inception_import`, folds once). :func:`pool_features` is pure:
``(params, (N, H, W, 3)) -> (N, 2048)``, stem to ``Mixed_7c`` and a global average pool (the
``AdaptiveAvgPool2d(1)``; dropout is off at evaluation). Inputs must be at least 75 x 75 px
(every stride-2 stage still has one valid position). What the input is (299 px, [-1, 1]) is
decided by the caller (:mod:`jaxstyle.metrics.fid`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

VARIANTS = ("fid", "tv")
MIN_SIZE = 75  # px: the smallest input for which every stage has an output position
FEATURES = 2048

# (cin, cout, (kh, kw), stride, (pad_h, pad_w)) of one BasicConv2d.
ConvSpec = tuple[int, int, tuple[int, int], int, tuple[int, int]]


def _c(cin: int, cout: int, k: int | tuple[int, int], stride: int = 1, pad: int | tuple[int, int] = 0) -> ConvSpec:
    k = (k, k) if isinstance(k, int) else k
    pad = (pad, pad) if isinstance(pad, int) else pad
    return (cin, cout, k, stride, pad)


STEM: dict[str, ConvSpec] = {
    "Conv2d_1a_3x3": _c(3, 32, 3, 2),
    "Conv2d_2a_3x3": _c(32, 32, 3),
    "Conv2d_2b_3x3": _c(32, 64, 3, 1, 1),
    # maxpool 3/2
    "Conv2d_3b_1x1": _c(64, 80, 1),
    "Conv2d_4a_3x3": _c(80, 192, 3),
    # maxpool 3/2
}


def _block_a(cin: int, pool: int) -> dict[str, ConvSpec]:
    return {"branch1x1": _c(cin, 64, 1),
            "branch5x5_1": _c(cin, 48, 1), "branch5x5_2": _c(48, 64, 5, 1, 2),
            "branch3x3dbl_1": _c(cin, 64, 1), "branch3x3dbl_2": _c(64, 96, 3, 1, 1),
            "branch3x3dbl_3": _c(96, 96, 3, 1, 1),
            "branch_pool": _c(cin, pool, 1)}


def _block_b(cin: int) -> dict[str, ConvSpec]:
    return {"branch3x3": _c(cin, 384, 3, 2),
            "branch3x3dbl_1": _c(cin, 64, 1), "branch3x3dbl_2": _c(64, 96, 3, 1, 1),
            "branch3x3dbl_3": _c(96, 96, 3, 2)}


def _block_c(cin: int, c7: int) -> dict[str, ConvSpec]:
    return {"branch1x1": _c(cin, 192, 1),
            "branch7x7_1": _c(cin, c7, 1), "branch7x7_2": _c(c7, c7, (1, 7), 1, (0, 3)),
            "branch7x7_3": _c(c7, 192, (7, 1), 1, (3, 0)),
            "branch7x7dbl_1": _c(cin, c7, 1), "branch7x7dbl_2": _c(c7, c7, (7, 1), 1, (3, 0)),
            "branch7x7dbl_3": _c(c7, c7, (1, 7), 1, (0, 3)), "branch7x7dbl_4": _c(c7, c7, (7, 1), 1, (3, 0)),
            "branch7x7dbl_5": _c(c7, 192, (1, 7), 1, (0, 3)),
            "branch_pool": _c(cin, 192, 1)}


def _block_d(cin: int) -> dict[str, ConvSpec]:
    return {"branch3x3_1": _c(cin, 192, 1), "branch3x3_2": _c(192, 320, 3, 2),
            "branch7x7x3_1": _c(cin, 192, 1), "branch7x7x3_2": _c(192, 192, (1, 7), 1, (0, 3)),
            "branch7x7x3_3": _c(192, 192, (7, 1), 1, (3, 0)), "branch7x7x3_4": _c(192, 192, 3, 2)}


def _block_e(cin: int) -> dict[str, ConvSpec]:
    return {"branch1x1": _c(cin, 320, 1),
            "branch3x3_1": _c(cin, 384, 1), "branch3x3_2a": _c(384, 384, (1, 3), 1, (0, 1)),
            "branch3x3_2b": _c(384, 384, (3, 1), 1, (1, 0)),
            "branch3x3dbl_1": _c(cin, 448, 1), "branch3x3dbl_2": _c(448, 384, 3, 1, 1),
            "branch3x3dbl_3a": _c(384, 384, (1, 3), 1, (0, 1)), "branch3x3dbl_3b": _c(384, 384, (3, 1), 1, (1, 0)),
            "branch_pool": _c(cin, 192, 1)}


# (name, kind, convs) in forward order; A, C and E blocks end with a pooling branch.
MIXED: tuple[tuple[str, str, dict[str, ConvSpec]], ...] = (
    ("Mixed_5b", "A", _block_a(192, 32)),
    ("Mixed_5c", "A", _block_a(256, 64)),
    ("Mixed_5d", "A", _block_a(288, 64)),
    ("Mixed_6a", "B", _block_b(288)),
    ("Mixed_6b", "C", _block_c(768, 128)),
    ("Mixed_6c", "C", _block_c(768, 160)),
    ("Mixed_6d", "C", _block_c(768, 160)),
    ("Mixed_6e", "C", _block_c(768, 192)),
    ("Mixed_7a", "D", _block_d(768)),
    ("Mixed_7b", "E", _block_e(1280)),
    ("Mixed_7c", "E", _block_e(2048)),
)


def conv_specs() -> dict[str, ConvSpec]:
    """Every BasicConv2d by its state_dict module path (``Mixed_5b.branch1x1``), forward order."""
    specs = dict(STEM)
    for name, _, convs in MIXED:
        specs.update({f"{name}.{branch}": spec for branch, spec in convs.items()})
    return specs


def param_shapes() -> dict[str, Any]:
    """The parameter tree: ``{module: {branch: {"kernel": HWIO, "bias": (cout,)}}}`` (BN folded)."""
    tree: dict[str, Any] = {}
    for path, (cin, cout, (kh, kw), _, _) in conv_specs().items():
        node = tree
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = {"kernel": (kh, kw, cin, cout), "bias": (cout,)}
    return tree


# ----------------------------------------------------------------------------- ops

_DIMS = ("NHWC", "HWIO", "NHWC")


def _basic_conv(p: Mapping[str, jax.Array], x: jax.Array, spec: ConvSpec) -> jax.Array:
    """conv + folded batch norm + ReLU. HIGHEST precision: a metric must not change with TF32."""
    _, _, _, stride, (ph, pw) = spec
    y = jax.lax.conv_general_dilated(x, p["kernel"], (stride, stride), ((ph, ph), (pw, pw)),
                                     dimension_numbers=_DIMS, precision=jax.lax.Precision.HIGHEST)
    return jax.nn.relu(y + p["bias"])


def _window(x: jax.Array, init: float, op, stride: int, pad: int) -> jax.Array:
    pads = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    return jax.lax.reduce_window(x, init, op, (1, 3, 3, 1), (1, stride, stride, 1), pads)


def max_pool3(x: jax.Array, stride: int, pad: int = 0) -> jax.Array:
    """3x3 max pool (floor mode; padding never wins, as PyTorch's -inf padding)."""
    return _window(x, -jnp.inf, jax.lax.max, stride, pad)


def avg_pool3_same(x: jax.Array, count_pad: bool) -> jax.Array:
    """3x3/1 average pool with 1 px of zero padding; ``count_pad`` divides by 9 everywhere
    (PyTorch's default), otherwise by the number of real pixels under the window (TF's)."""
    total = _window(x, 0.0, jax.lax.add, 1, 1)
    if count_pad:
        return total / 9.0
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    return total / _window(ones, 0.0, jax.lax.add, 1, 1)


def _pool_branch(x: jax.Array, name: str, variant: str) -> jax.Array:
    if variant == "fid" and name == "Mixed_7c":
        return max_pool3(x, 1, 1)  # FIDInceptionE_2
    return avg_pool3_same(x, count_pad=variant == "tv")


def _mixed(p: Mapping[str, Any], x: jax.Array, name: str, kind: str, convs: Mapping[str, ConvSpec],
           variant: str) -> jax.Array:
    def run(*branches: str, inp: jax.Array = x) -> jax.Array:
        for b in branches:
            inp = _basic_conv(p[b], inp, convs[b])
        return inp

    if kind == "A":
        outs = [run("branch1x1"), run("branch5x5_1", "branch5x5_2"),
                run("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")]
    elif kind == "B":
        outs = [run("branch3x3"), run("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), max_pool3(x, 2)]
    elif kind == "C":
        outs = [run("branch1x1"), run("branch7x7_1", "branch7x7_2", "branch7x7_3"),
                run("branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5")]
    elif kind == "D":
        outs = [run("branch3x3_1", "branch3x3_2"),
                run("branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"), max_pool3(x, 2)]
    else:  # E: the 3x3 branches split into 1x3 and 3x1 halves
        b3 = run("branch3x3_1")
        dbl = run("branch3x3dbl_1", "branch3x3dbl_2")
        outs = [run("branch1x1"),
                jnp.concatenate([run("branch3x3_2a", inp=b3), run("branch3x3_2b", inp=b3)], -1),
                jnp.concatenate([run("branch3x3dbl_3a", inp=dbl), run("branch3x3dbl_3b", inp=dbl)], -1)]
    if kind in ("A", "C", "E"):
        outs.append(run("branch_pool", inp=_pool_branch(x, name, variant)))
    return jnp.concatenate(outs, axis=-1)


def pool_features(params: Mapping[str, Any], images: jax.Array, variant: str = "fid") -> jax.Array:
    """The 2048-d pool features: (N, H, W, 3) network input (H, W >= 75) -> (N, 2048).

    ``images`` are taken as given (pytorch-fid resizes to 299 and maps to [-1, 1] first; ArtFID
    feeds [0, 1] at the image's own size): see :mod:`jaxstyle.metrics.fid`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown Inception variant {variant!r}; expected one of {VARIANTS}")
    x = images
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
        x = _basic_conv(params[name], x, STEM[name])
    x = max_pool3(x, 2)
    for name in ("Conv2d_3b_1x1", "Conv2d_4a_3x3"):
        x = _basic_conv(params[name], x, STEM[name])
    x = max_pool3(x, 2)
    for name, kind, convs in MIXED:
        x = _mixed(params[name], x, name, kind, convs, variant)
    return jnp.mean(x, axis=(1, 2))
