"""Style swap: the op's properties and its parity with the official algorithm in PyTorch."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import FAST_COMPILE

from jaxstyle.errors import InputError
from jaxstyle.ops.style_swap import extract_patches, match_patches, style_swap


def _features(seed: int, shape: tuple[int, ...]) -> jax.Array:
    """Strictly positive random features: no zero patches, no two patches proportional."""
    return jax.random.uniform(jax.random.PRNGKey(seed), shape, minval=0.1, maxval=1.0)


# ----------------------------------------------------------------------------- op properties


def test_every_patch_of_a_map_matches_itself_and_self_swap_returns_the_map():
    x = _features(0, (9, 11, 8))
    idx = match_patches(x, x, chunk=5)
    np.testing.assert_array_equal(idx, np.arange(7 * 9).reshape(7, 9))
    # the overlap average of nine copies of a value is that value up to float rounding
    np.testing.assert_allclose(style_swap(x, x, chunk=5), x, rtol=1e-6, atol=0)


def test_chunked_swap_equals_unchunked():
    content, style = _features(1, (12, 10, 6)), _features(2, (11, 13, 6))
    n = extract_patches(style, 3, 1).shape[0]
    assert n % 7  # chunks of 7 leave masked padding patches in the last chunk
    np.testing.assert_array_equal(style_swap(content, style, chunk=7), style_swap(content, style, chunk=n))


def test_swap_vmapped_over_pairs_equals_each_pair_under_jit():
    contents, styles = _features(3, (3, 10, 9, 5)), _features(4, (3, 8, 12, 5))
    swap = functools.partial(style_swap, patch=3, stride=1, chunk=16)
    batched = jax.jit(jax.vmap(swap))(contents, styles)
    for i in range(3):
        np.testing.assert_allclose(batched[i], swap(contents[i], styles[i]), rtol=1e-6, atol=1e-7)


def test_swap_of_mismatched_or_too_small_maps_is_refused():
    with pytest.raises(InputError, match="channels"):
        style_swap(jnp.ones((5, 5, 3)), jnp.ones((5, 5, 4)))
    with pytest.raises(InputError, match="does not fit"):
        style_swap(jnp.ones((2, 5, 3)), jnp.ones((5, 5, 3)))


# ----------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize(
    ("patch", "stride", "hw"),
    [(3, 1, (13, 11)), (3, 2, (13, 11)), pytest.param(5, 1, (12, 12), marks=pytest.mark.slow)],
)
def test_swap_equals_the_official_algorithm_in_pytorch(patch, stride, hw):
    torch = pytest.importorskip("torch")
    from tests.torch_ref import style_swap_torch

    rng = np.random.default_rng(patch * 10 + stride)
    # relu-like features: non-negative with exact zeros, as the encoder gives
    content = np.maximum(rng.standard_normal((*hw, 16)), 0).astype(np.float32)
    style = np.maximum(rng.standard_normal((10, 14, 16)), 0).astype(np.float32)
    ours = np.asarray(style_swap(jnp.asarray(content), jnp.asarray(style), patch, stride, chunk=9))
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    ref = style_swap_torch(to_t(content), to_t(style), patch, stride)[0].permute(1, 2, 0).numpy()
    h, w = ref.shape[:2]  # the rows/columns a stride that does not tile leaves uncovered are ours only
    np.testing.assert_allclose(ours[:h, :w], ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours[h:], content[h:])
    np.testing.assert_array_equal(ours[:, w:], content[:, w:])


# ----------------------------------------------------------------------------- the method


def test_irasin_decoder_import_matches_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from jaxstyle.methods.styleswap.importer import load_irasin_decoder
    from jaxstyle.models.decoder import Decoder
    from tests.torch_ref import IrasinDecoder, save_state_dict

    torch.manual_seed(0)
    ref = IrasinDecoder().eval()
    path = save_state_dict(ref.state_dict(), tmp_path / "model_state.pth")
    params = load_irasin_decoder(path)
    feats = np.random.default_rng(0).uniform(0, 1, (1, 5, 6, 256)).astype(np.float32)
    ours = Decoder(layer="relu3_1").apply({"params": params}, jnp.asarray(feats))
    with torch.no_grad():
        theirs = ref(torch.from_numpy(feats).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert ours.shape == (1, 20, 24, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_irasin_import_refuses_another_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    from jaxstyle.errors import WeightsError
    from jaxstyle.methods.styleswap.importer import load_irasin_decoder
    from tests.torch_ref import save_state_dict

    path = save_state_dict({"rc1.conv.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="not an irasin style-swap decoder"):
        load_irasin_decoder(path)


def _small_images(content_paths, style_paths):
    from jaxstyle.io import load_image, resize

    contents = [resize(load_image(p), (32, 40)) for p in content_paths[:2]]
    styles = [resize(load_image(p), (36, 32)) for p in style_paths[:2]]
    return contents, styles


def test_optimization_stylizes_batched_pairs_as_each_pair_alone(content_paths, style_paths):
    from jaxstyle.methods import load_stylizer

    contents, styles = _small_images(content_paths, style_paths)
    stylizer = load_stylizer("styleswap", steps=3, swap_chunk=64)
    both = stylizer.stylize(contents, styles, size=40)  # one program, the pair axis batched
    alone = stylizer.stylize(contents[1:], styles[1:], size=40)
    assert both[0].shape == (32, 40, 3) and np.isfinite(both[0]).all()  # a NaN image is "not the content" too
    assert not np.allclose(both[0], contents[0], atol=1e-3)
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-5, atol=1e-5, equal_nan=False)


def test_refine_steps_without_a_trained_network_and_swap_flags_elsewhere_are_refused():
    from jaxstyle.cli import main

    assert main(["stylize", "--method", "styleswap", "--refine-steps", "3"]) == 2
    assert main(["stylize", "--method", "gatys", "--patch-size", "5"]) == 2
    assert main(["stylize", "--method", "styleswap", "--swap-stride", "4"]) == 2  # > patch size


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, images_dir):
    from jaxstyle.config import load_config
    from jaxstyle.train import train

    workdir = tmp_path_factory.mktemp("styleswap_tiny")
    cfg = load_config("configs/styleswap.py:tiny", [
        f"--config.data.content_dir={images_dir / 'content'}", f"--config.data.style_dir={images_dir / 'style'}",
        "--config.train.steps=12", "--config.train.sample_every=0", "--config.train.checkpoint_every=12",
    ])  # fmt: skip
    train(cfg, workdir)
    return workdir


@pytest.mark.slow  # a tiny training run: ~40 s of compiles on the 2-core CPU
def test_tiny_inverse_network_training_lowers_the_loss(tiny_run):
    import json

    losses = [json.loads(line)["loss/feature"] for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


@pytest.mark.slow  # a tiny training run: ~40 s of compiles on the 2-core CPU
def test_trained_workdir_stylizes_through_the_cli(tiny_run, images_dir, tmp_path):
    from jaxstyle.cli import main
    from jaxstyle.io import load_image

    out = tmp_path / "out.png"
    args = ["stylize", "--method", "styleswap", "--checkpoint", str(tiny_run), "--size", "48",
            "--content", str(images_dir / "content" / "tubingen.jpg"),
            "--style", str(images_dir / "style" / "udnie.jpg"), "--output", str(out), "--no-sheet"]
    assert main(args) == 0
    assert load_image(out).shape[2] == 3 and max(load_image(out).shape[:2]) == 48
    assert main([*args, "--steps", "3"]) == 2  # a trained network has no --steps (--refine-steps)


@pytest.mark.slow  # a tiny training run: ~40 s of compiles on the 2-core CPU
def test_refine_steps_start_from_the_decoded_image_and_move_it(tiny_run, content_paths, style_paths):
    from jaxstyle.methods import load_stylizer

    contents, styles = _small_images(content_paths, style_paths)
    decoded = load_stylizer("styleswap", tiny_run).stylize(contents[:1], styles[:1])[0]
    one_step = load_stylizer("styleswap", tiny_run, refine_steps=1, lr=1e-6).stylize(contents[:1], styles[:1])[0]
    refined = load_stylizer("styleswap", tiny_run, refine_steps=3, lr=0.05).stylize(contents[:1], styles[:1])[0]
    np.testing.assert_allclose(one_step, decoded, atol=1e-4)  # a negligible step keeps the start
    assert np.abs(refined - decoded).mean() > 1e-3


SHARDED_RUN = """
import sys, numpy as np
sys.path.insert(0, {repo!r})
from jaxstyle.methods import load_stylizer
rng = np.random.default_rng(0)
contents = [rng.random((32, 40, 3), np.float32) for _ in range(3)]
styles = [rng.random((36, 32, 3), np.float32) for _ in range(3)]
out = load_stylizer("styleswap", steps=3, swap_chunk=64).stylize(contents, styles, size=40)
np.save({out!r}, np.stack(out))
"""


@pytest.mark.slow  # two interpreters, each compiling the engine's program
def test_pairs_sharded_over_two_devices_equal_one_device(tmp_path):
    from tests.conftest import REPO, run_python

    results = []
    for devices in (2, 1):
        out = tmp_path / f"out{devices}.npy"
        proc = run_python(SHARDED_RUN.format(repo=str(REPO), out=str(out)),
                          env={"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results.append(np.load(out))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-5)
