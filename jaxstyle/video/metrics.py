"""The flicker metric: Lai et al.'s (2018) warping error of a stylized clip, streamed.

``E = 1/(T-1) sum_t E_t`` with ``E_t`` the masked mean of ``(warp(out_t, F) - out_{t-1})^2``
over pixels and channels, ``F`` the flow from input frame t-1 to t and the mask the pixels
that are neither occluded nor on a motion boundary (:func:`jaxstyle.video.flow.occlusion_lai`).
Flows are computed on the input frames (OpenCV DIS here, FlowNet2 in the paper), so the
number measures how much the output changes where the input did not.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from jaxstyle.errors import InputError
from jaxstyle.io import resize
from jaxstyle.video.flow import flow, warping_error_pair


def warping_error(contents: Iterable[np.ndarray], outputs: Iterable[np.ndarray]) -> float:
    """Warping error of ``outputs`` given the input frames ``contents`` ((H, W, 3) each, streamed;
    a content frame of another shape is resized to its output's). 0.0 for a one-frame clip."""
    return _warping_error(zip(contents, outputs, strict=True))


def _warping_error(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    errors = []
    prev_c = prev_o = None
    for c, o in pairs:
        if c.shape[:2] != o.shape[:2]:
            c = resize(c, o.shape[:2])
        if prev_c is not None:
            errors.append(warping_error_pair(prev_o, o, flow(prev_c, c), flow(c, prev_c)))
        prev_c, prev_o = c, o
    return float(np.mean(errors)) if errors else 0.0


def clip_warping_error(output: str | Path, content: str | Path) -> float:
    """:func:`warping_error` of two clips (video files or folders of frames) of equal length;
    one-line :class:`InputError` for an unreadable or empty clip or unequal lengths."""
    from jaxstyle.video.io import probe, read_frames

    out_info, content_info = probe(output), probe(content)

    def checked():
        empty = True
        for c, o in itertools.zip_longest(read_frames(content_info), read_frames(out_info)):
            if c is None or o is None:
                raise InputError(f"{output} and {content} have different frame counts")
            empty = False
            yield c, o
        if empty:
            raise InputError(f"{output}: a clip with no frames")

    return _warping_error(checked())
