"""Training views matched to inference: crops at several zooms, flips, frame-rate and colour jitter.

At inference the runtime cuts a square region around each hole and resizes it to the
model's S x S input, at a zoom (source pixels per model pixel) that runs from about 1,
for a small hole, up to the whole frame's short side / S, for a hole that spans the
frame. A network trained on whole frames squeezed to S x S has seen one zoom only; here
each training window is a square crop whose side is drawn log-uniformly between
``min_zoom * S`` and the frame's short side (so close-ups and whole-scene views are
equally likely per octave), resized with area averaging (what the runtime uses to go
down in scale) -- never stretched: the aspect ratio is kept. One crop box per window
(the camera of a window is still, as in a region at inference).

Also: horizontal flips; a temporal stride (frame-rate jitter: every 1st, 2nd, ...
frame, so motion speeds vary); and a colour jitter (brightness, contrast, saturation)
shared by the frames of a window so that it does not add flicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augment:
    """Options of :func:`random_view` (the ``data`` section of a training config)."""

    min_zoom: float = 1.0  # the closest crop is min_zoom * S source pixels wide
    flip: bool = True
    color_jitter: float = 0.1  # brightness, contrast and saturation change by up to this fraction
    max_stride: int = 3  # frame-rate jitter: take every 1st .. max_stride-th frame

    def __post_init__(self) -> None:
        if self.min_zoom <= 0:
            raise ValueError(f"min_zoom must be positive, got {self.min_zoom}")
        if not 0 <= self.color_jitter < 1:
            raise ValueError(f"color_jitter must be in [0, 1), got {self.color_jitter}")
        if self.max_stride < 1:
            raise ValueError(f"max_stride must be at least 1, got {self.max_stride}")


@dataclass(frozen=True)
class View:
    """Where one training window looks: a square crop box, a flip and a colour change."""

    y: int
    x: int
    side: int
    flip: bool
    brightness: float  # added, in [-1, 1] pixel units
    contrast: float  # multiplies the deviation from the window's mean
    saturation: float  # multiplies the deviation from the pixel's grey value


def random_stride(rng: np.random.Generator, length: int, aug: Augment, min_span: int) -> int:
    """A temporal stride in 1..max_stride that still leaves ``min_span`` frames in a clip of ``length``."""
    largest = max(1, min(aug.max_stride, (length - 1) // max(1, min_span - 1) if min_span > 1 else aug.max_stride))
    return int(rng.integers(1, largest + 1))


def random_view(rng: np.random.Generator, height: int, width: int, size: int, aug: Augment) -> View:
    """A square crop of a (height, width) frame for an S = ``size`` model, and the jitter."""
    short = min(height, width)
    smallest = min(short, max(1, int(round(aug.min_zoom * size))))
    side = int(round(np.exp(rng.uniform(np.log(smallest), np.log(short))))) if short > smallest else short
    side = int(np.clip(side, smallest, short))
    y = int(rng.integers(0, height - side + 1))
    x = int(rng.integers(0, width - side + 1))
    flip = bool(aug.flip and rng.random() < 0.5)
    j = aug.color_jitter
    brightness, contrast, saturation = (rng.uniform(-j, j, 3) if j > 0 else np.zeros(3))
    return View(y, x, side, flip, float(brightness), float(1 + contrast), float(1 + saturation))


def apply_view(frames: np.ndarray, view: View, size: int) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, size, size, 3) float32 in [-1, 1] through ``view``."""
    import cv2

    crop = frames[:, view.y : view.y + view.side, view.x : view.x + view.side]
    interp = cv2.INTER_AREA if view.side > size else cv2.INTER_CUBIC
    out = np.stack([cv2.resize(f, (size, size), interpolation=interp) if view.side != size else f for f in crop])
    if view.flip:
        out = out[:, :, ::-1]
    x = out.astype(np.float32) / 127.5 - 1.0
    if view.saturation != 1.0:
        grey = x.mean(axis=-1, keepdims=True)
        x = grey + view.saturation * (x - grey)
    if view.contrast != 1.0:
        mean = x.mean()
        x = mean + view.contrast * (x - mean)
    if view.brightness:
        x = x + view.brightness
    return np.clip(x, -1.0, 1.0)
