"""The temporal loss as one more objective input (jaxstyle.optimize.temporal) and `video --temporal`."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli

from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs
from jaxstyle.optimize.temporal import Temporal


@dataclasses.dataclass(frozen=True)
class Reconstruct:
    """The content, pixel for pixel: mean((x - c)^2)."""

    extra_inputs = ()

    def frozen(self):
        return None

    def prepare(self, frozen, inputs):
        return {"content": inputs["content"]}

    def init(self, inputs, rng, image):
        return {"image": image}

    def loss(self, variables, targets, frozen):
        d = jnp.mean(jnp.square(variables["image"] - targets["content"]))
        return d, {"content": d}

    def image(self, variables):
        return variables["image"]


def test_the_temporal_term_pulls_reliable_pixels_to_the_warped_previous_frame_only():
    rng = np.random.default_rng(0)
    content = rng.uniform(0.2, 0.8, (32, 40, 3)).astype(np.float32)
    previous = rng.uniform(0.2, 0.8, (32, 40, 3)).astype(np.float32)
    reliability = np.zeros((32, 40), np.float32)
    reliability[:, 20:] = 1.0
    settings = EngineConfig(steps=20, optimizer="lbfgs", size=40)
    # weight 1: the optimum of mean((x-c)^2) + mean(r (x-p)^2) is (c + r p) / (1 + r)
    (result,) = optimize_pairs(Temporal(Reconstruct(), weight=1.0), make_pairs([content], [content], "zip"),
                               settings, extra_inputs={"previous": [previous], "reliability": [reliability]})
    np.testing.assert_allclose(result.image[:, :20], content[:, :20], atol=0.02)
    np.testing.assert_allclose(result.image[:, 20:], (content[:, 20:] + previous[:, 20:]) / 2, atol=0.02)


def test_each_frame_starts_from_the_warped_previous_frame_unless_nothing_is_reliable():
    objective = Temporal(Reconstruct())
    image, previous = np.zeros((4, 4, 3), np.float32), np.ones((4, 4, 3), np.float32)
    inputs = {"content": image, "style": image, "previous": previous}
    start = objective.init({**inputs, "reliability": np.full((4, 4), 0.5, np.float32)}, None, image)
    np.testing.assert_array_equal(start["image"], previous)
    first = objective.init({**inputs, "reliability": np.zeros((4, 4), np.float32)}, None, image)
    np.testing.assert_array_equal(first["image"], image)


@pytest.mark.parametrize("method", ["gatys", "lapstyle", "strotss"])
def test_gatys_lapstyle_and_strotss_take_the_temporal_input(method, vgg16):
    """Their objectives wrapped: targets and a per-pair loss with a ``temporal`` part (shapes only)."""
    from jaxstyle.methods import load_stylizer
    from jaxstyle.optimize.engine import _loss

    objective = Temporal(load_stylizer(method).objective, weight=10.0)
    frozen = objective.frozen()
    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    inputs = {"content": x, "style": x, "previous": x, "reliability": jax.ShapeDtypeStruct((1, 64, 64), jnp.float32)}
    targets = jax.eval_shape(objective.prepare, frozen, inputs)
    start = objective.init({k: np.zeros(v.shape[1:], v.dtype) for k, v in inputs.items()}, np.random.default_rng(0),
                           np.zeros((64, 64, 3), np.float32))
    one = jax.tree.map(lambda t: jax.ShapeDtypeStruct(t.shape[1:], t.dtype), targets)
    total, parts = jax.eval_shape(functools.partial(_loss, objective), start, one, frozen, jnp.int32(0))
    assert total.shape == () and "temporal" in parts and "style" in parts


@pytest.mark.slow  # ~2 min on a loaded 2-core CPU: two gatys runs of 4 frames at 32 px (VGG16 compiles)
def test_gatys_temporal_lowers_the_warping_error_and_a_killed_run_resumes(tmp_path, style_paths, content_paths,
                                                                           capsys):
    from jaxstyle.io import load_image, save_image
    from jaxstyle.video.synthetic import PanZoom

    clip = PanZoom(load_image(content_paths[-1]), frames=4, shape=(24, 32), pan=(1.0, 0.4), zoom=0.004)
    for t, frame in enumerate(clip):
        save_image(tmp_path / "clip" / f"{t:03d}.png", frame)
    common = [str(tmp_path / "clip"), "--method", "gatys", "--style", str(style_paths[0]), "--size", "32",
              "--steps", "8"]
    code, out, err = run_cli(["video", common[0], str(tmp_path / "per"), *common[1:]], capsys)
    assert code == 0, err
    per_frame = float(out.strip().rsplit(" ", 1)[1])
    code, out, err = run_cli(["video", common[0], str(tmp_path / "tmp"), *common[1:], "--temporal"], capsys)
    assert code == 0, err
    temporal = float(out.strip().rsplit(" ", 1)[1])
    assert temporal < per_frame
    # Killed after frame 2: frames 3-4 gone, the done records of frame 3 on; the re-run starts at 3.
    done = tmp_path / "tmp" / "jaxstyle-done-0.jsonl"
    done.write_text("".join(done.read_text().splitlines(keepends=True)[:2]))
    code, out, err = run_cli(["video", common[0], str(tmp_path / "tmp"), *common[1:], "--temporal"], capsys)
    assert code == 0, err
    assert "skipping 2 of 4 frames" in out and out.count("wrote ") == 2
    assert float(out.strip().rsplit(" ", 1)[1]) == pytest.approx(temporal, rel=1e-3)  # the same frames again
