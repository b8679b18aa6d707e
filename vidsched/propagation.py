"""Flow-guided propagation: fill a video's hole with the pixels other frames show (numpy + OpenCV).

On footage where the hole moves (object removal) or the camera moves, most of a frame's
hole is visible in some nearby frame. :func:`propagate` copies those pixels along the
motion, as the propagation stage of ProPainter does, and says how sure it is of each
one, so that a generative model (vidsched's diffusion runtime) can treat confident
pixels as known, or start from them, and synthesise only the rest. It does not invent
anything: pixels no frame shows stay unfilled (``filled`` False, ``confidence`` 0), and
the input's known pixels come back bit for bit.

Method, for each frame ``t`` with a hole (frames without one are skipped), trying other
frames ``s`` nearest first (``t-1, t+1, t-2, t+2, ...``: the earlier on a tie, as in
:func:`vidsched.baselines.temporal_propagation`) up to ``max_distance`` frames away, every
frame up to 4 away and then about 1.4x apart (6, 8, 11, 15, ...; :func:`candidate_order`,
``every_frame=True`` for all of them):

1. **Flow resolution.** Motion is computed on grey frames downscaled so that their long
   side is ``flow_size`` (320 by default, never upscaled; DIS's MEDIUM preset works down
   to half of that), each frame's hole filled smoothly there (pull-push, below) so that
   whatever a hole holds never creates edges. A low-res pixel is hole if any pixel
   under it is.
2. **Camera motion.** A homography between each pair of consecutive frames, fitted with
   RANSAC (threshold 1 low-res pixel) to Shi-Tomasi corners tracked with pyramidal
   Lucas-Kanade, keeping tracks that are forward-backward consistent (< 0.5 px) and whose
   15-px windows stay clear of both frames' holes; fewer than ``min_inliers`` inliers, or
   a degenerate fit (area change beyond 4x, strong perspective), gives the identity. The
   homography from ``t`` to ``s`` is the product of the consecutive ones in between
   (each fitted on a short baseline, where tracking is reliable; the local flow absorbs
   the drift).
3. **Candidate check.** Without computing any flow, ``s`` is skipped when the homography
   takes fewer than max(16, 0.5 % of the hole) of the still-open pixels (or 10 % of them,
   if that is fewer) onto known pixels of ``s``: a stationary logo on a static shot costs
   almost nothing.
   Beyond 4 frames only pixels still below ``FAR_CONFIDENCE`` (0.25) are offered.
4. **Local motion.** ``s`` is warped onto ``t`` with the homography over a crop around
   the pixels ``s`` can offer (``margin`` low-res pixels wider), and DIS optical flow
   (``preset``) is computed both ways between the crop of ``t`` and the warped ``s``.
   Flow within ``HOLE_BAND`` (4) low-res pixels of either hole is not trusted (DIS
   patches there see the filled-in hole), nor forward flow landing near ``s``'s hole or
   backward flow landing near ``t``'s; the rest is completed from the trusted flow
   around it by **pull-push** (a multiresolution normalised convolution: average the
   known vectors over a pyramid, fill each level's gaps from the coarser level upsampled
   bilinearly): a smooth, membrane-like interpolation of the border's motion in
   O(pixels). (``cv2.inpaint`` on float flow channels was the alternative; pull-push is
   faster, smoother and needs no 8/16-bit scaling.) Since the homography has removed the
   camera motion, what is interpolated is the small residual motion.
5. **Copy.** An open hole pixel ``p`` of ``t`` (full resolution) takes the value of ``s``
   at ``H(p + flow(p))`` (bilinear, ``cv2.remap``) if that point is inside ``s`` and all
   the pixels bilinear sampling reads there are known pixels of ``s``. Where the camera
   is still at ``p`` (``H`` moves it less than ``STILL_CAMERA``, 0.5 px) and the whole
   displacement is under ``STILL_MOTION`` (1 px), ``p`` takes ``s``'s pixel at ``p`` itself:
   on a still camera the flow's sub-pixel noise would otherwise blur every copy by
   resampling (section 13 of docs/results.md: +0.13 dB on a static clip's thin lines).
6. **Confidence**, the product of

   * forward-backward consistency, ``exp(-e^2 / (fb_tau^2 + 0.01 (|f|^2 + |g|^2)))``,
     ``e = |f(p) + g(p + f(p))|`` in full-resolution pixels (the tolerance grows with the
     motion as in Sundaram, Brox and Keutzer's occlusion test). Inside ``t``'s hole both
     flows are completed ones: it asks whether what ``s`` shows there moves like the
     surroundings;
   * photometric agreement on a ring of known pixels around each connected component of
     ``t``'s hole (``HOLE_BAND + 2`` low-res pixels wide, where the flow is the
     interpolated one: a direct test of the interpolation): ``exp(-(m / photo_tau)^2)``,
     ``m`` the mean absolute grey difference between ``t`` and the flow-warped ``s``
     there, one score per component (1 when fewer than 8 ring pixels are usable);
   * stability of the content ``s`` offers (``stability_tau``, None turns it off): ``s``'s
     neighbour ``n`` one frame farther from ``t`` is aligned the same way, DIS (FAST)
     flow goes from ``s`` to ``n``, and (a) the grey residual ``r = |s(q) - n(q + h(q))|``
     gives ``exp(-(r / stability_tau)^2)`` (content that does not reappear where the
     flow says, such as an object the flow loses), (b) the velocity of the content by
     that flow against the velocity the copy assumes (``t``'s completed flow over
     ``|t - s|`` frames), times ``|t - s|``, gives ``exp(-(dv |t - s| / motion_tau)^2)``
     (content that moves differently from the hole's surroundings, such as a passing
     object, is somewhere else at time ``t``, by about that many pixels: a small
     difference of velocity matters over a long copy). This is what flags a foreground
     object that crosses the region behind the hole in the frames copied from;
   * ``decay ** (|t - s| - 1)``;

   then eroded over ``DOUBT_RADIUS`` (2) low-res pixels: a pixel is no surer than its
   neighbours (flows and residuals blur at the edge of a flagged region).
7. **Choice.** A candidate below ``min_confidence`` is not used. A pixel takes the first
   (nearest) usable candidate; a later one replaces it only if its confidence is higher
   by more than ``replace_margin`` (0.5: so sources do not flicker between equally good
   frames, and a farther frame, usually a worse copy, must be much surer; section 12 of
   docs/results.md measured 0.5 against 0.2). A pixel whose confidence reaches
   ``stop_confidence`` is final; ``t``'s search ends when every hole pixel is final.

The result's ``frames`` are the input with the filled pixels written in (unfilled hole
pixels keep the input's values); :func:`vidsched.baselines.flow_propagation` fills the
rest with OpenCV's Telea inpainting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from vidsched.errors import VidschedError
from vidsched.geometry import frames_and_hole
from vidsched.parallel import in_order, threads_for
from vidsched.videoio import VideoError

__all__ = ["PRESETS", "Propagation", "candidate_distances", "candidate_order", "propagate", "pull_push"]

#: ``preset=`` names and the OpenCV DIS presets they select.
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
#: Low-res pixels around a hole where DIS flow is not trusted (DIS patches are 8 wide).
HOLE_BAND = 4
#: DIS preset of the flow from a candidate frame to its neighbour (the stability term):
#: it only has to tell content that reappears from content that does not.
STABILITY_PRESET = "fast"
#: Distances in time up to which every frame is tried (beyond, about 1.4x apart).
DENSE_DISTANCE = 4
#: Beyond DENSE_DISTANCE, only pixels below this confidence (or unfilled) are offered
#: to a candidate frame.
FAR_CONFIDENCE = 0.25
#: Forward-backward tolerance grows with the motion: tau^2 + FB_RELATIVE (|f|^2 + |g|^2)
#: (full-resolution pixels; the occlusion test of Sundaram, Brox and Keutzer, 2010, uses 0.01).
FB_RELATIVE = 0.01
#: Low-res pixels over which a pixel takes its neighbours' lowest confidence.
DOUBT_RADIUS = 2
#: Lucas-Kanade window (low-res pixels) for the homographies' corner tracks.
LK_WINDOW = 15
#: Open pixels a candidate frame must offer, by the homography alone, to be tried: at
#: least MIN_OFFER and MIN_OFFER_FRACTION of the hole, or 10 % of the open pixels if fewer.
MIN_OFFER = 16
MIN_OFFER_FRACTION = 0.005
#: Crops smaller than this (low-res pixels, either side) get no DIS flow, the homography
#: alone (OpenCV's DIS needs 12).
MIN_FLOW_SIZE = 16
#: Usable ring pixels a hole component needs for a photometric score.
MIN_RING_PIXELS = 8
#: A copy whose whole displacement is under STILL_MOTION full-resolution pixels, where the
#: camera alone moves the pixel less than STILL_CAMERA, is the source's pixel at the same
#: place (no resampling).
STILL_MOTION = 1.0
STILL_CAMERA = 0.5
_IDENTITY = np.eye(3)


@dataclass(frozen=True)
class Propagation:
    """What :func:`propagate` found.

    ``frames``: ``T x H x W x 3`` uint8, the input with filled hole pixels written in
    (known pixels are the input's, bit for bit; unfilled hole pixels keep the input's
    values). ``filled``: ``T x H x W`` bool, hole pixels that got a value from another
    frame. ``confidence``: ``T x H x W`` float32 in [0, 1], 0 where not filled.
    ``source``: ``T x H x W`` int16, the frame each filled pixel came from, -1 elsewhere.
    """

    frames: np.ndarray
    filled: np.ndarray
    confidence: np.ndarray
    source: np.ndarray


def candidate_distances(max_distance: int, every_frame: bool = False) -> list[int]:
    """The distances in time :func:`propagate` tries, nearest first: every one up to
    ``DENSE_DISTANCE`` (4), then about 1.4x apart (6, 8, 11, 15, 21, ...; the last one is
    ``max_distance``); every one up to ``max_distance`` with ``every_frame``. A moving hole
    reveals more of the background the farther the frame, so a skipped frame's pixels
    mostly come from the next distance tried, one or two frames farther, at a fraction
    of the cost."""
    if every_frame or max_distance <= DENSE_DISTANCE:
        return list(range(1, max_distance + 1))
    distances = list(range(1, DENSE_DISTANCE + 1))
    while distances[-1] < max_distance:
        distances.append(min(max_distance, max(distances[-1] + 2, round(distances[-1] * 1.4))))
    return distances


def candidate_order(t: int, num_frames: int, max_distance: int, every_frame: bool = False) -> list[int]:
    """The frames :func:`propagate` tries for frame ``t``, in order: nearest first (see
    :func:`candidate_distances`), the earlier on a tie."""
    order = []
    for d in candidate_distances(max_distance, every_frame):
        order += [s for s in (t - d, t + d) if 0 <= s < num_frames]
    return order


def propagate(
    frames: np.ndarray,
    hole: np.ndarray,
    *,
    max_distance: int = 15,
    flow_size: int | None = 320,
    preset: str = "medium",
    fb_tau: float = 2.0,
    photo_tau: float = 10.0,
    decay: float = 0.97,
    min_confidence: float = 0.02,
    stop_confidence: float = 0.5,
    replace_margin: float = 0.5,  # 0.2 until docs/results.md section 12: +0.12 dB on object holes
    min_inliers: int = 12,
    margin: int = 24,
    stability_tau: float | None = 12.0,
    motion_tau: float = 3.0,  # 2 px per frame until docs/results.md section 13
    every_frame: bool = False,
    fill: tuple[int, int] | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Propagation:
    """Fill each frame's hole with what other frames show, along the camera motion and
    optical flow (the module docstring describes the method).

    ``frames``: ``T x H x W x 3`` uint8 (RGB; the channel order does not matter).
    ``hole``: ``T x H x W`` bool, True = missing (an ``H x W`` hole applies to every frame).

    Options: ``max_distance`` -- the farthest frame (in time) a pixel may come from;
    ``every_frame`` -- try every frame up to it, not only 1-4 and then about 1.4x apart
    (slower, a few % more pixels filled); ``flow_size`` -- long side of the frames the
    motion is computed on (None: full resolution); ``preset`` -- OpenCV DIS preset
    (``"medium"``, ``"fast"``, ``"ultrafast"``); ``margin`` -- context (low-res pixels)
    around the pixels a frame offers for its flow; ``min_inliers`` -- for a homography.
    Confidence: ``fb_tau`` and ``motion_tau`` (full-resolution pixels; the latter of
    displacement over the copy's distance in time), ``photo_tau`` and ``stability_tau``
    (grey levels; None: no stability term) scale its terms, ``decay`` is its factor per frame of distance beyond the first.
    ``fill`` -- ``(first, stop)``: fill only frames ``first`` to ``stop - 1``; the others are
    sources only, their holes left unfilled (a chunk of a long video,
    ``vidsched.runtime.chunks``: its context before, its look-ahead after).
    ``threads`` -- frames filled at once (None: ``VIDSCHED_THREADS`` or every usable core;
    :mod:`vidsched.parallel`): each frame reads only the input, so the result is the same
    whatever the number. ``progress(done, total)`` is called as frames with a hole are
    filled (in order), ``total`` being how many there are.
    Choice: candidates below ``min_confidence`` are not used, ``replace_margin`` is how
    much surer a later candidate must be to replace an earlier one, and a pixel at
    ``stop_confidence`` or above is final.

    The inputs are not modified; the result's arrays are read-only. Raises a
    :class:`~vidsched.errors.VidschedError` for bad inputs or options.
    """
    frames, hole = _validated(frames, hole)
    _check_options(max_distance, flow_size, preset, fb_tau, photo_tau, decay, min_confidence,
                   stop_confidence, replace_margin, min_inliers, margin)
    for name, value in (("motion_tau", motion_tau), ("stability_tau", stability_tau)):
        if value is None and name == "stability_tau":
            continue
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and value > 0):
            raise VidschedError(f"{name} must be a positive number, got {value!r}")
    T, H, W = hole.shape
    out = frames.copy()
    filled = np.zeros(hole.shape, dtype=bool)
    confidence = np.zeros(hole.shape, dtype=np.float32)
    source = np.full(hole.shape, -1, dtype=np.int16)
    first, stop = _fill_range(fill, T)
    with_hole = [t for t in range(first, stop) if hole[t].any()]
    if not with_hole or T == 1:
        return _result(out, filled, confidence, source)

    threads = threads_for(threads, len(with_hole))
    video = _Video(frames, hole, flow_size, min_inliers)
    params = _Params(fb_tau, photo_tau, decay, min_confidence, stop_confidence, replace_margin, margin,
                     stability_tau, bool(every_frame), motion_tau)

    def fill_frame(t: int) -> None:
        # DIS objects keep state between calls: one pair per frame, never shared by threads.
        dis = (cv2.DISOpticalFlow_create(PRESETS[preset]), cv2.DISOpticalFlow_create(PRESETS[STABILITY_PRESET]))
        _fill_frame(video, dis, params, t, max_distance, out[t], filled[t], confidence[t], source[t])

    if progress is not None:
        progress(0, len(with_hole))
    for i, t in enumerate(in_order(fill_frame, with_hole, threads)):
        if i + 1 < len(with_hole):  # every frame before the next one is done: forget what only they read
            video.forget(with_hole[i + 1] - max_distance - 1)
        if progress is not None:
            progress(i + 1, len(with_hole))
    return _result(out, filled, confidence, source)


# ---- inputs ------------------------------------------------------------------------------------
def _validated(frames: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames, hole = frames_and_hole(frames, hole)
    if len(frames) > np.iinfo(np.int16).max:
        raise VideoError(f"at most {np.iinfo(np.int16).max} frames (source is int16), got {len(frames)}")
    return frames, hole


def _check_options(max_distance, flow_size, preset, fb_tau, photo_tau, decay, min_confidence,
                   stop_confidence, replace_margin, min_inliers, margin) -> None:
    def integer(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not integer(max_distance) or max_distance < 1:
        raise VidschedError(f"max_distance must be a positive integer, got {max_distance!r}")
    if flow_size is not None and (not integer(flow_size) or flow_size < 8):
        raise VidschedError(f"flow_size must be an integer of at least 8 (or None), got {flow_size!r}")
    if preset not in PRESETS:
        raise VidschedError(f"unknown DIS preset {preset!r}: one of {', '.join(PRESETS)}")
    for name, value in (("fb_tau", fb_tau), ("photo_tau", photo_tau)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise VidschedError(f"{name} must be a positive number, got {value!r}")
    for name, value in (("decay", decay), ("min_confidence", min_confidence),
                        ("stop_confidence", stop_confidence), ("replace_margin", replace_margin)):
        if not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise VidschedError(f"{name} must be a number in [0, 1], got {value!r}")
    if not integer(min_inliers) or min_inliers < 4:
        raise VidschedError(f"min_inliers must be an integer of at least 4, got {min_inliers!r}")
    if not integer(margin) or margin < 0:
        raise VidschedError(f"margin must be a non-negative integer, got {margin!r}")


def _fill_range(fill, num_frames: int) -> tuple[int, int]:
    if fill is None:
        return 0, num_frames
    if not (isinstance(fill, tuple) and len(fill) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in fill)
            and 0 <= fill[0] <= fill[1]):
        raise VidschedError(f"fill must be (first, stop) frame indices with 0 <= first <= stop, got {fill!r}")
    return int(fill[0]), min(num_frames, int(fill[1]))


def _result(out, filled, confidence, source) -> Propagation:
    for array in (out, filled, confidence, source):
        array.flags.writeable = False
    return Propagation(out, filled, confidence, source)


@dataclass(frozen=True)
class _Params:
    fb_tau: float
    photo_tau: float
    decay: float
    min_confidence: float
    stop_confidence: float
    replace_margin: float
    margin: int
    stability_tau: float | None
    every_frame: bool
    motion_tau: float


# ---- per-frame data at flow resolution ---------------------------------------------------------
class _Video:
    """The frames at flow resolution (grey, holes filled), their holes there, and the
    consecutive homographies, each computed once, when first needed."""

    def __init__(self, frames: np.ndarray, hole: np.ndarray, flow_size: int | None, min_inliers: int) -> None:
        self.frames, self.hole = frames, hole
        T, H, W = hole.shape
        scale = 1.0 if flow_size is None else min(1.0, flow_size / max(H, W))
        self.lo_size = (max(1, round(W * scale)), max(1, round(H * scale)))  # (w, h), OpenCV's order
        self.sx, self.sy = self.lo_size[0] / W, self.lo_size[1] / H
        self.scale = math.sqrt(self.sx * self.sy)
        self.min_inliers = min_inliers
        self._gray: dict[int, np.ndarray] = {}
        self._hole_lo: dict[int, np.ndarray] = {}
        self._known_feat: dict[int, np.ndarray] = {}
        self._step: dict[int, np.ndarray] = {}
        self._core_lo: dict[int, np.ndarray] = {}

    def gray(self, t: int) -> np.ndarray:
        """Frame ``t`` at flow resolution, grey uint8, its hole filled by pull-push."""
        if t not in self._gray:
            gray = cv2.cvtColor(self.frames[t], cv2.COLOR_RGB2GRAY)
            small = cv2.resize(gray, self.lo_size, interpolation=cv2.INTER_AREA)
            hole = self.hole_lo(t)
            if hole.any():
                filled = pull_push(small.astype(np.float32), ~hole)
                small = np.where(hole, np.clip(np.rint(filled), 0, 255).astype(np.uint8), small)
            self._gray[t] = np.ascontiguousarray(small)
        return self._gray[t]

    def hole_lo(self, t: int) -> np.ndarray:
        """Frame ``t``'s hole at flow resolution: a pixel is hole if any pixel under it is."""
        if t not in self._hole_lo:
            if self.lo_size == (self.hole.shape[2], self.hole.shape[1]):
                self._hole_lo[t] = self.hole[t].copy()
            else:
                area = cv2.resize(self.hole[t].astype(np.float32), self.lo_size, interpolation=cv2.INTER_AREA)
                self._hole_lo[t] = area > 1e-4
        return self._hole_lo[t]

    def core_lo(self, t: int) -> np.ndarray:
        """Frame ``t``'s flow-resolution hole less its outer ``HOLE_BAND`` pixels, with
        the outside of the frame counted as hole: where no pixel can be fetched from ``t``
        even after a local flow of a few pixels."""
        if t not in self._core_lo:
            padded = np.pad(self.hole_lo(t), HOLE_BAND, constant_values=True).astype(np.uint8)
            core = cv2.erode(padded, np.ones((2 * HOLE_BAND + 1,) * 2, np.uint8))
            self._core_lo[t] = core[HOLE_BAND:-HOLE_BAND, HOLE_BAND:-HOLE_BAND] > 0
        return self._core_lo[t]

    def forget(self, before: int) -> None:
        """Drop what was computed for frames before ``before`` (memory stays bounded on
        long videos: frames are filled in order and reach ``max_distance`` back). Threads
        filling later frames may add entries meanwhile: the keys are copied first."""
        for cache in (self._gray, self._hole_lo, self._known_feat, self._step, self._core_lo):
            for t in [t for t in list(cache) if t < before]:
                cache.pop(t, None)

    def feature_mask(self, t: int) -> np.ndarray:
        """Where corners of frame ``t`` may be tracked from or to: farther from its hole
        than the tracking window reaches (the window must not see the filled-in hole)."""
        if t not in self._known_feat:
            self._known_feat[t] = ~_band(self.hole_lo(t), LK_WINDOW // 2 + 1)
        return self._known_feat[t]

    def step(self, t: int) -> np.ndarray:
        """The homography (flow-resolution coordinates) from frame ``t`` to frame ``t + 1``."""
        if t not in self._step:
            self._step[t] = _fit_homography(self.gray(t), self.gray(t + 1), self.feature_mask(t),
                                            self.feature_mask(t + 1), self.min_inliers)
        return self._step[t]

    def homography(self, t: int, s: int) -> np.ndarray:
        """Flow-resolution coordinates in frame ``t`` to those of the same scene point in ``s``."""
        A = _IDENTITY
        for k in range(min(t, s), max(t, s)):
            A = self.step(k) @ A
        if s < t:
            A = np.linalg.inv(A)
        return A


def _fit_homography(g0: np.ndarray, g1: np.ndarray, mask0: np.ndarray, mask1: np.ndarray,
                    min_inliers: int) -> np.ndarray:
    """The homography from ``g0`` to ``g1`` fitted to tracked corners on known pixels, or
    the identity when there is too little evidence or the fit is degenerate."""
    h, w = g0.shape
    if min(h, w) < 8 or not mask0.any():
        return _IDENTITY
    corners = cv2.goodFeaturesToTrack(g0, maxCorners=400, qualityLevel=0.01, minDistance=max(2, min(h, w) // 60),
                                      mask=mask0.astype(np.uint8), blockSize=5)
    if corners is None or len(corners) < min_inliers:
        return _IDENTITY
    corners = corners.astype(np.float32)
    lk = dict(winSize=(LK_WINDOW, LK_WINDOW), maxLevel=3,
              criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    ahead, ok1, _ = cv2.calcOpticalFlowPyrLK(g0, g1, corners, None, **lk)
    back, ok2, _ = cv2.calcOpticalFlowPyrLK(g1, g0, ahead, None, **lk)
    a, b = corners.reshape(-1, 2), ahead.reshape(-1, 2)
    good = (ok1.ravel() == 1) & (ok2.ravel() == 1) & (np.linalg.norm(back.reshape(-1, 2) - a, axis=1) < 0.5)
    inside = (b[:, 0] >= 0) & (b[:, 0] <= w - 1) & (b[:, 1] >= 0) & (b[:, 1] <= h - 1)
    good &= inside
    xi = np.clip(np.rint(b[:, 0]), 0, w - 1).astype(int)
    yi = np.clip(np.rint(b[:, 1]), 0, h - 1).astype(int)
    good &= mask1[yi, xi]
    if good.sum() < min_inliers:
        return _IDENTITY
    A, inliers = cv2.findHomography(a[good], b[good], cv2.RANSAC, 1.0, maxIters=2000, confidence=0.995)
    if A is None or inliers is None or int(inliers.sum()) < min_inliers or not np.isfinite(A).all():
        return _IDENTITY
    A = A / A[2, 2]
    det = np.linalg.det(A[:2, :2])
    if not 0.25 < det < 4 or abs(A[2, 0]) * w + abs(A[2, 1]) * h > 0.5:
        return _IDENTITY
    return A


# ---- filling -----------------------------------------------------------------------------------
def pull_push(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``values`` (``h x w`` or ``h x w x c`` float32) with the pixels where ``known`` is
    False filled smoothly from the known ones (pull-push: a pyramid of weighted averages,
    each level's gaps filled from the coarser level upsampled bilinearly). ``known`` is
    ``h x w``, or ``h x w x c`` for a mask per channel. Known pixels are returned exactly;
    a channel with nothing known comes back as zeros."""
    v = np.asarray(values, dtype=np.float32)
    flat = v.ndim == 2
    if flat:
        v = v[..., None]
    w = known.astype(np.float32)
    w = np.ascontiguousarray(np.broadcast_to(w[..., None] if w.ndim == 2 else w, v.shape))
    if w.all():
        return values.astype(np.float32, copy=True)

    def resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
        out = cv2.resize(array, size, interpolation=interpolation)
        return out.reshape(size[1], size[0], -1)  # OpenCV drops a trailing axis of 1

    levels = []
    while True:
        levels.append((v, w))
        h, wd = w.shape[:2]
        if (w > 0).all() or (h == 1 and wd == 1):
            break
        size = (max(1, (wd + 1) // 2), max(1, (h + 1) // 2))
        total = resize(w, size, cv2.INTER_AREA)
        weighted = resize(v * w, size, cv2.INTER_AREA)
        v = np.where(total > 1e-6, weighted / np.maximum(total, 1e-6), np.float32(0))
        w = np.minimum(np.float32(1), total * np.float32((h * wd) / (size[0] * size[1])))
    result = levels[-1][0]
    for v, w in reversed(levels[:-1]):
        up = resize(result, (v.shape[1], v.shape[0]), cv2.INTER_LINEAR)
        result = np.where(w >= 1, v, w * v + (1 - w) * up)
    return result[..., 0] if flat else result


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, interpolation: int, border: int,
            border_value: float = 0.0) -> np.ndarray:
    """``image`` at the points ``(x, y)`` (1-D float arrays) with ``cv2.remap``: a row of
    values per point (or one value for a single-channel image). Points are laid out in
    blocks, as remap wants maps under 32,767 on a side."""
    n = x.size
    if n == 0:
        return np.zeros((0,) + image.shape[2:], dtype=image.dtype)
    cols = min(n, 1024)
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), interpolation,
                    borderMode=border, borderValue=border_value)
    return out.reshape((rows * cols,) + image.shape[2:])[:n]


def _sample_mask(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``mask`` (bool) at the nearest pixel to each point ``(x, y)`` (1-D arrays); True
    outside the image and for points that are not finite."""
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = np.where(finite, x, -10.0), np.where(finite, y, -10.0)
    return _sample(mask.view(np.uint8), x, y, cv2.INTER_NEAREST, cv2.BORDER_CONSTANT, 1) > 0


def _taps_known(hole: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether the (up to) four pixels bilinear sampling at ``(x, y)`` reads are all
    known (not ``hole``); points must be inside the image. Coordinates are rounded to
    1/32 pixel first, as ``cv2.remap`` does: a pixel whose weight rounds to 0 is not read."""
    h, w = hole.shape
    x, y = np.round(x * 32) / 32, np.round(y * 32) / 32
    x0 = np.clip(np.floor(x), 0, w - 1).astype(np.intp)
    y0 = np.clip(np.floor(y), 0, h - 1).astype(np.intp)
    dx = (x > x0) & (x0 < w - 1)  # a second column (row) is read
    dy = (y > y0) & (y0 < h - 1)
    flat = hole.ravel()  # one flat gather per tap: half the time of 2-D fancy indexing at 1080p
    top = y0 * w + x0
    bottom = top + dy * w
    return ~(flat[top] | flat[top + dx] | flat[bottom] | flat[bottom + dx])


def _band(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` dilated by ``radius`` pixels (a square neighbourhood)."""
    if radius <= 0:
        return mask
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def _lookup(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``mask`` (bool, ``h x w``) at the nearest pixel to each ``(x, y)`` (float32 maps of
    any 2-D shape); True outside the image."""
    return cv2.remap(mask.view(np.uint8), x.astype(np.float32, copy=False), y.astype(np.float32, copy=False),
                     cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=1) > 0


def _fill_frame(video: _Video, dis, params: _Params, t: int, max_distance: int, out: np.ndarray,
                filled: np.ndarray, confidence: np.ndarray, source: np.ndarray) -> None:
    """Fill frame ``t``'s hole in place (``out``, ``filled``, ``confidence``, ``source``
    are frame ``t``'s slices of the result)."""
    hole = video.hole[t]
    ys, xs = np.nonzero(hole)  # the hole's pixels, in a fixed order
    conf = np.zeros(ys.size, np.float32)
    src = np.full(ys.size, -1, np.int16)
    values = np.zeros((ys.size, 3), np.uint8)
    min_offer = max(MIN_OFFER, math.ceil(MIN_OFFER_FRACTION * ys.size))
    for s in candidate_order(t, len(video.frames), max_distance, params.every_frame):
        open_ = conf < params.stop_confidence
        if not open_.any():
            break
        if abs(t - s) > DENSE_DISTANCE:  # far frames: only for pixels with no good source yet
            open_ &= conf < FAR_CONFIDENCE
            if not open_.any():
                continue
        idx = np.flatnonzero(open_)
        candidate = _candidate(video, *dis, params, t, s, xs[idx], ys[idx], min_offer)
        if candidate is None:
            continue
        offered, got, value, c = candidate
        idx = idx[offered]
        c = c * np.float32(params.decay ** (abs(t - s) - 1))
        take = got & (c >= params.min_confidence) & ((src[idx] < 0) | (c > conf[idx] + params.replace_margin))
        chosen = idx[take]
        conf[chosen], src[chosen], values[chosen] = c[take], s, value[take]
    done = src >= 0
    out[ys[done], xs[done]] = values[done]
    filled[ys[done], xs[done]] = True
    confidence[ys[done], xs[done]] = np.clip(conf[done], 0, 1)
    source[ys[done], xs[done]] = src[done]


def _candidate(video: _Video, dis, dis_stability, params: _Params, t: int, s: int, xs: np.ndarray,
               ys: np.ndarray, min_offer: int):
    """What frame ``s`` offers the open hole pixels ``(xs, ys)`` of frame ``t``: (indices
    of the pixels offered, and for each: usable bool, RGB values uint8, confidence float32
    before the distance decay), or None when ``s`` cannot offer any of them.

    ``s`` is skipped when the homography alone takes fewer than ``min_offer`` of the
    pixels (or 10 % of them, if that is fewer) to known pixels of ``s``. Offered are the
    pixels it takes to, or within
    ``HOLE_BAND`` low-res pixels of, a known pixel of ``s`` (the local flow moves them by
    a few pixels at most); the flow is computed on a crop around them only, ``margin``
    wider."""
    lw, lh = video.lo_size
    sx, sy = video.sx, video.sy
    xl = ((xs + 0.5) * sx - 0.5).astype(np.float32)  # the open pixels at flow resolution
    yl = ((ys + 0.5) * sy - 0.5).astype(np.float32)
    A = video.homography(t, s)  # flow-resolution coordinates, t -> s
    q = A @ np.stack([xl, yl, np.ones_like(xl)]).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        camera_x, camera_y = q[0] / q[2], q[1] / q[2]  # where the camera motion alone takes them
    qx, qy = camera_x.astype(np.float32), camera_y.astype(np.float32)
    landing = _sample_mask(video.hole_lo(s), qx, qy)  # True: s's hole or outside s
    if np.count_nonzero(~landing) < min(min_offer, math.ceil(0.1 * landing.size)):
        return None
    offered = np.flatnonzero(~_sample_mask(video.core_lo(s), qx, qy))
    xl, yl = xl[offered], yl[offered]
    pad = params.margin + HOLE_BAND + 3
    x0 = max(0, int(math.floor(xl.min())) - pad)
    y0 = max(0, int(math.floor(yl.min())) - pad)
    x1 = min(lw, int(math.ceil(xl.max())) + pad + 1)
    y1 = min(lh, int(math.ceil(yl.max())) + pad + 1)
    cw, ch = x1 - x0, y1 - y0
    M = A @ np.array([[1.0, 0, x0], [0, 1, y0], [0, 0, 1]])  # crop coordinates of t -> s
    inverse = cv2.WARP_INVERSE_MAP
    s_hole = cv2.warpPerspective(video.hole_lo(s).astype(np.float32), M, (cw, ch),
                                 flags=cv2.INTER_LINEAR | inverse, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=1.0) > 1e-4  # s's hole (and outside s) on t's crop

    t_gray = np.ascontiguousarray(video.gray(t)[y0:y1, x0:x1])
    t_hole = np.ascontiguousarray(video.hole_lo(t)[y0:y1, x0:x1])
    s_gray = cv2.warpPerspective(video.gray(s), M, (cw, ch), flags=cv2.INTER_LINEAR | inverse,
                                 borderMode=cv2.BORDER_REPLICATE)
    grid_x, grid_y = np.meshgrid(np.arange(cw, dtype=np.float32), np.arange(ch, dtype=np.float32))
    if min(cw, ch) >= MIN_FLOW_SIZE:
        forward = dis.calc(t_gray, s_gray, None)
        backward = dis.calc(s_gray, t_gray, None)
    else:  # too small for DIS (frames of a few pixels): the homography alone
        forward = np.zeros((ch, cw, 2), np.float32)
        backward = np.zeros((ch, cw, 2), np.float32)
    t_band, s_band = _band(t_hole, HOLE_BAND), _band(s_hole, HOLE_BAND)
    # Trusted flow: away from both holes, at its start and where it lands.
    either = t_band | s_band
    f_ok = ~either & ~_lookup(s_band, grid_x + forward[..., 0], grid_y + forward[..., 1])
    b_ok = ~either & ~_lookup(t_band, grid_x + backward[..., 0], grid_y + backward[..., 1])
    both = pull_push(np.dstack([forward, backward]), np.dstack([f_ok, f_ok, b_ok, b_ok]))
    forward, backward = both[..., :2], both[..., 2:]
    map_x, map_y = grid_x + forward[..., 0], grid_y + forward[..., 1]

    # Forward-backward consistency (full-resolution pixels).
    back_at = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err2 = ((forward[..., 0] + back_at[..., 0]) / sx) ** 2 + ((forward[..., 1] + back_at[..., 1]) / sy) ** 2
    motion2 = ((forward[..., 0] / sx) ** 2 + (forward[..., 1] / sy) ** 2
               + (back_at[..., 0] / sx) ** 2 + (back_at[..., 1] / sy) ** 2)
    conf_map = np.exp(-err2 / (params.fb_tau ** 2 + FB_RELATIVE * motion2)).astype(np.float32)
    if params.stability_tau is not None and min(cw, ch) >= MIN_FLOW_SIZE:
        conf_map *= _stability(video, dis_stability, params, t, s, x0, y0, s_gray, s_hole, grid_x, grid_y, forward,
                               map_x, map_y)

    # Photometric agreement on a ring of known pixels around each hole component.
    region = _band(t_hole, HOLE_BAND + 2)
    count, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    warped = cv2.remap(s_gray, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lands_known = cv2.remap(s_hole.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=1.0) < 1e-4
    ring = region & ~t_hole & lands_known
    diff = np.abs(t_gray.astype(np.float32) - warped.astype(np.float32))
    sums = np.bincount(labels[ring], weights=diff[ring], minlength=count)
    counts = np.bincount(labels[ring], minlength=count)
    score = np.ones(count, np.float32)
    enough = counts >= MIN_RING_PIXELS
    score[enough] = np.exp(-((sums[enough] / counts[enough] / params.photo_tau) ** 2))
    conf_map *= score[labels]
    # Doubt spreads: a pixel is no surer than its neighbours (flow and residuals blur at
    # the edges of a flagged region, such as a passing object's).
    conf_map = cv2.erode(conf_map, np.ones((2 * DOUBT_RADIUS + 1,) * 2, np.uint8))

    # Full resolution: where each open pixel comes from in s, and whether that is known there.
    cx, cy = xl - x0, yl - y0
    flow = _sample(forward, cx, cy, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
    c = _sample(conf_map, cx, cy, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
    pts = np.stack([xl + flow[:, 0], yl + flow[:, 1], np.ones_like(xl)])
    q = A @ pts
    with np.errstate(divide="ignore", invalid="ignore"):
        qx, qy = _to_full(q[0] / q[2], sx), _to_full(q[1] / q[2], sy)
    px, py = xs[offered].astype(np.float64), ys[offered].astype(np.float64)
    camera_shift = np.hypot(_to_full(camera_x[offered], sx) - px, _to_full(camera_y[offered], sy) - py)
    still = (np.hypot(qx - px, qy - py) < STILL_MOTION) & (camera_shift < STILL_CAMERA)
    qx, qy = np.where(still, px, qx), np.where(still, py, qy)
    H, W = video.hole.shape[1:]
    finite = np.isfinite(qx) & np.isfinite(qy)
    qx, qy = np.where(finite, qx, -1.0), np.where(finite, qy, -1.0)
    inside = (qx >= 0) & (qx <= W - 1) & (qy >= 0) & (qy <= H - 1)
    got = inside & _taps_known(video.hole[s], qx, qy)
    if not got.any():
        return None
    value = _sample(video.frames[s], qx, qy, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
    return offered, got, value, np.clip(c, 0, 1).astype(np.float32)


def _to_full(v: np.ndarray, scale: float) -> np.ndarray:
    """Flow-resolution pixel coordinates to full-resolution ones (pixel centres aligned)."""
    return (v + 0.5) / scale - 0.5


def _neighbour(t: int, s: int, num_frames: int) -> int | None:
    """The frame :func:`_stability` compares ``s`` with: the next one away from ``t``,
    else the next one towards ``t`` unless that is ``t`` itself (which lacks the hole's content)."""
    away = 1 if s > t else -1
    for n in (s + away, s - away):
        if 0 <= n < num_frames and n != t:
            return n
    return None


def _stability(video: _Video, dis, params: _Params, t: int, s: int, x0: int, y0: int, s_gray: np.ndarray,
               s_hole: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray, forward: np.ndarray,
               map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """How stable the content ``s`` offers each pixel of ``t``'s crop is, read at the point
    each pixel copies from. ``s``'s neighbour ``n`` is warped onto the crop the same way
    and DIS flow ``h`` goes from ``s`` to ``n``; the product of

    * ``exp(-(r / stability_tau)^2)``, ``r = |s(q) - n(q + h(q))|`` (3 x 3 mean): content
      that moves on its own and that the flow loses (a passing object), or that DIS cannot
      follow at all, does not reappear where the flow says;
    * ``exp(-(dv |s - t| / motion_tau)^2)``, ``dv`` the difference between the content's
      own velocity (``h / (n - s)``, after the camera motion) and the velocity the copy
      assumes (``t``'s completed flow over ``s - t`` frames): content that the flow does
      follow but that moves unlike the hole's surroundings is elsewhere at time ``t``, by
      about ``dv |s - t|`` pixels (a per-frame tolerance let far copies of slowly moving
      content through: section 13 of docs/results.md).

    Where ``n`` does not show the content (its hole, outside it) there is no evidence and
    the score is 1; so it is without a neighbour other than ``t``."""
    n = _neighbour(t, s, len(video.frames))
    if n is None:
        return np.float32(1.0)
    ch, cw = s_gray.shape
    M = video.homography(t, n) @ np.array([[1.0, 0, x0], [0, 1, y0], [0, 0, 1]])
    n_gray = cv2.warpPerspective(video.gray(n), M, (cw, ch), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    n_hole = cv2.warpPerspective(video.hole_lo(n).astype(np.float32), M, (cw, ch),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=1.0) > 1e-4
    flow = dis.calc(s_gray, n_gray, None)  # the stability preset's DIS
    hx, hy = grid_x + flow[..., 0], grid_y + flow[..., 1]
    seen = cv2.remap(n_gray, hx, hy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    residual = cv2.blur(np.abs(s_gray.astype(np.float32) - seen.astype(np.float32)), (3, 3))
    unseen = s_hole | _lookup(_band(n_hole, 1), hx, hy)
    residual[unseen] = 0
    stable = np.exp(-((residual / params.stability_tau) ** 2)).astype(np.float32)
    # Velocity (per frame, full-resolution pixels) of the content at q, by its own flow to n,
    # against the velocity the copy assumes (t's completed flow to s over |t - s| frames);
    # times |t - s|: how far from where the copy assumes the content is by time t.
    trusted = ~(_band(s_hole, HOLE_BAND) | _lookup(_band(n_hole, HOLE_BAND), hx, hy))
    own = np.where(trusted[..., None], flow / np.float32(n - s), np.nan).astype(np.float32)
    own_at = cv2.remap(own, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assumed = forward / np.float32(s - t)
    gap = np.hypot((own_at[..., 0] - assumed[..., 0]) / video.sx, (own_at[..., 1] - assumed[..., 1]) / video.sy)
    drift = np.nan_to_num(gap, nan=0.0) * np.float32(abs(s - t))
    moving = np.exp(-((drift / params.motion_tau) ** 2)).astype(np.float32)
    return cv2.remap(stable, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) * moving
