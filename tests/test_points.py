"""The keypoints file format: round trip, one-line errors, rescaling and padding."""

from __future__ import annotations

import numpy as np
import pytest

from jaxstyle.errors import InputError
from jaxstyle.points import (
    Correspondences,
    check_inside,
    load_points,
    pad_points,
    rescale,
    save_points,
)


def test_points_file_round_trips(tmp_path):
    pts = Correspondences(np.array([[1.5, 2.0], [30, 40]], np.float32), np.array([[3, 4], [5, 6.25]], np.float32))
    back = load_points(save_points(tmp_path / "p.json", pts))
    np.testing.assert_allclose(back.content, pts.content)
    np.testing.assert_allclose(back.style, pts.style)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not JSON"),
        ('{"content": [[1, 2]]}', 'exactly "content" and "style"'),
        ('{"content": [[1, 2]], "style": [[1, 2], [3, 4]]}', "1 content points but 2 style"),
        ('{"content": [[1, 2, 3]], "style": [[1, 2, 3]]}', "shape (1, 3)"),
        ('{"content": [["a", 2]], "style": [[1, 2]]}', "number pairs"),
        ('{"content": [[NaN, 2]], "style": [[1, 2]]}', "non-finite"),
        ('{"content": [], "style": []}', "'content' has no points"),
    ],
)
def test_bad_points_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load_points(path)
    assert "\n" not in str(err.value)


def test_missing_points_file_is_one_line(tmp_path):
    with pytest.raises(InputError, match="cannot read points file"):
        load_points(tmp_path / "missing.json")


def test_point_outside_image_is_refused():
    check_inside(np.array([[0, 0], [99.5, 49.5]], np.float32), (50, 100), "content")
    with pytest.raises(InputError, match=r"content point 1 \(100.0, 10.0\) lies outside the 100x50"):
        check_inside(np.array([[0, 0], [100, 10]], np.float32), (50, 100), "content")


def test_rescale_maps_edges_to_edges_and_centres_to_centres():
    pts = np.array([[-0.5, -0.5], [99.5, 49.5], [49.5, 24.5]], np.float32)
    np.testing.assert_allclose(rescale(pts, (50, 100), (25, 200)), [[-0.5, -0.5], [199.5, 24.5], [99.5, 12]])


def test_pad_points_masks_the_padding():
    padded, mask = pad_points([np.ones((2, 2), np.float32), np.ones((3, 2), np.float32)])
    assert padded.shape == (2, 3, 2) and mask.tolist() == [[True, True, False], [True, True, True]]
    assert padded[0, 2].tolist() == [0, 0]
    with pytest.raises(InputError, match="more than 2 keypoints"):
        pad_points([np.ones((3, 2))], k=2)
