"""Coarse-to-fine schedules (issue 27): which sizes the engine optimizes, how long each, by name."""

import math

import numpy as np
import pytest
from conftest import run_cli
from test_engine import PullShift

from jaxstyle.errors import InputError
from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs
from jaxstyle.optimize.engine import (
    SCHEDULES,
    SQRT2_COARSE_STEPS,
    Bucket,
    Level,
    scale_sizes,
    schedule_levels,
    sqrt2_sizes,
)


@pytest.mark.parametrize("size, scales", [(512, 1), (512, 3), (100, 2), (64, 2)])
def test_halving_by_name_is_the_scales_levels_with_steps_each(size, scales):
    assert schedule_levels("halving", size, 7, scales) == [Level(s, 7) for s in scale_sizes(size, scales)]
    assert EngineConfig(size=size, steps=7, scales=scales).levels() == schedule_levels("halving", size, 7, scales)


def test_the_default_schedule_is_halving_so_the_default_run_is_one_level():
    assert EngineConfig().schedule == "halving"
    assert EngineConfig(size=512, steps=150).levels() == [Level(512, 150)]


@pytest.mark.parametrize("size, expected", [
    (512, [128, 181, 256, 362, 512]),
    (1024, [128, 181, 256, 362, 512, 724, 1024]),
    (300, [128, 181, 300]),  # 256 is within 2**0.25 of 300: dropped, not a near-repeat of the last level
    (200, [128, 200]),  # 181 is within 2**0.25 of 200: dropped
    (128, [128]),
    (64, [64]),  # at or below 128 px: one level
])  # fmt: skip
def test_sqrt2_sizes_rise_by_sqrt2_from_128_and_end_at_the_size(size, expected):
    sizes = sqrt2_sizes(size)
    assert sizes == expected
    for small, large in zip(sizes[:-2], sizes[1:-1], strict=True):
        assert math.isclose(large / small, math.sqrt(2), rel_tol=0.01)
    assert sizes[-1] / sizes[-2] >= 2**0.25 if len(sizes) > 1 else True


def test_sqrt2_gives_steps_at_the_full_size_and_the_coarse_steps_below():
    levels = schedule_levels("sqrt2", 512, 40)
    assert levels[-1] == Level(512, 40)
    assert [lv.steps for lv in levels[:-1]] == [SQRT2_COARSE_STEPS] * 4
    assert EngineConfig(size=512, steps=40, schedule="sqrt2").levels() == levels


@pytest.mark.parametrize("schedule", [s for s in SCHEDULES if s != "halving"])
def test_scales_with_a_schedule_that_sets_its_own_levels_is_refused(schedule):
    with pytest.raises(InputError, match="--scales 3 needs --schedule halving") as err:
        EngineConfig(size=512, scales=3, schedule=schedule)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="unknown schedule"):
        EngineConfig(schedule="fast")


def test_cli_refuses_scales_with_sqrt2_in_one_line_before_any_work(tmp_path, capsys):
    code, _, err = run_cli(["stylize", "--size", "64", "--steps", "1", "--schedule", "sqrt2", "--scales", "2",
                            "--output", str(tmp_path / "out")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--scales 2 needs --schedule halving" in lines[0], err
    assert not (tmp_path / "out").exists()


def _toy_pair():
    rng = np.random.default_rng(0)
    return make_pairs([rng.random((60, 90, 3), np.float32)], [rng.random((16, 16, 3), np.float32)])


@pytest.mark.slow  # two levels, two programs: 54 s at load 6-10 on the 2-core box (not timed quiet)
def test_engine_runs_each_sqrt2_level_at_its_size_for_its_steps():
    """Frames show each level's image shape; steps count on across levels; the plan sums them."""
    frames, planned = [], []
    optimize_pairs(PullShift(), _toy_pair(), EngineConfig(size=181, steps=4, chunk=2, schedule="sqrt2"),
                   extra_inputs={"target_shift": [np.zeros(2, np.float32)]}, save_every=2,
                   on_frame=lambda step, pairs, images: frames.append((step, images.shape[1:3])),
                   on_plan=planned.append)
    # 181 px: levels 128 (30 steps) and 181 (4); a 60x90 content's long side is its width.
    assert planned == [SQRT2_COARSE_STEPS + 4]
    coarse = [(step, (85, 128)) for step in range(2, SQRT2_COARSE_STEPS + 1, 2)]
    assert frames == [*coarse, (SQRT2_COARSE_STEPS + 2, (121, 181)), (SQRT2_COARSE_STEPS + 4, (121, 181))]


def test_halving_single_scale_is_exactly_one_bucket_run_of_steps_from_the_content():
    """The old default by name: one level, ``steps`` optimizer steps from the content, bit for bit."""
    pairs = _toy_pair()
    extra = {"target_shift": [np.array([1.0, -2.0], np.float32)]}
    settings = EngineConfig(size=32, steps=5, schedule="halving")
    [result] = optimize_pairs(PullShift(), pairs, settings, extra_inputs=extra)
    objective = PullShift()
    content = np.asarray(pairs[0].content)
    from jaxstyle.io import resize_long_side

    inputs = {"content": resize_long_side(content, 32), "style": resize_long_side(np.asarray(pairs[0].style), 32),
              "target_shift": extra["target_shift"][0]}
    start = objective.init(inputs, np.random.default_rng(0), inputs["content"].copy())
    bucket = Bucket(objective, objective.frozen(), [inputs], [start], settings)
    bucket.run(5)
    [(image, variables)] = bucket.results()
    np.testing.assert_array_equal(result.variables["shift"], variables["shift"])
    np.testing.assert_array_equal(result.image, np.clip(image, 0, 1))


def test_tiles_refuse_a_schedule_other_than_halving():
    from jaxstyle.optimize import StylizeConfig
    from jaxstyle.optimize.gatys import Gatys
    from jaxstyle.optimize.tiled import TileConfig, check_tiling

    settings = StylizeConfig(size=512, optimizer="adam", schedule="sqrt2")
    with pytest.raises(InputError, match="--tile runs --schedule halving"):
        check_tiling(Gatys(), settings, TileConfig(tile=256))
    check_tiling(Gatys(), StylizeConfig(size=512, optimizer="adam"), TileConfig(tile=256))  # halving: runs
