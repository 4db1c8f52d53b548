"""A method is new files plus one registry line: a method declared in this test file, registered
at run time, gets its CLI flags, its refusals, the Python API's checks and a JSON description
without any edit of a jaxstyle file (README "Adding a method" explains this method)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.errors import InputError
from jaxstyle.methods import METHODS, load_stylizer, register_method
from jaxstyle.methods.base.declaration import PRESERVE_COLOR, SIZE, Method
from jaxstyle.methods.base.stylizer import FeedForwardStylizer
from jaxstyle.options import Option
from tests.conftest import run_cli

# -- the method: tint the content towards the style's mean colour --------------------------------


class TintStylizer(FeedForwardStylizer):
    """``out = c + strength * gain * (mean(s) - mean(c))``, clipped: a whole method in a few lines."""

    def __init__(self, gain: float):
        self.gain = gain

    def apply(self, contents, styles, masks, *, strength: float = 0.5):
        (style,) = styles
        shift = jnp.mean(style, axis=(1, 2), keepdims=True) - jnp.mean(contents, axis=(1, 2), keepdims=True)
        return jnp.clip(contents + strength * self.gain * shift, 0.0, 1.0)


def load_tint(source=None, *, gain: float = 1.0) -> TintStylizer:
    return TintStylizer(gain)


TINT = Method(
    "tint", "feed-forward: tint the content towards the style's mean colour (the test's template)",
    kind="feed-forward", needs="nothing", loader="tests.test_template_method:load_tint",
    options=(Option("gain", "float", 1.0, "how far a full-strength tint goes", minimum=0.0, maximum=4.0,
                    group="tint"),),
    controls=(SIZE.with_default(64), PRESERVE_COLOR,
              Option("strength", "float", 0.5, "0: the content, 1: the full tint", minimum=0.0, maximum=1.0,
                     group="controls")),
    runs_offline=True,
)


@pytest.fixture
def tint():
    register_method(TINT)
    yield TINT
    METHODS.pop("tint")


def _mean_colour(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, np.float64).reshape(-1, 3).mean(0)


# -- the tests ----------------------------------------------------------------------------------


def test_template_method_flags_appear_in_its_help(tint, capsys):
    code, out, _ = run_cli(["stylize", "--method", "tint", "--help"], capsys)
    assert code == 0
    assert "--gain" in out and "--strength" in out and "the full tint" in out
    assert "--steps" not in out  # another method's flag is not offered


def test_template_method_runs_through_the_cli_and_the_python_api_alike(tint, tmp_path, capsys, content_paths,
                                                                       style_paths):
    from jaxstyle.io import load_image, resize_long_side

    content_path, style_path = content_paths[0], style_paths[0]
    out = tmp_path / "out.png"
    code, stdout, err = run_cli(["stylize", "--method", "tint", "--content", str(content_path), "--style",
                                 str(style_path), "--gain", "2", "--strength", "0.4", "--output", str(out),
                                 "--shape-buckets", "exact"], capsys)  # the Python call below: exact shapes
    assert code == 0, err
    assert f"wrote {out}" in stdout
    cli_result = load_image(out)
    content, style = resize_long_side(load_image(content_path), 64), resize_long_side(load_image(style_path), 64)
    py_result = load_stylizer("tint", gain=2.0).stylize([content], [style], strength=0.4, size=64)[0]
    assert cli_result.shape == py_result.shape == content.shape  # --size 64 is the declared default
    np.testing.assert_allclose(cli_result, py_result, atol=1 / 255 + 1e-6)  # PNG rounding only
    # it did tint: the mean colour moved towards the style's, by 0.8 of the gap (before clipping)
    gap = _mean_colour(style) - _mean_colour(content)
    moved = _mean_colour(py_result) - _mean_colour(content)
    assert np.dot(moved, gap) > 0.5 * np.dot(gap, gap)


@pytest.mark.parametrize("argv, message", [
    (["--strength", "1.5"], "--strength: must be <= 1, got 1.5"),
    (["--gain", "-1"], "--gain: must be >= 0, got -1"),
    (["--gain", "nan"], "--gain: must be a finite number"),
    (["--strength", "x"], "--strength: expects a number, got 'x'"),
    # the README: refused in one line naming the methods that take it
    (["--steps", "3"], "--method tint does not take --steps (--steps is a flag of gatys, lapstyle,"),
])
def test_template_method_refuses_bad_values_in_one_line(tint, tmp_path, capsys, argv, message):
    code, out, err = run_cli(["stylize", "--method", "tint", "--output", str(tmp_path / "o/"), *argv], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_template_method_python_api_applies_the_same_checks(tint):
    img = np.full((16, 16, 3), 0.5, np.float32)
    with pytest.raises(InputError, match="--strength must be <= 1"):
        load_stylizer("tint").stylize([img], [img], strength=2.0)
    with pytest.raises(InputError, match="--gain must be >= 0"):
        load_stylizer("tint", gain=-0.5)
    with pytest.raises(InputError, match="--method tint does not take --alpha"):
        load_stylizer("tint").stylize([img], [img], alpha=0.5)
    with pytest.raises(InputError, match="--method tint does not take --steps"):
        load_stylizer("tint", steps=3)


def test_template_method_is_described_for_forms(tint, capsys):
    code, out, _ = run_cli(["methods", "--json"], capsys)
    assert code == 0
    described = json.loads(out)
    assert set(described) == set(METHODS)
    tint_json = described["tint"]
    assert tint_json["options"] == [{"name": "gain", "flag": "--gain", "type": "float", "default": 1.0,
                                     "help": "how far a full-strength tint goes", "minimum": 0.0, "maximum": 4.0}]
    strength = next(c for c in tint_json["controls"] if c["name"] == "strength")
    assert (strength["minimum"], strength["maximum"], strength["default"]) == (0.0, 1.0, 0.5)
    assert jax.tree.leaves(tint_json)  # every value is JSON-ready (json.loads read it back)
