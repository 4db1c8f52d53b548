"""Spatial sharding: one pair's image, optimizer state and feature maps split along height
over devices (EngineConfig.spatial_shards) compute what one device computes, in less memory."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import FAST_COMPILE, run_cli_processes, run_python

from jaxstyle.errors import InputError
from jaxstyle.losses import content_loss, gram_matrix, gram_style_loss, total_variation
from jaxstyle.models.conv import conv_hwio
from jaxstyle.models.vgg import pool2x2
from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs


@dataclasses.dataclass(frozen=True)
class TinyGatys:
    """Gatys's structure at toy width: three 3x3 convs (halos), a 2x2 pool, Gram and content losses
    (sums over all positions: global reductions across height shards) and TV."""

    extra_inputs = ()

    def frozen(self):
        rng = np.random.default_rng(0)
        return [jnp.asarray(rng.normal(0, 0.4, shape), jnp.float32) for shape in ((3, 3, 3, 8), (3, 3, 8, 8), (3, 3, 8, 8))]

    def features(self, kernels, x):
        f1 = jax.nn.relu(conv_hwio(x, kernels[0], 1))
        f2 = jax.nn.relu(conv_hwio(f1, kernels[1], 1))
        return f1, jax.nn.relu(conv_hwio(pool2x2(f2, "max"), kernels[2], 1))

    def prepare(self, frozen, inputs):
        s1, s3 = self.features(frozen, inputs["style"])
        return {"grams": (gram_matrix(s1), gram_matrix(s3)), "content": self.features(frozen, inputs["content"])[1]}

    def init(self, inputs, rng, image):
        return {"image": image}

    def loss(self, variables, targets, frozen):
        x = variables["image"][None]
        f1, f3 = self.features(frozen, x)
        parts = {"style": 1e2 * (gram_style_loss(f1, targets["grams"][0]) + gram_style_loss(f3, targets["grams"][1])),
                 "content": content_loss(f3, targets["content"][None]), "tv": total_variation(x)}
        return sum(parts.values()), parts

    def image(self, variables):
        return variables["image"]


def tiny_pairs(mixed_styles: bool = True):
    """Two pairs of 32x48 contents; styles of two shapes (targets prepared per shape) or one."""
    rng = np.random.default_rng(3)
    contents = [rng.random((32, 48, 3), np.float32), rng.random((32, 48, 3), np.float32)]
    styles = [rng.random((40, 40, 3), np.float32), rng.random((24, 40, 3) if mixed_styles else (40, 40, 3), np.float32)]
    return make_pairs(contents, styles, "zip")


SCRIPT = """
import json, sys; sys.path.insert(0, "tests")
import jax, numpy as np
from test_spatial import TinyGatys, tiny_pairs
from jaxstyle.optimize import EngineConfig, optimize_pairs
from jaxstyle.optimize.engine import chunk_memory
assert jax.device_count() == 4
out = {{}}
for optimizer in {optimizers!r}:
    for n in {shards!r}:
        cfg = EngineConfig(size=48, steps=6, chunk={chunk}, optimizer=optimizer, spatial_shards=n)
        results = optimize_pairs(TinyGatys(), tiny_pairs({mixed}), cfg)
        out[f"{{optimizer}}{{n}}"] = np.stack([r.image for r in results])
np.savez({out!r}, **out)
memory = {{n: chunk_memory(TinyGatys(), EngineConfig(optimizer="adam", spatial_shards=n), (128, 128),
                          devices=jax.devices()[:n]) for n in {memory_shards!r}}}
print("MEMORY", json.dumps(memory))
"""


def run_on_4_devices(tmp_path, optimizers: tuple[str, ...], shards: tuple[int, ...], mixed: bool,
                     memory_shards: tuple[int, ...] = ()) -> tuple[dict, dict]:
    """Images of 1 and ``shards`` height shards of TinyGatys on 4 forced CPU devices (pairs over
    the rest), and :func:`chunk_memory` at 128 px for ``memory_shards``."""
    out = tmp_path / "spatial.npz"
    code = SCRIPT.format(out=str(out), optimizers=optimizers, shards=(1, *shards), mixed=mixed,
                         chunk=6 if not mixed else 3, memory_shards=memory_shards)
    proc = run_python(code, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=4 {FAST_COMPILE}"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    memory = json.loads(proc.stdout.split("MEMORY", 1)[1])
    return dict(np.load(out)), {int(n): m for n, m in memory.items()}


def assert_sharded_equal_unsharded(images: dict, optimizers: tuple[str, ...], shards: tuple[int, ...]) -> None:
    """Float tolerance 1e-5 (images in [0, 1]): sums over positions are split into per-shard
    partial sums plus an all-reduce, so only the rounding of those sums differs."""
    for optimizer in optimizers:
        reference = images[f"{optimizer}1"]
        assert np.abs(reference - tiny_pairs()[0].content).max() > 1e-2  # it did optimize
        for n in shards:
            np.testing.assert_allclose(images[f"{optimizer}{n}"], reference, atol=1e-5, err_msg=f"{optimizer} x{n}",
                                       equal_nan=False)


def test_4_height_shards_equal_one_device_in_about_a_quarter_of_the_memory(tmp_path):
    """L-BFGS over 4 height shards == unsharded; per-device compiled memory (memory_analysis of
    the loop, Adam, 128 px): temp and argument bytes fall to about 1/4 (halo rows and the
    replicated kernels and Grams are the excess)."""
    images, memory = run_on_4_devices(tmp_path, ("lbfgs",), (4,), mixed=False, memory_shards=(1, 4))
    assert_sharded_equal_unsharded(images, ("lbfgs",), (4,))
    assert memory[4]["temp"] < 1.25 * memory[1]["temp"] / 4, memory
    assert memory[4]["argument"] < 1.25 * memory[1]["argument"] / 4 + 64 * 1024, memory


REAL_ENCODER = """
import jax, numpy as np
from jaxstyle.io import load_image, resize
from jaxstyle.optimize import StylizeConfig, stylize
assert jax.device_count() == 2
content, style = resize(load_image({content!r}), (32, 48)), resize(load_image({style!r}), (40, 40))
out = {{}}
for n in (1, 2):
    cfg = StylizeConfig(size=48, steps=4, chunk=4, optimizer="lbfgs", spatial_shards=n,
                        content_layers=("relu2_2",), style_layers=("relu1_1", "relu2_1", "relu3_1"))
    out[str(n)] = stylize([content], [style], cfg)[0]
np.savez({out!r}, content=content, **out)
"""


def test_2_height_shards_of_the_real_vgg16_equal_one_device(tmp_path, content_paths, style_paths):
    """The embedded VGG16 (its own convolution and pooling code, halos through three blocks)
    over 2 forced CPU devices: the image split along its height equals one device's result."""
    out = tmp_path / "real.npz"
    code = REAL_ENCODER.format(content=str(content_paths[0]), style=str(style_paths[0]), out=str(out))
    proc = run_python(code, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=2 {FAST_COMPILE}"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    images = dict(np.load(out))
    assert np.abs(images["1"] - images["content"]).max() > 1e-2  # it did optimize
    np.testing.assert_allclose(images["2"], images["1"], atol=1e-5, equal_nan=False)


@pytest.mark.slow
def test_2_and_4_height_shards_equal_one_device_for_adam_lbfgs_and_mixed_style_shapes(tmp_path):
    images, _ = run_on_4_devices(tmp_path, ("adam", "lbfgs"), (2, 4), mixed=True)
    assert_sharded_equal_unsharded(images, ("adam", "lbfgs"), (2, 4))


PADDED = """
import sys; sys.path.insert(0, "tests")
import jax, numpy as np
import jaxstyle.optimize.engine as engine
from test_collection import TinyMasked
from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs
rng = np.random.default_rng(3)
pairs = make_pairs([rng.random((31, 48, 3), np.float32)], [rng.random((40, 40, 3), np.float32)])
images = {n: optimize_pairs(TinyMasked(), pairs, EngineConfig(size=48, steps=6, chunk=3, spatial_shards=n))[0].image
          for n in (2, 4)}
real = engine._placer  # the reference: one device, the canvas 4 shards pad to (32 rows)
engine._placer = lambda objective, batching, shards, heights: real(objective, batching, 4, heights)
reference = optimize_pairs(TinyMasked(), pairs, EngineConfig(size=48, steps=6, chunk=3))[0].image
assert reference.shape == (31, 48, 3) and np.abs(reference - pairs[0].content).max() > 1e-2
for n, image in images.items():
    np.testing.assert_allclose(image, reference, atol=1e-5, err_msg=str(n))
print("OK")
"""


def test_any_height_is_padded_to_the_shards_and_equals_one_device_on_that_canvas():
    """31 rows over 2 and 4 height shards: padded to 32 (masked out of the losses, cropped back),
    never cropped or refused; equal to one device running the same padded canvas."""
    proc = run_python(PADDED, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=4 {FAST_COMPILE}"})
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_heights_that_do_not_divide_are_refused_in_one_line():
    """For an objective that can neither pad nor resize (TinyGatys declares no fits)."""
    pairs = make_pairs([np.zeros((30, 48, 3), np.float32)], [np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(InputError, match="--spatial-shards 4 needs image heights divisible by 4, got 30 px") as err:
        optimize_pairs(TinyGatys(), pairs, EngineConfig(size=48, steps=1, spatial_shards=4))
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="--spatial-shards must be positive"):
        EngineConfig(spatial_shards=0)


def test_the_cli_refuses_more_shards_than_devices(tmp_path, capsys):
    from conftest import run_cli

    code, _, err = run_cli(["stylize", "--size", "32", "--steps", "1", "--spatial-shards", "3",
                            "--output", str(tmp_path / "out")], capsys)
    assert code == 2 and "--spatial-shards 3 must divide the device count" in err and not (tmp_path / "out").exists()
    code, _, err = run_cli(["stylize", "--method", "adain", "--spatial-shards", "2"], capsys)
    assert code == 2 and "--spatial-shards" in err


@pytest.mark.slow  # two processes each compiling VGG16 (~1-2 min on the loaded 2-core box)
def test_two_processes_share_one_image_and_match_one_process(tmp_path):
    """jax.distributed over 127.0.0.1, one device each: --spatial-shards 2 splits the image's
    height across the processes; process 0 writes it, and it equals a one-process run."""
    from jaxstyle.cli import main
    from jaxstyle.io import load_image

    args = ["stylize", "--size", "96", "--steps", "4", "--optimizer", "adam", "--content", "sample:chelsea",
            "--style-layers", "relu1_1,relu2_1,relu3_1", "--no-sheet"]  # chelsea at 96 px: 64 x 96
    runs = run_cli_processes([*args, "--spatial-shards", "2", "--output", str(tmp_path / "multi")])
    for code, _, err in runs:
        assert code == 0, err[-2000:]
    wrote = [[line for line in out.splitlines() if line.startswith("wrote ")] for _, out, _ in runs]
    assert wrote == [[f"wrote {tmp_path / 'multi' / 'chelsea__starry_night.png'}"], []]
    assert main([*args, "--output", str(tmp_path / "single")]) == 0
    a, b = (load_image(tmp_path / d / "chelsea__starry_night.png") for d in ("multi", "single"))
    assert np.abs(a - b).max() <= 1 / 255 + 1e-6


RESUME = """
import sys; sys.path.insert(0, "tests")
import jax, numpy as np
from test_spatial import TinyGatys, tiny_pairs
from jaxstyle.optimize import EngineConfig, optimize_pairs
cfg = EngineConfig(size=48, steps=8, chunk=2, optimizer="lbfgs", spatial_shards=2)
full = optimize_pairs(TinyGatys(), tiny_pairs(False), cfg)

class Stop(Exception):
    pass

def stop_at_4(step, losses):
    if step >= 4:
        raise Stop
try:
    optimize_pairs(TinyGatys(), tiny_pairs(False), cfg, checkpoint_dir={ckpt!r}, checkpoint_every=2, progress=stop_at_4)
except Stop:
    pass
seen = []
resumed = optimize_pairs(TinyGatys(), tiny_pairs(False), cfg, checkpoint_dir={ckpt!r}, checkpoint_every=2,
                         progress=lambda s, _: seen.append(s))
assert seen[0] == 4, seen  # resumed from the step-2 checkpoint (stopped before saving step 4)
for a, b in zip(full, resumed):
    np.testing.assert_array_equal(a.image, b.image)
print("OK")
"""


@pytest.mark.slow
def test_spatially_sharded_run_resumes_from_its_checkpoint_bit_exactly(tmp_path):
    """Orbax saves and restores the height-split state; the resumed run ends where an
    uninterrupted one does."""
    proc = run_python(RESUME.format(ckpt=str(tmp_path / "ckpt")),
                      env={"XLA_FLAGS": f"--xla_force_host_platform_device_count=4 {FAST_COMPILE}"})
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
