"""Read inpainting masks from disk (no torch).

Formats: ``.npy`` (T x H x W, or T x H x W x C whose channels are combined by their
maximum), one image (the same hole in every frame), a folder of images (one per frame, in
natural name order: ``2.png`` before ``10.png``, listed by :mod:`vidsched.imagefiles` like
frame folders) or a video file (``.mp4``, ``.avi``, ``.gif`` ..., read with
:mod:`vidsched.videoio`). Images and video frames are read as 8-bit gray.

One rule for every format: **a pixel is a hole (to fill) when its value is more than half
of the format's full scale** -- white is the hole, black is known, as in ProPainter and
E2FGVI (pass ``invert=True`` for DEVIL's convention, white = known):

- images, image folders and videos (8-bit gray) and integer arrays: full scale 255, a
  hole above 127; except that an integer ``.npy`` array holding only 0 and 1 is a 0/1
  mask (full scale 1: 1 is a hole);
- float arrays: full scale 1.0, a hole above 0.5;
- bool arrays: True is a hole.

The threshold at half, not "nonzero", keeps the compression noise of a lossy mask video
(small values in black areas) known and anti-aliased edges split down the middle. A NaN,
a negative value, a float above 1 or an integer above 255 is a :class:`MaskError` naming
the file. Values between black and full scale (soft edges, codec noise) are read by the
rule, and :func:`load_mask` returns a note saying how many there were and the threshold
(in ``notes``; the CLI prints it as ``note: ...``).

:func:`write_mask` writes a mask in a form :func:`load_mask` reads back: ``.npy`` (bool
T x H x W), a folder of PNGs (``frame_00000.png`` ..., white = fill), a video
(``.mp4 .avi .mov .mkv``, white = fill) or one ``.png`` for a hole that does not move.

:func:`grow_mask` widens a hole by a margin (``vidsched run --dilate``), as object-removal
tools do with a segmentation's tight masks.

This module builds on :mod:`vidsched.videoio` (which never imports it). Checking that a
mask fits a video is :func:`vidsched.geometry.check_mask`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidsched.atomic import atomic_write
from vidsched.errors import MaskError
from vidsched.imagefiles import IMAGE_SUFFIXES, list_images
from vidsched.videoio import DEFAULT_FPS, VIDEO_SUFFIXES, VideoError, iter_video_frames
from vidsched.videowrite import write_video


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as e:
        raise MaskError(f"cannot read mask image {path}: {e}") from None


def _scale(lo, hi, dtype: np.dtype, path: Path, what: str, pixels: bool) -> tuple[float, float]:
    """Full scale and threshold of mask data whose values span ``lo`` to ``hi`` (the module's
    rule), or a MaskError for values outside the scale or of another type. ``pixels``:
    8-bit image or video data, always full scale 255 (a black video whose codec noise
    reaches 1 is not a 0/1 mask)."""
    kind = dtype.kind
    if kind == "f":
        if lo < 0.0 or hi > 1.0:
            hint = " (divide by 255, or save it as uint8)" if hi > 1.0 and hi <= 255.0 and lo >= 0.0 else ""
            raise MaskError(f"{what} {path} has values from {lo:g} to {hi:g}: a float mask holds 0 (known) "
                            f"to 1 (hole){hint}")
        return 1.0, 0.5
    if kind in "iu":
        if lo < 0 or hi > 255:
            raise MaskError(f"{what} {path} has values from {lo} to {hi}: an integer mask holds 0 (known) to 255 "
                            "(hole), or 0 and 1")
        return (1, 0) if hi <= 1 and not pixels else (255, 127)
    raise MaskError(f"{what} {path} has values of type {dtype}: use bool, an integer type (0..255) "
                    "or a float type (0..1)")


def _bounds(data: np.ndarray, path: Path, what: str) -> tuple:
    """Smallest and largest value of ``data`` (a MaskError for NaN in a float mask)."""
    if data.dtype.kind == "f":
        if np.isnan(data).any():
            raise MaskError(f"{what} {path} has NaN values: a float mask holds 0 (known) to 1 (hole)")
        return float(data.min()), float(data.max())
    return int(data.min()), int(data.max())


class _Thresholder:
    """The module's rule applied piece by piece (frames of a long mask), with one note for
    every piece's in-between values: ``scale`` fixes the full scale and threshold once for
    all pieces (from the whole mask's bounds); without it each piece is checked on its own
    (8-bit pixels: the full scale does not depend on the values)."""

    def __init__(self, path: Path, what: str, pixels: bool, scale: tuple[float, float] | None = None) -> None:
        self.path, self.what, self.pixels, self.scale = path, what, pixels, scale
        self.between = self.total = 0
        self.full_half = scale

    def __call__(self, data: np.ndarray) -> np.ndarray:
        if data.dtype == bool:
            return data
        scale = self.scale or _scale(*_bounds(data, self.path, self.what), data.dtype, self.path, self.what,
                                     self.pixels)
        self.full_half = scale
        full, half = scale
        self.between += int(np.count_nonzero((data > 0) & (data < full)))
        self.total += data.size
        return data > half

    def note(self, notes: list[str] | None) -> None:
        if notes is not None and self.full_half is not None:
            _note_between(notes, self.what, self.path, self.between, self.total, *self.full_half)


def _threshold(data: np.ndarray, path: Path, notes: list[str] | None, what: str = "mask",
               pixels: bool = False) -> np.ndarray:
    """The module's rule on a whole array (see the module docstring): a hole where the value
    is above half the full scale; MaskError for NaN or values outside the scale; a note
    (appended to ``notes``) when some values lie between 0 and full scale."""
    rule = _Thresholder(path, what, pixels)
    hole = rule(data)
    rule.note(notes)
    return hole


def _note_between(notes: list[str], what: str, path: Path, between: int, size: int, full: float, half: float) -> None:
    """The note on mask values between 0 and full scale (if any)."""
    if between:
        notes.append(
            f"{what} {path}: {between:,} of {size:,} pixels ({100 * between / size:.2g}%) are neither "
            f"0 nor {full:g} (soft edges or compression noise); read as a hole where above {half:g}, half "
            f"of {full:g}"
        )


def load_mask(path: str | Path, invert: bool = False, num_frames: int | None = None,
              notes: list[str] | None = None, packed: bool = False):
    """Boolean array T x H x W, True where a pixel must be filled (the rule of the module
    docstring: above half the format's full scale).

    A single image is repeated ``num_frames`` times (1 if not given). A note on values
    between 0 and full scale (how they were read) is appended to ``notes`` if given.
    Raises MaskError (naming the file) for an unreadable mask, NaN and out-of-range values.

    ``packed``: a :class:`~vidsched.packedmask.PackedMask` instead (one bit per pixel, a
    repeated image held once), read frame by frame: the boolean video is never held
    (``.npy`` files are memory-mapped), so the mask of a long video fits in memory.
    """
    from vidsched.packedmask import PackedMask

    path = Path(path)
    if not path.exists():
        raise MaskError(f"mask not found: {path}")
    if path.is_dir():
        mask = _threshold_folder(path, notes)
    elif path.suffix.lower() == ".npy":
        mask = _threshold_npy(path, notes)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        mask = PackedMask.repeat(_threshold(_read_image(path), path, notes, pixels=True), num_frames or 1)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        mask = _threshold_video(path, notes)
    else:
        raise MaskError(
            f"unknown mask format {path.suffix!r}: use .npy, an image, a folder of images or a video file"
        )
    if invert:
        mask = ~mask
    return mask if packed else np.asarray(mask)


def _threshold_folder(path: Path, notes: list[str] | None):
    """A folder of mask images, thresholded and packed one image at a time."""
    from vidsched.packedmask import PackedMask

    files = list_images(path)
    if not files:
        raise MaskError(f"mask folder {path} contains no images ({', '.join(IMAGE_SUFFIXES)})")
    rule, shapes = _Thresholder(path, "mask folder", pixels=True), set()

    def frames():
        for file in files:
            image = _read_image(file)
            shapes.add(image.shape)
            if len(shapes) > 1:
                raise MaskError(f"mask images in {path} have different sizes: {sorted(shapes)}")
            yield rule(image)

    mask = PackedMask.from_frames(frames(), count=len(files))
    rule.note(notes)
    return mask


def _threshold_npy(path: Path, notes: list[str] | None):
    """A ``.npy`` mask, memory-mapped: its bounds are read first (the full scale of an
    integer mask depends on its largest value), then it is thresholded and packed frame
    by frame."""
    from vidsched.packedmask import PackedMask

    try:
        data = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise MaskError(f"cannot read mask {path}: {e}") from None
    if data.ndim not in (2, 3, 4) or data.size == 0:
        raise MaskError(f"mask {path} must be T x H x W, got shape {tuple(data.shape)}")
    if data.ndim == 2:
        data = data[None]

    def frames():  # channels combined by their maximum (T x H x W x C)
        for t in range(len(data)):
            frame = np.asarray(data[t])
            yield frame.max(axis=-1) if frame.ndim == 3 else frame

    scale = None
    if data.dtype != bool:
        bounds = [_bounds(frame, path, "mask") for frame in frames()]
        scale = _scale(min(b[0] for b in bounds), max(b[1] for b in bounds), data.dtype, path, "mask", False)
    rule = _Thresholder(path, "mask", pixels=False, scale=scale)
    mask = PackedMask.from_frames((rule(frame) for frame in frames()), count=len(data))
    rule.note(notes)
    return mask


def _threshold_video(path: Path, notes: list[str] | None):
    """A mask video thresholded and packed frame by frame as it is decoded (the module's
    rule for 8-bit pixels: a hole above 127 in any channel), so that neither its RGB
    frames nor its boolean video are held; one note for all frames' in-between values."""
    from vidsched.packedmask import PackedMask

    rule = _Thresholder(path, "mask video", pixels=True)
    try:
        mask = PackedMask.from_frames(rule(frame.max(axis=-1)) for frame in iter_video_frames(path))
    except VideoError as e:
        raise MaskError(f"cannot read mask video: {e}") from None
    except ValueError as e:  # pragma: no cover - containers keep one size
        raise MaskError(f"mask video {path}: {e}") from None
    rule.note(notes)
    return mask


# ---- writing -----------------------------------------------------------------------------------
#: Suffixes :func:`write_mask` writes as a video (white = fill); the lossy codecs still give
#: the mask back because :func:`load_mask` thresholds at half of full scale (127). Not
#: ``.gif``: a GIF player may merge or skip identical frames of a mask that stands still.
MASK_VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")


def mask_output_kind(path: str | Path) -> str:
    """``"npy"``, ``"image"`` (one ``.png``), ``"video"`` or ``"folder"`` (a name without a
    suffix, one ending in ``/``, or an existing folder) for a target; MaskError otherwise."""
    text, p = str(path), Path(path)
    if text.endswith(("/", os.sep)) or p.is_dir() or p.suffix == "":
        return "folder"
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix == ".png":
        return "image"
    if suffix in MASK_VIDEO_SUFFIXES:
        return "video"
    raise MaskError(
        f"cannot write {p.name}: unknown mask format {p.suffix!r}; use .npy, a folder (a name without a "
        f"suffix), a video ({', '.join(MASK_VIDEO_SUFFIXES)}) or .png (a hole that does not move)"
    )


def write_mask(path: str | Path, mask: np.ndarray, fps: float | None = None) -> Path:
    """Write a bool mask ``T x H x W`` (True = fill) so that :func:`load_mask` returns it.

    The format follows the name (:func:`mask_output_kind`): ``.npy`` keeps the bool array;
    a folder gets one white-on-black PNG per frame; a video file gets white-on-black
    frames at ``fps`` (default 10; codecs need even sizes); a ``.png`` holds one frame,
    so it takes only a mask whose frames are all the same (:func:`load_mask` repeats it).
    Writes are atomic, and replace an earlier output of the same name (a folder only if
    it holds nothing but images). Raises MaskError.
    """
    target = Path(path)
    kind = mask_output_kind(path)
    hole = np.asarray(mask)
    if hole.ndim != 3 or hole.size == 0:
        raise MaskError(f"a mask must be T x H x W, got shape {tuple(hole.shape)}")
    hole = hole.astype(bool, copy=False)
    T, H, W = hole.shape
    if kind != "folder" and target.is_dir():
        raise MaskError(f"cannot write {target}: a folder of that name exists")
    if kind == "npy":
        def save(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(hole), allow_pickle=False)

        return atomic_write(target, save)
    if kind == "image":
        if T > 1 and (hole != hole[:1]).any():
            raise MaskError(
                f"cannot write a moving mask to {target.name}: a .png holds one frame (the same hole in every "
                "frame); write .npy, a folder or a video instead"
            )

        def save_png(tmp: str) -> None:
            from PIL import Image

            Image.fromarray(hole[0].astype(np.uint8) * 255).save(tmp, format="PNG")

        return atomic_write(target, save_png)
    if kind == "video" and (H % 2 or W % 2):
        raise MaskError(
            f"cannot write a {W}x{H} mask to {target.name}: video codecs need an even width and height; "
            "write .npy or a folder of PNGs instead"
        )
    frames = np.repeat((hole.astype(np.uint8) * 255)[..., None], 3, axis=-1)
    try:
        return write_video(path, frames, fps or DEFAULT_FPS)
    except VideoError as e:
        raise MaskError(str(e)) from None


#: How far a mask's aspect ratio may be from the video's for fit_mask_size to scale it
#: (relative): a pixel of rounding either way at small sizes, not another shape.
ASPECT_TOLERANCE = 0.02


def fit_mask_size(hole, height: int, width: int, notes: list[str] | None = None):
    """``hole`` (``T x h x w`` bool, or a :class:`~vidsched.packedmask.PackedMask`) at the
    video's ``height x width``: returned as it is when it already has that size; scaled
    when it has the video's shape at another size (aspect ratios within
    ``ASPECT_TOLERANCE``: a mask drawn on a preview, or exported by a segmentation tool at
    its own resolution), a note saying so appended to ``notes``; otherwise a MaskError
    saying what differs. Scaling never loses hole: a video pixel is a hole where any part
    of the mask's hole covers it (area resampling when shrinking, bilinear when growing,
    then anything above zero), so the scaled hole covers the object, at most about one
    of the mask's pixels wider; ``--dilate`` grows it further."""
    import cv2

    from vidsched.packedmask import PackedMask

    _, h, w = hole.shape
    if (h, w) == (height, width):
        return hole
    video_aspect, mask_aspect = width / height, w / h
    if abs(mask_aspect / video_aspect - 1) > ASPECT_TOLERANCE:
        raise MaskError(f"the mask is {w}x{h} but the video is {width}x{height}, another shape "
                        f"(aspect ratio {mask_aspect:.3f} against {video_aspect:.3f}): make the mask "
                        "at the video's size (a mask of the video's shape at another size is scaled)")
    shrink = width * height < w * h
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR

    def scale(frame: np.ndarray) -> np.ndarray:
        return cv2.resize(frame.astype(np.uint8) * 255, (width, height), interpolation=interpolation) > 0

    if isinstance(hole, PackedMask):
        scaled = hole.map_frames(scale)
    else:
        scaled = np.stack([scale(frame) for frame in np.asarray(hole, bool)])
    if notes is not None:
        notes.append(f"the mask is {w}x{h} and the video {width}x{height}: the mask was scaled to the video's "
                     "size (a pixel is a hole where the mask's hole covers any of it)")
    return scaled


MAX_DILATION = 256  # pixels: more is a typo, not a margin


def grow_mask(hole: np.ndarray, pixels: int) -> np.ndarray:
    """``hole`` (T x H x W bool) widened by ``pixels`` in every direction, frame by frame
    (a disc of that radius: a single hole pixel becomes a round spot, not a square).

    Object masks from a segmentation tool follow the object's outline; its soft edge,
    motion blur and shadow lie just outside and would stay in the output as a halo.
    ProPainter dilates every mask by 4 px by default and DiffuEraser by 8; vidsched keeps
    the mask as given unless asked (``--dilate``), because a grown mask also replaces
    pixels the user marked as known. 0 returns the hole unchanged (a copy; a
    :class:`~vidsched.packedmask.PackedMask` itself, as it never changes)."""
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or not 0 <= pixels <= MAX_DILATION:
        raise MaskError(f"a mask dilation must be a whole number of pixels from 0 to {MAX_DILATION}, got {pixels!r}")
    import cv2

    from vidsched.packedmask import PackedMask

    def grow(frame: np.ndarray) -> np.ndarray:
        # Euclidean distance of every known pixel to the nearest hole pixel (exact):
        # any margin costs the same, and the grown hole is a true disc around each pixel.
        distance = cv2.distanceTransform((~frame).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return distance <= pixels

    if isinstance(hole, PackedMask):  # grown frame by frame, each distinct frame once, kept packed
        return hole if pixels == 0 or not hole.any() else hole.map_frames(grow)
    hole = np.asarray(hole, dtype=bool)
    if pixels == 0 or not hole.any():
        return hole.copy()
    out = np.empty_like(hole)
    for t, frame in enumerate(hole):
        out[t] = grow(frame)
    return out
