"""Seam matching: the fill meets the known pixels without a step; known pixels exact."""

from __future__ import annotations

import numpy as np

from vidsched.seams import match_border


def _scene(T=3, H=60, W=80):
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([80 + xx, 60 + yy, 120 + 0 * xx], -1).astype(np.uint8)  # a smooth gradient
    return np.repeat(base[None], T, 0)


def test_an_offset_fill_loses_its_step_at_the_border_and_known_pixels_stay():
    truth = _scene()
    hole = np.zeros(truth.shape[:3], bool)
    hole[:, 15:45, 20:60] = True
    filled = truth.copy()
    filled[hole] = np.clip(truth[hole].astype(int) + 20, 0, 255)  # a fill 20 levels too bright
    out = match_border(filled, hole)
    assert np.array_equal(out[~hole], truth[~hole])
    ring = np.zeros_like(hole)
    ring[:, 15:45, 20] = ring[:, 15:45, 59] = ring[:, 15, 20:60] = ring[:, 44, 20:60] = True
    before = np.abs(filled[ring].astype(int) - truth[ring]).mean()
    after = np.abs(out[ring].astype(int) - truth[ring]).mean()
    assert before == 20 and after < 6, after
    # deep inside the hole (beyond the falloff) the fill is left as the model made it
    assert np.array_equal(out[:, 28:32, 38:42], filled[:, 28:32, 38:42])


def test_a_fill_that_already_matches_is_left_almost_unchanged():
    truth = _scene()
    hole = np.zeros(truth.shape[:3], bool)
    hole[:, 10:30, 10:30] = True
    out = match_border(truth, hole)
    assert np.abs(out.astype(int) - truth).max() <= 2


def test_frames_without_a_hole_and_whole_frame_holes_are_untouched():
    truth = _scene(T=2)
    hole = np.zeros(truth.shape[:3], bool)
    hole[1] = True  # nothing known: nothing to match
    assert np.array_equal(match_border(truth, hole), truth)
