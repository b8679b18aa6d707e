"""Flow-guided propagation (vidsched.propagation): on synthetic videos whose every pixel is
known (a translating camera, a panning and zooming one, an object passing behind the
hole, a stationary logo), what another frame shows is recovered, and only that; known
pixels come back bit-exact; the confidence flags copies of a passing object; the outputs
are consistent with each other. Small frames, numpy and OpenCV only (no torch)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from vidsched.errors import VidschedError  # noqa: E402
from vidsched.propagation import (  # noqa: E402
    Propagation,
    pull_push,
    candidate_distances,
    candidate_order,
    propagate,
)

GARBAGE = (255, 0, 255)  # what the input holds in its hole: never read, never returned as a fill


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture with detail at several scales (flow and corners need
    texture; smooth enough that bilinear resampling costs about a grey level)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cell, amplitude in ((24, 70.0), (8, 40.0), (3, 20.0)):
        coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        image += amplitude * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image = cv2.GaussianBlur(image, (0, 0), 0.8)
    return np.clip(image + 128, 0, 255).astype(np.uint8)


def moving_box(T: int, H: int, W: int, size: tuple[int, int], start: tuple[int, int],
               velocity: tuple[float, float]) -> np.ndarray:
    hole = np.zeros((T, H, W), bool)
    for t in range(T):
        y = int(round(start[0] + velocity[0] * t))
        x = int(round(start[1] + velocity[1] * t))
        hole[t, max(0, y): y + size[0], max(0, x): x + size[1]] = True
    return hole


def with_garbage(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    masked = frames.copy()
    masked[np.broadcast_to(hole, frames.shape[:3])] = GARBAGE
    return masked


def check_invariants(result: Propagation, frames: np.ndarray, hole: np.ndarray, max_distance: int) -> None:
    """What holds for every result: shapes and types, known pixels bit-exact, unfilled hole
    pixels untouched, and filled / confidence / source telling the same story."""
    T, H, W = hole.shape
    assert result.frames.shape == (T, H, W, 3) and result.frames.dtype == np.uint8
    assert result.filled.shape == (T, H, W) and result.filled.dtype == np.bool_
    assert result.confidence.shape == (T, H, W) and result.confidence.dtype == np.float32
    assert result.source.shape == (T, H, W) and result.source.dtype == np.int16
    np.testing.assert_array_equal(result.frames[~hole], frames[~hole])
    unfilled = hole & ~result.filled
    np.testing.assert_array_equal(result.frames[unfilled], frames[unfilled])
    assert not (result.filled & ~hole).any()
    np.testing.assert_array_equal(result.source >= 0, result.filled)
    assert (result.confidence[~result.filled] == 0).all()
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    t_of = np.broadcast_to(np.arange(T)[:, None, None], hole.shape)
    distance = np.abs(result.source.astype(int) - t_of)[result.filled]
    assert ((distance >= 1) & (distance <= max_distance)).all()
    for array in (result.frames, result.filled, result.confidence, result.source):
        assert not array.flags.writeable


def visible_elsewhere(to_source, hole: np.ndarray, max_distance: int) -> np.ndarray:
    """Hole pixels of each frame that some frame tried by ``propagate`` shows: the point
    ``to_source(t, s, x, y)`` lies inside frame ``s`` and every pixel bilinear sampling
    reads there is known in ``s``."""
    T, H, W = hole.shape
    visible = np.zeros_like(hole)
    for t in range(T):
        ys, xs = np.nonzero(hole[t])
        for s in candidate_order(t, T, max_distance):
            qx, qy = to_source(t, s, xs.astype(float), ys.astype(float))
            inside = (qx >= 0) & (qx <= W - 1) & (qy >= 0) & (qy <= H - 1)
            x0 = np.clip(np.floor(qx).astype(int), 0, W - 1)
            y0 = np.clip(np.floor(qy).astype(int), 0, H - 1)
            x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
            known = ~(hole[s, y0, x0] | hole[s, y0, x1] | hole[s, y1, x0] | hole[s, y1, x1])
            visible[t, ys[inside & known], xs[inside & known]] = True
    return visible


# ---- a camera translating by whole pixels ------------------------------------------------------
def translating_case(T: int = 10, H: int = 96, W: int = 128, step: int = 3):
    scene = texture(H, W + step * T, seed=1)
    frames = np.stack([scene[:, step * t: step * t + W] for t in range(T)])
    hole = moving_box(T, H, W, (30, 36), (30, 40), (0.5, 1))  # 4 px per frame across the scene
    return frames, hole, step


def test_translating_video_recovers_what_other_frames_show() -> None:
    frames, hole, step = translating_case()
    masked = with_garbage(frames, hole)
    before = masked.copy()
    result = propagate(masked, hole, max_distance=6)
    np.testing.assert_array_equal(masked, before)
    check_invariants(result, masked, hole, 6)
    visible = visible_elsewhere(lambda t, s, x, y: (x + step * (t - s), y), hole, 6)
    assert 0.5 * hole.sum() < visible.sum() < 0.95 * hole.sum()  # the case is not trivial
    assert result.filled[visible].mean() >= 0.97
    # Nothing is invented: a filled pixel is one some frame shows (up to the flow's noise,
    # which can shift a source by a pixel at the edge of another frame's hole).
    grown = np.stack([cv2.dilate(v.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for v in visible])
    assert not (result.filled & ~grown).any()
    error = np.abs(result.frames.astype(int) - frames.astype(int))[result.filled]
    assert error.mean() < 2.0, error.mean()
    assert not (result.frames[result.filled] == GARBAGE).all(axis=-1).any()
    assert result.confidence[result.filled].mean() > 0.6


# ---- a panning, zooming, rotating camera -------------------------------------------------------
def affine(t: int, H: int, W: int) -> np.ndarray:
    """Frame pixel -> scene point for frame ``t``: pan (2.3, 1.1) px, zoom 1.2 % and
    rotation 0.3 degrees per frame, about the frame's centre."""
    zoom = 1 + 0.012 * t
    angle = np.deg2rad(0.3 * t)
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / zoom
    centre = np.array([W / 2 + 40 + 2.3 * t, H / 2 + 30 + 1.1 * t])
    offset = centre - R @ np.array([W / 2, H / 2])
    return np.vstack([np.hstack([R, offset[:, None]]), [0, 0, 1]])


def test_panning_zooming_video_recovers_what_other_frames_show() -> None:
    T, H, W = 10, 96, 128
    scene = texture(2 * H, 2 * W, seed=2)
    frames = np.stack([cv2.warpAffine(scene, affine(t, H, W)[:2], (W, H),
                                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) for t in range(T)])
    hole = moving_box(T, H, W, (28, 34), (34, 50), (0.4, -3.0))  # against the pan: some stays hidden
    masked = with_garbage(frames, hole)
    result = propagate(masked, hole, max_distance=6)
    check_invariants(result, masked, hole, 6)

    def to_source(t, s, x, y):
        M = np.linalg.inv(affine(s, H, W)) @ affine(t, H, W)
        return M[0, 0] * x + M[0, 1] * y + M[0, 2], M[1, 0] * x + M[1, 1] * y + M[1, 2]

    visible = visible_elsewhere(to_source, hole, 6)
    assert 0.2 * hole.sum() < visible.sum() < 0.8 * hole.sum()  # the case is not trivial
    assert result.filled[visible].mean() >= 0.95
    grown = np.stack([cv2.dilate(v.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for v in visible])
    assert (result.filled & ~grown).sum() <= 0.005 * result.filled.sum()
    error = np.abs(result.frames.astype(int) - frames.astype(int))[result.filled]
    assert error.mean() < 2.5, error.mean()


# ---- an object passing over the region behind the hole -----------------------------------------
def passing_object_case(T: int = 7, t_ref: int = 3, speed: int = 16, size: int = 24):
    """A static textured background; a 24 x 24 checker object moving right ``speed`` px
    per frame, just right of the hole (visible) at frame ``t_ref`` and over the region
    behind that hole in the frames before; a 20-row hole moving down 20 px per frame, so
    that the neighbouring frames show that region."""
    H, W = 120, 160
    background = texture(H, W, seed=3)
    rng = np.random.default_rng(4)
    checker = np.kron(rng.integers(0, 2, (size // 4, size // 4, 1)) * 255, np.ones((4, 4, 3))).astype(np.uint8)
    checker[..., 1] = 255 - checker[..., 0]
    frames, objects = [], []
    for t in range(T):
        frame, mask = background.copy(), np.zeros((H, W), bool)
        x = 124 + speed * (t - t_ref)
        lo, hi = max(0, x), min(W, x + size)
        if hi > lo:
            frame[48:48 + size, lo:hi] = checker[:, lo - x: hi - x]
            mask[48:48 + size, lo:hi] = True
        frames.append(frame)
        objects.append(mask)
    hole = np.zeros((T, H, W), bool)
    for t in range(T):
        top = 50 + 20 * (t - t_ref)
        hole[t, max(0, top): max(0, top + 20), 40:120] = True
    return np.stack(frames), hole, np.stack(objects)


def test_copies_of_a_passing_object_get_low_confidence() -> None:
    frames, hole, objects = passing_object_case()
    # Frames 0-3 only, one frame of reach: frame 3 can copy from frame 2 alone, which
    # shows the object over part of the region behind frame 3's hole.
    frames, hole, objects = frames[:4], hole[:4], objects[:4]
    result = propagate(with_garbage(frames, hole), hole, max_distance=1, min_confidence=0.0)
    t, s = 3, 2
    assert (result.source[t][result.filled[t]] == s).all()
    band = cv2.dilate(objects[s].astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # the object, and its edge
    wrong = result.filled[t] & objects[s]  # would paste the object where frame 3 shows background
    right = result.filled[t] & ~band
    assert wrong.sum() >= 100 and right.sum() >= 300
    error = np.abs(result.frames[t].astype(int) - frames[t].astype(int)).max(axis=-1)
    assert error[wrong].mean() > 40 and error[right].mean() < 4  # the case is what it says
    confidence = result.confidence[t]
    assert np.percentile(confidence[wrong], 90) < 0.5
    assert confidence[wrong].mean() < 0.3 * confidence[right].mean()


def test_a_passing_object_is_not_pasted_when_another_frame_shows_the_background() -> None:
    frames, hole, _ = passing_object_case()
    result = propagate(with_garbage(frames, hole), hole, max_distance=3)
    t = 3
    assert result.filled[t].mean() > 0
    assert result.filled[t][hole[t]].all()
    error = np.abs(result.frames[t].astype(int) - frames[t].astype(int)).max(axis=-1)[hole[t]]
    assert (error > 40).mean() < 0.01  # frame 4 shows the background: its copy wins


def test_a_far_copy_of_a_slowly_moving_object_gets_low_confidence() -> None:
    """A hole that stays put for 8 frames over a static background, and a small textured
    object drifting right 2 px per frame through the region behind it: frame 0 can only
    copy from frames 8 and 9, where the object is 16-18 px from where it is at frame 0.
    The difference of velocity is small (2 px per frame), the drift over the copy is not,
    and the confidence goes by the drift (results section 13; the former per-frame
    tolerance pasted 235 pixels of the object here with a confidence of 0.1 or more)."""
    T, H, W, size = 10, 120, 160, 24
    background = texture(H, W, seed=5)
    thing = 255 - texture(size, size, seed=6)  # textured, so that its own flow is measurable
    frames, objects = [], []
    for t in range(T):
        frame, mask = background.copy(), np.zeros((H, W), bool)
        x = 58 + 2 * t
        frame[48:48 + size, x:x + size] = thing
        mask[48:48 + size, x:x + size] = True
        frames.append(frame)
        objects.append(mask)
    frames, objects = np.stack(frames), np.stack(objects)
    hole = np.zeros((T, H, W), bool)
    hole[:8, 36:84, 40:128] = True
    result = propagate(with_garbage(frames, hole), hole)
    t = 0
    assert set(np.unique(result.source[t][result.filled[t]])) <= {8, 9}
    confidence = result.confidence[t]
    pasted = result.filled[t] & (objects[8] | objects[9]) & (confidence >= 0.1)
    band = cv2.dilate((objects[8] | objects[9] | objects[t]).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    right = result.filled[t] & ~band
    assert pasted.sum() < 30
    assert right.sum() >= 1000 and confidence[right].mean() > 0.5
    error = np.abs(result.frames[t].astype(int) - frames[t].astype(int)).max(axis=-1)
    assert error[right].mean() < 4  # the background is copied where the object is not


def test_on_a_still_camera_a_copy_is_the_source_pixel_itself() -> None:
    """A still camera over a static scene, with sensor noise of its own in every frame (so
    that the flow between frames is a fraction of a pixel, not zero), and a hole moving
    across: each propagated pixel is the source frame's pixel at the same place, bit for
    bit, not a resampled blend of its neighbours (results section 13)."""
    T, H, W = 8, 96, 128
    rng = np.random.default_rng(7)
    scene = texture(H, W, seed=8).astype(np.int16)
    frames = np.clip(scene[None] + rng.integers(-3, 4, (T, H, W, 3)), 0, 255).astype(np.uint8)
    hole = moving_box(T, H, W, (30, 36), (30, 10), (1.0, 12.0))
    result = propagate(with_garbage(frames, hole), hole)
    check_invariants(result, frames, hole, 15)
    ts, ys, xs = np.nonzero(result.filled)
    assert len(ts) > 0.8 * hole.sum()
    source = result.source[ts, ys, xs]
    assert np.array_equal(result.frames[ts, ys, xs], frames[source, ys, xs])


# ---- nothing to propagate ----------------------------------------------------------------------
def test_a_stationary_logo_on_a_static_video_is_left_alone() -> None:
    T, H, W = 8, 64, 96
    frames = np.repeat(texture(H, W, seed=5)[None], T, axis=0)
    hole = np.zeros((T, H, W), bool)
    hole[:, 4:14, 60:90] = True  # the same pixels in every frame
    masked = with_garbage(frames, hole)
    result = propagate(masked, hole)
    assert not result.filled.any()
    np.testing.assert_array_equal(result.frames, masked)
    assert (result.source == -1).all() and (result.confidence == 0).all()


def test_frames_without_a_hole_come_back_unchanged() -> None:
    frames, hole, _ = translating_case(T=8)
    hole[[0, 3, 4, 7]] = False
    masked = with_garbage(frames, hole)
    result = propagate(masked, hole, max_distance=4)
    check_invariants(result, masked, hole, 4)
    for t in (0, 3, 4, 7):
        np.testing.assert_array_equal(result.frames[t], masked[t])
    assert result.filled[[1, 2, 5, 6]].any()


def test_fill_limits_the_frames_filled_and_the_rest_are_sources() -> None:
    """A chunk of a long video (vidsched.runtime.chunks): only frames ``first`` to
    ``stop - 1`` are filled, as without the option; the others are sources only."""
    frames, hole, _ = translating_case(T=8)
    masked = with_garbage(frames, hole)
    whole = propagate(masked, hole, max_distance=4)
    part = propagate(masked, hole, max_distance=4, fill=(2, 5))
    check_invariants(part, masked, hole, 4)
    # As without the option, up to the rounding of OpenCV's DIS, whose result depends a
    # little on the calls made before (buffers it reuses).
    both = part.filled[2:5] & whole.filled[2:5]
    assert both.sum() >= 0.99 * max(part.filled[2:5].sum(), whole.filled[2:5].sum())
    difference = np.abs(part.frames[2:5].astype(int) - whole.frames[2:5].astype(int))[both]
    assert difference.mean() < 0.5, difference.mean()
    outside = np.r_[0:2, 5:8]
    assert not part.filled[outside].any() and (part.source[outside] == -1).all()
    np.testing.assert_array_equal(part.frames[outside], masked[outside])
    assert (part.source[2:5] >= 5).any() and (part.source[2:5][part.filled[2:5]] < 2).any()  # both sides gave
    for bad in ((-1, 3), (4, 2), (1.0, 3), [0, 3]):
        with pytest.raises(VidschedError, match="fill must be"):
            propagate(masked, hole, fill=bad)


def test_no_hole_and_a_single_frame() -> None:
    frames = texture(32, 40)[None].repeat(3, axis=0)
    result = propagate(frames, np.zeros((3, 32, 40), bool))
    np.testing.assert_array_equal(result.frames, frames)
    assert not result.filled.any()
    one = propagate(frames[:1], np.ones((1, 32, 40), bool))
    assert not one.filled.any()


def test_one_frame_hole_applies_to_every_frame() -> None:
    frames, hole, _ = translating_case(T=5)
    masked = with_garbage(frames, hole[2])
    a = propagate(masked, hole[2], max_distance=2)
    b = propagate(masked, np.broadcast_to(hole[2], hole.shape), max_distance=2)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.confidence, b.confidence)


def test_random_holes_on_noise_keep_the_invariants() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 20, 24, 3), dtype=np.uint8)
    hole = rng.random((6, 20, 24)) < 0.4
    result = propagate(frames, hole, max_distance=3)
    check_invariants(result, frames, hole, 3)


# ---- parts ---------------------------------------------------------------------------------------
def test_candidates_nearest_first_earlier_on_ties() -> None:
    assert candidate_order(5, 20, 3) == [4, 6, 3, 7, 2, 8]
    assert candidate_order(0, 4, 5) == [1, 2, 3]
    assert candidate_distances(15) == [1, 2, 3, 4, 6, 8, 11, 15]
    assert candidate_distances(15, every_frame=True) == list(range(1, 16))
    assert candidate_distances(3) == [1, 2, 3]


def test_pull_push_keeps_known_values_and_fills_smoothly() -> None:
    rng = np.random.default_rng(0)
    known = rng.random((40, 50)) < 0.5
    known[10:30, 10:40] = False
    values = rng.normal(size=(40, 50, 2)).astype(np.float32)
    filled = pull_push(values, known)
    np.testing.assert_array_equal(filled[known], values[known])
    constant = np.full((40, 50), 3.5, np.float32)
    np.testing.assert_allclose(pull_push(constant, known), constant, atol=1e-5)
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    ramp = 0.1 * xx + 0.05 * yy
    assert np.abs(pull_push(ramp, known) - ramp)[~known].mean() < 0.2
    assert not pull_push(values, np.zeros((40, 50), bool)).any()


def test_bad_inputs_and_options_give_a_vidsched_error() -> None:
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    hole = np.zeros((3, 16, 16), bool)
    with pytest.raises(VidschedError, match="uint8"):
        propagate(frames.astype(np.float32), hole)
    with pytest.raises(VidschedError, match="bool"):
        propagate(frames, hole.astype(np.uint8))
    with pytest.raises(VidschedError, match="T x H x W x 3"):
        propagate(frames[..., 0], hole)
    with pytest.raises(VidschedError):
        propagate(frames, hole[:2])
    for option in (dict(max_distance=0), dict(flow_size=4), dict(preset="slow"), dict(fb_tau=0),
                   dict(decay=1.5), dict(min_confidence=-0.1), dict(stability_tau=0), dict(margin=-1)):
        with pytest.raises(VidschedError):
            propagate(frames, hole, **option)


def test_the_module_does_not_import_torch() -> None:
    code = "import sys, vidsched.propagation, vidsched.baselines; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
