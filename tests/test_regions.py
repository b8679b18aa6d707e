"""vidsched.regions: boxes around the holes, at a zoom the model is good at (no torch)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vidsched.errors import MaskError
from vidsched.regions import Region, RegionPlan, draw_regions, plan_regions

S = 64


def check_plan(plan: RegionPlan, hole: np.ndarray, margin: int = 0, max_regions: int = 32) -> None:
    """The invariants every plan keeps.

    Every hole pixel of frame t is owned by exactly one region listing t (one of its
    pieces, or its box if it has none), at least ``margin`` px from each edge of that
    region's box that is not on the frame border; boxes and pieces lie inside the frame,
    pieces inside their region's box and frames; the regions list exactly the frames
    that have a hole."""
    T, H, W = hole.shape
    assert plan.frame_shape == (H, W)
    assert len(plan.regions) <= max_regions
    count = np.zeros((T, H, W), np.int16)
    deep = np.zeros((T, H, W), bool)
    listed = set()
    for r in plan.regions:
        assert 0 <= r.y0 < r.y1 <= H and 0 <= r.x0 < r.x1 <= W, r
        assert list(r.frames) == sorted(set(r.frames)) and all(0 <= t < T for t in r.frames)
        assert r.zoom == pytest.approx(max(r.height, r.width) / S)
        for t, y0, x0, y1, x1 in r.pieces:
            assert t in r.frames and r.y0 <= y0 < y1 <= r.y1 and r.x0 <= x0 < x1 <= r.x1, (r, (t, y0, x0, y1, x1))
        listed.update(r.frames)
        own = r.owned(T)
        count[:, r.y0:r.y1, r.x0:r.x1] += own
        top, left = (margin if r.y0 > 0 else 0), (margin if r.x0 > 0 else 0)
        bottom, right = (margin if r.y1 < H else 0), (margin if r.x1 < W else 0)
        inner = np.zeros((r.height, r.width), bool)
        inner[top:r.height - bottom, left:r.width - right] = True
        deep[:, r.y0:r.y1, r.x0:r.x1] |= own & inner
    assert listed == set(np.flatnonzero(hole.reshape(T, -1).any(axis=1)).tolist())
    assert (count[hole] == 1).all(), "a hole pixel is owned by no region, or by two"
    assert deep[hole].all(), f"a hole pixel is closer than {margin} px to the edge of its region's box"


def logo_video(T=30, H=720, W=1280, boxes=((100, 600, 30, 40),)):
    hole = np.zeros((T, H, W), bool)
    for y, x, h, w in boxes:
        hole[:, y:y + h, x:x + w] = True
    return hole


def test_stationary_logo_is_one_native_resolution_region():
    hole = logo_video()
    plan = plan_regions(hole)
    assert plan.mode == "crop"
    (r,) = plan.regions
    assert (r.height, r.width, r.side, r.zoom) == (64, 64, 64, 1.0)
    assert r.frames == tuple(range(30))
    # the logo (rows 100-129, cols 600-639) with min(context, room) around it:
    # room is (64 - 40) / 2 = 12 px across, context 16 px down
    assert 600 - r.x0 >= 12 and r.x1 - 640 >= 12
    assert 100 - r.y0 >= 16 and r.y1 - 130 >= 16
    assert r.contains(100, 600) and r.contains(129, 639) and not r.contains(0, 0)
    check_plan(plan, hole, margin=12)


@pytest.mark.parametrize("y,x", [(0, 0), (690, 1240), (0, 1240), (345, 0)])
def test_logo_at_the_border_shifts_the_box_inward(y, x):
    hole = logo_video(T=3, boxes=((y, x, 30, 40),))
    (r,) = plan_regions(hole).regions
    assert (r.height, r.width) == (64, 64)
    assert r.contains(y, x) and r.contains(y + 29, x + 39)
    check_plan(plan_regions(hole), hole, margin=12)


def test_separate_logos_are_separate_regions_close_ones_merge():
    far = logo_video(T=4, boxes=((50, 50, 30, 40), (600, 1100, 30, 40)))
    plan = plan_regions(far)
    assert len(plan.regions) == 2 and all(r.zoom == 1.0 for r in plan.regions)
    check_plan(plan, far, margin=12)
    close = logo_video(T=4, boxes=((100, 100, 30, 40), (100, 160, 30, 40)))
    plan = plan_regions(close)
    assert len(plan.regions) == 1
    (r,) = plan.regions
    assert r.contains(100, 100) and r.contains(129, 199) and 1.0 < r.zoom < 2.5
    check_plan(plan, close, margin=12)


def test_a_small_hole_that_jitters_still_gets_zoom_1():
    """A 20 x 30 hole whose position and size wander by a few pixels from frame to frame
    (what propagation leaves to the model) fits one 64 x 64 crop: no resampling."""
    rng = np.random.default_rng(0)
    hole = np.zeros((10, 120, 160), bool)
    for t in range(10):
        dy, dx, gh, gw = rng.integers(-3, 4, 4)
        hole[t, 50 + dy:70 + dy + max(gh, 0), 60 + dx:90 + dx + max(gw, 0)] = True
    plan = plan_regions(hole, mode="crop")
    assert [(r.height, r.width, r.zoom) for r in plan.regions] == [(S, S, 1.0)], plan.summary()
    check_plan(plan, hole, margin=4 + 8)


def test_hole_over_most_of_the_frame_falls_back_to_the_whole_frame():
    hole = np.zeros((5, 480, 640), bool)
    hole[:, 12:468, 16:624] = True  # 90 % of the frame
    plan = plan_regions(hole)
    assert plan.mode == "full"
    assert [(r.y0, r.x0, r.y1, r.x1) for r in plan.regions] == [(0, 0, 480, 640)]
    assert plan.regions[0].zoom == 10.0
    assert any("whole frame" in n for n in plan.notes)
    crop = plan_regions(hole, mode="crop")
    assert crop.mode == "crop" and [(r.y0, r.x0, r.y1, r.x1) for r in crop.regions] == [(0, 0, 480, 640)]
    assert any("whole frame" in n for n in crop.notes)


def moving_object(T=60, H=480, W=640, h=60, w=100, speed=5):
    hole = np.zeros((T, H, W), bool)
    for t in range(T):
        hole[t, 200:200 + h, 20 + speed * t:20 + speed * t + w] = True
    return hole


def test_moving_object_is_followed_by_a_sequence_of_fixed_boxes():
    hole = moving_object()
    plan = plan_regions(hole, mode="crop")
    assert plan == plan_regions(hole)  # auto keeps the crops (zoom ~3.5 against 10)
    n = len(plan.regions)
    assert 2 <= n <= 60 // 6, plan.summary()
    check_plan(plan, hole, margin=4 + 8)
    # consecutive regions of the track share no frame and together list every frame
    frames = [t for r in plan.regions for t in r.frames]
    assert sorted(frames) == list(range(60))
    for r in plan.regions:
        single = max(plan_regions(hole[t:t + 1], mode="crop").regions[0].zoom for t in r.frames)
        assert r.zoom <= 1.5 * single + 1e-9, (r, single)


def test_a_hole_passing_near_a_caption_leaves_the_captions_region_as_it_was():
    """Regions own their pieces and may overlap: a moving hole that comes close to a
    stationary caption (their boxes overlap, their holes do not) does not merge the two
    into one coarse box around both."""
    T, H, W = 30, 480, 640
    caption = np.zeros((T, H, W), bool)
    caption[:, 420:450, 440:600] = True
    passing = np.zeros_like(caption)
    for t in range(T):
        passing[t, 330:370, 20 + 12 * t:60 + 12 * t] = True
    hole = caption | passing
    plan = plan_regions(hole, mode="crop")
    check_plan(plan, hole, margin=4 + 8)
    alone = plan_regions(caption, mode="crop").regions
    assert len(alone) == 1
    boxes = [(r.y0, r.x0, r.y1, r.x1, r.frames) for r in plan.regions]
    assert (alone[0].y0, alone[0].x0, alone[0].y1, alone[0].x1, alone[0].frames) in boxes, plan.summary()
    assert len(plan.regions) == 1 + len(plan_regions(passing, mode="crop").regions), plan.summary()
    assert max(r.zoom for r in plan.regions) == alone[0].zoom
    overlapping = [(a, b) for i, a in enumerate(plan.regions) for b in plan.regions[i + 1:]
                   if a.y0 < b.y1 and b.y0 < a.y1 and a.x0 < b.x1 and b.x0 < a.x1 and set(a.frames) & set(b.frames)]
    assert overlapping, "the case should have overlapping boxes"


def test_salt_noise_merges_instead_of_exploding():
    rng = np.random.default_rng(0)
    hole = np.zeros((10, 240, 320), bool)
    for t in range(10):
        hole[t, rng.integers(0, 240, 2000), rng.integers(0, 320, 2000)] = True
    for mode in ("crop", "auto"):
        plan = plan_regions(hole, mode=mode)
        check_plan(plan, hole, margin=4 + 8)
    sparse = np.zeros((6, 720, 1280), bool)
    for t in range(6):
        sparse[t, rng.integers(0, 720, 40), rng.integers(0, 1280, 40)] = True
    plan = plan_regions(sparse, mode="crop", max_regions=3)
    check_plan(plan, sparse, margin=4 + 8, max_regions=3)
    assert any("merged" in n for n in plan.notes)
    # the notes read as English: "merged 1 box", "merged 2 boxes", "for 6 frames"
    for note in plan_regions(hole, mode="crop").notes + plan.notes:
        assert "(s)" not in note and "(es)" not in note, note
        for count, noun in re.findall(r"(\d+) (boxes|box|frames|frame)\b", note):
            assert (count == "1") == (noun in ("box", "frame")), note


def test_fast_hole_hits_the_region_cap_with_a_note():
    hole = np.zeros((120, 480, 640), bool)
    for t in range(120):  # jumps ~100 px a frame: every frame would be its own region
        y, x = (t * 61) % 440, (t * 97) % 600
        hole[t, y:y + 20, x:x + 20] = True
    plan = plan_regions(hole, mode="crop", max_regions=8)
    assert len(plan.regions) <= 8
    assert any("max_regions" in n for n in plan.notes)
    check_plan(plan, hole, margin=4 + 8, max_regions=8)


def test_frames_without_a_hole_are_in_no_region():
    hole = np.zeros((20, 360, 640), bool)
    hole[[3, 4, 10], 100:140, 200:260] = True
    hole[15, 300:320, 20:40] = True
    for mode in ("crop", "full", "auto"):
        plan = plan_regions(hole, mode=mode)
        assert sorted({t for r in plan.regions for t in r.frames}) == [3, 4, 10, 15]
        check_plan(plan, hole)
    empty = plan_regions(np.zeros((4, 100, 100), bool))
    assert empty.regions == () and empty.notes


def test_frame_smaller_than_the_model_input_is_one_whole_frame_region():
    hole = np.zeros((3, 30, 40), bool)
    hole[:, 5:10, 5:12] = True
    for mode in ("auto", "crop", "full"):
        (r,) = plan_regions(hole, mode=mode).regions
        assert (r.y0, r.x0, r.y1, r.x1) == (0, 0, 30, 40) and r.zoom == 40 / 64 < 1
    # the note says why: the frame is small, not the hole big (it said "hole needs 100 %")
    (note,) = plan_regions(hole, mode="crop").notes
    assert "no larger than the model's input" in note and "100%" not in note, note


def test_full_mode_is_the_whole_frame_letterboxed():
    hole = logo_video(T=5)
    plan = plan_regions(hole, mode="full")
    assert plan.mode == "full"
    (r,) = plan.regions
    assert (r.y0, r.x0, r.y1, r.x1, r.frames) == (0, 0, 720, 1280, tuple(range(5)))
    assert r.zoom == 1280 / 64 and r.area == 720 * 1280
    assert r.slices == (slice(0, 720), slice(0, 1280))


def test_auto_uses_the_whole_frame_when_it_fits_the_model():
    hole = np.zeros((2, 60, 80), bool)  # zoom 1.25
    hole[:, 10:14, 10:14] = True
    plan = plan_regions(hole)
    assert plan.mode == "full" and plan.regions[0].zoom == 1.25 and plan.notes


def test_deterministic_and_summary():
    hole = logo_video(T=10, boxes=((50, 50, 30, 40), (600, 1100, 30, 40)))
    a, b = plan_regions(hole), plan_regions(hole.copy())
    assert a == b and hash(a) == hash(b)
    text = a.summary()
    assert text.startswith("crop, 2 regions") and "64x64 at zoom 1" in text and "frames 0-9" in text
    with pytest.raises(Exception):
        a.regions[0].y0 = 3  # frozen


def test_bad_arguments():
    with pytest.raises(ValueError):
        plan_regions(np.zeros((1, 8, 8), bool), mode="tiles")
    with pytest.raises(ValueError):
        plan_regions(np.zeros((1, 8, 8), bool), max_regions=0)
    with pytest.raises(MaskError):
        plan_regions(np.zeros((1, 2, 8, 8), bool))


def test_draw_regions_outlines_the_boxes():
    hole = logo_video(T=3, boxes=((100, 600, 30, 40), (500, 100, 30, 40)))
    plan = plan_regions(hole)
    frame = np.full((720, 1280, 3), 128, np.uint8)
    pic = draw_regions(frame, hole[1], plan, 1)
    assert pic.shape == frame.shape and pic.dtype == np.uint8
    assert (frame == 128).all()  # the input is not drawn on
    for r in plan.regions:
        mid = (r.x0 + r.x1) // 2
        assert (pic[r.y1 - 1, mid] != 128).any() and (pic[(r.y0 + r.y1) // 2, r.x0] != 128).any()
    assert (pic[110, 610] != 128).any()  # the hole is tinted
    assert (pic[300:400, 300:400] == 128).all()  # the rest is the frame
    assert draw_regions(frame[..., 0], None, plan, 7).shape == frame.shape


def random_hole(rng: np.random.Generator) -> np.ndarray:
    T = int(rng.integers(1, 7))
    H, W = (int(v) for v in rng.integers(32, 401, 2))
    hole = np.zeros((T, H, W), bool)
    yy, xx = np.mgrid[:H, :W]
    for _ in range(int(rng.integers(1, 4))):
        h, w = int(rng.integers(1, max(2, H // 2))), int(rng.integers(1, max(2, W // 2)))
        y, x = int(rng.integers(-h // 2, H)), int(rng.integers(-w // 2, W))
        vy, vx = (int(v) for v in rng.integers(-25, 26, 2) * rng.integers(0, 2))
        blob = rng.random() < 0.5
        for t in range(T):
            cy, cx = y + vy * t, x + vx * t
            if blob:
                hole[t] |= ((yy - cy) / (h / 2 + 0.5)) ** 2 + ((xx - cx) / (w / 2 + 0.5)) ** 2 <= 1
            else:
                hole[t, max(cy, 0):max(cy + h, 0), max(cx, 0):max(cx + w, 0)] = True
    if rng.random() < 0.3:
        hole |= rng.random(hole.shape) < rng.choice([1e-4, 1e-3, 1e-2])
    return hole


@pytest.mark.parametrize("seed", range(40))
def test_random_masks_keep_the_invariants(seed):
    rng = np.random.default_rng(seed)
    hole = random_hole(rng)
    dilation = int(rng.integers(0, 7))
    context = None if rng.random() < 0.5 else int(rng.integers(0, 40))
    max_regions = int(rng.integers(1, 9))
    margin = dilation + min(S // 4 if context is None else context, S // 8)
    for mode in ("crop", "auto"):
        plan = plan_regions(hole, mode=mode, context=context, dilation=dilation,
                            max_regions=max_regions, window=int(rng.integers(1, 9)))
        check_plan(plan, hole, margin=margin, max_regions=max_regions)
        assert isinstance(plan.regions, tuple) and all(isinstance(r, Region) for r in plan.regions)


def test_refinement_tiles_cover_the_hole_at_half_the_zoom():
    from vidsched.regions import Region, refinement_tiles

    hole = np.zeros((4, 300, 400), bool)
    hole[1:3, 40:230, 60:250] = True
    region = Region(20, 40, 276, 296, (1, 2), 256 / 64)
    tiles = refinement_tiles(region, hole, 64)
    assert tiles and all(t.side == 128 and t.zoom == 2.0 for t in tiles)
    covered = np.zeros_like(hole)
    for t in tiles:
        assert region.y0 <= t.y0 < t.y1 <= region.y1 and region.x0 <= t.x0 < t.x1 <= region.x1
        assert set(t.frames) <= {1, 2}
        covered[list(t.frames), t.y0:t.y1, t.x0:t.x1] = True
    inside = np.zeros_like(hole)
    inside[:, region.y0:region.y1, region.x0:region.x1] = True
    assert not (hole & inside & ~covered).any()
    # a region already at the model's size has nothing finer to offer
    assert refinement_tiles(Region(0, 0, 64, 64, (1,), 1.0), hole, 64) == ()
