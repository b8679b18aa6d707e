"""A video's hole mask at one bit per pixel, read back frame range by frame range.

A run streams the video and writes its outputs as chunks finish (vidsched.runtime.chunks),
so the mask was the last whole-video array: a boolean array takes a byte per pixel, 2 MB a
1080p frame, and a single mask image for a long video (a watermark) was repeated into
every frame: ten minutes of 1080p at 30 fps made a 37 GB mask. :class:`PackedMask` holds
each distinct frame once, packed eight pixels to a byte (``np.packbits`` along the rows),
and a frame index: a repeated image costs one frame, any other mask an eighth of the
boolean array. Reading frames (``mask[a:b]``, ``mask[t]``) gives ordinary ``bool`` arrays;
``np.asarray(mask)`` unpacks everything (for small masks and tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

# Set bits per byte value: counting hole pixels without unpacking.
_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)
_BLOCK = 64  # distinct frames counted at once (bounds the temporary)


class PackedMask:
    """A ``T x H x W`` boolean mask, packed: ``rows`` (N x H x ceil(W / 8) uint8, the
    distinct frames, bits past ``W`` zero) and ``index`` (T,) the row of each frame."""

    ndim = 3
    dtype = np.dtype(bool)

    def __init__(self, rows: np.ndarray, index: np.ndarray, width: int) -> None:
        rows, index = np.asarray(rows, np.uint8), np.asarray(index, np.int64)
        if rows.ndim != 3 or index.ndim != 1 or not 0 < width <= 8 * rows.shape[2] or width <= 8 * rows.shape[2] - 8:
            raise ValueError(f"rows {rows.shape}, index {index.shape} and width {width} do not fit")
        if index.size and (index.min() < 0 or index.max() >= len(rows)):
            raise ValueError("index points outside rows")
        self.rows, self.index, self.width = rows, index, int(width)
        self._row_counts: np.ndarray | None = None

    # ---- making ----------------------------------------------------------------------------
    @classmethod
    def from_frames(cls, frames: Iterable[np.ndarray], count: int | None = None) -> "PackedMask":
        """Frames (each ``H x W`` bool), packed one at a time: the boolean video is never
        held. With their ``count`` known, the packed rows are written in place (no copy)."""
        rows, shape, n = None, None, 0  # an array written in place (count known), else a list
        for frame in frames:
            frame = np.asarray(frame, bool)
            if frame.ndim != 2 or (shape is not None and frame.shape != shape):
                raise ValueError(f"mask frames must share one H x W size, got {frame.shape} after {shape}")
            shape, packed = frame.shape, np.packbits(frame, axis=-1)
            if rows is None:
                rows = np.empty((count,) + packed.shape, np.uint8) if count else []
            if isinstance(rows, np.ndarray) and n == len(rows):  # more frames than counted
                rows = list(rows)
            if isinstance(rows, np.ndarray):
                rows[n] = packed
            else:
                rows.append(packed)
            n += 1
        if shape is None:
            raise ValueError("a mask needs at least one frame")
        rows = rows[:n] if isinstance(rows, np.ndarray) else np.stack(rows)
        return cls(rows, np.arange(n), shape[1])

    @classmethod
    def from_array(cls, mask: np.ndarray) -> "PackedMask":
        mask = np.asarray(mask, bool)
        if mask.ndim != 3:
            raise ValueError(f"a mask is T x H x W, got shape {mask.shape}")
        return cls(np.packbits(mask, axis=-1), np.arange(len(mask)), mask.shape[2])

    @classmethod
    def repeat(cls, frame: np.ndarray, num_frames: int) -> "PackedMask":
        """One ``H x W`` frame for ``num_frames`` frames, held once."""
        frame = np.asarray(frame, bool)
        return cls(np.packbits(frame, axis=-1)[None], np.zeros(num_frames, np.int64), frame.shape[1])

    # ---- shape -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.index), self.rows.shape[1], self.width

    @property
    def size(self) -> int:
        T, H, W = self.shape
        return T * H * W

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.index.nbytes

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"PackedMask(shape={self.shape}, distinct frames={len(self.rows)}, {self.nbytes:,} bytes)"

    # ---- reading ---------------------------------------------------------------------------
    def _unpack(self, rows: np.ndarray) -> np.ndarray:
        return np.unpackbits(rows, axis=-1, count=self.width).view(bool)

    def __getitem__(self, key):
        """Frames as bool arrays: ``mask[t]`` (H x W), ``mask[a:b]``, ``mask[[t, u]]``, and
        any further indices applied to those frames (``mask[a:b, y0:y1]``)."""
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        frames = self._unpack(self.rows[self.index[key]])
        return frames[(slice(None),) * (frames.ndim - 2) + rest] if rest else frames

    def __array__(self, dtype=None, copy=None):
        frames = self._unpack(self.rows[self.index])
        return frames if dtype is None else frames.astype(dtype)

    def frames(self, indices) -> "PackedMask":
        """The mask of the frames ``indices`` (a slice or integers), still packed (no copy of rows)."""
        return PackedMask(self.rows, self.index[indices], self.width)

    def _counts(self) -> np.ndarray:
        """Hole pixels of each distinct frame (counted once: the mask does not change)."""
        if self._row_counts is None:
            self._row_counts = np.concatenate([
                _POPCOUNT[self.rows[a:a + _BLOCK]].reshape(len(self.rows[a:a + _BLOCK]), -1).sum(axis=1, dtype=np.int64)
                for a in range(0, len(self.rows), _BLOCK)])
        return self._row_counts

    def frame_has_hole(self) -> np.ndarray:
        """(T,) bool: frames with at least one hole pixel."""
        return (self._counts() > 0)[self.index]

    def sum(self) -> int:
        return int(self._counts()[self.index].sum())

    def any(self) -> bool:
        return bool(self.frame_has_hole().any())

    def all(self) -> bool:
        return self.sum() == self.size

    def always(self) -> np.ndarray:
        """(H, W) bool: pixels that are hole in every frame (a still watermark or caption)."""
        used = self.rows[np.unique(self.index)]
        return self._unpack(np.bitwise_and.reduce(used, axis=0)) if len(used) else np.zeros(self.shape[1:], bool)

    def ever(self) -> np.ndarray:
        """(H, W) bool: pixels that are hole in at least one frame."""
        used = self.rows[np.unique(self.index)]
        return self._unpack(np.bitwise_or.reduce(used, axis=0)) if len(used) else np.zeros(self.shape[1:], bool)

    def __invert__(self) -> "PackedMask":
        rows = ~self.rows
        spare = 8 * rows.shape[2] - self.width
        if spare:  # keep the bits past the width zero
            rows[..., -1] &= np.uint8((0xFF << spare) & 0xFF)
        return PackedMask(rows, self.index, self.width)

    def map_frames(self, fn: Callable[[np.ndarray], np.ndarray]) -> "PackedMask":
        """``fn`` (an ``H x W`` bool frame to another; every output of one size) applied
        once to each distinct frame: a repeated frame is processed once."""
        frames = [np.asarray(fn(self._unpack(row)), bool) for row in self.rows]
        if len({f.shape for f in frames}) != 1:
            raise ValueError("map_frames: the frames came out in different sizes")
        rows = np.stack([np.packbits(f, axis=-1) for f in frames])
        return PackedMask(rows, self.index, frames[0].shape[1])
