"""Training data from a folder of the user's own footage.

:func:`find_clips` walks a folder (recursively) for clips: video files
(:data:`~vidsched.videoio.VIDEO_SUFFIXES`, decoded by OpenCV), ``.npy`` arrays
(``T x H x W x 3`` uint8) and folders of PNG/JPG frames. :class:`FolderDataset` reads
each one with :func:`vidsched.videoio.read_video`, resamples it to a common frame rate,
crops it square and resizes it to the model's resolution; :func:`split_clips` holds out
the end of every clip, like :func:`vidsched.training.data.split` does for vtest.avi.

Frame rates: a video file knows its own. A ``.npy`` array or a frame folder does not, so
it is taken to be ``default_fps`` (``read_video`` only *labels* such clips with a rate and
never drops frames; here they are resampled like video files, otherwise footage shot at
30 fps and saved as PNGs would move three times as fast as the same footage in an .mp4).
"""

from __future__ import annotations

import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vidsched.geometry import to_model_resolution
from vidsched.imagefiles import IMAGE_SUFFIXES
from vidsched.training.data import split
from vidsched.videoio import DEFAULT_FPS, VIDEO_SUFFIXES, VideoError, read_video, resample_indices

__all__ = ["CROPS", "Crop", "FolderDataset", "Skipped", "find_clips", "load_clip", "load_folder", "split_clips"]

Crop = Literal["center", "random", "none"]
CROPS: tuple[str, ...] = ("center", "random", "none")


@dataclass(frozen=True)
class Skipped:
    """A clip that was found but left out of the dataset, and why."""

    path: Path
    reason: str


def _supported_text() -> str:
    return (f"video files ({', '.join(VIDEO_SUFFIXES)}), .npy arrays (uint8 T x H x W x 3) "
            f"or folders of frames ({', '.join(IMAGE_SUFFIXES)})")


def _visible(name: str) -> bool:
    """Hidden names are skipped: ``.DS_Store`` and the like, and the ``.name.partial-*``
    files that an interrupted :func:`~vidsched.videowrite.write_video` leaves behind."""
    return not name.startswith(".")


def _is_clip_file(name: str) -> bool:
    suffix = os.path.splitext(name)[1].lower()
    return suffix == ".npy" or suffix in VIDEO_SUFFIXES


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def find_clips(path: str | Path) -> list[Path]:
    """Every clip under ``path``, in a stable (sorted) order.

    A folder that directly contains images is one clip (its frames). Its video files,
    ``.npy`` files and subfolders are still searched: a stray ``cover.jpg`` beside a set of
    .mp4 files then shows up as a one-frame clip (reported as too short) instead of
    hiding the videos. ``path`` may also be a single clip file.
    """
    root = Path(path)
    if not root.exists():
        raise VideoError(f"training data not found: {root}")
    if root.is_file():
        if not _is_clip_file(root.name):
            raise VideoError(f"{root} is not a clip: use {_supported_text()}")
        return [root]
    clips: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if _visible(d))  # os.walk descends in this order
        names = sorted(f for f in files if _visible(f))
        if any(_is_image(f) for f in names):
            clips.append(Path(folder))
        clips += [Path(folder) / f for f in names if _is_clip_file(f)]
    if not clips:
        raise VideoError(f"no clips found in {root}: put {_supported_text()} there")
    return clips


def _clip_rng(seed: int, name: str) -> np.random.Generator:
    """The clip's own generator, from the seed and its name: the same folder gives the same
    crops on every run, and adding a clip does not move the crops of the others."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _square_box(height: int, width: int, crop: Crop, rng: np.random.Generator) -> tuple[int, int, int]:
    """``(y0, x0, side)`` of the square crop: the largest square, centred or at a random
    place (one place for the whole clip, so the crop does not jitter from frame to frame)."""
    side = min(height, width)
    if crop == "center":
        return (height - side) // 2, (width - side) // 2, side
    return int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1)), side


def _geometry(frames: np.ndarray, size: int | None, crop: Crop, rng: np.random.Generator) -> np.ndarray:
    if size is None:  # native resolution (training crops every window on the fly)
        return frames
    if crop != "none":
        y0, x0, side = _square_box(frames.shape[1], frames.shape[2], crop, rng)
        frames = frames[:, y0:y0 + side, x0:x0 + side]
    # The resize is the one inference uses (area averaging when shrinking, stretch for
    # "none"), so the model trains on frames filtered the way it will see them.
    small, _ = to_model_resolution(frames, size)
    return small


def load_clip(path: Path, size: int, fps: float | None = None, crop: Crop = "center",
              rng: np.random.Generator | None = None, default_fps: float = DEFAULT_FPS) -> np.ndarray:
    """One clip as ``N x size x size x 3`` uint8, resampled to ``fps`` (``None`` keeps
    every frame at the clip's own rate). ``rng`` places a random crop; without one the
    crop is seeded with 0, so that a call repeated gives the same frames."""
    path = Path(path)
    native = not (path.is_dir() or path.suffix.lower() == ".npy")
    try:
        video = read_video(path, fps=fps if native else None)
    except VideoError as e:
        raise VideoError(f"cannot read training clip {path}: {e}") from None
    frames = video.frames
    if not native and fps is not None:
        frames = frames[resample_indices(len(frames), default_fps, fps)]
    return _geometry(frames, size, crop, rng if rng is not None else np.random.default_rng(0))


def _check_options(size: int | None, fps: float | None, crop: str, default_fps: float, min_frames: int) -> None:
    """Bad options fail before any clip is decoded, not after minutes of decoding."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise VideoError(f"the size must be a positive integer (or None: native), got {size!r}")
    for name, rate in (("fps", fps), ("default_fps", default_fps)):
        if rate is not None and not (isinstance(rate, (int, float)) and np.isfinite(rate) and rate > 0):
            raise VideoError(f"{name} must be a positive number, got {rate!r}")
    if crop not in CROPS:
        raise VideoError(f"unknown crop {crop!r}: use {', '.join(repr(c) for c in CROPS)}")
    if isinstance(min_frames, bool) or not isinstance(min_frames, (int, np.integer)) or min_frames < 1:
        raise VideoError(f"min_frames must be a positive integer, got {min_frames!r}")


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare
class FolderDataset:
    """The clips of a folder at the model's resolution, where each came from, and what
    was left out. ``clips[i]`` is ``N_i x size x size x 3`` uint8 from ``sources[i]``."""

    clips: tuple[np.ndarray, ...]
    sources: tuple[Path, ...]
    skipped: tuple[Skipped, ...]

    @classmethod
    def load(cls, path: str | Path, size: int, fps: float | None = None, crop: Crop = "center", seed: int = 0,
             default_fps: float = DEFAULT_FPS, min_frames: int = 1) -> "FolderDataset":
        """Read every clip under ``path`` (see :func:`find_clips`).

        ``fps`` resamples all clips to one rate (nearest frame, see
        :func:`~vidsched.videoio.resample_indices`), so motion per frame is comparable
        across clips; ``None`` keeps every frame. ``.npy`` clips and frame folders are taken
        to run at ``default_fps``. ``crop``: ``"center"`` or ``"random"`` (the largest
        square, then resized to ``size``) or ``"none"`` (the whole frame stretched, as
        :func:`~vidsched.geometry.to_model_resolution` does at inference). Clips with fewer
        than ``min_frames`` frames after resampling are skipped and listed in ``skipped``.
        An unreadable clip is an error (naming it): a silently missing clip would change
        the training data without anyone noticing.
        """
        _check_options(size, fps, crop, default_fps, min_frames)
        root = Path(path)
        clips, sources, skipped = [], [], []
        base = root if root.is_dir() else root.parent
        for clip_path in find_clips(root):
            name = clip_path.relative_to(base).as_posix()
            frames = load_clip(clip_path, size, fps, crop, _clip_rng(seed, name), default_fps)
            if len(frames) < min_frames:
                skipped.append(Skipped(clip_path, f"{len(frames)} frames, fewer than min_frames={min_frames}"))
                continue
            clips.append(frames)
            sources.append(clip_path)
        return cls(tuple(clips), tuple(sources), tuple(skipped))


def load_folder(path: str | Path, size: int, fps: float | None = None, crop: Crop = "center", seed: int = 0,
                default_fps: float = DEFAULT_FPS, min_frames: int = 1) -> list[np.ndarray]:
    """The clips of :meth:`FolderDataset.load` as a list; skipped clips are reported in one
    warning (use :class:`FolderDataset` to get them as data). No clip long enough is an
    error, since training on nothing would only fail later and less clearly."""
    dataset = FolderDataset.load(path, size, fps, crop, seed, default_fps, min_frames)
    reasons = "; ".join(f"{s.path} ({s.reason})" for s in dataset.skipped)
    if not dataset.clips:
        raise VideoError(f"no clip in {path} has at least {min_frames} frames: {reasons}")
    if dataset.skipped:
        warnings.warn(f"skipped {len(dataset.skipped)} clip(s): {reasons}", stacklevel=2)
    return list(dataset.clips)


def split_clips(clips: list[np.ndarray], train_fraction: float = 0.8) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per clip, the first ``train_fraction`` of the frames train and the rest are held out
    (the rule of :func:`vidsched.training.data.split`): splitting inside every clip, not by
    clip, keeps each scene on both sides, and the held-out frames still come after the
    training ones in time, so evaluation never sees a frame between two training frames."""
    parts = [split(clip, train_fraction) for clip in clips]
    return [train for train, _ in parts], [held for _, held in parts]
