"""Getting videos in: decoding and resampling in time (plain numpy and OpenCV; no torch).

Reading
    :func:`read_video` takes a video file (``.mp4 .avi .mov .mkv .gif`` and anything else
    OpenCV's FFmpeg backend decodes), a folder of PNG/JPG frames (natural name order, so
    ``2.png`` comes before ``10.png``; see :mod:`vidsched.imagefiles`) or a ``.npy`` array,
    and returns a :class:`Video` whose frames are ``T x H x W x 3`` uint8 RGB.
    :class:`StreamedFrames` reads the same sources a frame range at a time, for videos
    too long to hold in memory.

Resampling in time
    ``read_video(..., fps=)`` resamples a video file to another frame rate by
    nearest-frame selection (:func:`resample_indices`); nothing is interpolated.

Writing results out is :mod:`vidsched.videowrite`. What happens between reading and
writing lives elsewhere: mapping frames and masks to the model's resolution in
:mod:`vidsched.geometry`, putting results back into the frames and the comparison video
in :mod:`vidsched.compositing`, masks in :mod:`vidsched.masks_io` (which builds on this
module; this module imports none of them).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import numpy as np

from vidsched.errors import VidschedError
from vidsched.imagefiles import IMAGE_SUFFIXES, list_images

__all__ = [
    "DEFAULT_FPS",
    "VIDEO_SUFFIXES",
    "Video",
    "StreamedFrames",
    "VideoError",
    "iter_video_frames",
    "read_video",
    "resample_indices",
    "same_file",
]

DEFAULT_FPS = 10.0
#: The highest frame rate read_video resamples to (and videowrite.write_video writes): above it a
#: resampled clip would be mostly repeated frames (and ``--fps 1e9`` would never end).
MAX_FPS = 1000.0
#: Suffixes read through OpenCV's video decoder.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".gif", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


class VideoError(VidschedError):
    """A video that cannot be read or written."""


# ---- OpenCV ------------------------------------------------------------------------------------
_CV2 = None


def opencv():
    """The ``cv2`` module, imported on first use (importing vidsched.videoio and the modules
    built on it stays cheap) with FFmpeg's own console messages ("moov atom not found" ...)
    silenced: failures become VideoErrors instead. Set OPENCV_FFMPEG_LOGLEVEL yourself to
    see them. Every OpenCV use in the package goes through here."""
    global _CV2
    if _CV2 is None:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        try:
            import cv2
        except ImportError as e:  # pragma: no cover - a dependency of the package
            raise VideoError(f"OpenCV is needed for video files: pip install opencv-python-headless ({e})") from None
        _CV2 = cv2
    return _CV2


# ---- the Video type ----------------------------------------------------------------------------
@dataclass
class Video:
    """Frames ``T x H x W x 3`` uint8 RGB, their frame rate and where they came from.

    ``source_frames`` lists, for each frame, the index of the frame it was taken from in the
    source (they differ from ``0..T-1`` after resampling with ``fps=``): apply the same
    selection to a per-frame mask of the source video (``hole[video.source_frames]``).
    """

    frames: np.ndarray
    fps: float
    source: str
    source_frames: list[int] | None = field(default=None, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def __repr__(self) -> str:
        return f"Video({self.source!r}, {self.num_frames} frames, {self.width}x{self.height}, {self.fps:g} fps)"


def as_rgb_uint8(array: np.ndarray, what: str = "frames") -> np.ndarray:
    """``T x H x W x 3`` uint8 from uint8/integer (0..255) or float (0..1) data, gray
    ``T x H x W`` or ``T x H x W x 1`` expanded to three channels. VideoError otherwise."""
    a = np.asarray(array)
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise VideoError(
            f"{what} must be T x H x W x 3 (RGB) or T x H x W (gray), got shape {tuple(np.shape(array))}"
        )
    if 0 in a.shape:
        raise VideoError(f"{what} are empty (shape {tuple(a.shape)})")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise VideoError(f"{what} of integer type {a.dtype} must lie in 0..255, found {lo}..{hi}")
        return a.astype(np.uint8)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise VideoError(f"{what} contain NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise VideoError(
                f"{what} of float type must lie in [0, 1], found [{lo:g}, {hi:g}] "
                "(divide by 255, or save them as uint8)"
            )
        return np.round(a * 255.0).astype(np.uint8)
    raise VideoError(f"{what} must be uint8 (or float in [0, 1]), got dtype {a.dtype}")


# ---- time resampling ---------------------------------------------------------------------------
def _nearest_source(j: int, ratio: float) -> int:
    """Index of the source frame nearest to output frame ``j``; ties go to the earlier one."""
    return max(0, math.ceil(round(j * ratio, 9) - 0.5))


def resample_indices(num_frames: int, source_fps: float, fps: float) -> list[int]:
    """Source frame shown by each output frame when ``num_frames`` frames at ``source_fps``
    are resampled to ``fps``.

    Output frame ``j`` is at time ``j / fps`` and there is one for every such time before
    the end of the source (``num_frames / source_fps``); it shows the source frame whose
    timestamp ``i / source_fps`` is nearest (the earlier on a tie). Lowering the rate drops
    frames (30 -> 10 fps keeps frames 0, 3, 6, ...), raising it repeats them; nothing is
    interpolated.
    """
    if num_frames <= 0:
        return []
    ratio = source_fps / fps
    count = math.ceil(round(num_frames / ratio, 9))
    return [min(num_frames - 1, _nearest_source(j, ratio)) for j in range(count)]


def _resample_stream(frames: Iterable[np.ndarray], source_fps: float, fps: float | None,
                     max_frames: int | None) -> tuple[list[np.ndarray], list[int]]:
    """Select frames while decoding (only the kept ones are held in memory)."""
    out: list[np.ndarray] = []
    kept: list[int] = []
    if fps is None or abs(fps - source_fps) < 1e-9:
        for i, frame in enumerate(frames):
            if max_frames is not None and i >= max_frames:
                break
            out.append(frame)
            kept.append(i)
        return out, kept
    ratio = source_fps / fps
    j = 0
    n = 0
    last = None
    for i, frame in enumerate(frames):
        n = i + 1
        last = frame
        while _nearest_source(j, ratio) == i:
            out.append(frame)
            kept.append(i)
            j += 1
            if max_frames is not None and j >= max_frames:
                return out, kept
        if _nearest_source(j, ratio) < i:  # pragma: no cover - indices never go back
            raise AssertionError("resampling went backwards")
    # Output times still inside the clip whose nearest frame would lie past its end.
    count = math.ceil(round(n / ratio, 9)) if n else 0
    if max_frames is not None:
        count = min(count, max_frames)
    while len(out) < count and last is not None:
        out.append(last)
        kept.append(n - 1)
    return out, kept


# ---- reading -----------------------------------------------------------------------------------
def read_video(path: str | Path, fps: float | None = None, max_frames: int | None = None,
               stream: bool = False) -> Video:
    """Read a video as ``T x H x W x 3`` uint8 RGB frames.

    - Video files (:data:`VIDEO_SUFFIXES`) are decoded with OpenCV; their frame rate comes
      from the container (``DEFAULT_FPS`` if it has none). ``fps=`` *resamples* them in
      time to that rate by nearest-frame selection (see :func:`resample_indices`).
    - A folder of PNG/JPG/... frames (natural name order) and a ``.npy`` array
      (uint8 ``T x H x W x 3``; also float in [0, 1] and gray ``T x H x W``) have no
      frame rate of their own: ``fps=`` *labels* them (default ``DEFAULT_FPS``) and
      no frame is dropped.
    - ``max_frames`` keeps the first frames only (after resampling); decoding stops there.
    - ``stream=True``: the frames are :class:`StreamedFrames`, read when a window of them
      is asked for (not with ``max_frames``): a video file is decoded, a folder's images
      are read one by one, a ``.npy`` is memory-mapped (its values checked first).

    Raises :class:`VideoError` for a missing file, an unreadable or empty video, frames
    of different sizes in a folder and a ``.npy`` of the wrong type or shape.
    """
    path = Path(path)
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise VideoError(f"the frame rate must be a positive number, got {fps!r}")
    if fps is not None and fps > MAX_FPS:
        raise VideoError(f"the frame rate must be at most {MAX_FPS:g} frames per second, got {fps:g}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer))
                                   or max_frames < 1):
        raise VideoError(f"max_frames must be a positive integer, got {max_frames!r}")
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    streamed = stream and max_frames is None
    if path.is_dir():
        if streamed:
            frames = StreamedFrames.of_folder(path, fps)
            return Video(frames, frames.fps, str(path), frames.source_frames)
        frames, kept = _read_folder(path, max_frames)
        return Video(frames, float(fps or DEFAULT_FPS), str(path), kept)
    suffix = path.suffix.lower()
    if suffix == ".npy" and streamed:
        frames = StreamedFrames.of_npy(path, fps)
        return Video(frames, frames.fps, str(path), frames.source_frames)
    if suffix == ".npy":
        frames = _read_npy(path)
        if max_frames is not None:
            frames = frames[:max_frames]
        return Video(frames, float(fps or DEFAULT_FPS), str(path), list(range(len(frames))))
    if suffix in IMAGE_SUFFIXES:
        raise VideoError(
            f"{path} is a single image, not a video: put the frames in a folder (one image per frame)"
        )
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(
            f"unknown video format {path.suffix!r} for {path}: use a video file "
            f"({', '.join(VIDEO_SUFFIXES)}), a folder of PNG/JPG frames, or .npy (uint8 T x H x W x 3)"
        )
    if streamed:
        frames = StreamedFrames(path, fps)
        return Video(frames, frames.fps, str(path), frames.source_frames)
    return _read_container(path, fps, max_frames)


def _read_container(path: Path, fps: float | None, max_frames: int | None) -> Video:
    with _opened(path) as (cap, source_fps):
        frames, kept = _resample_stream(_decoded(cap), source_fps, fps, max_frames)
    if not frames:
        raise VideoError(f"video {path} contains no frames (empty, or corrupt from the first frame)")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:  # pragma: no cover - containers keep one size
        raise VideoError(f"video {path} changes frame size mid-stream: {sorted(shapes)}")
    return Video(np.stack(frames), float(fps or source_fps), str(path), kept)


class StreamedFrames:
    """A video's frames (``T x H x W x 3`` uint8 RGB), read when asked for, front to back,
    so that a long video is never held whole (:func:`read_video` with ``stream=True``;
    ``vidsched run`` fills long videos in chunks of frames): a video file's are decoded,
    a folder's images (:meth:`of_folder`) read one at a time, a ``.npy``'s
    (:meth:`of_npy`) taken from the memory-mapped array.

    ``frames[lo:hi]`` is an array of frames ``lo`` to ``hi - 1``: a view of the block of
    frames held. When ``hi`` goes past the block, the block moves forward: frames before
    ``lo`` are dropped (so windows must not move back) and the new ones decoded.
    ``frames[lo:hi] = values`` writes into the block (a run puts its finished frames back,
    for the next chunk to be conditioned on).
    ``frames[t]`` is one frame; ``np.asarray(frames)`` decodes them all. ``shape`` is known
    from the start: opening counts the frames (decoding them once, without keeping any).
    """

    ndim = 4
    dtype = np.dtype(np.uint8)

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        with _opened(self.path) as (cap, source_fps):
            ok, first = cap.read()
            if not ok or first is None:
                raise VideoError(f"video {path} contains no frames (empty, or corrupt from the first frame)")
            count = 1
            while cap.grab():
                count += 1
        source_frames = (list(range(count)) if fps is None or abs(fps - source_fps) < 1e-9
                         else resample_indices(count, source_fps, fps))
        self._setup(source_fps, float(fps or source_fps), source_frames, first.shape[:2], None)

    def _setup(self, source_fps: float, fps: float, source_frames: list[int], size: tuple[int, int],
               read: Callable[[int], np.ndarray] | None) -> None:
        self.source_fps, self.fps, self.source_frames = source_fps, fps, source_frames
        self.shape = (len(source_frames), size[0], size[1], 3)
        self._block = np.zeros((0, size[0], size[1], 3), np.uint8)
        self._block_lo = 0
        self._cap = self._frames = None  # the capture and its decoded frames, opened on first use
        self._next_source = 0  # the source frame the capture reads next
        self._last = None  # the last source frame decoded (frame rates above the source's repeat it)
        self._read = read  # for a folder or a .npy: source frame index -> H x W x 3 uint8

    @classmethod
    def _of(cls, path: Path, count: int, size: tuple[int, int], read: Callable[[int], np.ndarray],
            fps: float | None) -> "StreamedFrames":
        """Frames read by ``read(i)`` (``count`` of them, ``size`` = (h, w)); a frame rate
        only labels them (nothing is resampled)."""
        frames = cls.__new__(cls)
        frames.path = Path(path)
        frames._setup(float(fps or DEFAULT_FPS), float(fps or DEFAULT_FPS), list(range(count)), size, read)
        return frames

    @classmethod
    def of_folder(cls, path: str | Path, fps: float | None = None) -> "StreamedFrames":
        """A folder of frame images (natural name order), each read when its frame is asked
        for. Their sizes are checked first, from the files' headers."""
        path = Path(path)
        files = list_images(path)
        if not files:
            raise VideoError(f"folder {path} contains no frames ({', '.join(IMAGE_SUFFIXES)})")
        first = _decode_image(files[0])
        h0, w0 = first.shape[:2]
        for f in files[1:]:
            size = _image_size(f)
            if size != (w0, h0):
                raise _sizes_differ(path, f, size, files[0], (w0, h0))

        def read(i: int) -> np.ndarray:
            image = first if i == 0 else _decode_image(files[i])
            if image.shape != first.shape:  # a header that lied
                raise _sizes_differ(path, files[i], (image.shape[1], image.shape[0]), files[0], (w0, h0))
            return image

        return cls._of(path, len(files), (h0, w0), read, fps)

    @classmethod
    def of_npy(cls, path: str | Path, fps: float | None = None) -> "StreamedFrames":
        """A ``.npy`` video, memory-mapped: its shape, type and values are checked first (one
        pass over the file), then each frame is converted as :func:`as_rgb_uint8` converts
        the whole array."""
        path = Path(path)
        data = _load_npy(path, mmap_mode="r")
        what = f"video {path.name}"
        as_rgb_uint8(data[:1] if data.ndim in (3, 4) else np.asarray(data), what=what)  # shape and type
        if data.dtype != np.uint8:  # the values of every frame, a block at a time
            for a in range(0, len(data), 16):
                as_rgb_uint8(np.asarray(data[a:a + 16]), what=what)

        def read(i: int) -> np.ndarray:
            return as_rgb_uint8(np.asarray(data[i:i + 1]), what=what)[0]

        return cls._of(path, len(data), tuple(data.shape[1:3]), read, fps)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            t = int(key) + (len(self) if key < 0 else 0)
            return self[t:t + 1][0]
        lo, hi = self._bounds(key)
        block_hi = self._block_lo + len(self._block)
        if lo < self._block_lo:
            raise VideoError(f"{self.path}: frames are decoded front to back; frame {lo} was already dropped")
        if hi > block_hi:  # move the block forward: keep [lo, block_hi), decode the rest
            keep = self._block[max(0, lo - self._block_lo):]
            block = np.empty((max(hi, block_hi) - lo,) + self.shape[1:], np.uint8)
            block[:len(keep)] = keep
            for t in range(max(lo, block_hi), max(hi, block_hi)):
                block[t - lo] = self._decode(t)
            self._block, self._block_lo = block, lo
        return self._block[lo - self._block_lo:hi - self._block_lo]

    def __setitem__(self, key, values) -> None:
        lo, hi = self._bounds(key)
        if lo < self._block_lo or hi > self._block_lo + len(self._block):
            raise VideoError(f"{self.path}: only frames held (decoded and not dropped) can be written")
        self._block[lo - self._block_lo:hi - self._block_lo] = values

    def __array__(self, dtype=None, copy=None):
        frames = self[0:len(self)]
        return frames if dtype is None else frames.astype(dtype)

    def _bounds(self, key) -> tuple[int, int]:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("streamed frames take an index or a slice of consecutive frames")
        lo, hi, _ = key.indices(len(self))
        return lo, max(lo, hi)

    def _decode(self, t: int) -> np.ndarray:
        """Output frame ``t``: its source frame, reading the capture forward."""
        want = self.source_frames[t]
        if self._read is not None:
            return self._read(want)
        if self._cap is None:
            self._cap = opencv().VideoCapture(str(self.path))
            self._frames = _decoded(self._cap)
        while self._next_source <= want:
            frame = next(self._frames, None)
            if frame is None:
                raise VideoError(f"{self.path} ended at frame {self._next_source} of {self.source_frames[-1] + 1} "
                                 "while decoding it again")
            self._last = frame
            self._next_source += 1
        return self._last

    def close(self) -> None:
        """Release the decoder (frames held stay readable)."""
        if getattr(self, "_cap", None) is not None:  # also when opening failed half-way
            self._cap.release()
            self._cap = self._frames = None

    def __del__(self) -> None:
        self.close()


def iter_video_frames(path: str | Path) -> Iterator[np.ndarray]:
    """The frames of a video file (:data:`VIDEO_SUFFIXES`), one ``H x W x 3`` uint8 RGB
    array at a time, as they are decoded: for reading what a whole-video array would not
    need (a mask video, thresholded frame by frame). VideoError as :func:`read_video`."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    with _opened(path) as (cap, _):
        count = 0
        for frame in _decoded(cap):
            count += 1
            yield frame
    if not count:
        raise VideoError(f"video {path} contains no frames (empty, or corrupt from the first frame)")


@contextmanager
def _opened(path: Path):
    """OpenCV's capture of a video file and its frame rate (``DEFAULT_FPS`` if it has none)."""
    cv2 = opencv()
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"cannot read video {path}: the file is corrupt or in an unsupported format")
        source_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (math.isfinite(source_fps) and 0 < source_fps <= 1000):
            source_fps = DEFAULT_FPS
        yield cap, source_fps
    finally:
        cap.release()


def _decoded(cap) -> Iterator[np.ndarray]:
    cv2 = opencv()
    while True:
        ok, frame = cap.read()
        if not ok or frame is None:
            return
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
        else:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        yield frame


def _decode_image(path: Path) -> np.ndarray:
    """One image as H x W x 3 uint8 RGB (gray expanded, alpha dropped, 16-bit reduced)."""
    cv2 = opencv()
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # unlike imread, any path name works
    except OSError as e:
        raise VideoError(f"cannot read frame {path}: {e}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise VideoError(f"cannot read frame {path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header (Pillow reads no pixels), or by decoding it."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.size
    except Exception:  # not something Pillow reads: decode it
        image = _decode_image(path)
        return image.shape[1], image.shape[0]


def _read_folder(path: Path, max_frames: int | None) -> tuple[np.ndarray, list[int]]:
    files = list_images(path)
    if not files:
        raise VideoError(f"folder {path} contains no frames ({', '.join(IMAGE_SUFFIXES)})")
    if max_frames is not None:
        files = files[:max_frames]
    frames = []
    for f in files:
        image = _decode_image(f)
        if frames and image.shape != frames[0].shape:
            raise _sizes_differ(path, f, (image.shape[1], image.shape[0]), files[0],
                                (frames[0].shape[1], frames[0].shape[0]))
        frames.append(image)
    return np.stack(frames), list(range(len(frames)))


def _sizes_differ(folder: Path, file: Path, size: tuple[int, int], first: Path, first_size: tuple[int, int]):
    return VideoError(f"frames in {folder} have different sizes: {file.name} is {size[0]}x{size[1]} but "
                      f"{first.name} is {first_size[0]}x{first_size[1]}")


def _load_npy(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    """A ``.npy`` video's array (memory-mapped with ``mmap_mode``), not empty."""
    try:
        data = np.load(path, allow_pickle=False, mmap_mode=mmap_mode)
    except (ValueError, OSError, EOFError) as e:
        raise VideoError(f"cannot read video {path}: {e}") from None
    if not isinstance(data, np.ndarray):  # pragma: no cover - np.load of .npy gives arrays
        raise VideoError(f"cannot read video {path}: not a single array")
    if data.ndim in (3, 4) and data.shape[0] == 0:
        raise VideoError(f"video {path} contains no frames (shape {tuple(data.shape)})")
    return data


def _read_npy(path: Path) -> np.ndarray:
    return as_rgb_uint8(_load_npy(path), what=f"video {path.name}")


# ---- paths -------------------------------------------------------------------------------------
def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file or folder (links and ``..`` resolved)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))
