"""Masks at one bit per pixel (vidsched.packedmask): reads equal the boolean array, a
repeated image is held once, and load_mask(packed=True) reads every format as the
boolean loader does, frame by frame."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from vidsched.errors import MaskError
from vidsched.geometry import check_mask
from vidsched.masks_io import grow_mask, load_mask, write_mask
from vidsched.packedmask import PackedMask


def random_mask(T=5, H=7, W=13, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((T, H, W)) < 0.3


@pytest.mark.parametrize("width", [1, 8, 13, 16, 17])
def test_reads_give_the_boolean_array(width):
    mask = random_mask(W=width)
    packed = PackedMask.from_array(mask)
    assert packed.shape == mask.shape and len(packed) == len(mask)
    assert np.array_equal(np.asarray(packed), mask) and np.asarray(packed).dtype == bool
    assert np.array_equal(packed[2], mask[2]) and np.array_equal(packed[1:4], mask[1:4])
    assert np.array_equal(packed[[4, 0, 4]], mask[[4, 0, 4]])
    assert np.array_equal(packed[1:3, 2:5], mask[1:3, 2:5]) and np.array_equal(packed[3, 1:6, -2:], mask[3, 1:6, -2:])
    assert packed.sum() == mask.sum() and packed.any() == mask.any() and not packed.all()
    assert np.array_equal(packed.frame_has_hole(), mask.reshape(len(mask), -1).any(axis=1))
    inverted = ~packed  # the bits past the width stay zero: counts stay exact
    assert np.array_equal(np.asarray(inverted), ~mask) and inverted.sum() == mask.size - mask.sum()
    assert (~PackedMask.from_array(np.ones_like(mask))).sum() == 0 and PackedMask.from_array(np.ones_like(mask)).all()
    assert np.array_equal(np.asarray(packed.frames(np.array([3, 3, 1]))), mask[[3, 3, 1]])
    assert packed.rows.nbytes == len(mask) * mask.shape[1] * -(-width // 8)  # 8 pixels a byte


def test_a_repeated_frame_is_held_once_and_processed_once():
    frame = random_mask(T=1)[0]
    packed = PackedMask.repeat(frame, 100_000)
    assert packed.shape == (100_000,) + frame.shape and packed.rows.shape[0] == 1
    assert packed.sum() == 100_000 * frame.sum() and np.array_equal(packed[99_999], frame)
    calls = []
    grown = packed.map_frames(lambda f: calls.append(1) or ~f)
    assert len(calls) == 1 and np.array_equal(grown[5], ~frame)
    with pytest.raises(ValueError):
        PackedMask.from_frames([frame, frame[:, :-1]])
    with pytest.raises(ValueError):
        PackedMask.from_frames([])


def _formats(tmp_path):
    mask = random_mask(T=4, H=24, W=30, seed=1)
    np.save(tmp_path / "bool.npy", mask)
    np.save(tmp_path / "u8.npy", mask.astype(np.uint8) * 255)
    np.save(tmp_path / "01.npy", mask.astype(np.uint8))
    soft = mask * 0.9 + 0.05  # in-between values: a note
    np.save(tmp_path / "float.npy", soft.astype(np.float32))
    np.save(tmp_path / "rgba.npy", np.repeat((mask.astype(np.uint8) * 200)[..., None], 4, axis=-1))
    write_mask(tmp_path / "folder", mask)
    write_mask(tmp_path / "video.avi", mask)
    Image.fromarray(mask[0].astype(np.uint8) * 255).save(tmp_path / "one.png")
    return ["bool.npy", "u8.npy", "01.npy", "float.npy", "rgba.npy", "folder", "video.avi", "one.png"]


def test_packed_loading_reads_every_format_as_the_boolean_loader(tmp_path):
    for name in _formats(tmp_path):
        for invert in (False, True):
            notes_bool, notes_packed = [], []
            plain = load_mask(tmp_path / name, invert=invert, num_frames=4, notes=notes_bool)
            packed = load_mask(tmp_path / name, invert=invert, num_frames=4, notes=notes_packed, packed=True)
            assert isinstance(packed, PackedMask) and isinstance(plain, np.ndarray), name
            assert np.array_equal(np.asarray(packed), plain), name
            assert notes_packed == notes_bool, name
    assert load_mask(tmp_path / "one.png", num_frames=50_000, packed=True).rows.shape[0] == 1


def test_bad_masks_fail_as_before(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[[0.0, np.nan]]], np.float32))
    np.save(tmp_path / "big.npy", np.array([[[0, 300]]], np.int32))
    np.save(tmp_path / "flat.npy", np.zeros(5))
    for name, message in (("nan.npy", "NaN"), ("big.npy", "0 to 300"), ("flat.npy", "T x H x W")):
        with pytest.raises(MaskError, match=message):
            load_mask(tmp_path / name, packed=True)
    folder = tmp_path / "sizes"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(folder / "0.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(folder / "1.png")
    with pytest.raises(MaskError, match="different sizes"):
        load_mask(folder, packed=True)


def test_a_long_npy_mask_is_read_without_holding_it_whole(tmp_path):
    mask = np.zeros((200, 120, 160), np.uint8)
    mask[:, 30:60, 40:90] = 255
    np.save(tmp_path / "long.npy", mask)
    tracemalloc.start()
    packed = load_mask(tmp_path / "long.npy", packed=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert packed.sum() == 200 * 30 * 50
    assert peak < 0.2 * mask.size, peak  # the boolean mask alone would be mask.size bytes; packed, 1/8


def test_checking_and_growing_keep_the_mask_packed():
    frames = np.zeros((6, 24, 30, 3), np.uint8)
    one = PackedMask.from_array(random_mask(T=1, H=24, W=30, seed=2))
    fitted = check_mask(one, frames)
    assert isinstance(fitted, PackedMask) and fitted.shape == (6, 24, 30) and fitted.rows.shape[0] == 1
    with pytest.raises(MaskError, match="but the video is 30x24"):
        check_mask(PackedMask.from_array(random_mask(T=6, H=24, W=31)), frames)
    with pytest.raises(MaskError, match="3 frames but the video has 6"):
        check_mask(PackedMask.from_array(random_mask(T=3, H=24, W=30)), frames)
    mask = random_mask(T=6, H=24, W=30, seed=3) & (np.random.default_rng(4).random((6, 24, 30)) < 0.05)
    grown = grow_mask(PackedMask.from_array(mask), 3)
    assert isinstance(grown, PackedMask) and np.array_equal(np.asarray(grown), grow_mask(mask, 3))
    assert grow_mask(fitted, 2).rows.shape[0] == 1


def test_a_frame_count_hint_is_only_a_hint():
    mask = random_mask(T=6)
    for count in (None, 1, 6, 9):
        packed = PackedMask.from_frames(iter(mask), count=count)
        assert np.array_equal(np.asarray(packed), mask) and packed.rows.shape[0] == 6


def test_map_frames_may_change_the_size_of_every_frame():
    frames = [np.zeros((4, 6), bool), np.ones((4, 6), bool)]
    packed = PackedMask.from_frames([frames[0], frames[1], frames[0]])
    doubled = packed.map_frames(lambda f: np.repeat(np.repeat(f, 2, 0), 2, 1))
    assert doubled.shape == (3, 8, 12)
    assert np.array_equal(np.asarray(doubled), np.repeat(np.repeat(np.asarray(packed), 2, 1), 2, 2))
    with pytest.raises(ValueError, match="different sizes"):
        packed.map_frames(lambda f: f[: 1 + int(f.any())])


@pytest.mark.parametrize("packed", [False, True])
def test_fit_mask_size_scales_a_mask_of_the_same_shape_and_never_loses_hole(packed):
    """A mask at another size but the video's shape is scaled, covering every pixel its
    hole covers (growing and shrinking); one of the video's size comes back as it is;
    another shape is a MaskError naming both sizes."""
    from vidsched.masks_io import fit_mask_size

    rng = np.random.default_rng(0)
    small = rng.random((3, 30, 40)) > 0.97  # specks: the hardest case for resampling
    hole = PackedMask.from_array(small) if packed else small
    notes: list[str] = []
    assert fit_mask_size(hole, 30, 40, notes) is hole and notes == []
    big = fit_mask_size(hole, 90, 120, notes)  # 3x: every source pixel is a 3 x 3 block
    assert big.shape == (3, 90, 120) and isinstance(big, PackedMask) == packed
    assert "the mask was scaled" in notes[0]
    blocks = np.repeat(np.repeat(small, 3, 1), 3, 2)
    big = np.asarray(big)
    assert big[blocks].all()  # no hole pixel lost
    import cv2

    within = np.stack([cv2.dilate(b.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for b in blocks])
    assert not big[~within].any()  # at most one mask pixel (3 video pixels) wider, not a blur
    tiny = np.asarray(fit_mask_size(hole, 15, 20))  # half: a pixel with any hole under it is hole
    assert np.array_equal(tiny, small.reshape(3, 15, 2, 20, 2).any(axis=(2, 4)))
    with pytest.raises(MaskError, match="the mask is 40x30 but the video is 40x40, another shape"):
        fit_mask_size(hole, 40, 40)
