"""Frame sets: sorted sets of frame indices stored as disjoint half-open intervals.

Sampling schemes manipulate sets such as ``todo`` (every frame not yet generated) on
every stage. Stored element by element these sets cost O(T) per operation, which makes
compiling a 10,000-frame scheme quadratic; stored as runs ``[(lo, hi), ...]`` they cost
O(number of runs), which for real schemes is a handful. All operations return new
objects: a ``FrameSet`` is immutable and hashable.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

Interval = tuple[int, int]


class FrameSet:
    """An immutable, sorted set of non-negative frame indices."""

    __slots__ = ("_runs", "_len")

    def __init__(self, runs: tuple[Interval, ...] = ()) -> None:
        # `runs` must already be sorted, disjoint, non-adjacent and non-empty each.
        self._runs = runs
        self._len = sum(hi - lo for lo, hi in runs)

    # ---- construction -------------------------------------------------------------
    @staticmethod
    def empty() -> FrameSet:
        return _EMPTY

    @staticmethod
    def interval(lo: int, hi: int) -> FrameSet:
        """Frames lo, lo+1, ..., hi-1 (empty when hi <= lo)."""
        return FrameSet(((lo, hi),)) if hi > lo else _EMPTY

    @staticmethod
    def range(start: int, stop: int, step: int = 1) -> FrameSet:
        """Like Python's ``range(start, stop, step)``, as a set (step may be negative)."""
        if step == 0:
            raise ValueError("range step must not be 0")
        if step == 1:
            return FrameSet.interval(start, stop)
        if step == -1:
            return FrameSet.interval(stop + 1, start + 1)
        return FrameSet.of(range(start, stop, step))

    @staticmethod
    def of(frames: Iterable[int]) -> FrameSet:
        """Build from any iterable of ints (duplicates and order do not matter)."""
        values = sorted(set(frames))
        runs: list[Interval] = []
        for f in values:
            if runs and runs[-1][1] == f:
                runs[-1] = (runs[-1][0], f + 1)
            else:
                runs.append((f, f + 1))
        return FrameSet(tuple(runs)) if runs else _EMPTY

    @staticmethod
    def _from_runs(runs: list[Interval]) -> FrameSet:
        """Normalise possibly adjacent (but sorted, non-overlapping) runs."""
        merged: list[Interval] = []
        for lo, hi in runs:
            if hi <= lo:
                continue
            if merged and merged[-1][1] >= lo:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return FrameSet(tuple(merged)) if merged else _EMPTY

    # ---- basic protocol -----------------------------------------------------------
    @property
    def runs(self) -> tuple[Interval, ...]:
        return self._runs

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self._runs:
            yield from range(lo, hi)

    def __reversed__(self) -> Iterator[int]:
        for lo, hi in reversed(self._runs):
            yield from range(hi - 1, lo - 1, -1)

    def __contains__(self, frame: object) -> bool:
        if not isinstance(frame, int):
            return False
        i = bisect_right(self._runs, (frame, float("inf"))) - 1
        return i >= 0 and self._runs[i][0] <= frame < self._runs[i][1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrameSet) and self._runs == other._runs

    def __hash__(self) -> int:
        return hash(self._runs)

    def __repr__(self) -> str:
        from vidsched.frames_text import compact_ranges

        return f"FrameSet({{{compact_ranges(self)}}})"

    def to_list(self) -> list[int]:
        return list(self)

    def min(self) -> int:
        return self._runs[0][0]

    def max(self) -> int:
        return self._runs[-1][1] - 1

    # ---- set algebra (linear in the number of runs) -----------------------------------
    def union(self, other: FrameSet) -> FrameSet:
        if not other._runs:
            return self
        if not self._runs:
            return other
        runs = sorted(self._runs + other._runs)
        return FrameSet._from_runs(runs)

    def intersection(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        i = j = 0
        out: list[Interval] = []
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo < hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return FrameSet(tuple(out)) if out else _EMPTY

    def difference(self, other: FrameSet) -> FrameSet:
        if not other._runs or not self._runs:
            return self
        out: list[Interval] = []
        b = other._runs
        j = 0
        for lo, hi in self._runs:
            cur = lo
            while j < len(b) and b[j][1] <= cur:
                j += 1
            k = j
            while k < len(b) and b[k][0] < hi:
                if b[k][0] > cur:
                    out.append((cur, b[k][0]))
                cur = max(cur, b[k][1])
                if cur >= hi:
                    break
                k += 1
            if cur < hi:
                out.append((cur, hi))
        return FrameSet(tuple(out)) if out else _EMPTY

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    def clip(self, num_frames: int) -> FrameSet:
        """Keep frames 0..num_frames-1."""
        if not self._runs or (self._runs[0][0] >= 0 and self._runs[-1][1] <= num_frames):
            return self
        return self.intersection(FrameSet.interval(0, num_frames))

    def shift(self, offset: int) -> FrameSet:
        return FrameSet(tuple((lo + offset, hi + offset) for lo, hi in self._runs))

    # ---- positional selection -------------------------------------------------------
    def at(self, position: int) -> int:
        """The member at sorted position `position` (0-based)."""
        if not 0 <= position < self._len:
            raise IndexError(position)
        for lo, hi in self._runs:
            if position < hi - lo:
                return lo + position
            position -= hi - lo
        raise AssertionError("unreachable")

    def slice(self, start: int, stop: int) -> FrameSet:
        """Members at sorted positions start..stop-1 (clamped to the set)."""
        start, stop = max(start, 0), min(stop, self._len)
        if start >= stop:
            return _EMPTY
        out: list[Interval] = []
        offset = 0
        for lo, hi in self._runs:
            n = hi - lo
            a, b = max(start - offset, 0), min(stop - offset, n)
            if a < b:
                out.append((lo + a, lo + b))
            offset += n
            if offset >= stop:
                break
        return FrameSet(tuple(out))

    def first(self, n: int) -> FrameSet:
        return self.slice(0, n)

    def last(self, n: int) -> FrameSet:
        return self.slice(self._len - n, self._len) if n > 0 else _EMPTY

    def after(self, frame: int) -> FrameSet:
        """Members strictly greater than `frame`."""
        return self.intersection(FrameSet.interval(frame + 1, max(frame + 1, self.max() + 1))) if self else self

    def before(self, frame: int) -> FrameSet:
        """Members strictly smaller than `frame`."""
        return self.intersection(FrameSet.interval(min(0, frame), frame)) if self else self

    def nearest(self, n: int, to: int) -> FrameSet:
        """The n members closest to frame `to`; on a tie the earlier frame wins."""
        if n >= self._len:
            return self
        if n <= 0:
            return _EMPTY
        below = self.intersection(FrameSet.interval(min(0, to), to + 1)) if self else self
        above = self.difference(below)
        lo_take = hi_take = 0
        nb, na = len(below), len(above)
        # Merge outward from `to` (two-pointer walk over at most n members).
        while lo_take + hi_take < n:
            if lo_take < nb and hi_take < na:
                d_lo = to - below.at(nb - 1 - lo_take)
                d_hi = above.at(hi_take) - to
                if d_lo <= d_hi:
                    lo_take += 1
                else:
                    hi_take += 1
            elif lo_take < nb:
                lo_take += 1
            else:
                hi_take += 1
        return below.last(lo_take).union(above.first(hi_take))

    def spread(self, n: int) -> FrameSet:
        """n members evenly spaced by position, first and last included.

        Member at position floor(i * (m - 1) / (n - 1)) for i = 0..n-1, m = len(self):
        exactly ``int(numpy.linspace(first, last, n))`` for a contiguous set, which is
        how FDM picks frames spread over a video.
        """
        m = self._len
        if n >= m:
            return self
        if n <= 0:
            return _EMPTY
        if n == 1:
            return self.first(1)
        return FrameSet.of(self.at(i * (m - 1) // (n - 1)) for i in range(n))

    def spread_right(self, n: int) -> FrameSet:
        """n members: the first, then the last member of each of n - 1 equal parts.

        Positions 0 and ceil(i * m / (n - 1)) - 1 for i = 1..n-1. For a contiguous set
        lo..hi-1 this is exactly FDM's ``int(numpy.linspace(lo, hi - 0.001, n))`` (the
        0.001 only matters when i * m / (n - 1) is an integer, for n < 1000).
        """
        m = self._len
        if n >= m:
            return self
        if n <= 0:
            return _EMPTY
        if n == 1:
            return self.first(1)
        positions = [0] + [-(-i * m // (n - 1)) - 1 for i in range(1, n)]
        return FrameSet.of(self.at(p) for p in positions)

    def chunks(self, n: int) -> list[FrameSet]:
        """Consecutive pieces of n members (by position); the last may be shorter."""
        if n <= 0:
            raise ValueError("chunk size must be positive")
        return [self.slice(i, i + n) for i in range(0, self._len, n)]


_EMPTY = FrameSet(())
