"""Masks, the frame-index distribution and training examples (no real clip needed)."""

from __future__ import annotations

import numpy as np
import pytest

from vidsched.training.data import ExampleSampler, split
from vidsched.training.frame_indices import consecutive_indices, fdm_indices, sample_frame_indices
from vidsched.training.masks import MASK_TYPES, generate_mask


@pytest.mark.parametrize("kind", MASK_TYPES)
@pytest.mark.parametrize("moving", [False, True])
def test_masks_have_holes_and_are_reproducible(kind, moving):
    a = generate_mask(kind, 12, 32, moving=moving, seed=4)
    b = generate_mask(kind, 12, 32, moving=moving, seed=4)
    c = generate_mask(kind, 12, 32, moving=moving, seed=5)
    assert a.shape == (12, 32, 32) and a.dtype == bool
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.any(axis=(1, 2)).all(), "every frame has a hole"
    assert not a.all(), "a mask never hides everything"
    moved = any(not np.array_equal(a[0], a[t]) for t in range(1, 12))
    assert moved == moving


def test_unknown_mask_type():
    with pytest.raises(ValueError, match="unknown mask type"):
        generate_mask("star", 4, 16, seed=0)


def test_frame_indices_are_valid_and_cover_both_kinds():
    rng = np.random.default_rng(0)
    K, T = 8, 200
    spans, counts = [], []
    for _ in range(2000):
        gen, obs = sample_frame_indices(rng, K, T)
        assert gen, "at least one generated frame"
        assert not set(gen) & set(obs)
        assert len(gen) + len(obs) <= K
        assert all(0 <= f < T for f in gen + obs)
        assert gen == sorted(gen) and obs == sorted(obs)
        window = gen + obs
        spans.append(max(window) - min(window))
        counts.append(len(window))
    spans = np.array(spans)
    # Both short (consecutive runs) and long-range windows occur (FDM's log-uniform spacing).
    assert (spans < K).mean() > 0.4
    assert (spans > 50).mean() > 0.05
    assert np.mean(counts) > 3


def test_consecutive_runs_are_consecutive():
    rng = np.random.default_rng(1)
    for _ in range(200):
        gen, obs = consecutive_indices(rng, 8, 50)
        window = sorted(gen + obs)
        assert window == list(range(window[0], window[-1] + 1))
        assert gen == list(range(gen[0], gen[-1] + 1)), "the generated block is contiguous"


def test_fdm_first_group_is_generated():
    rng = np.random.default_rng(2)
    for _ in range(200):
        gen, obs = fdm_indices(rng, 8, 100)
        assert gen and len(gen) + len(obs) <= 8


def test_examples_mask_exactly_the_unknown_pixels_of_generated_frames():
    frames = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    sampler = ExampleSampler(frames, K=6, seed=3)
    batch = sampler.batch(16)
    assert batch.x0.shape == (16, 6, 3, 16, 16)
    assert batch.x0.min() >= -1 and batch.x0.max() <= 1
    # loss only where unknown; known + loss = 1 on generated frames; padding: nothing
    assert np.all(batch.loss_mask * batch.known == 0)
    assert np.all(batch.loss_mask[~batch.valid] == 0) and np.all(batch.known[~batch.valid] == 0)
    observed_full = [
        batch.known[b, p].all() for b in range(16) for p in range(6) if batch.valid[b, p] and not batch.loss_mask[b, p].any()
    ]
    assert observed_full  # observed frames are fully known
    assert batch.loss_mask.sum() > 0


def test_split_boundaries():
    frames = np.zeros((795, 2, 2, 3), np.uint8)
    train, held = split(frames)
    assert len(train) == 636 and len(held) == 159
