"""experiments/detail_clone.py (a lead for sharper fills): the detail it gives a hole comes
from the matching place clear of the hole, and no known pixel changes."""

from __future__ import annotations

import numpy as np
import pytest
from script_loader import load_script


def _clip():
    """A clip whose top half is a flat grey and whose bottom half is grey with a fine
    checkerboard; the hole is a bar in the bottom half, filled flat (a smooth fill)."""
    T, H, W = 6, 96, 128
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.full((T, H, W, 3), 100, np.uint8)
    checker = (((yy + xx) % 2) * 40 - 20)[..., None]
    frames[:, H // 2:] = np.clip(100 + checker[H // 2:], 0, 255)
    mask = np.zeros((H, W), bool)
    mask[70:76, 40:90] = True
    result = frames.copy()
    result[:, mask] = 100  # a smooth fill
    return frames, result, mask


def test_detail_comes_from_the_textured_half_and_known_pixels_stay():
    clone = load_script("experiments/detail_clone.py", "experiments_detail_clone")
    truth, result, mask = _clip()
    out, (dy, dx) = clone.clone_detail(result, mask, sigma=1.5)
    assert np.array_equal(out[:, ~mask], result[:, ~mask])  # known pixels exact
    ys, xs = np.nonzero(mask)
    assert (ys + dy).min() >= 48  # the source lies in the textured half, where the base matches
    assert not mask[ys + dy, xs + dx].any()
    # the fill now has the checkerboard's detail, and is closer to the truth than the flat fill
    err = lambda v: np.abs(v[:, mask].astype(int) - truth[:, mask]).mean()
    assert np.abs(np.diff(out[0, 72, 40:90, 0].astype(int))).mean() > 10
    assert (dy + dx) % 2 == 0  # the search steps keep the checkerboard in phase
    assert err(out) < 0.5 * err(result)


def test_no_place_clear_of_the_hole_is_an_error():
    clone = load_script("experiments/detail_clone.py", "experiments_detail_clone")
    frames = np.full((2, 20, 20, 3), 80, np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:18] = True
    with pytest.raises(ValueError, match="no place"):
        clone.clone_detail(frames, mask, sigma=1.5)
