"""Video and mask I/O: round trips, resampling in time, errors, the model-resolution
geometry (known pixels come back bit-exact), atomic writes and the comparison video.
All videos are small synthetic ones (moving squares) made in tmp_path."""

from __future__ import annotations

import contextlib

import os
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from vidsched import videoio, videowrite  # noqa: E402
from vidsched.compositing import composite_back, side_by_side  # noqa: E402
from vidsched.errors import MaskError, VidschedError  # noqa: E402
from vidsched.geometry import Geometry, check_mask, mask_to_model_resolution, to_model_resolution  # noqa: E402
from vidsched.masks_io import load_mask  # noqa: E402
from vidsched.videowrite import video_sink, write_video  # noqa: E402
from vidsched.videoio import (  # noqa: E402
    Video,
    VideoError,
    read_video,
    resample_indices,
    same_file,
)


def moving_squares(T: int = 8, H: int = 48, W: int = 64, seed: int = 0) -> np.ndarray:
    """T x H x W x 3 uint8: a gray gradient with a red and a green square moving across."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    base = ((x * 200) // max(W - 1, 1) + 20).astype(np.uint8)
    frames = np.repeat(np.repeat(base[None, :, :, None], 3, axis=3), T, axis=0)
    frames[..., 2] = ((y * 150) // max(H - 1, 1) + 50).astype(np.uint8)
    s = max(4, min(H, W) // 4)
    for t in range(T):
        r0, c0 = (t * 3) % (H - s), (t * 5) % (W - s)
        frames[t, r0:r0 + s, c0:c0 + s] = (230, 30, 30)
        r1, c1 = (H - s - (t * 2) % (H - s)), (W - s - (t * 4) % (W - s))
        frames[t, r1:r1 + s // 2, c1:c1 + s // 2] = (30, 220, 40)
    # A little texture so that bit-exactness means something.
    return np.clip(frames.astype(np.int16) + rng.integers(-3, 4, frames.shape), 0, 255).astype(np.uint8)


def random_hole(T: int, H: int, W: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hole = np.zeros((T, H, W), dtype=bool)
    for t in range(T):
        h, w = rng.integers(3, H // 2), rng.integers(3, W // 2)
        r, c = rng.integers(0, H - h), rng.integers(0, W - w)
        hole[t, r:r + h, c:c + w] = True
        hole[t, rng.integers(0, H, 5), rng.integers(0, W, 5)] = True  # scattered single pixels
    hole[:, 0, 0] = True  # the corner, an edge case for interpolation
    if T > 2:
        hole[2] = False  # one frame without a hole
    return hole


# ---- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".mkv"])
def test_video_file_round_trip_is_close(tmp_path, suffix):
    frames = moving_squares(T=10, H=48, W=64)
    path = write_video(tmp_path / f"clip{suffix}", frames, fps=25)
    video = read_video(path)
    assert video.frames.shape == frames.shape and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(25)
    assert video.num_frames == 10 and video.size == (48, 64)
    err = np.abs(video.frames.astype(int) - frames.astype(int))
    assert err.mean() < 6, err.mean()  # lossy codecs
    # Colours come back as RGB, not BGR: the red square is red.
    r0, c0 = 0, 0
    assert video.frames[0, r0 + 4, c0 + 4, 0] > 150 and video.frames[0, r0 + 4, c0 + 4, 2] < 100


def _textured(T: int, H: int, W: int) -> np.ndarray:
    """Smooth colour gradients with fine texture that moves: what a camera gives."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    grain = cv2.GaussianBlur(rng.normal(0, 18, (H, W + 2 * T)).astype(np.float32), (0, 0), 1.2)
    frames = []
    for t in range(T):
        base = np.stack([60 + 120 * x / W, 40 + 150 * y / H, 90 + 60 * np.sin((x + y + 3 * t) / 9)], -1)
        frames.append(np.clip(base + grain[:, 2 * t:2 * t + W, None], 0, 255))
    return np.stack(frames).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_mp4_is_h264_and_closer_than_mpeg4_part2(tmp_path, suffix, monkeypatch):
    """.mp4/.mov outputs are H.264 (yuv420p; PyAV, a dependency, brings libx264) and come
    back closer to the frames than OpenCV's MPEG-4 part 2; without PyAV's libx264 they
    are still written, as mp4v."""
    import av

    frames = _textured(12, 96, 128)
    assert videowrite.h264_available()
    path = write_video(tmp_path / f"h264{suffix}", frames, fps=24)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    h264 = read_video(path)
    assert h264.frames.shape == frames.shape and h264.fps == pytest.approx(24)
    monkeypatch.setattr(videowrite, "_H264", False)  # as without PyAV's libx264
    fallback = read_video(write_video(tmp_path / f"mpeg4{suffix}", frames, fps=24))
    assert fallback.frames.shape == frames.shape
    with av.open(str(tmp_path / f"mpeg4{suffix}")) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert _psnr(h264.frames, frames) > _psnr(fallback.frames, frames) + 1.0


def test_h264_writer_failure_leaves_nothing(tmp_path, monkeypatch):
    """A failure inside the H.264 encoder leaves no output and no temporary file."""
    frames = _textured(6, 32, 48)

    def broken(self, frame):
        raise _Boom("encoder gone")

    monkeypatch.setattr(videowrite._H264Writer, "write", broken)
    with pytest.raises(_Boom):
        write_video(tmp_path / "out.mp4", frames, fps=10)
    assert _leftovers(tmp_path) == []


def test_png_folder_round_trip_is_exact(tmp_path):
    frames = moving_squares(T=5, H=31, W=45)
    out = write_video(tmp_path / "frames", frames, fps=12)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{t:05d}.png" for t in range(5)]
    video = read_video(out, fps=12)
    np.testing.assert_array_equal(video.frames, frames)
    assert video.fps == 12
    assert read_video(out).fps == videoio.DEFAULT_FPS


def test_folder_with_trailing_slash_and_existing_output_folder(tmp_path):
    frames = moving_squares(T=3, H=16, W=16)
    target = str(tmp_path / "out.frames") + "/"
    write_video(target, frames, fps=10)
    write_video(target, frames[:2], fps=10)  # replaces the earlier frames
    assert len(list(Path(target).iterdir())) == 2
    np.testing.assert_array_equal(read_video(target).frames, frames[:2])


def test_folder_is_read_in_natural_order_jpg_too(tmp_path):
    frames = moving_squares(T=11, H=16, W=20)
    folder = tmp_path / "f"
    folder.mkdir()
    for t, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{t}.png"), f[..., ::-1])  # 0.png ... 10.png
    np.testing.assert_array_equal(read_video(folder).frames, frames)
    jpgs = tmp_path / "j"
    jpgs.mkdir()
    for t, f in enumerate(frames[:3]):
        cv2.imwrite(str(jpgs / f"{t:03d}.jpg"), f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert np.abs(read_video(jpgs).frames.astype(int) - frames[:3]).mean() < 10  # JPEG is lossy


def test_npy_round_trip_is_exact_and_float_and_gray_are_accepted(tmp_path):
    frames = moving_squares(T=4, H=20, W=30)
    path = write_video(tmp_path / "v.npy", frames, fps=10)
    np.testing.assert_array_equal(read_video(path).frames, frames)
    np.save(tmp_path / "float.npy", frames.astype(np.float32) / 255)
    np.testing.assert_array_equal(read_video(tmp_path / "float.npy").frames, frames)
    gray = frames[..., 1]
    np.save(tmp_path / "gray.npy", gray)
    g = read_video(tmp_path / "gray.npy").frames
    assert g.shape == frames.shape and (g == gray[..., None]).all()


def test_gif_round_trip(tmp_path):
    frames = moving_squares(T=4, H=24, W=32)
    path = write_video(tmp_path / "v.gif", frames, fps=10)
    video = read_video(path)
    assert video.frames.shape == frames.shape
    assert video.fps == pytest.approx(10)
    assert np.abs(video.frames.astype(int) - frames).mean() < 12  # 256-colour palette


def test_max_frames(tmp_path):
    frames = moving_squares(T=9, H=16, W=16)
    write_video(tmp_path / "v.avi", frames, fps=10)
    write_video(tmp_path / "d", frames, fps=10)
    assert read_video(tmp_path / "v.avi", max_frames=4).num_frames == 4
    assert read_video(tmp_path / "d", max_frames=4).num_frames == 4
    with pytest.raises(VideoError, match="max_frames"):
        read_video(tmp_path / "d", max_frames=0)


def test_odd_size_video_is_padded_not_cropped(tmp_path):
    frames = moving_squares(T=3, H=31, W=45)
    with pytest.warns(UserWarning, match="even"):
        write_video(tmp_path / "odd.avi", frames, fps=10)
    video = read_video(tmp_path / "odd.avi")
    assert video.size == (32, 46)
    assert np.abs(video.frames[:, :31, :45].astype(int) - frames).mean() < 6


# ---- frame rate --------------------------------------------------------------------------------
def test_resample_indices():
    assert resample_indices(30, 30, 10) == list(range(0, 30, 3))
    assert resample_indices(31, 30, 10) == list(range(0, 31, 3))  # 0 ... 30: 11 frames in 1.03 s
    assert resample_indices(4, 10, 10) == [0, 1, 2, 3]
    assert resample_indices(6, 30, 20) == [0, 1, 3, 4]  # ties go to the earlier frame
    assert resample_indices(2, 10, 30) == [0, 0, 1, 1, 1, 1]  # up: repeats, never past the end
    assert resample_indices(0, 30, 10) == []


def test_30fps_video_resampled_to_10fps_keeps_every_third_frame(tmp_path):
    T = 30
    frames = np.zeros((T, 16, 16, 3), dtype=np.uint8)
    for t in range(T):
        frames[t] = t * 8  # frame t is identified by its gray level
    write_video(tmp_path / "v.avi", frames, fps=30)
    video = read_video(tmp_path / "v.avi", fps=10)
    assert video.fps == 10 and video.num_frames == 10
    assert video.source_frames == list(range(0, 30, 3))
    levels = video.frames.reshape(10, -1).mean(axis=1) / 8
    np.testing.assert_allclose(levels, np.arange(0, 30, 3), atol=0.5)
    short = read_video(tmp_path / "v.avi", fps=10, max_frames=4)
    assert short.source_frames == [0, 3, 6, 9]
    up = read_video(tmp_path / "v.avi", fps=60, max_frames=5)
    assert up.source_frames == [0, 0, 1, 1, 2]


def test_fps_labels_folders_and_npy_without_dropping_frames(tmp_path):
    frames = moving_squares(T=6, H=16, W=16)
    np.save(tmp_path / "v.npy", frames)
    video = read_video(tmp_path / "v.npy", fps=30)
    assert video.num_frames == 6 and video.fps == 30


# ---- errors ------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "nope.mp4")


def test_errors_are_vidsched_errors():
    assert issubclass(VideoError, VidschedError)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_corrupt_video(tmp_path, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(b"this is not a video" * 50)
    with pytest.raises(VideoError, match="cannot read video"):
        read_video(path)


def test_truncated_video(tmp_path):
    path = write_video(tmp_path / "v.mp4", moving_squares(T=6, H=32, W=32), fps=10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError):
        read_video(path)


def test_empty_video(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "empty.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (16, 16))
    writer.release()
    with pytest.raises(VideoError, match="no frames"):
        read_video(tmp_path / "empty.avi")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(VideoError, match="no frames"):
        read_video(tmp_path / "nothing")
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="no frames"):
        read_video(tmp_path / "empty.npy")


def test_folder_of_different_sizes(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((16, 16, 3), np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.zeros((16, 20, 3), np.uint8))
    with pytest.raises(VideoError, match="different sizes: b.png is 20x16 but a.png is 16x16"):
        read_video(folder)


def test_folder_with_an_unreadable_frame(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (folder / "b.png").write_bytes(b"garbage")
    with pytest.raises(VideoError, match="b.png"):
        read_video(folder)


@pytest.mark.parametrize(
    "array, needle",
    [
        (np.zeros((2, 8, 8, 4), np.uint8), "T x H x W x 3"),
        (np.zeros((8, 8), np.uint8), "T x H x W x 3"),
        (np.full((2, 8, 8, 3), 300, np.int32), "0..255"),
        (np.full((2, 8, 8, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((2, 8, 8, 3), np.nan, np.float32), "NaN"),
        (np.zeros((2, 8, 8, 3), np.complex64), "dtype"),
    ],
)
def test_npy_of_wrong_type_or_shape(tmp_path, array, needle):
    np.save(tmp_path / "v.npy", array)
    with pytest.raises(VideoError, match=needle):
        read_video(tmp_path / "v.npy")


def test_npy_that_is_not_numpy(tmp_path):
    (tmp_path / "v.npy").write_bytes(b"not numpy")
    with pytest.raises(VideoError, match="cannot read video"):
        read_video(tmp_path / "v.npy")


def test_unknown_formats(tmp_path):
    (tmp_path / "v.txt").write_text("hello")
    with pytest.raises(VideoError, match="unknown video format"):
        read_video(tmp_path / "v.txt")
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="single image"):
        read_video(tmp_path / "one.png")
    with pytest.raises(VideoError, match="unknown output format"):
        write_video(tmp_path / "out.txt", moving_squares(T=1, H=8, W=8), fps=10)


def test_write_refuses_bad_input(tmp_path):
    with pytest.raises(VideoError, match="frame rate"):
        write_video(tmp_path / "v.npy", moving_squares(T=1, H=8, W=8), fps=0)
    with pytest.raises(VideoError, match="shape"):
        write_video(tmp_path / "v.npy", np.zeros((8, 8, 3, 2), np.uint8), fps=10)


# ---- overwriting and atomicity -----------------------------------------------------------------
def test_same_file(tmp_path):
    a = tmp_path / "a.mp4"
    a.write_bytes(b"x")
    assert same_file(a, tmp_path / "." / "a.mp4")
    assert same_file(tmp_path / "sub" / ".." / "a.mp4", a)
    assert not same_file(a, tmp_path / "b.mp4")
    (tmp_path / "link.mp4").symlink_to(a)
    assert same_file(tmp_path / "link.mp4", a)


def test_write_refuses_to_overwrite_the_input(tmp_path):
    frames = moving_squares(T=2, H=8, W=8)
    src = write_video(tmp_path / "in.npy", frames, fps=10)
    before = src.read_bytes()
    with pytest.raises(VideoError, match="refusing to overwrite the input"):
        write_video(tmp_path / "in.npy", frames * 0, fps=10, input_path=src)
    assert src.read_bytes() == before
    folder = write_video(tmp_path / "frames", frames, fps=10)
    with pytest.raises(VideoError, match="refusing to overwrite the input"):
        write_video(str(folder) + "/", frames, fps=10, input_path=folder)


def test_write_never_deletes_a_folder_with_other_files(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(VideoError, match="refusing to replace the folder"):
        write_video(folder, moving_squares(T=2, H=8, W=8), fps=10)
    assert (folder / "notes.txt").read_text() == "keep me"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


class _Boom(RuntimeError):
    pass


def test_atomic_video_write_leaves_nothing_when_the_writer_fails(tmp_path, monkeypatch):
    frames = moving_squares(T=6, H=16, W=16)
    target = tmp_path / "out.avi"
    real_open = videowrite._open_writer

    class Failing:
        def __init__(self, *args):
            self.inner = real_open(*args)
            self.n = 0

        def write(self, frame):
            self.n += 1
            if self.n == 3:
                raise _Boom("disk on fire")
            self.inner.write(frame)

        def release(self):
            self.inner.release()

    monkeypatch.setattr(videowrite, "_open_writer", lambda *a: Failing(*a))
    with pytest.raises(_Boom):
        write_video(target, frames, fps=10)
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_atomic_write_keeps_the_previous_output(tmp_path, monkeypatch):
    frames = moving_squares(T=4, H=16, W=16)
    npy = write_video(tmp_path / "out.npy", frames, fps=10)
    folder = write_video(tmp_path / "out", frames, fps=10)
    calls = {"n": 0}
    real_encode = videowrite._encode_png

    def failing_encode(path, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            raise _Boom("interrupted")
        real_encode(path, frame)

    monkeypatch.setattr(videowrite, "_encode_png", failing_encode)
    with pytest.raises(_Boom):
        write_video(folder, frames[::-1], fps=10)
    np.testing.assert_array_equal(read_video(folder).frames, frames)  # the old output, whole

    monkeypatch.undo()
    for target in (npy, folder):  # a write in pieces that fails half-way
        with pytest.raises(_Boom):
            with video_sink(target, 10, len(frames)) as write:
                write(frames[:2, ::-1])
                raise _Boom("interrupted")
        np.testing.assert_array_equal(read_video(target).frames, frames)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["out.npy", "out", "out.gif", "out.avi", "odd.mp4"])
def test_video_sink_in_pieces_writes_what_one_write_does(tmp_path, name):
    frames = moving_squares(T=7, H=17 if name == "odd.mp4" else 16, W=24)
    def odd_warning():  # said once per output, not once per piece
        return pytest.warns(UserWarning, match="24x17 is odd") if name == "odd.mp4" else contextlib.nullcontext()

    with odd_warning():
        whole = write_video(tmp_path / "whole" / name, frames, fps=12)
    with odd_warning() as said:
        with video_sink(tmp_path / "pieces" / name, 12, len(frames)) as write:
            for lo, hi in ((0, 3), (3, 4), (4, 7)):
                write(frames[lo:hi])
    assert said is None or len(said) == 1
    a, b = read_video(whole), read_video(tmp_path / "pieces" / name)
    assert a.num_frames == b.num_frames == 7 and a.fps == b.fps
    if name in ("out.npy", "out"):
        np.testing.assert_array_equal(b.frames, frames)  # exact formats
    np.testing.assert_array_equal(a.frames, b.frames)  # codecs: the same bytes in, the same frames out


def test_iter_video_frames_decodes_one_frame_at_a_time_as_read_video_does(tmp_path):
    frames = moving_squares(T=5, H=16, W=24)
    path = write_video(tmp_path / "clip.avi", frames, fps=10)
    stream = videoio.iter_video_frames(path)
    first = next(stream)
    assert first.shape == (16, 24, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(np.stack([first, *stream]), read_video(path).frames)
    with pytest.raises(VideoError, match="not found"):
        next(videoio.iter_video_frames(tmp_path / "missing.mp4"))
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 10)
    with pytest.raises(VideoError, match="cannot read video"):
        next(videoio.iter_video_frames(tmp_path / "bad.mp4"))


@pytest.mark.parametrize("fps", [None, 4, 25])
def test_streamed_frames_decode_windows_front_to_back(tmp_path, fps):
    frames = moving_squares(T=12, H=16, W=24)
    path = write_video(tmp_path / "clip.avi", frames, fps=10)
    whole = read_video(path, fps=fps)
    streamed = read_video(path, fps=fps, stream=True)
    assert isinstance(streamed.frames, videoio.StreamedFrames)
    assert streamed.frames.shape == whole.frames.shape and streamed.num_frames == whole.num_frames
    assert streamed.fps == whole.fps and streamed.source_frames == whole.source_frames
    T = whole.num_frames
    a, b = T // 3, 2 * T // 3
    np.testing.assert_array_equal(streamed.frames[0:b], whole.frames[:b])
    np.testing.assert_array_equal(streamed.frames[a], whole.frames[a])  # still held
    streamed.frames[a:a + 1] = 0  # written back into the frames held
    np.testing.assert_array_equal(streamed.frames[a:T], np.concatenate([0 * whole.frames[a:a + 1], whole.frames[a + 1:]]))
    with pytest.raises(VideoError, match="front to back"):
        streamed.frames[0:2]  # dropped when the window moved on to frame a
    with pytest.raises(VideoError, match="only frames held"):
        streamed.frames[0:1] = 0
    np.testing.assert_array_equal(np.asarray(read_video(path, fps=fps, stream=True).frames), whole.frames)


@pytest.mark.parametrize("kind", ["u8", "float", "gray_int", "folder"])
def test_npy_and_folder_inputs_stream_as_a_video_file_does(tmp_path, kind):
    frames = moving_squares(T=10, H=16, W=24)
    if kind == "folder":
        path = write_video(tmp_path / "frames", frames, fps=10)
    else:
        data = {"u8": frames, "float": frames / np.float32(255), "gray_int": frames[..., 1].astype(np.int32)}[kind]
        path = tmp_path / f"{kind}.npy"
        np.save(path, data)
    whole = read_video(path, fps=12)
    streamed = read_video(path, fps=12, stream=True)
    assert isinstance(streamed.frames, videoio.StreamedFrames) and streamed.fps == whole.fps == 12
    assert streamed.frames.shape == whole.frames.shape and streamed.source_frames == whole.source_frames
    np.testing.assert_array_equal(streamed.frames[0:4], whole.frames[:4])
    np.testing.assert_array_equal(streamed.frames[3:10], whole.frames[3:])
    with pytest.raises(VideoError, match="front to back"):
        streamed.frames[0:2]
    assert isinstance(read_video(path, max_frames=3, stream=True).frames, np.ndarray)  # a prefix: read whole


def test_streamed_npy_and_folder_inputs_are_checked_before_any_frame_is_used(tmp_path):
    frames = moving_squares(T=6, H=16, W=24)
    bad = frames / np.float32(255)
    bad[-1, 0, 0, 0] = 1.5  # out of range in the last frame only
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(VideoError, match=r"must lie in \[0, 1\]"):
        read_video(tmp_path / "bad.npy", stream=True)
    np.save(tmp_path / "shape.npy", frames[..., :2])
    with pytest.raises(VideoError, match="T x H x W x 3"):
        read_video(tmp_path / "shape.npy", stream=True)
    folder = write_video(tmp_path / "frames", frames, fps=10)
    from PIL import Image

    Image.fromarray(frames[0, :8]).save(sorted(folder.iterdir())[-1])  # the last frame smaller
    with pytest.raises(VideoError, match="different sizes"):
        read_video(folder, stream=True)


def test_a_streamed_npy_input_is_not_read_whole(tmp_path):
    import tracemalloc

    frames = np.random.default_rng(0).integers(0, 256, (120, 60, 80, 3), dtype=np.uint8)
    np.save(tmp_path / "long.npy", frames)
    tracemalloc.start()
    video = read_video(tmp_path / "long.npy", stream=True)
    for a in range(0, 120, 10):
        window = video.frames[a:a + 20]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(window, frames[110:])
    assert peak < 0.4 * frames.nbytes, peak  # a window of 20 of 120 frames, not the video


def test_video_sink_refuses_a_wrong_count_or_size_and_leaves_nothing(tmp_path):
    frames = moving_squares(T=4, H=16, W=16)
    with pytest.raises(VideoError, match="3 frames were written, 4 announced"):
        with video_sink(tmp_path / "short.npy", 10, 4) as write:
            write(frames[:3])
    with pytest.raises(VideoError, match="more than the 4 frames"):
        with video_sink(tmp_path / "long.mp4", 10, 4) as write:
            write(frames)
            write(frames[:1])
    with pytest.raises(VideoError, match="frames of 8x8 after frames of 16x16"):
        with video_sink(tmp_path / "sizes", 10, 4) as write:
            write(frames[:2])
            write(frames[2:, :8, :8])
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_write_leaves_no_partial_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(videowrite, "_encode_png", lambda path, frame: (_ for _ in ()).throw(_Boom("x")))
    with pytest.raises(_Boom):
        write_video(tmp_path / "new", moving_squares(T=3, H=8, W=8), fps=10)
    assert list(tmp_path.iterdir()) == []


# ---- model resolution --------------------------------------------------------------------------
SHAPES = [(61, 97), (97, 61), (64, 64), (33, 47), (20, 30), (128, 72)]


@pytest.mark.parametrize("mode", ["stretch", "letterbox"])
@pytest.mark.parametrize("H, W", SHAPES)
def test_composite_back_keeps_known_pixels_bit_exact(H, W, mode):
    T, size = 5, 64
    frames = moving_squares(T=T, H=H, W=W)
    hole = random_hole(T, H, W)
    model, geometry = to_model_resolution(frames, size, mode=mode)
    assert model.shape == (T, size, size, 3) and model.dtype == np.uint8
    model_hole = mask_to_model_resolution(hole, geometry)
    assert model_hole.shape == (T, size, size) and model_hole.dtype == bool
    # Pretend to inpaint: paint the model's hole pixels a flat colour.
    filled = model.copy()
    filled[model_hole] = (0, 200, 255)
    out = composite_back(frames, hole, filled, geometry)
    assert out.shape == frames.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], frames[~hole])  # every known pixel, bit-exact
    changed = (out != frames).any(axis=-1)
    assert not (changed & ~hole).any()  # only hole pixels change
    # Hole pixels away from the hole's border get the fill colour.
    interior = hole.copy()
    for axis in (1, 2):
        for shift in (-3, 3):
            interior &= np.roll(hole, shift, axis=axis)
    interior[:, :3] = interior[:, -3:] = interior[:, :, :3] = interior[:, :, -3:] = False
    if interior.any():
        assert np.abs(out[interior].astype(int) - (0, 200, 255)).max() <= 20
    # Frame 2 has no hole: it is returned untouched.
    np.testing.assert_array_equal(out[2], frames[2])


@pytest.mark.parametrize("H, W", SHAPES + [(1080 // 8, 1920 // 8), (17, 500)])
@pytest.mark.parametrize("size", [64, 32, (48, 80)])
def test_mask_downscale_never_loses_a_hole_pixel(H, W, size):
    geometry = Geometry.compute((H, W), size)
    mh, mw = geometry.model_h, geometry.model_w
    rng = np.random.default_rng(H * W)
    # Single-pixel holes anywhere, edges included: each must survive.
    points = [(0, 0), (H - 1, W - 1), (0, W - 1), (H - 1, 0)] + [
        (int(rng.integers(0, H)), int(rng.integers(0, W))) for _ in range(20)
    ]
    hole = np.zeros((len(points), H, W), dtype=bool)
    for t, (r, c) in enumerate(points):
        hole[t, r, c] = True
    small = mask_to_model_resolution(hole, geometry)
    for t, (r, c) in enumerate(points):
        # The model pixel containing the source pixel's centre is a hole...
        assert small[t, int((r + 0.5) * mh / H), int((c + 0.5) * mw / W)]
        # ...and the hole stays local (at most 2 x 2 model pixels for a shrink).
        if H >= mh and W >= mw:
            assert small[t].sum() <= 4
    # Against OpenCV's area interpolation + (> 0) on a float mask (where it is exact).
    blobs = random_hole(4, H, W)
    expected = np.stack([cv2.resize(b.astype(np.float32), (mw, mh), interpolation=cv2.INTER_AREA) > 0
                         for b in blobs])
    if H >= mh and W >= mw:
        np.testing.assert_array_equal(mask_to_model_resolution(blobs, geometry), expected)


def test_mask_covers_the_hole_after_the_round_trip():
    # Every source hole pixel maps back inside the model hole: nothing the model leaves
    # alone is pasted into a hole.
    H, W, size = 61, 97, 64
    hole = random_hole(3, H, W)
    geometry = Geometry.compute((H, W), size)
    small = mask_to_model_resolution(hole, geometry)
    up = np.stack([cv2.resize(s.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST) for s in small]) > 0
    assert not (hole & ~up).any()


def test_geometry_policies():
    g = Geometry.compute((1080, 1920), 64)
    assert g.box == (0, 0, 64, 64) and g.mode == "stretch"
    assert g.distortion == pytest.approx(1080 / 1920)
    lb = Geometry.compute((1080, 1920), 64, mode="letterbox")
    assert lb.box == (14, 0, 50, 64) and lb.distortion == pytest.approx(1.0, abs=0.02)
    tall = Geometry.compute((97, 61), 64, mode="letterbox")
    assert tall.box_size[0] == 64 and tall.box_size[1] == 40
    with pytest.raises(VideoError, match="unknown resize mode"):
        Geometry.compute((10, 10), 64, mode="crop")


def test_letterbox_padding_is_never_a_hole():
    frames = moving_squares(T=2, H=30, W=90)
    hole = np.ones((2, 30, 90), dtype=bool)
    model, g = to_model_resolution(frames, 64, mode="letterbox")
    small = mask_to_model_resolution(hole, g)
    y0, x0, y1, x1 = g.box
    assert small[:, y0:y1, x0:x1].all() and small.sum() == 2 * (y1 - y0) * (x1 - x0)
    # Padding repeats the edge rows.
    np.testing.assert_array_equal(model[:, 0], model[:, y0])


def test_model_resolution_errors():
    frames = moving_squares(T=2, H=20, W=30)
    _, g = to_model_resolution(frames, 16)
    with pytest.raises(MaskError, match="the mask is 31x20"):
        mask_to_model_resolution(np.zeros((2, 20, 31), bool), g)
    with pytest.raises(VideoError, match="filled frames"):
        composite_back(frames, np.zeros((2, 20, 30), bool), np.zeros((2, 8, 8, 3), np.uint8), g)
    with pytest.raises(MaskError, match="3 frames but the video has 2"):
        composite_back(frames, np.zeros((3, 20, 30), bool), np.zeros((2, 16, 16, 3), np.uint8), g)


def test_one_frame_mask_is_repeated():
    frames = moving_squares(T=3, H=20, W=30)
    hole = np.zeros((20, 30), bool)
    hole[5:9, 5:9] = True
    fitted = check_mask(hole, Video(frames, 10.0, "x"))
    assert fitted.shape == (3, 20, 30) and fitted[:, 5:9, 5:9].all()
    with pytest.raises(MaskError, match="the mask is 30x21"):
        check_mask(np.zeros((3, 21, 30), bool), frames)


# ---- masks given as videos, mask folders in natural order --------------------------------------
def test_mask_as_video_and_natural_order(tmp_path):
    hole = np.zeros((4, 16, 24), dtype=bool)
    for t in range(4):
        hole[t, 4:10, 2 + 4 * t:8 + 4 * t] = True
    white = np.repeat((hole * 255).astype(np.uint8)[..., None], 3, axis=-1)
    write_video(tmp_path / "mask.avi", white, fps=10)
    np.testing.assert_array_equal(load_mask(tmp_path / "mask.avi"), hole)
    folder = tmp_path / "m"
    folder.mkdir()
    many = np.zeros((11, 8, 8), np.uint8)
    for t in range(11):
        many[t, 0, :t % 8] = 255
        cv2.imwrite(str(folder / f"{t}.png"), many[t])
    np.testing.assert_array_equal(load_mask(folder), many > 127)
    (tmp_path / "bad.mp4").write_bytes(b"nope" * 40)
    with pytest.raises(MaskError, match="cannot read mask video"):
        load_mask(tmp_path / "bad.mp4")


def test_grow_mask_is_a_disc_per_frame():
    from vidsched.masks_io import grow_mask

    hole = np.zeros((3, 21, 21), bool)
    hole[0, 10, 10] = True  # one pixel: grows to the disc of radius r around it
    hole[1, 0, 0] = True  # a corner: the disc is cut by the frame
    yy, xx = np.mgrid[0:21, 0:21]
    for r in (1, 3, 6):
        grown = grow_mask(hole, r)
        assert grown.dtype == bool and grown.shape == hole.shape
        np.testing.assert_array_equal(grown[0], (yy - 10) ** 2 + (xx - 10) ** 2 <= r * r)
        np.testing.assert_array_equal(grown[1], yy ** 2 + xx ** 2 <= r * r)
        assert not grown[2].any()  # frames are grown on their own: an empty frame stays empty
        assert (grown >= hole).all()
    same = grow_mask(hole, 0)
    np.testing.assert_array_equal(same, hole)
    assert same is not hole
    for bad in (-1, 2.5, True, 257, "4"):
        with pytest.raises(MaskError, match="mask dilation"):
            grow_mask(hole, bad)


# ---- comparison video --------------------------------------------------------------------------
def test_side_by_side():
    T, H, W = 3, 40, 50
    frames = moving_squares(T=T, H=H, W=W)
    hole = random_hole(T, H, W)
    result = frames.copy()
    result[hole] = 0
    sbs = side_by_side(frames, hole, result)
    assert sbs.dtype == np.uint8 and sbs.shape[0] == T and sbs.shape[2] == 2 * W + 4
    band = sbs.shape[1] - H
    assert 0 < band < 40
    left, right = sbs[:, band:, :W], sbs[:, band:, W + 4:]
    np.testing.assert_array_equal(right, result)
    np.testing.assert_array_equal(left[~hole], frames[~hole])
    tinted = left[hole].astype(int)
    np.testing.assert_array_equal(tinted, (frames[hole].astype(int) + (255, 0, 255) + 1) // 2)
    assert sbs[:, :band].max() > 100  # the labels are drawn
    plain = side_by_side(frames, hole, result, labels=(), zoom=2)
    assert plain.shape == (T, 2 * H, 4 * W + 4, 3)


def test_side_by_side_writes_as_a_video(tmp_path):
    frames = moving_squares(T=3, H=32, W=32)
    hole = random_hole(3, 32, 32)
    sbs = side_by_side(frames, hole, frames)
    path = write_video(str(tmp_path / "cmp.png.d") + "/", sbs, fps=10)
    np.testing.assert_array_equal(read_video(path).frames, sbs)


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, vidsched.videoio; "
            "print(sorted(m for m in ('cv2', 'torch') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# ---- module structure --------------------------------------------------------------------------
IO_MODULES = ("videoio", "videowrite", "masks_io", "geometry", "compositing", "imagefiles", "atomic")


def _vidsched_import_graph() -> dict[str, set[str]]:
    """Module -> the vidsched modules it imports, at module level or inside functions."""
    import ast

    package = Path(__file__).resolve().parents[1] / "vidsched"
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = (path, parts[-1] == "__init__")
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        edges = graph.setdefault(name, set())
        here = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here.split(".")[:len(here.split(".")) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        edges.add(f"{base}.{alias.name}")  # a submodule: from vidsched import videoio
                    elif base in modules:
                        edges.add(base)
        edges.discard(name)
    return graph


def test_video_and_mask_modules_import_one_way():
    graph = _vidsched_import_graph()
    for short in IO_MODULES:
        module = f"vidsched.{short}"
        seen, todo = set(), list(graph[module])
        while todo:  # everything `module` imports, directly or not
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        assert module not in seen, f"{module} imports itself through a cycle"
    # The layers: decoding knows nothing about encoding, masks, geometry or compositing;
    # encoding builds on decoding's errors and helpers only.
    assert not graph["vidsched.videoio"] & {f"vidsched.{m}" for m in ("videowrite", "masks_io", "geometry", "compositing")}
    assert not graph["vidsched.videowrite"] & {f"vidsched.{m}" for m in ("masks_io", "geometry", "compositing")}
    assert graph["vidsched.imagefiles"] == set() and "vidsched.compositing" not in graph["vidsched.geometry"]


def test_io_modules_import_light():
    import subprocess
    import sys

    code = ("import sys, vidsched.masks_io, vidsched.geometry, vidsched.compositing, vidsched.videowrite; "
            "print(sorted(m for m in ('cv2', 'torch') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_encode_speed_benchmark_reports_both_encoders(capsys):
    """benchmarks/encode_speed.py: both encoders, each size, and a JSON last line."""
    import json

    from script_loader import load_script

    sys_path = list(__import__("sys").path)
    bench = load_script("benchmarks/encode_speed.py", "bench_encode_speed")
    try:
        report = bench.main(["--frames", "4", "--sizes", "96x64"])
    finally:
        __import__("sys").path[:] = sys_path
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == report
    row = report["sizes"]["96x64"]
    assert row["h264"]["available"] and row["mp4v"]["available"]
    for encoder in ("h264", "mp4v"):
        assert row[encoder]["ms_per_frame"] > 0 and row[encoder]["megabytes"] > 0 and row[encoder]["psnr_db"] > 20
    assert videowrite._H264 is None or videowrite._H264 is True  # the benchmark put the setting back
