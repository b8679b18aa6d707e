"""Read inpainting masks from disk (no torch).

Formats: ``.npy`` (T x H x W, or T x H x W x C whose channels are combined), one image
(the same hole in every frame), a folder of images (one per frame, in natural name order:
``2.png`` before ``10.png``) or a video file (``.mp4``, ``.avi``, ``.gif`` ..., read with
:mod:`vidsched.videoio`; gray > 127 is a hole, which absorbs codec noise).
Convention: white / nonzero = pixels to fill, as in ProPainter and E2FGVI; pass
``invert=True`` for DEVIL's convention (white = known).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vidsched.errors import MaskError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key putting ``frame2.png`` before ``frame10.png`` (zero-padded names keep their
    plain order). Shared by mask folders and frame folders so their frames line up."""
    parts = tuple((1, int(part)) if part.isdigit() else (0, part.lower()) for part in _DIGITS.split(name))
    return parts, name


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise MaskError(f"cannot read mask image {path}: {e}") from None


def load_mask(path: str | Path, invert: bool = False, num_frames: int | None = None) -> np.ndarray:
    """Boolean array T x H x W, True where a pixel must be filled.

    A single image is repeated ``num_frames`` times (1 if not given).
    """
    path = Path(path)
    if not path.exists():
        raise MaskError(f"mask not found: {path}")
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                        and not p.name.startswith(".")), key=lambda p: natural_key(p.name))
        if not files:
            raise MaskError(f"mask folder {path} contains no images ({', '.join(IMAGE_SUFFIXES)})")
        frames = [_read_image(p) for p in files]
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise MaskError(f"mask images in {path} have different sizes: {sorted(shapes)}")
        hole = np.stack(frames) > 127
    elif path.suffix.lower() == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise MaskError(f"cannot read mask {path}: {e}") from None
        if data.ndim == 4:
            data = data.max(axis=-1)
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3 or data.size == 0:
            raise MaskError(f"mask {path} must be T x H x W, got shape {tuple(data.shape)}")
        if data.dtype.kind == "f":
            hole = data > 0.5
        else:
            hole = data != 0
            if data.dtype == np.uint8 and data.max() > 1:
                hole = data > 127
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        hole = (_read_image(path) > 127)[None].repeat(num_frames or 1, axis=0)
    elif path.suffix.lower() in _video_suffixes():
        from vidsched.videoio import VideoError, read_video

        try:
            video = read_video(path)
        except VideoError as e:
            raise MaskError(f"cannot read mask video: {e}") from None
        hole = video.frames.max(axis=-1) > 127
    else:
        raise MaskError(
            f"unknown mask format {path.suffix!r}: use .npy, an image, a folder of images or a video file"
        )
    if invert:
        hole = ~hole
    return hole


def _video_suffixes() -> tuple[str, ...]:
    from vidsched.videoio import VIDEO_SUFFIXES

    return VIDEO_SUFFIXES


def complete_frames(hole: np.ndarray) -> list[int]:
    """Frames with no pixel to fill."""
    return np.flatnonzero(~hole.reshape(hole.shape[0], -1).any(axis=1)).tolist()
