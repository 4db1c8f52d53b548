"""The optimization engine carries any objective: extra per-pair variables and inputs need no special case."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_python

from jaxstyle.errors import InputError
from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs

TARGET_SHIFTS = [np.array([1.0, 2.0], np.float32), np.array([-3.0, 0.5], np.float32),
                 np.array([0.25, -1.5], np.float32)]


@dataclasses.dataclass(frozen=True)
class PullShift:
    """Variables {"image", "shift"}: the image pulled to the content, the shift to its pair's target."""

    extra_inputs = ("target_shift",)
    shift_weight: float = 2.0

    def frozen(self):
        return {"scale": jnp.float32(1.0)}  # a stand-in for a network, passed in as an argument

    def prepare(self, frozen, inputs):
        assert inputs["target_shift"].shape == (inputs["content"].shape[0], 2)  # leading pair axis
        return {"content": inputs["content"] * frozen["scale"], "shift": inputs["target_shift"]}

    def init(self, inputs, rng, image):
        return {"image": image, "shift": np.zeros(2, np.float32)}

    def loss(self, variables, targets, frozen):
        parts = {
            "image": jnp.mean(jnp.square(variables["image"] - targets["content"])),
            "shift": self.shift_weight * jnp.sum(jnp.square(variables["shift"] - targets["shift"])),
        }
        return sum(parts.values()), parts

    def image(self, variables):
        return variables["image"]


def test_extra_variables_and_inputs_converge_per_pair():
    rng = np.random.default_rng(0)
    # Pairs 0 and 2 share a bucket, pair 1 (another shape) has its own: extras follow their pair.
    contents = [rng.random(shape, np.float32) for shape in ((32, 32, 3), (24, 32, 3), (32, 32, 3))]
    style = rng.random((16, 16, 3), np.float32)
    losses = []
    results = optimize_pairs(
        PullShift(), make_pairs(contents, [style]),
        EngineConfig(size=32, steps=20, chunk=10, init="noise"),
        extra_inputs={"target_shift": TARGET_SHIFTS}, progress=lambda step, parts: losses.append(parts),
    )
    assert losses[-1]["total"] < 1e-3 * losses[0]["total"] and set(losses[-1]) == {"total", "image", "shift"}
    for result, content, target in zip(results, contents, TARGET_SHIFTS, strict=True):
        np.testing.assert_allclose(result.variables["shift"], target, atol=1e-3)  # its own target
        assert result.image.shape == content.shape
        assert np.abs(result.image - content).max() < 1e-3


def test_missing_extra_input_is_an_input_error():
    pairs = make_pairs([np.zeros((32, 32, 3), np.float32)], [np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(InputError, match="target_shift"):
        optimize_pairs(PullShift(), pairs, EngineConfig(size=32, steps=1), extra_inputs={})


MIXED_STYLES = """
import sys; sys.path.insert(0, "tests")
import jax, numpy as np
from test_engine import PullShift, TARGET_SHIFTS, mixed_style_pairs
from jaxstyle.optimize import EngineConfig, optimize_pairs
assert jax.device_count() == 4
planned = []
results = optimize_pairs(PullShift(), mixed_style_pairs(), EngineConfig(size=32, steps=5, init="noise"),
                         extra_inputs={{"target_shift": TARGET_SHIFTS}}, on_plan=planned.append)
assert planned == [5], planned  # styles of three shapes, one program
np.savez({out!r}, *[r.image for r in results], *[r.variables["shift"] for r in results])
"""


def mixed_style_pairs():
    """Three pairs, one content shape, three style shapes (Gram-like targets ignore the style)."""
    rng = np.random.default_rng(1)
    contents = [rng.random((32, 32, 3), np.float32) for _ in range(3)]
    styles = [rng.random(shape, np.float32) for shape in ((16, 16, 3), (24, 16, 3), (16, 32, 3))]
    return make_pairs(contents, styles, "zip")


def test_mixed_style_shapes_share_a_program_sharded_as_on_one_device(tmp_path):
    """Targets of mixed input shapes are prepared per process on its rows: 4 devices == 1."""
    out = tmp_path / "four.npz"
    proc = run_python(MIXED_STYLES.format(out=str(out)),
                      env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    four = np.load(out)
    one = optimize_pairs(PullShift(), mixed_style_pairs(), EngineConfig(size=32, steps=5, init="noise"),
                         extra_inputs={"target_shift": TARGET_SHIFTS})
    expected = [r.image for r in one] + [r.variables["shift"] for r in one]
    for k, want in enumerate(expected):
        np.testing.assert_allclose(four[f"arr_{k}"], want, atol=1e-6, equal_nan=False)


@dataclasses.dataclass(frozen=True)
class ConvPull:
    """The image's 3x3 conv features (16 channels) pulled to the content's: a loss with convolutions."""

    def frozen(self):
        return {"kernel": jnp.asarray(np.random.default_rng(0).normal(size=(3, 3, 3, 16)), jnp.float32)}

    def prepare(self, frozen, inputs):
        return {"content": inputs["content"]}

    def init(self, inputs, rng, image):
        return {"image": image}

    def loss(self, variables, targets, frozen):
        from jaxstyle.models.conv import conv_hwio

        diff = conv_hwio(variables["image"][None] - targets["content"][None], frozen["kernel"], 1)
        loss = jnp.mean(jnp.square(diff))
        return loss, {"conv": loss}

    def image(self, variables):
        return variables["image"]


def test_cpu_chunk_is_compiled_without_ynnpack_fusions():
    """On the CPU the chunk's convolutions run on XLA's kernels, not YNNPACK fusions (which keep
    packed weight copies: BENCHMARKS.md "Issue 27, second pass"); compiled with XLA's defaults the
    same program has them, so the check can fail."""
    import jax

    from jaxstyle.optimize.engine import Bucket, run_chunk

    if jax.default_backend() != "cpu":
        pytest.skip("a CPU compile option")
    objective, content = ConvPull(), np.full((16, 16, 3), 0.5, np.float32)
    bucket = Bucket(objective, objective.frozen(), [{"content": content}],
                    [{"image": np.zeros_like(content)}], EngineConfig(size=32, optimizer="adam"))
    assert "kind=kCustom" not in bucket.compiled.as_text()
    zero = jnp.int32(0)
    default = run_chunk.lower(bucket.state["variables"], bucket.state["opt_state"], zero, bucket.targets,
                              bucket.frozen, zero, objective=objective,
                              settings=EngineConfig(optimizer="adam").program_key(),
                              layout=bucket.axis.layout, pair_groups=bucket.axis.groups).compile()
    assert "kind=kCustom" in default.as_text()
