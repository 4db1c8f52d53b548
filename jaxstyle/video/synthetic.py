"""A synthetic clip whose optical flow is known exactly: a slow pan and zoom over a photo.

Frame t shows the photo through a window: frame pixel ``x`` (x, y) samples the photo at
``p = s_t x + o_t``, with the scale ``s_t = s_0 (1 - zoom)^t`` (the camera zooms in) and the
window's centre moving ``pan`` photo pixels per frame. Pixel x of frame t is then at
``x' = (s_t x + o_t - o_{t+1}) / s_{t+1}`` in frame t+1, so the true flow t -> t+1 is
``x' - x`` everywhere (:meth:`PanZoom.true_flow`); this checks the flow estimator
(:func:`jaxstyle.video.flow.endpoint_error`) and makes a benchmark clip with real parallax-free
motion, disocclusions at the borders only.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from jaxstyle.errors import InputError


@dataclasses.dataclass(frozen=True)
class PanZoom:
    """A pan-and-zoom clip of ``frames`` frames of ``shape`` (H, W) over ``photo`` (H0, W0, 3).

    ``start_scale``: photo pixels per frame pixel in frame 0 (the photo is resized first so that
    its whole width is ``margin`` times the frame's at that scale); ``zoom``: fraction by which
    the scale shrinks each frame; ``pan``: (x, y) photo pixels the window's centre moves per frame.
    """

    photo: np.ndarray
    frames: int = 60
    shape: tuple[int, int] = (96, 128)
    pan: tuple[float, float] = (0.6, 0.2)
    zoom: float = 0.003
    start_scale: float = 1.2
    margin: float = 1.6

    def __post_init__(self):
        h, w = self.shape
        width = round(self.margin * self.start_scale * w)
        height = round(self.photo.shape[0] * width / self.photo.shape[1])
        object.__setattr__(self, "photo", cv2.resize(np.asarray(self.photo, np.float32), (width, height),
                                                     interpolation=cv2.INTER_AREA))
        for t in (0, self.frames - 1):  # the window stays inside the photo
            s, (ox, oy) = self.scale(t), self.offset(t)
            if ox < 0 or oy < 0 or ox + s * (w - 1) > width - 1 or oy + s * (h - 1) > height - 1:
                raise InputError(f"the pan and zoom leave the photo at frame {t}: use fewer frames, a slower pan "
                                 "or a larger margin")

    def scale(self, t: int) -> float:
        return self.start_scale * (1.0 - self.zoom) ** t

    def offset(self, t: int) -> tuple[float, float]:
        """The photo position of frame pixel (0, 0) at frame t."""
        h, w = self.shape
        ph, pw = self.photo.shape[:2]
        cx = (pw - 1) / 2 - self.pan[0] * (self.frames - 1) / 2 + self.pan[0] * t
        cy = (ph - 1) / 2 - self.pan[1] * (self.frames - 1) / 2 + self.pan[1] * t
        s = self.scale(t)
        return cx - s * (w - 1) / 2, cy - s * (h - 1) / 2

    def frame(self, t: int) -> np.ndarray:
        """Frame t: (H, W, 3) float32 in [0, 1], the photo sampled bilinearly."""
        h, w = self.shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        s, (ox, oy) = self.scale(t), self.offset(t)
        out = cv2.remap(self.photo, (s * xs + ox).astype(np.float32), (s * ys + oy).astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return np.clip(out, 0.0, 1.0)

    def true_flow(self, t: int, to: int | None = None) -> np.ndarray:
        """The exact flow from frame t to frame ``to`` (default t+1) on t's grid: (H, W, 2) float32."""
        to = t + 1 if to is None else to
        h, w = self.shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        s0, (ox0, oy0) = self.scale(t), self.offset(t)
        s1, (ox1, oy1) = self.scale(to), self.offset(to)
        fx = (s0 * xs + ox0 - ox1) / s1 - xs
        fy = (s0 * ys + oy0 - oy1) / s1 - ys
        return np.stack([fx, fy], -1).astype(np.float32)

    def __iter__(self):
        return (self.frame(t) for t in range(self.frames))
