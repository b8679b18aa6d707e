"""The propagation prior in the runtime: known mode shrinks the hole (and the plan),
init mode starts from the propagated frames, the sources map says where pixels came from,
and known input pixels stay bit-exact through `vidsched run --prior propagate`."""

from __future__ import annotations

import numpy as np
import pytest

from vidsched.runtime.prior import SOURCE_INPUT, SOURCE_MODEL, SOURCE_PROPAGATED, apply_prior, sources_map


def panning_clip(T=12, H=48, W=64, speed=3):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (H, W + speed * T, 3)).astype(np.float32)
    import cv2

    big = cv2.GaussianBlur(big, (0, 0), 1.5).astype(np.uint8)  # texture that flow can follow
    frames = np.stack([big[:, speed * t: speed * t + W] for t in range(T)])
    hole = np.zeros((T, H, W), bool)
    hole[:, 16:32, 24:40] = True  # a still box: the pan shows what it hides in other frames
    return frames, hole


def test_known_mode_takes_confident_pixels_and_shrinks_the_hole():
    frames, hole = panning_clip()
    prior = apply_prior(frames, hole, "known")
    assert prior.start is None
    assert (prior.hole <= hole).all() and prior.hole.sum() < 0.5 * hole.sum()
    assert np.array_equal(prior.frames[~hole], frames[~hole])
    taken = prior.propagated
    assert taken.any() and not (taken & prior.hole).any() and (taken <= hole).all()
    err = np.abs(prior.frames[taken].astype(int) - frames[taken]).mean()  # frames are the truth here
    assert err < 6, err


def test_known_mode_drops_frames_that_become_complete_from_the_plan():
    from vidsched.compiler import compile_scheme

    frames, hole = panning_clip()
    prior = apply_prior(frames, hole, "known")
    complete_before = np.flatnonzero(~hole.reshape(len(hole), -1).any(axis=1)).tolist()
    complete_after = np.flatnonzero(~prior.hole.reshape(len(hole), -1).any(axis=1)).tolist()
    assert len(complete_after) > len(complete_before)
    before = compile_scheme("ar", {"T": 12, "K": 4}, complete_frames=complete_before)
    after = compile_scheme("ar", {"T": 12, "K": 4}, complete_frames=complete_after)
    generated = {f for st in after.stages for f in st.generate}
    assert not generated & set(complete_after)
    assert len(after.stages) <= len(before.stages)


def test_init_mode_keeps_the_hole_and_gives_a_complete_start():
    frames, hole = panning_clip()
    prior = apply_prior(frames, hole, "init")
    assert np.array_equal(prior.hole, hole) and prior.start is not None
    assert np.array_equal(prior.start[~hole], frames[~hole])
    assert np.abs(prior.start[hole].astype(int) - frames[hole]).mean() < 12


def test_sources_map():
    hole = np.zeros((2, 4, 4), bool)
    hole[:, 1:3, 1:3] = True
    taken = np.zeros_like(hole)
    taken[0, 1, 1] = True
    s = sources_map(hole, taken)
    assert s[0, 1, 1] == SOURCE_PROPAGATED and s[0, 2, 2] == SOURCE_MODEL and s[0, 0, 0] == SOURCE_INPUT
    assert (s[1][hole[1]] == SOURCE_MODEL).all()


def test_unknown_mode_is_refused():
    frames, hole = panning_clip(T=3)
    with pytest.raises(ValueError, match="prior mode"):
        apply_prior(frames, hole, "guess")
