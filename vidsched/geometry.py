"""The model's resolution: which pixels of a source frame (and of its mask) correspond to
which pixels of the model's fixed square frame (plain numpy and OpenCV; no torch).

The diffusion model works at a fixed square resolution (e.g. 64 x 64).
:func:`to_model_resolution` maps frames of any size onto it and returns a
:class:`Geometry`, the record of that correspondence (see it for the policy: stretch or
letterbox); :func:`mask_to_model_resolution` maps the hole with the same geometry so that
no hole pixel is lost. :func:`check_mask` pairs a hole with frames of the same size (the
identity correspondence: one frame repeated, a size or frame-count mismatch is a
MaskError); every function that takes a hole and frames checks it that way. Putting the
model's output back through a geometry is :func:`vidsched.compositing.composite_back`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidsched.errors import MaskError
from vidsched.packedmask import PackedMask
from vidsched.videoio import Video, VideoError, as_rgb_uint8, opencv

__all__ = ["Geometry", "as_hole", "check_mask", "frames_and_hole", "mask_to_model_resolution", "resize_frames", "to_model_resolution"]


@dataclass(frozen=True)
class Geometry:
    """How source frames map onto the model's fixed resolution, and back.

    The source image (``src_h x src_w``) occupies ``box = (y0, x0, y1, x1)`` of the model
    frame (``model_h x model_w``, end-exclusive); model pixels outside the box are padding.

    Policy (``mode``):

    ``"stretch"`` (the default): the whole frame is resized to the model size, ignoring
        the aspect ratio (box = the whole model frame). Every source pixel is seen by
        the model, so every hole can be filled, and all model pixels carry content. The
        price is anisotropic distortion: a 16:9 frame is squeezed 1.78x horizontally,
        so the model sees narrow objects. For the moderate aspect ratios of ordinary
        video this costs less than the alternatives: centre-cropping cannot fill holes
        outside the crop, and letterboxing spends model pixels on padding (44 % of them
        for 16:9), which lowers the effective resolution at 64 x 64.
    ``"letterbox"``: resize so the long side fits, keep the aspect ratio, and pad the
        rest by repeating the edge pixels (the padding counts as known, never as hole).
        Use it for extreme aspect ratios, where stretching distorts too much.

    Either way the whole frame is covered, and
    :func:`~vidsched.compositing.composite_back` reproduces every known source pixel
    bit-exactly.
    """

    src_h: int
    src_w: int
    model_h: int
    model_w: int
    box: tuple[int, int, int, int]
    mode: str = "stretch"

    @classmethod
    def compute(cls, src_size: tuple[int, int], size: int | tuple[int, int], mode: str = "stretch") -> "Geometry":
        src_h, src_w = (int(v) for v in src_size)
        model_h, model_w = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
        if min(src_h, src_w, model_h, model_w) < 1:
            raise VideoError(f"sizes must be positive: source {src_w}x{src_h}, model {model_w}x{model_h}")
        if mode == "stretch":
            box = (0, 0, model_h, model_w)
        elif mode == "letterbox":
            scale = min(model_h / src_h, model_w / src_w)
            bh = min(model_h, max(1, round(src_h * scale)))
            bw = min(model_w, max(1, round(src_w * scale)))
            y0, x0 = (model_h - bh) // 2, (model_w - bw) // 2
            box = (y0, x0, y0 + bh, x0 + bw)
        else:
            raise VideoError(f"unknown resize mode {mode!r}: use 'stretch' or 'letterbox'")
        return cls(src_h, src_w, model_h, model_w, box, mode)

    @property
    def box_size(self) -> tuple[int, int]:
        y0, x0, y1, x1 = self.box
        return y1 - y0, x1 - x0

    @property
    def distortion(self) -> float:
        """How much wider than the source things look to the model (1.0 = none; 0.56 for
        16:9 stretched to a square: things look 0.56 times as wide)."""
        bh, bw = self.box_size
        return (bw / self.src_w) / (bh / self.src_h)


def _interp(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    """Area averaging when shrinking (anti-aliased), bicubic when enlarging."""
    cv2 = opencv()
    return cv2.INTER_AREA if dst_hw[0] <= src_hw[0] and dst_hw[1] <= src_hw[1] else cv2.INTER_CUBIC


def resize_frames(frames: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Frames ``T x H x W x C`` resized to ``hw = (height, width)``: area averaging when
    shrinking, bicubic when enlarging (a copy if the size is already right)."""
    cv2 = opencv()
    h, w = hw
    if frames.shape[1:3] == (h, w):
        return frames.copy()
    mode = _interp(frames.shape[1:3], hw)
    return np.stack([cv2.resize(f, (w, h), interpolation=mode) for f in frames])


def to_model_resolution(frames: np.ndarray, size: int | tuple[int, int], mode: str = "stretch"
                        ) -> tuple[np.ndarray, Geometry]:
    """Frames ``T x H x W x 3`` -> ``(T x size x size x 3 uint8, geometry)``.

    Shrinking uses area averaging, enlarging bicubic. See :class:`Geometry` for the
    policy; pass the geometry to :func:`mask_to_model_resolution` and
    :func:`~vidsched.compositing.composite_back`.
    """
    frames = as_rgb_uint8(frames)
    geometry = Geometry.compute(frames.shape[1:3], size, mode)
    y0, x0, y1, x1 = geometry.box
    content = resize_frames(frames, geometry.box_size)
    if geometry.box == (0, 0, geometry.model_h, geometry.model_w):
        return content, geometry
    pad = ((0, 0), (y0, geometry.model_h - y1), (x0, geometry.model_w - x1), (0, 0))
    return np.pad(content, pad, mode="edge"), geometry


def _covering(src: int, dst: int) -> list[tuple[int, int]]:
    """For each of ``dst`` output cells spanning ``src`` input pixels, the input range
    ``[lo, hi)`` it overlaps with positive area (exact integer arithmetic)."""
    return [((i * src) // dst, -((-(i + 1) * src) // dst)) for i in range(dst)]


def mask_to_model_resolution(hole: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Hole ``T x H x W`` (or ``H x W``) -> ``T x model_h x model_w`` bool.

    A model pixel is a hole if ANY source pixel it covers (with positive area) is a hole:
    area interpolation followed by ``> 0``, computed exactly with integer bounds (OpenCV's
    INTER_AREA drops overlaps under 1e-3 of a pixel and would round small fractions to 0
    in uint8). No hole pixel is lost; the hole may grow by up to one model pixel.
    Letterbox padding is never a hole.
    """
    hole = as_hole(hole, geometry)
    bh, bw = geometry.box_size
    rows = np.stack([hole[:, lo:hi].any(axis=1) for lo, hi in _covering(geometry.src_h, bh)], axis=1)
    small = np.stack([rows[:, :, lo:hi].any(axis=2) for lo, hi in _covering(geometry.src_w, bw)], axis=2)
    out = np.zeros((hole.shape[0], geometry.model_h, geometry.model_w), dtype=bool)
    y0, x0, y1, x1 = geometry.box
    out[:, y0:y1, x0:x1] = small
    return out


def as_hole(hole: np.ndarray, geometry: Geometry, num_frames: int | None = None) -> np.ndarray:
    """The hole ``T x H x W`` (or ``H x W``) as bool for frames of the geometry's source
    size; with ``num_frames``, one frame is repeated (a broadcast view, no copy) and
    another frame count is an error. A size mismatch is a MaskError."""
    hole = np.asarray(hole)
    if hole.ndim == 2:
        hole = hole[None]
    _check_fits(hole.shape, geometry, num_frames)
    if num_frames is not None and hole.shape[0] == 1 and num_frames > 1:
        hole = np.broadcast_to(hole, (num_frames,) + hole.shape[1:])
    return hole.astype(bool, copy=False)


def _check_fits(shape: tuple[int, ...], geometry: Geometry, num_frames: int | None) -> None:
    """A MaskError unless a mask of ``shape`` (T x H x W) has the video's size and, with
    ``num_frames``, one frame or that many."""
    if len(shape) != 3 or shape[1:] != (geometry.src_h, geometry.src_w):
        raise MaskError(f"the mask is {_shape_text(shape)} but the video is {geometry.src_w}x{geometry.src_h}")
    if num_frames is not None and shape[0] not in (1, num_frames):
        raise MaskError(f"the mask has {shape[0]} frames but the video has {num_frames}: give one mask frame per "
                        "video frame, or one image for every frame")


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[2]}x{shape[1]} ({shape[0]} frame{'' if shape[0] == 1 else 's'})"
    return "shaped " + " x ".join(map(str, shape))


def check_mask(hole: np.ndarray, video: Video | np.ndarray) -> np.ndarray:
    """The hole as ``T x H x W`` bool for this video: one frame is repeated, a size or
    frame-count mismatch is a :class:`~vidsched.errors.MaskError`. A
    :class:`~vidsched.packedmask.PackedMask` stays packed (its single frame repeated by
    index, not copied)."""
    frames = video.frames if isinstance(video, Video) else np.asarray(video)
    geometry = Geometry(frames.shape[1], frames.shape[2], frames.shape[1], frames.shape[2],
                        (0, 0, frames.shape[1], frames.shape[2]))
    if isinstance(hole, PackedMask):  # a long video's mask, one bit a pixel: checked, kept packed
        _check_fits(hole.shape, geometry, frames.shape[0])
        return hole.frames(np.zeros(frames.shape[0], np.int64)) if len(hole) == 1 else hole
    return np.ascontiguousarray(as_hole(hole, geometry, num_frames=frames.shape[0]))


def frames_and_hole(frames: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frames (contiguous, for OpenCV) and the hole as ``T x H x W`` bool, or a
    VidschedError saying what is wrong. Frames must already be uint8: converting floats
    here would make "known pixels bit-exact" a statement about the conversion, not the
    input (use :func:`vidsched.videoio.as_rgb_uint8` first)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise VideoError(f"frames must be T x H x W x 3 (RGB), got shape {frames.shape}")
    if 0 in frames.shape:
        raise VideoError(f"frames are empty (shape {frames.shape})")
    if frames.dtype != np.uint8:
        raise VideoError(
            f"frames must be uint8, got dtype {frames.dtype} (vidsched.videoio.as_rgb_uint8 converts them)"
        )
    hole = np.asarray(hole)
    if hole.dtype != np.bool_:
        raise MaskError(f"the hole must be a bool array (True = pixel to fill), got dtype {hole.dtype}")
    return np.ascontiguousarray(frames), check_mask(hole, frames)
