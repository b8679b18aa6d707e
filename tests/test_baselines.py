"""The baselines (vidsched.baselines): known pixels come back bit-exact from every one,
propagation copies from the nearest known frame (the earlier on a tie) and fills pixels
hidden in every frame spatially, OpenCV's inpainting restores a flat image, copy-through
is the input, and bad inputs give a VidschedError. Small synthetic arrays only."""

from __future__ import annotations

import ast
import inspect
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from vidsched import baselines  # noqa: E402
from vidsched.baselines import (  # noqa: E402
    BASELINES,
    copy_through,
    navier_stokes,
    telea,
    temporal_propagation,
)
from vidsched.errors import VidschedError  # noqa: E402

HOLE_GARBAGE = 255  # what the input holds in its hole; no frame value equals it


def random_case(T: int = 6, H: int = 20, W: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    hole = rng.random((T, H, W)) < 0.4
    hole[:, 5:9, 6:11] = True  # hidden in every frame: propagation needs its spatial fill
    return frames, hole


def frame_value(t: int) -> int:
    """Frame ``t`` of the propagation case is filled with this value: it says where a pixel came from."""
    return 20 + 30 * t


def reference_source(hole: np.ndarray, t: int, y: int, x: int) -> int | None:
    """The frame a hole pixel should copy from, by brute force (None: known nowhere)."""
    known = [s for s in range(len(hole)) if not hole[s, y, x]]
    return min(known, key=lambda s: (abs(s - t), s)) if known else None


# ---- every baseline ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_known_pixels_are_bit_exact_and_inputs_untouched(name: str) -> None:
    frames, hole = random_case()
    frames_before, hole_before = frames.copy(), hole.copy()
    out = BASELINES[name](frames, hole)
    assert out.shape == frames.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], frames[~hole])
    np.testing.assert_array_equal(frames, frames_before)
    np.testing.assert_array_equal(hole, hole_before)


def test_registry_names_and_descriptions() -> None:
    assert list(BASELINES) == ["telea", "ns", "propagation", "flow_propagation", "copy"]
    for baseline in BASELINES.values():
        assert baseline.description and "\n" not in baseline.description
    frames, hole = random_case()
    np.testing.assert_array_equal(BASELINES["ns"](frames, hole), navier_stokes(frames, hole))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_one_frame_hole_applies_to_every_frame(name: str) -> None:
    frames, hole = random_case()
    out = BASELINES[name](frames, hole[0])
    np.testing.assert_array_equal(out, BASELINES[name](frames, np.broadcast_to(hole[0], hole.shape)))


# ---- OpenCV per frame --------------------------------------------------------------------------
@pytest.mark.parametrize(("function", "tolerance"), [(navier_stokes, 1), (telea, 2)])
def test_opencv_fills_a_flat_image_with_its_colour(function, tolerance: int) -> None:
    # OpenCV's Telea drifts on flat images (up to 2 levels for this 8 x 8 hole with
    # OpenCV 5.0, 4 for a 30 x 30 one); Navier-Stokes is exact. Hence the tolerances.
    colour = np.array([90, 160, 221], dtype=np.uint8)
    frames = np.broadcast_to(colour, (3, 32, 32, 3)).copy()
    hole = np.zeros((3, 32, 32), dtype=bool)
    for t in range(3):
        hole[t, 10 + 2 * t : 18 + 2 * t, 12 : 20] = True
    frames[hole] = (0, HOLE_GARBAGE, 7)
    out = function(frames, hole)
    assert np.abs(out.astype(int) - colour).max() <= tolerance


def test_frames_without_hole_are_not_inpainted(monkeypatch) -> None:
    frames, hole = random_case()
    hole[[0, 2, 5]] = False
    calls = []
    original = cv2.inpaint
    monkeypatch.setattr(baselines.cv2, "inpaint", lambda *a: calls.append(1) or original(*a))
    telea(frames, hole)
    assert len(calls) == 3


# ---- temporal propagation ----------------------------------------------------------------------
def propagation_case() -> tuple[np.ndarray, np.ndarray]:
    """Frame t holds frame_value(t) everywhere it is known and HOLE_GARBAGE in its hole."""
    T, H, W = 6, 16, 16
    frames = np.stack([np.full((H, W, 3), frame_value(t), dtype=np.uint8) for t in range(T)])
    hole = np.zeros((T, H, W), dtype=bool)
    hole[[1, 2, 3, 5], 2, 2] = True  # known in 0 and 4: frame 2 is a tie, frame 5 has no later source
    hole[[0, 1, 2, 4, 5], 2, 12] = True  # known only in frame 3
    hole[1:, 12, 3] = True  # known only in the first frame
    hole[:-1, 12, 12] = True  # known only in the last frame
    hole[:, 7:9, 7:9] = True  # hidden in every frame
    hole[[0, 3], 0:2, 14:16] = True  # an isolated hole in two frames, at the image corner
    frames[hole] = HOLE_GARBAGE
    return frames, hole


def test_propagation_copies_from_the_nearest_known_frame_earlier_on_ties() -> None:
    frames, hole = propagation_case()
    out = temporal_propagation(frames, hole)
    expected_sources = {
        (2, 2): [0, 0, 0, 4, 4, 4],  # frame 2 is 2 from both 0 and 4: the earlier wins
        (2, 12): [3, 3, 3, 3, 3, 3],
        (12, 3): [0, 0, 0, 0, 0, 0],
        (12, 12): [5, 5, 5, 5, 5, 5],
        (0, 15): [1, 1, 2, 2, 4, 5],  # frame 0: only later; frame 3: 2 and 4 tie, 2 wins
    }
    for (y, x), sources in expected_sources.items():
        for t, s in enumerate(sources):
            assert out[t, y, x].tolist() == [frame_value(s)] * 3, (t, y, x)
    # Every pixel known somewhere matches the brute-force rule.
    for t, y, x in zip(*np.nonzero(hole)):
        s = reference_source(hole, t, y, x)
        if s is not None:
            assert out[t, y, x, 0] == frame_value(s)


def test_propagation_fills_pixels_hidden_in_every_frame_spatially() -> None:
    frames, hole = propagation_case()
    for spatial in ("telea", "ns"):
        out = temporal_propagation(frames, hole, spatial=spatial)
        for t in range(len(frames)):
            # The hidden block's neighbours in the propagated frame are all frame_value(t).
            block = out[t, 7:9, 7:9].astype(int)
            assert np.abs(block - frame_value(t)).max() <= 2, (spatial, t)
            assert not (block == HOLE_GARBAGE).any()


def test_propagation_matches_brute_force_on_random_holes() -> None:
    frames, hole = random_case(T=9, H=7, W=8, seed=3)
    hole[:, 0, 0] = False  # some pixels never hidden, others hidden in all but one frame
    hole[1:, 3, 3] = True
    hole[:, 5, 5] = True
    out = temporal_propagation(frames, hole)
    for t, y, x in zip(*np.nonzero(hole)):
        s = reference_source(hole, t, y, x)
        if s is not None:
            np.testing.assert_array_equal(out[t, y, x], frames[s, y, x])


def test_propagation_is_vectorised() -> None:
    """Structure, not timing: the function has no Python loop (the only one, in the
    spatial fill, runs over frames and calls OpenCV once per frame), so 100 x 64 x 64
    is a few numpy passes."""
    tree = ast.parse(inspect.getsource(temporal_propagation))
    loops = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    assert not any(isinstance(node, loops) for node in ast.walk(tree))
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (100, 64, 64, 3), dtype=np.uint8)
    hole = np.zeros((100, 64, 64), dtype=bool)
    for t in range(100):
        hole[t, 20:40, t % 40 : t % 40 + 20] = True  # a moving box: every pixel known somewhere
    start = time.perf_counter()
    out = temporal_propagation(frames, hole)
    print(f"temporal_propagation 100 x 64 x 64: {time.perf_counter() - start:.3f} s")
    np.testing.assert_array_equal(out[~hole], frames[~hole])


# ---- copy through ------------------------------------------------------------------------------
def test_copy_through_returns_the_input_hole_pixels_included() -> None:
    frames, hole = random_case()
    out = copy_through(frames, hole)
    np.testing.assert_array_equal(out, frames)
    assert out is not frames and not np.shares_memory(out, frames)


# ---- errors ------------------------------------------------------------------------------------
GOOD_FRAMES = np.zeros((4, 8, 8, 3), dtype=np.uint8)
GOOD_HOLE = np.zeros((4, 8, 8), dtype=bool)


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize(
    ("frames", "hole", "message"),
    [
        (np.zeros((4, 8, 8), dtype=np.uint8), GOOD_HOLE, "T x H x W x 3"),
        (np.zeros((4, 8, 8, 4), dtype=np.uint8), GOOD_HOLE, "T x H x W x 3"),
        (np.zeros((0, 8, 8, 3), dtype=np.uint8), GOOD_HOLE[:0], "empty"),
        (GOOD_FRAMES.astype(np.float32), GOOD_HOLE, "uint8"),
        (GOOD_FRAMES, GOOD_HOLE.astype(np.uint8), "bool"),
        (GOOD_FRAMES, GOOD_HOLE[:, :, :6], "8x8"),
        (GOOD_FRAMES, GOOD_HOLE[:3], "3 frames"),
        (GOOD_FRAMES, GOOD_HOLE[..., None], "mask"),
    ],
)
def test_bad_inputs_give_a_vidsched_error(name: str, frames: np.ndarray, hole: np.ndarray, message: str) -> None:
    with pytest.raises(VidschedError, match=message):
        BASELINES[name](frames, hole)


def test_bad_options_give_a_vidsched_error() -> None:
    with pytest.raises(VidschedError, match="spatial"):
        temporal_propagation(GOOD_FRAMES, GOOD_HOLE, spatial="bilinear")
    for function in (telea, navier_stokes):
        with pytest.raises(VidschedError, match="radius"):
            function(GOOD_FRAMES, GOOD_HOLE, radius=0)


# ---- flow propagation --------------------------------------------------------------------------
def hole_psnr(out: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    mse = np.mean((out[hole].astype(float) - truth[hole].astype(float)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def translating_video(T: int = 8, H: int = 64, W: int = 96, step: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture seen by a camera moving ``step`` px per frame, and a moving
    box hole: every hole pixel but a thin strip is shown by some other frame."""
    rng = np.random.default_rng(0)
    coarse = rng.normal(0, 1, (H // 6 + 2, (W + step * T) // 6 + 2, 3)).astype(np.float32)
    scene = cv2.resize(coarse, (W + step * T, H), interpolation=cv2.INTER_CUBIC) * 60 + 128
    scene = np.clip(scene + rng.normal(0, 4, scene.shape), 0, 255).astype(np.uint8)
    frames = np.stack([scene[:, step * t: step * t + W] for t in range(T)])
    hole = np.zeros((T, H, W), dtype=bool)
    for t in range(T):
        hole[t, 20:44, 30 + 2 * t: 56 + 2 * t] = True
    return frames, hole


def test_flow_propagation_fills_every_hole_pixel_and_beats_telea() -> None:
    truth, hole = translating_video()
    frames = truth.copy()
    frames[hole] = (255, 0, HOLE_GARBAGE)
    out = baselines.flow_propagation(frames, hole)
    np.testing.assert_array_equal(out[~hole], frames[~hole])
    assert not (out[hole] == (255, 0, HOLE_GARBAGE)).all(axis=-1).any()  # every hole pixel filled
    np.testing.assert_array_equal(BASELINES["flow_propagation"](frames, hole), out)
    flow, spatial = hole_psnr(out, truth, hole), hole_psnr(telea(frames, hole), truth, hole)
    print(f"hole PSNR: flow_propagation {flow:.2f} dB, telea {spatial:.2f} dB")
    assert flow > spatial + 6


def test_flow_propagation_options() -> None:
    truth, hole = translating_video(T=4)
    frames = truth.copy()
    frames[hole] = 0
    # Only pixels propagated with confidence >= min_confidence are kept; Telea does the rest.
    strict = baselines.flow_propagation(frames, hole, min_confidence=1.0)
    np.testing.assert_array_equal(strict[~hole], frames[~hole])
    assert hole_psnr(baselines.flow_propagation(frames, hole), truth, hole) > hole_psnr(strict, truth, hole)
    with pytest.raises(VidschedError, match="spatial"):
        baselines.flow_propagation(GOOD_FRAMES, GOOD_HOLE, spatial="bilinear")
    with pytest.raises(VidschedError, match="min_confidence"):
        baselines.flow_propagation(GOOD_FRAMES, GOOD_HOLE, min_confidence=2)
