"""Masks, the frame-index distribution and training examples (no real clip needed)."""

from __future__ import annotations

import numpy as np
import pytest

from vidsched.training.data import ExampleSampler, split
from vidsched.training.frame_indices import consecutive_indices, fdm_indices, sample_frame_indices
from vidsched.training import masks as mask_module
from vidsched.training.masks import (
    APPENDIX_D_TYPES, DEFAULT_MASK_MIX, MASK_GROUPS, MASK_TYPES, STATIONARY_TYPES, generate_mask, random_mask,
)


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
    assert moved == (moving and kind not in STATIONARY_TYPES)


def test_kinds():
    assert MASK_TYPES == ("grid", "lines", "box", "blob", "object", "logo")
    assert APPENDIX_D_TYPES == MASK_TYPES[:4]  # the paper's kinds keep their places (benchmark seeds)


@pytest.mark.parametrize("kind", MASK_TYPES)
@pytest.mark.parametrize("moving", [False, True])
@pytest.mark.parametrize("size", [16, (48, 80), (80, 48), 64, 4, (5, 40)])
def test_every_frame_has_a_hole_and_is_never_all_hole(kind, moving, size):
    for seed in range(8):
        m = generate_mask(kind, 10, size, moving=moving, seed=seed)
        H, W = (size, size) if isinstance(size, int) else size
        assert m.shape == (10, H, W) and m.dtype == bool
        assert m.any(axis=(1, 2)).all(), f"seed {seed}: a frame without a hole"
        assert not m.all(axis=(1, 2)).any(), f"seed {seed}: a frame that is all hole"


def _bbox(frame: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(frame.any(1)), np.flatnonzero(frame.any(0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


@pytest.mark.parametrize("kind", ["box", "blob"])
@pytest.mark.parametrize("size", [16, (48, 80), (80, 48), 64])
def test_moving_sprites_stay_whole_in_view(kind, size):
    """A box or blob moves as a sprite: in every frame the hole has the sprite's pixel count
    and bounding-box size, i.e. no part of it is ever cut off by an edge."""
    moved = 0
    for seed in range(12):
        m = generate_mask(kind, 60, size, moving=True, seed=seed, max_speed=3.0)
        counts = m.sum(axis=(1, 2))
        assert (counts == counts[0]).all(), f"seed {seed}: the sprite is cut by an edge"
        boxes = np.array([_bbox(f) for f in m])
        heights, widths = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
        assert (heights == heights[0]).all() and (widths == widths[0]).all()
        if kind == "box":
            assert counts[0] == heights[0] * widths[0]
        moved += len({tuple(b) for b in boxes}) > 1
    assert moved == 12


def _centroids(m: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[: m.shape[1], : m.shape[2]]
    area = m.sum(axis=(1, 2))
    return np.stack([(m * yy).sum(axis=(1, 2)) / area, (m * xx).sum(axis=(1, 2)) / area], axis=1)


@pytest.mark.parametrize("size", [(120, 160), (160, 120), 96])
def test_objects_move_smoothly_and_stay_in_view(size):
    for seed in range(10):
        m = generate_mask("object", 32, size, moving=True, seed=seed)
        c = _centroids(m)
        speed = np.linalg.norm(np.diff(c, axis=0), axis=1)
        turn = np.linalg.norm(np.diff(c, 2, axis=0), axis=1)
        # Smooth: the per-frame displacement changes gradually (a bounce off an edge would
        # change it by twice the speed); 0.75 px allows for the silhouette's rasterisation.
        assert turn.max() <= 0.5 * speed.max() + 0.75, f"seed {seed}"
        assert np.linalg.norm(c - c[0], axis=1).max() >= 3, f"seed {seed}: the object hardly moves"
        # Whole in view: its area changes only with its slow scale change (at most 30 %).
        area = m.sum(axis=(1, 2)).astype(float)
        assert 0.8 <= (area[1:] / area[:-1]).min() and (area[1:] / area[:-1]).max() <= 1.25, f"seed {seed}"
        assert area.min() / area.max() >= 0.7**2 * 0.9, f"seed {seed}"


def test_objects_vary_in_shape_and_size():
    side = 96
    holes = [generate_mask("object", 1, side, moving=False, seed=s)[0] for s in range(40)]
    extents = np.array([(b[1] - b[0], b[3] - b[2]) for b in map(_bbox, holes)])
    largest = extents.max(axis=1)
    assert largest.min() >= side / 8 - 1 and largest.max() <= side / 2 + 1
    aspect = extents[:, 0] / extents[:, 1]
    assert (aspect > 1.8).any(), "no upright (person-like) silhouette"
    assert (aspect < 0.6).any(), "no wide (car-like) silhouette"


def test_stationary_objects_stand_still():
    for seed in range(5):
        m = generate_mask("object", 8, (48, 80), moving=False, seed=seed)
        assert all(np.array_equal(m[0], f) for f in m)


@pytest.mark.parametrize("moving", [False, True])
@pytest.mark.parametrize("size", [16, (48, 80), (80, 48), 64, (120, 160), (288, 384)])
def test_logos_are_small_and_stationary(moving, size):
    captions = 0
    for seed in range(15):
        m = generate_mask("logo", 6, size, moving=moving, seed=seed)
        assert all(np.array_equal(m[0], f) for f in m), "a logo never moves"
        assert 0 < m[0].mean() < 0.10
        rows = np.flatnonzero(m[0].any(1))
        assert rows[-1] < 0.4 * m.shape[1] or rows[0] >= 0.6 * m.shape[1], "near the top or the bottom"
        captions += np.ptp(np.flatnonzero(m[0].any(0))) > 0.25 * m.shape[2] and np.ptp(rows) < 0.2 * m.shape[1]
    if min(m.shape[1:]) >= 48:
        assert captions >= 2, "no captions"


@pytest.mark.parametrize("kind", MASK_TYPES)
def test_rng_and_seed_agree(kind):
    a = generate_mask(kind, 6, (40, 56), seed=12)
    b = generate_mask(kind, 6, (40, 56), rng=np.random.default_rng(12))
    assert np.array_equal(a, b)


def test_random_mask_without_a_mix_draws_the_papers_kinds_as_before():
    rng, twin = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(20):
        expected_kind = APPENDIX_D_TYPES[int(twin.integers(4))]
        expected = generate_mask(expected_kind, 5, 24, moving=bool(twin.random() < 0.75), rng=twin)
        assert np.array_equal(random_mask(5, 24, rng), expected)


def _drawn_kinds(monkeypatch, mix, draws=2000) -> dict[str, float]:
    kinds: list[str] = []
    real = mask_module.generate_mask

    def spy(kind, frames, size, **kw):
        kinds.append(kind)
        return real(kind, frames, size, **kw)

    monkeypatch.setattr(mask_module, "generate_mask", spy)
    rng = np.random.default_rng(0)
    for _ in range(draws):
        hole = random_mask(2, 16, rng, mix=mix)
        assert hole.shape == (2, 16, 16) and hole.any(axis=(1, 2)).all()
    return {k: kinds.count(k) / draws for k in MASK_TYPES}


def test_random_mask_follows_the_mix(monkeypatch):
    share = _drawn_kinds(monkeypatch, {"appendix_d": 0.5, "object": 0.3, "logo": 0.2})
    for kind in APPENDIX_D_TYPES:
        assert abs(share[kind] - 0.125) < 0.03, (kind, share)
    assert abs(share["object"] - 0.3) < 0.04 and abs(share["logo"] - 0.2) < 0.04, share


def test_random_mask_mix_of_single_kinds_and_the_default(monkeypatch):
    share = _drawn_kinds(monkeypatch, {"box": 1, "logo": 3, "grid": 0}, draws=400)
    assert share["grid"] == 0 and abs(share["logo"] - 0.75) < 0.07 and abs(share["box"] - 0.25) < 0.07
    assert set(DEFAULT_MASK_MIX) <= set(MASK_GROUPS) and sum(DEFAULT_MASK_MIX.values()) > 0
    share = _drawn_kinds(monkeypatch, DEFAULT_MASK_MIX, draws=400)
    assert all(share[k] > 0 for k in MASK_TYPES)


@pytest.mark.parametrize("mix", [{"star": 1.0}, {"object": -1.0, "logo": 2.0}, {"object": 0, "logo": 0}, {},
                                 {"object": float("nan")}, {"object": "lots"}, ["object"]])
def test_random_mask_rejects_bad_mixes(mix):
    with pytest.raises(ValueError, match="appendix_d, grid, lines, box, blob, object, logo"):
        random_mask(4, 16, np.random.default_rng(0), mix=mix)


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
