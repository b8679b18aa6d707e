"""The folder loader for users' own footage: discovery, fps resampling, crops, skipping,
splits and errors. Every clip is a few tiny frames generated in tmp_path, with a pattern
that makes the frame index (the gray level) and the crop offset (a horizontal gradient)
readable from the output."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from vidsched.errors import VidschedError  # noqa: E402
from vidsched.training.video_folder import (  # noqa: E402
    FolderDataset,
    find_clips,
    load_clip,
    load_folder,
    split_clips,
)
from vidsched.videowrite import write_video  # noqa: E402

H, W = 48, 64
LEVEL = 10  # frame t is gray level LEVEL * t


def gray_frames(T: int) -> np.ndarray:
    """Frame t uniformly LEVEL * t: the index survives lossy codecs and resizing."""
    return np.broadcast_to((np.arange(T) * LEVEL).astype(np.uint8)[:, None, None, None], (T, H, W, 3)).copy()


def gradient_frames(T: int, height: int = H, width: int = W) -> np.ndarray:
    """Pixel (t, y, x) = 3x + t in every channel, so a crop's column offset is readable."""
    x = np.arange(width)[None, None, :] * 3 + np.arange(T)[:, None, None]
    return np.repeat(np.broadcast_to(x, (T, height, width))[..., None], 3, axis=3).astype(np.uint8)


def frame_index(clip: np.ndarray) -> list[int]:
    return [int(round(float(f.mean()) / LEVEL)) for f in clip]


@pytest.fixture
def footage(tmp_path):
    """One clip of each kind, a nested one, and files that are not clips."""
    root = tmp_path / "footage"
    write_video(root / "a.avi", gray_frames(20), fps=20)
    write_video(root / "b.mp4", gray_frames(20), fps=20)
    root.mkdir(exist_ok=True)
    np.save(root / "c.npy", gray_frames(20))
    write_video(root / "frames", gray_frames(12), fps=10)  # a folder of PNGs
    (root / "nested" / "deeper").mkdir(parents=True)
    np.save(root / "nested" / "deeper" / "d.npy", gray_frames(5))
    np.save(root / ".hidden.npy", gray_frames(5))
    (root / "notes.txt").write_text("not a clip")
    return root


# ---- discovery ---------------------------------------------------------------------------------
def test_find_clips_finds_each_kind_in_sorted_order(footage):
    found = [p.relative_to(footage).as_posix() for p in find_clips(footage)]
    assert found == ["a.avi", "b.mp4", "c.npy", "frames", "nested/deeper/d.npy"]


def test_a_single_file_or_frame_folder_is_one_clip(footage):
    assert find_clips(footage / "c.npy") == [footage / "c.npy"]
    assert find_clips(footage / "frames") == [footage / "frames"]


def test_images_beside_videos_do_not_hide_them(tmp_path):
    cv2.imwrite(str(tmp_path / "cover.png"), gray_frames(1)[0])
    np.save(tmp_path / "clip.npy", gray_frames(4))
    write_video(tmp_path / "shots", gray_frames(2), fps=10)
    found = [p.relative_to(tmp_path).as_posix() for p in find_clips(tmp_path)]
    assert found == [".", "clip.npy", "shots"]


# ---- shapes, fps resampling --------------------------------------------------------------------
def test_every_kind_loads_at_the_model_resolution(footage):
    data = FolderDataset.load(footage, size=16)
    assert [p.name for p in data.sources] == ["a.avi", "b.mp4", "c.npy", "frames", "d.npy"]
    assert [len(c) for c in data.clips] == [20, 20, 20, 12, 5]
    for clip in data.clips:
        assert clip.dtype == np.uint8 and clip.shape[1:] == (16, 16, 3)
    assert frame_index(data.clips[0]) == list(range(20))  # decoded in order, nothing lost
    assert data.skipped == ()


@pytest.mark.parametrize("name", ["a.avi", "b.mp4"])
def test_a_20_fps_video_at_10_fps_keeps_every_other_frame(footage, name):
    clip = load_clip(footage / name, size=16, fps=10)
    assert frame_index(clip) == list(range(0, 20, 2))


def test_npy_and_frame_folders_run_at_default_fps(footage):
    halved = load_clip(footage / "c.npy", size=16, fps=10, default_fps=20)
    assert frame_index(halved) == list(range(0, 20, 2))
    doubled = load_clip(footage / "frames", size=16, fps=20, default_fps=10)
    assert frame_index(doubled) == [t for t in range(12) for _ in range(2)]
    assert frame_index(load_clip(footage / "c.npy", size=16, fps=None, default_fps=20)) == list(range(20))


def test_fps_applies_to_the_whole_folder(footage):
    data = FolderDataset.load(footage, size=16, fps=10, default_fps=20)
    assert [len(c) for c in data.clips] == [10, 10, 10, 6, 3]


# ---- crops -------------------------------------------------------------------------------------
def test_center_crop_takes_the_middle_square(tmp_path):
    frames = gradient_frames(6)
    np.save(tmp_path / "g.npy", frames)
    clip = load_clip(tmp_path / "g.npy", size=H, crop="center")  # side 48 = size: no resize
    np.testing.assert_array_equal(clip, frames[:, :, 8:56])


def test_center_crop_of_a_portrait_clip_cuts_rows(tmp_path):
    frames = np.ascontiguousarray(gradient_frames(3).transpose(0, 2, 1, 3))  # 64 x 48, gradient down
    np.save(tmp_path / "p.npy", frames)
    np.testing.assert_array_equal(load_clip(tmp_path / "p.npy", size=H), frames[:, 8:56])


def test_none_stretches_the_whole_frame(tmp_path):
    frames = gradient_frames(2)
    np.save(tmp_path / "g.npy", frames)
    clip = load_clip(tmp_path / "g.npy", size=H, crop="none")
    assert clip.shape == (2, H, H, 3)
    assert clip[0, 0, 0, 0] < 3 and clip[0, 0, -1, 0] > 3 * 60  # both edges of the frame survive


def random_offsets(root, seed):
    """The crop's column offset per clip (each clip is a gradient 3x + t)."""
    data = FolderDataset.load(root, size=H, crop="random", seed=seed)
    offsets = []
    for clip in data.clips:
        x0 = int(clip[0, 0, 0, 0]) // 3
        # One crop for the whole clip, exactly that square, taken from inside the frame.
        np.testing.assert_array_equal(clip, gradient_frames(len(clip))[:, :, x0:x0 + H])
        offsets.append(x0)
    return offsets


def test_random_crop_is_reproducible_and_depends_on_the_seed(tmp_path):
    for i in range(4):
        np.save(tmp_path / f"g{i}.npy", gradient_frames(3))
    first = random_offsets(tmp_path, seed=0)
    assert first == random_offsets(tmp_path, seed=0)
    assert len(set(first)) > 1  # each clip draws its own crop
    assert random_offsets(tmp_path, seed=1) != first
    assert all(0 <= x0 <= W - H for x0 in first)


def test_adding_a_clip_does_not_move_the_other_crops(tmp_path):
    for i in range(3):
        np.save(tmp_path / f"g{i}.npy", gradient_frames(3))
    before = random_offsets(tmp_path, seed=5)
    np.save(tmp_path / "a_new.npy", gradient_frames(3))  # sorts first
    assert random_offsets(tmp_path, seed=5)[1:] == before


# ---- skipping, splits --------------------------------------------------------------------------
def test_short_clips_are_skipped_with_a_reason(footage):
    data = FolderDataset.load(footage, size=16, min_frames=10)
    assert [p.name for p in data.sources] == ["a.avi", "b.mp4", "c.npy", "frames"]
    assert [s.path.name for s in data.skipped] == ["d.npy"]
    assert "5 frames" in data.skipped[0].reason and "min_frames=10" in data.skipped[0].reason
    with pytest.warns(UserWarning, match=r"skipped 1 clip.*d\.npy"):
        clips = load_folder(footage, size=16, min_frames=10)
    assert len(clips) == 4


def test_load_folder_warns_about_nothing_when_nothing_is_skipped(footage):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_folder(footage / "nested", size=16)) == 1


def test_split_clips_holds_out_the_end_of_every_clip():
    clips = [np.arange(20), np.arange(7), np.arange(1)]
    train, held = split_clips(clips)
    assert [len(t) for t in train] == [16, 6, 1] and [len(h) for h in held] == [4, 1, 0]
    assert train[0][-1] == 15 and held[0][0] == 16
    for clip, t, h in zip(clips, train, held):
        np.testing.assert_array_equal(np.concatenate([t, h]), clip)
    train, held = split_clips(clips, train_fraction=0.5)
    assert [len(t) for t in train] == [10, 4, 0]


# ---- errors ------------------------------------------------------------------------------------
def test_missing_folder(tmp_path):
    with pytest.raises(VidschedError, match=r"training data not found: .*nope"):
        load_folder(tmp_path / "nope", size=16)


def test_no_clips_lists_the_supported_kinds(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(VidschedError, match=r"no clips found in") as e:
        load_folder(tmp_path, size=16)
    for kind in (".mp4", ".avi", ".webm", ".npy", ".png", ".jpg"):
        assert kind in str(e.value)


def test_a_single_file_that_is_not_a_clip(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(VidschedError, match=r"notes\.txt is not a clip: use video files"):
        find_clips(tmp_path / "notes.txt")


@pytest.mark.parametrize("name, data", [("broken.mp4", b"not a video at all"), ("broken.npy", b"junk")])
def test_an_unreadable_clip_is_named(tmp_path, name, data):
    np.save(tmp_path / "good.npy", gray_frames(4))
    (tmp_path / name).write_bytes(data)
    with pytest.raises(VidschedError, match=rf"cannot read training clip .*{name}"):
        load_folder(tmp_path, size=16)


def test_every_clip_too_short(footage):
    with pytest.raises(VidschedError, match=r"no clip in .* has at least 100 frames: .*a\.avi"):
        load_folder(footage, size=16, min_frames=100)


@pytest.mark.parametrize("options, message", [
    ({"crop": "diagonal"}, r"unknown crop 'diagonal': use 'center', 'random', 'none'"),
    ({"size": 0}, r"size must be a positive integer"),
    ({"fps": -1}, r"fps must be a positive number"),
    ({"default_fps": 0}, r"default_fps must be a positive number"),
    ({"min_frames": 0}, r"min_frames must be a positive integer"),
])
def test_bad_options_fail_before_decoding(footage, options, message):
    with pytest.raises(VidschedError, match=message):
        FolderDataset.load(footage, **{"size": 16, **options})
