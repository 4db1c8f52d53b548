"""Flax VGG16/VGG19 taps vs a plain PyTorch VGG holding the same weights, on a real photo.

Measured on the 2-core CPU box (224x224 photo): the largest |jax - torch| is ~3e-5 (VGG16,
relu4_3, activations up to ~70), well inside the 1e-4 absolute bound. Both sides compute
float32 convolutions in full precision on CPU; ``default_matmul_precision("highest")`` only
matters on accelerators (TF32/bf16 passes), where it keeps this test meaningful.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch_ref as tr
from PIL import Image

from jaxstyle.models.vgg import VGGConfig, layer_names, vgg_features

ATOL = 1e-4
RTOL = 2e-6  # of the largest reference activation; a wrong port is off by O(1)


@pytest.fixture(scope="module")
def photo(content_paths) -> np.ndarray:
    """A real photo, 224x224 RGB in [0, 1], NHWC."""
    img = Image.open(content_paths[0]).convert("RGB").resize((224, 224), Image.BICUBIC)
    return (np.asarray(img, np.float32) / 255.0)[None]


def _ours(params, images, layers, config) -> dict[str, np.ndarray]:
    with jax.default_matmul_precision("highest"):
        feats = vgg_features(params, jnp.asarray(images), tuple(layers), config)
    return {k: np.asarray(v) for k, v in feats.items()}


def _reference(params, images, layers, arch, pooling, padding) -> dict[str, np.ndarray]:
    model = tr.load_into(tr.vgg_features(arch, pooling, padding), params, arch)
    return tr.run_taps(model, tr.torch_normalize(images), tr.torchvision_indices(arch), layers)


def _assert_close(ours, ref):
    for name in ref:
        assert ours[name].shape == ref[name].shape, name
        err = float(np.abs(ours[name] - ref[name]).max())
        # float32 summation order differs between CPUs (AVX-512 vs AVX2 kernels): 1.1e-4 on
        # conv3_2's maps of up to 89 on an AVX2-only CPU, so the bound scales with the maps.
        assert err < max(ATOL, RTOL * float(np.abs(ref[name]).max())), (
            f"{name}: max |jax - torch| = {err:.3g} (max |ref| {np.abs(ref[name]).max():.3g})"
        )


def _taps(arch: str) -> list[str]:
    """Every tap: convs, relus and pools of all blocks, down to relu5_3/relu5_4 and pool5."""
    return layer_names(arch)


# Between them the two architectures cover max/avg pooling and zero/reflect padding.
@pytest.mark.parametrize(("pooling", "padding"), [("max", "zero"), ("avg", "reflect")])
def test_vgg16_embedded_matches_torch(vgg16, photo, pooling, padding):
    params = jax.tree_util.tree_map(np.asarray, vgg16.params)
    layers = _taps("vgg16")
    config = VGGConfig(arch="vgg16", pooling=pooling, padding=padding, normalization="torch")
    ref = _reference(params, photo, layers, "vgg16", pooling, padding)
    _assert_close(_ours(params, photo, layers, config), ref)
    assert ref["relu5_3"].max() > 1.0  # real weights give non-trivial deep features


@pytest.mark.parametrize(("pooling", "padding"), [("max", "reflect"), ("avg", "zero")])
def test_vgg19_random_matches_torch(photo, pooling, padding):
    params = tr.he_params("vgg19", seed=1)
    layers = _taps("vgg19")
    config = VGGConfig(arch="vgg19", pooling=pooling, padding=padding, normalization="torch")
    ref = _reference(params, photo, layers, "vgg19", pooling, padding)
    _assert_close(_ours(params, photo, layers, config), ref)
    assert ref["relu5_4"].max() > 1.0  # He init keeps the scale: the comparison is not of zeros


@pytest.mark.parametrize("remat", [False, True])
def test_truncation_needs_only_the_layers_it_runs(photo, remat):
    """Shallow taps work with params that stop there: deeper layers are never touched."""
    full = tr.he_params("vgg16", seed=2)
    photo = photo[:, 64:160, 64:160]  # a 96x96 crop is plenty for two blocks
    config = VGGConfig(arch="vgg16", remat=remat)
    block1 = {k: full[k] for k in ("conv1_1", "conv1_2")}
    ours = _ours(block1, photo, ["relu1_2", "pool1"], config)
    _assert_close(ours, _reference(block1, photo, ["relu1_2", "pool1"], "vgg16", "max", "zero"))

    # Part of a block: relu2_1 needs conv2_1 but not conv2_2.
    upto = {**block1, "conv2_1": full["conv2_1"]}
    ours = _ours(upto, photo, ["relu1_1", "relu2_1"], config)
    _assert_close(ours, _reference(upto, photo, ["relu1_1", "relu2_1"], "vgg16", "max", "zero"))

    with pytest.raises(KeyError):  # and the check above is real: a needed layer is looked up
        _ours(upto, photo, ["relu2_2"], config)
