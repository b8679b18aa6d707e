"""Baselines: what a user would otherwise pick to fill a video's hole, runnable here.

A diffusion model's result means little without the cheap alternatives beside it. Each
baseline is a pure function ``(frames, hole) -> filled`` over ``frames`` ``T x H x W x 3``
uint8 and ``hole`` ``T x H x W`` bool (True = pixel to fill; an ``H x W`` hole applies to
every frame), returning new ``T x H x W x 3`` uint8 frames whose known pixels are the
input's, bit for bit; only hole pixels change. The inputs are never modified.

``telea`` / ``navier_stokes``
    OpenCV's spatial inpainting (``cv2.inpaint``), frame by frame: no use of time.
``temporal_propagation``
    Each hole pixel copied from the nearest frame where that pixel is known: the
    simplest use of time, exact for a static background behind a moving hole.
``flow_propagation``
    Hole pixels copied from nearby frames along the camera motion (a homography) and
    optical flow (:func:`vidsched.propagation.propagate`), pixels no frame shows filled
    with Telea: temporal propagation that also works for moving cameras and content.
``copy_through``
    The input as is: the floor every method must beat.

:data:`BASELINES` names them for the command line and evaluation scripts.

Channel order does not matter: ``cv2.inpaint`` treats the three channels alike, so RGB
frames (vidsched's convention) go in and come out as RGB, never converted to BGR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from vidsched.errors import VidschedError
from vidsched.geometry import frames_and_hole as _validated
from vidsched.propagation import propagate

__all__ = ["BASELINES", "Baseline", "copy_through", "flow_propagation", "navier_stokes", "telea",
           "temporal_propagation"]

#: ``spatial=`` names of :func:`temporal_propagation` and the OpenCV method each selects.
SPATIAL_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
#: The farthest frame (in time) :func:`flow_propagation` copies from.
FLOW_PROPAGATION_REACH = 60


def _check_radius(radius: float) -> None:
    # OpenCV accepts 0 and negative radii silently and then uses a 1-pixel neighbourhood.
    if not radius > 0:
        raise VidschedError(f"the inpainting radius must be positive, got {radius}")


def _inpaint_frames(frames: np.ndarray, hole: np.ndarray, method: int, radius: float) -> np.ndarray:
    """``cv2.inpaint`` on each frame with a hole; only hole pixels are written back, so
    known pixels stay exact whatever OpenCV does to them. A frame that is all hole has
    nothing to inpaint from: OpenCV returns it unchanged, and so does this. Frames are
    inpainted on several threads (:mod:`vidsched.parallel`; the same result)."""
    from vidsched.parallel import in_order, threads_for

    out = frames.copy()

    def inpaint(t: int) -> None:
        filled = cv2.inpaint(frames[t], hole[t].astype(np.uint8), float(radius), method)
        np.copyto(out[t], filled, where=hole[t][:, :, None])

    todo = np.flatnonzero(hole.reshape(len(hole), -1).any(axis=1)).tolist()
    for _ in in_order(inpaint, todo, threads_for(None, len(todo))):
        pass
    return out


def telea(frames: np.ndarray, hole: np.ndarray, radius: float = 3) -> np.ndarray:
    """OpenCV's Telea (fast marching) inpainting, frame by frame; ``radius`` is the
    neighbourhood in pixels. On flat regions it drifts by a few grey levels (about 2 for
    an 8 x 8 hole with OpenCV 5.0), a quirk of OpenCV's implementation."""
    frames, hole = _validated(frames, hole)
    _check_radius(radius)
    return _inpaint_frames(frames, hole, cv2.INPAINT_TELEA, radius)


def navier_stokes(frames: np.ndarray, hole: np.ndarray, radius: float = 3) -> np.ndarray:
    """OpenCV's Navier-Stokes inpainting, frame by frame; ``radius`` is the
    neighbourhood in pixels."""
    frames, hole = _validated(frames, hole)
    _check_radius(radius)
    return _inpaint_frames(frames, hole, cv2.INPAINT_NS, radius)


def temporal_propagation(frames: np.ndarray, hole: np.ndarray, spatial: str = "telea") -> np.ndarray:
    """Each hole pixel takes the value of the same pixel in the nearest frame (in time)
    where it is known; at equal distance the EARLIER frame wins (it is the one a causal,
    frame-by-frame method would have). No motion compensation: exact for a static
    background behind a moving hole, smeared for moving content.

    Pixels hidden in every frame have no source in time; they are filled afterwards
    with spatial inpainting (``spatial``: ``"telea"`` or ``"ns"``, radius 3) of each
    propagated frame, so they draw on the propagated values around them.

    Vectorised: one forward and one backward running extremum over time give, for every
    pixel, the last known frame at or before ``t`` and the first at or after it; the
    nearer one is gathered in a single indexing step. Memory is two ``int32`` arrays
    of ``T x H x W`` beside the frames.
    """
    frames, hole = _validated(frames, hole)
    if spatial not in SPATIAL_METHODS:
        raise VidschedError(f"unknown spatial method {spatial!r}: use {' or '.join(map(repr, SPATIAL_METHODS))}")
    T = len(frames)
    t = np.arange(T, dtype=np.int32)[:, None, None]
    before = np.maximum.accumulate(np.where(hole, np.int32(-1), t), axis=0)  # last known frame <= t, else -1
    after = np.minimum.accumulate(np.where(hole, np.int32(T), t)[::-1], axis=0)[::-1]  # first known >= t, else T
    never = hole.all(axis=0)
    use_before = (before >= 0) & ((after == T) | (t - before <= after - t))
    source = np.where(never, t, np.where(use_before, before, after))  # a known pixel is its own source
    out = np.take_along_axis(frames, source[..., None], axis=0)
    if not never.any():
        return out
    return _inpaint_frames(out, np.broadcast_to(never, hole.shape), SPATIAL_METHODS[spatial], 3)


def flow_propagation(frames: np.ndarray, hole: np.ndarray, spatial: str = "telea",
                     min_confidence: float = 0.0) -> np.ndarray:
    """Each hole pixel copied from a nearby frame along the motion: the camera's (a
    homography between frames) and the content's (OpenCV DIS optical flow, completed
    inside the hole from its border), nearest frame first, with
    :func:`vidsched.propagation.propagate`'s defaults but up to
    ``FLOW_PROPAGATION_REACH`` (60) frames away, so that on short clips every frame is
    within reach, as for :func:`temporal_propagation`. Unlike :func:`temporal_propagation`
    it follows a moving camera and moving content, and it only copies what it can align
    (propagate drops copies with a confidence under 0.02).

    Pixels it does not fill (hidden in every frame within reach, or filled with a
    confidence below ``min_confidence``) are filled afterwards with spatial inpainting
    (``spatial``: ``"telea"`` or ``"ns"``, radius 3) of each propagated frame, so they
    draw on the propagated values around them.
    """
    frames, hole = _validated(frames, hole)
    if spatial not in SPATIAL_METHODS:
        raise VidschedError(f"unknown spatial method {spatial!r}: use {' or '.join(map(repr, SPATIAL_METHODS))}")
    if not (isinstance(min_confidence, (int, float)) and 0 <= min_confidence <= 1):
        raise VidschedError(f"min_confidence must be a number in [0, 1], got {min_confidence!r}")
    result = propagate(frames, hole, max_distance=max(1, min(len(frames) - 1, FLOW_PROPAGATION_REACH)))
    used = result.filled & (result.confidence >= min_confidence)
    out = np.where(used[..., None], result.frames, frames)  # known pixels: the input's
    rest = hole & ~used
    if not rest.any():
        return out
    return _inpaint_frames(out, rest, SPATIAL_METHODS[spatial], 3)


def copy_through(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The input unchanged, hole pixels included. What those hold is whatever the input
    file has there (vidsched never blanks them: the original content, a logo, a painted
    colour ...), so this scores the hole as delivered, the floor for every method."""
    frames, _ = _validated(frames, hole)
    return frames.copy()


@dataclass(frozen=True)
class Baseline:
    """A baseline with the one-line description a listing shows; call it like the
    function it wraps, with that function's defaults."""

    function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    description: str

    def __call__(self, frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return self.function(frames, hole)


#: Baselines by name, in the order a listing shows them.
BASELINES: dict[str, Baseline] = {
    "telea": Baseline(telea, "OpenCV Telea inpainting per frame (radius 3)"),
    "ns": Baseline(navier_stokes, "OpenCV Navier-Stokes inpainting per frame (radius 3)"),
    "propagation": Baseline(
        temporal_propagation, "each hole pixel from the nearest frame where it is known, else Telea"
    ),
    "flow_propagation": Baseline(
        flow_propagation, "hole pixels from nearby frames along camera motion and optical flow, else Telea"
    ),
    "copy": Baseline(copy_through, "the input copied through, hole pixels as the file has them"),
}
