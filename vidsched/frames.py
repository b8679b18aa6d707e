"""Frame sets: immutable sorted sets of frame indices, stored as runs or as a bitmask.

Sampling schemes manipulate sets such as ``todo`` (every frame not yet generated) on
every stage, and some schemes work on fragmented sets (every 3rd frame: thousands of
runs). A set has one of two canonical forms:

* at most ``MAX_RUNS`` maximal runs of consecutive frames: a tuple of half-open
  ``(lo, hi)`` intervals. ``todo``, ``done``, a stage's window: every operation
  (union, ``first(todo, step)``, ``last(done, n)``, ``len``, listing) costs O(runs),
  whatever T is, and the set takes O(runs) memory, so a scheme of T / step stages
  compiles in time and memory linear in T;
* more runs (fragmented sets): one big-integer bitmask, bit ``f`` standing for frame
  ``f``; union, intersection and difference are single C-level big-integer operations
  (``|``, ``&``, ``& ~``) over max/64 machine words, and positional selection (the n-th
  member) is a binary search on popcounts.

An operation between two sets of few runs merges their runs; otherwise it works on
bitmasks and the result takes the run form again when it has few runs. The form is a
function of the members, so equal sets have equal forms. ``FrameSet.work`` counts the
bitmask work done (in frames / ``FRAMES_PER_WORK``), which the evaluator charges as
evaluation steps: a set operation costs what it actually does, not a function of T.

Frames are non-negative: constructors drop negative numbers (sets are clipped to the
video, 0..T-1, by the evaluator anyway).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator

_ONES = re.compile(r"1+")
MAX_FRAME = 1 << 31  # a guard against building absurdly large masks by mistake
_FEW = 32  # runs (or members) few enough to find one by one with whole-mask operations
MAX_RUNS = 32  # a set of at most this many runs is stored as runs, else as a bitmask
FRAMES_PER_WORK = 4096  # frames of a bitmask that one unit of FrameSet.work stands for


def _mask(lo: int, hi: int) -> int:
    """Bits lo..hi-1 set (lo >= 0)."""
    return ((1 << (hi - lo)) - 1) << lo if hi > lo else 0


def _runs_of_bits(bits: int) -> list[tuple[int, int]]:
    """Maximal runs of a non-zero bitmask, ascending."""
    starts = bits & ~(bits << 1)  # the first member of each run
    if starts.bit_count() <= 4:
        # Few runs, maybe far apart: peel them off the top (a few passes over the mask).
        ends = bits & ~(bits >> 1)  # the last member of each run
        out = []
        while starts:
            lo, hi = starts.bit_length() - 1, ends.bit_length()
            starts ^= 1 << lo
            ends ^= 1 << (hi - 1)
            out.append((lo, hi))
        out.reverse()
        return out
    low = (bits & -bits).bit_length() - 1
    text = bin(bits >> low)[:1:-1]  # little-endian: character i is frame low + i
    return [(low + m.start(), low + m.end()) for m in _ONES.finditer(text)]


def _bits_of_runs(runs) -> int:
    bits = 0
    for lo, hi in runs:
        bits |= _mask(lo, hi)
    return bits


class FrameSet:
    """An immutable, sorted set of non-negative frame indices."""

    __slots__ = ("_runs", "_bits")

    # Bitmask work done by all frame sets so far, in units of FRAMES_PER_WORK frames
    # (the evaluator charges the difference as evaluation steps).
    work = 0

    def __init__(self, bits: int = 0) -> None:
        """From a bitmask (bit f set when frame f is a member)."""
        FrameSet.work += bits.bit_length() // FRAMES_PER_WORK
        if bits and (bits & ~(bits << 1)).bit_count() <= MAX_RUNS:
            self._runs, self._bits = tuple(_runs_of_bits(bits)), None
        else:
            self._runs, self._bits = (None if bits else ()), (bits if bits else None)

    @staticmethod
    def _of_runs(runs) -> FrameSet:
        """From sorted, disjoint, non-adjacent, non-empty runs (any number of them)."""
        if not runs:
            return _EMPTY
        if len(runs) > MAX_RUNS:
            return FrameSet._of_bits(_bits_of_runs(runs))
        s = object.__new__(FrameSet)
        s._runs, s._bits = tuple(runs), None
        return s

    @staticmethod
    def _of_bits(bits: int) -> FrameSet:
        FrameSet.work += bits.bit_length() // FRAMES_PER_WORK
        if not bits:
            return _EMPTY
        s = object.__new__(FrameSet)
        if (bits & ~(bits << 1)).bit_count() <= MAX_RUNS:
            s._runs, s._bits = tuple(_runs_of_bits(bits)), None
        else:
            s._runs, s._bits = None, bits
        return s

    def _pass(self) -> None:
        """Count one pass over this set's bitmask as work."""
        FrameSet.work += self._bits.bit_length() // FRAMES_PER_WORK

    def _mask_bits(self) -> int:
        """The bitmask (built for a set stored as runs)."""
        if self._bits is not None:
            return self._bits
        FrameSet.work += (self._runs[-1][1] if self._runs else 0) // FRAMES_PER_WORK
        return _bits_of_runs(self._runs)

    # ---- construction -------------------------------------------------------------
    @staticmethod
    def empty() -> FrameSet:
        return _EMPTY

    @staticmethod
    def interval(lo: int, hi: int) -> FrameSet:
        """Frames lo, lo+1, ..., hi-1 (empty when hi <= lo; negative frames dropped)."""
        lo = max(lo, 0)
        if hi <= lo:
            return _EMPTY
        if hi > MAX_FRAME:
            raise ValueError(f"frame {hi - 1} is too large")
        return FrameSet._of_runs(((lo, hi),))

    @staticmethod
    def range(start: int, stop: int, step: int = 1) -> FrameSet:
        """Like Python's ``range(start, stop, step)``, as a set (step may be negative)."""
        if step == 0:
            raise ValueError("range step must not be 0")
        if step < 0:
            # Same members as the ascending range from the last member up to start.
            count = len(range(start, stop, step))
            if count == 0:
                return _EMPTY
            start, stop, step = start + (count - 1) * step, start + 1, -step
        if start < 0:  # skip the negative members
            start += -(-(0 - start) // step) * step
        if stop <= start:
            return _EMPTY
        if step == 1:
            return FrameSet.interval(start, stop)
        if stop > MAX_FRAME:
            raise ValueError(f"frame {stop - 1} is too large")
        count = (stop - start + step - 1) // step
        if count <= MAX_RUNS:  # step >= 2: one run per member
            return FrameSet._of_runs(tuple((f, f + 1) for f in range(start, stop, step)))
        # Bits 0, step, 2*step, ...: double the pattern until it is long enough.
        pattern, covered = 1, 1
        while covered < count:
            pattern |= pattern << (covered * step)
            covered *= 2
        pattern &= (1 << ((count - 1) * step + 1)) - 1
        return FrameSet._of_bits(pattern << start)

    @staticmethod
    def of(frames: Iterable[int]) -> FrameSet:
        """Build from any iterable of ints (duplicates and order do not matter)."""
        values = sorted({f for f in frames if f >= 0})
        if not values:
            return _EMPTY
        top = values[-1]
        if top >= MAX_FRAME:
            raise ValueError(f"frame {top} is too large")
        runs: list[list[int]] = []
        for f in values:
            if runs and runs[-1][1] == f:
                runs[-1][1] = f + 1
            else:
                runs.append([f, f + 1])
                if len(runs) > MAX_RUNS:
                    break
        else:
            return FrameSet._of_runs(tuple((a, b) for a, b in runs))
        buf = bytearray(top // 8 + 1)
        for f in values:
            buf[f >> 3] |= 1 << (f & 7)
        return FrameSet._of_bits(int.from_bytes(buf, "little"))

    # ---- basic protocol -----------------------------------------------------------
    @property
    def bits(self) -> int:
        """The bitmask: bit f is set when frame f is a member."""
        return self._mask_bits()

    @property
    def stored_as_runs(self) -> bool:
        return self._runs is not None

    @property
    def runs(self) -> tuple[tuple[int, int], ...]:
        """Maximal runs of consecutive members as half-open intervals ``(lo, hi)``."""
        if self._runs is not None:
            return self._runs
        self._pass()
        return tuple(_runs_of_bits(self._bits))

    def __len__(self) -> int:
        if self._runs is not None:
            return sum(hi - lo for lo, hi in self._runs)
        self._pass()
        return self._bits.bit_count()

    def __bool__(self) -> bool:
        return self._bits is not None or bool(self._runs)

    def __iter__(self) -> Iterator[int]:
        if self._runs is not None:
            for lo, hi in self._runs:
                yield from range(lo, hi)
            return
        # Only the occupied span is converted: a small set late in a long video is cheap.
        self._pass()
        low = self.min()
        text = bin(self._bits >> low)[:1:-1]
        i = 0
        while i >= 0:
            yield low + i
            i = text.find("1", i + 1)

    def __reversed__(self) -> Iterator[int]:
        return reversed(list(self))

    def __contains__(self, frame: object) -> bool:
        if not isinstance(frame, int) or frame < 0:
            return False
        if self._runs is not None:
            i = bisect_right(self._runs, (frame, MAX_FRAME + 1)) - 1
            return i >= 0 and self._runs[i][0] <= frame < self._runs[i][1]
        self._pass()
        return (self._bits >> frame) & 1 == 1

    def __eq__(self, other: object) -> bool:
        if self._bits is not None:
            self._pass()
        return isinstance(other, FrameSet) and self._runs == other._runs and self._bits == other._bits

    def __hash__(self) -> int:
        return hash(self._runs) if self._runs is not None else hash(self._bits)

    def __repr__(self) -> str:
        from vidsched.frames_text import compact_ranges

        return f"FrameSet({{{compact_ranges(self)}}})"

    def to_list(self) -> list[int]:
        return list(self)

    def min(self) -> int:
        if not self:
            raise ValueError("min of an empty frame set")
        if self._runs is not None:
            return self._runs[0][0]
        self._pass()
        return (self._bits & -self._bits).bit_length() - 1

    def max(self) -> int:
        if not self:
            raise ValueError("max of an empty frame set")
        if self._runs is not None:
            return self._runs[-1][1] - 1
        return self._bits.bit_length() - 1

    def span_end(self) -> int:
        """One more than the largest member (0 when empty)."""
        if self._runs is not None:
            return self._runs[-1][1] if self._runs else 0
        return self._bits.bit_length()

    # ---- set algebra ----------------------------------------------------------------
    def union(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        if a is not None and b is not None:
            if not a:
                return other
            if not b:
                return self
            out: list[tuple[int, int]] = []
            for lo, hi in sorted(a + b):
                if out and lo <= out[-1][1]:
                    if hi > out[-1][1]:
                        out[-1] = (out[-1][0], hi)
                else:
                    out.append((lo, hi))
            return FrameSet._of_runs(out)
        return FrameSet._of_bits(self._mask_bits() | other._mask_bits())

    def intersection(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        if a is not None and b is not None:
            out = []
            i = j = 0
            while i < len(a) and j < len(b):
                lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
                if lo < hi:
                    out.append((lo, hi))
                if a[i][1] < b[j][1]:
                    i += 1
                else:
                    j += 1
            return FrameSet._of_runs(out)
        if a is not None:  # only the bits under the runs' span matter
            return FrameSet._of_bits(other._bits & self._mask_bits())
        if b is not None:
            return FrameSet._of_bits(self._bits & other._mask_bits())
        return FrameSet._of_bits(self._bits & other._bits)

    def difference(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        if a is not None and b is not None:
            if not a or not b:
                return self
            out = []
            j = 0
            for lo, hi in a:
                while j < len(b) and b[j][1] <= lo:
                    j += 1
                k = j
                while k < len(b) and b[k][0] < hi:
                    if b[k][0] > lo:
                        out.append((lo, b[k][0]))
                    lo = max(lo, b[k][1])
                    k += 1
                if lo < hi:
                    out.append((lo, hi))
            return FrameSet._of_runs(out)
        if b is not None and not b:
            return self
        mine = self._mask_bits()
        if b is not None:  # only the runs inside this set's span matter
            return FrameSet._of_bits(mine & ~other.clip(mine.bit_length())._mask_bits())
        return FrameSet._of_bits(mine & ~other._bits)

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    def clip(self, num_frames: int) -> FrameSet:
        """Keep frames 0..num_frames-1."""
        if self.span_end() <= num_frames:
            return self
        if self._runs is not None:
            return FrameSet._of_runs([(lo, min(hi, num_frames)) for lo, hi in self._runs if lo < num_frames])
        return FrameSet._of_bits(self._bits & _mask(0, max(num_frames, 0)))

    def shift(self, offset: int) -> FrameSet:
        """Every member moved by `offset` (members that would be negative are dropped)."""
        if self._runs is not None:
            return FrameSet._of_runs(
                [(max(lo + offset, 0), hi + offset) for lo, hi in self._runs if hi + offset > 0]
            )
        return FrameSet._of_bits(self._bits << offset if offset >= 0 else self._bits >> -offset)

    # ---- positional selection -------------------------------------------------------
    def _select(self, position: int, count: int | None = None) -> int:
        """The frame of the member at sorted position `position` (0 <= position < len).

        Runs: a walk over the runs. Bitmask: Python ints have no random access, so every
        operation on the whole mask reads all of it: the member is found in a window at
        the nearer end of the set (from its smallest or its largest member), widened
        fourfold until it holds enough members, then by binary search inside the window;
        a few passes over the mask in all, instead of one per step of a binary search
        over the whole mask. `count`: len(self), if the caller knows it.
        """
        if self._runs is not None:
            for lo, hi in self._runs:
                if position < hi - lo:
                    return lo + position
                position -= hi - lo
            raise IndexError(position)
        bits = self._bits
        FrameSet.work += bits.bit_length() // FRAMES_PER_WORK
        n = bits.bit_count() if count is None else count
        if position < n - position:  # nearer the bottom: grow a window from the smallest
            low = (bits & -bits).bit_length() - 1
            rest = bits >> low
            width = 256
            while True:
                window = rest & ((1 << width) - 1)
                if window.bit_count() > position:
                    return low + _select_in(window, position)
                width *= 4
        above = n - 1 - position  # members above the answer: grow a window of top bits
        top = bits.bit_length()
        width = 256
        while True:
            start = max(0, top - width)
            window = bits >> start
            have = window.bit_count()
            if have > above:
                return start + _select_in(window, have - 1 - above)
            width *= 4

    def _pick(self, positions: list[int]) -> list[int]:
        """Frames at many sorted positions: a binary search each when there are few,
        one pass over the members when there are many (keeps spread() linear)."""
        if len(positions) <= 16 or self._runs is not None and len(positions) <= 4 * MAX_RUNS:
            n = len(self)
            return [self._select(p, n) for p in positions]
        members = list(self)
        return [members[p] for p in positions]

    def at(self, position: int) -> int:
        """The member at sorted position `position` (0-based)."""
        n = len(self)
        if not 0 <= position < n:
            raise IndexError(position)
        return self._select(position, n)

    def slice(self, start: int, stop: int) -> FrameSet:
        """Members at sorted positions start..stop-1 (clamped to the set)."""
        n = len(self)
        start, stop = max(start, 0), min(stop, n)
        if start >= stop:
            return _EMPTY
        if start == 0 and stop == n:
            return self
        if self._runs is not None:
            out = []
            pos = 0  # position of the current run's first member
            for lo, hi in self._runs:
                a, b = max(start - pos, 0), min(stop - pos, hi - lo)
                if a < b:
                    out.append((lo + a, lo + b))
                pos += hi - lo
                if pos >= stop:
                    break
            return FrameSet._of_runs(out)
        bits = self._bits
        lo = self._select(start, n) if start > 0 else 0
        hi = self._select(stop - 1, n) + 1 if stop < n else None
        if hi is not None:
            bits &= (1 << hi) - 1
        if lo:
            bits = (bits >> lo) << lo
        return FrameSet._of_bits(bits)

    def first(self, n: int) -> FrameSet:
        return self.slice(0, n)

    def last(self, n: int) -> FrameSet:
        return self.slice(len(self) - n, len(self)) if n > 0 else _EMPTY

    def after(self, frame: int) -> FrameSet:
        """Members strictly greater than `frame`."""
        if frame < 0:
            return self
        if self._runs is not None:
            return FrameSet._of_runs([(max(lo, frame + 1), hi) for lo, hi in self._runs if hi > frame + 1])
        return FrameSet._of_bits((self._bits >> (frame + 1)) << (frame + 1))

    def before(self, frame: int) -> FrameSet:
        """Members strictly smaller than `frame`."""
        if frame <= 0:
            return _EMPTY
        if frame >= self.span_end():
            return self
        return self.clip(frame)

    def nearest(self, n: int, to: int) -> FrameSet:
        """The n members closest to frame `to`; on a tie the earlier frame wins."""
        if n >= len(self):
            return self
        if n <= 0:
            return _EMPTY
        below = self.before(to + 1) if to >= 0 else _EMPTY  # members <= to
        above = self.difference(below)
        # Candidates: the n nearest on each side (as lists, one pass each), then merge
        # outward from `to`; on a tie the earlier frame (below) wins.
        down = list(reversed(list(below.last(n))))  # nearest first
        up = list(above.first(n))
        i = j = 0
        while i + j < n:
            if i < len(down) and (j >= len(up) or to - down[i] <= up[j] - to):
                i += 1
            else:
                j += 1
        return FrameSet.of(down[:i] + up[:j])

    def spread(self, n: int) -> FrameSet:
        """n members evenly spaced by position, first and last included.

        Member at position floor(i * (m - 1) / (n - 1)) for i = 0..n-1, m = len(self):
        exactly ``int(numpy.linspace(first, last, n))`` for a contiguous set, which is
        how FDM picks frames spread over a video.
        """
        m = len(self)
        if n >= m:
            return self
        if n <= 0:
            return _EMPTY
        if n == 1:
            return self.first(1)
        return FrameSet.of(self._pick([i * (m - 1) // (n - 1) for i in range(n)]))

    def spread_right(self, n: int) -> FrameSet:
        """n members: the first, then the last member of each of n - 1 equal parts.

        Positions 0 and ceil(i * m / (n - 1)) - 1 for i = 1..n-1. For a contiguous set
        lo..hi-1 this is exactly FDM's ``int(numpy.linspace(lo, hi - 0.001, n))`` (the
        0.001 only matters when i * m / (n - 1) is an integer, for n < 1000).
        """
        m = len(self)
        if n >= m:
            return self
        if n <= 0:
            return _EMPTY
        if n == 1:
            return self.first(1)
        positions = [0] + [-(-i * m // (n - 1)) - 1 for i in range(1, n)]
        return FrameSet.of(self._pick(positions))

    def chunks(self, n: int) -> list[FrameSet]:
        """Consecutive pieces of n members (by position); the last may be shorter."""
        if n <= 0:
            raise ValueError("chunk size must be positive")
        members = list(self)
        return [FrameSet.of(members[i : i + n]) for i in range(0, len(members), n)]

    def run_count(self) -> int:
        """Number of maximal runs of consecutive members (without building them)."""
        if self._runs is not None:
            return len(self._runs)
        self._pass()
        return (self._bits & ~(self._bits << 1)).bit_count()

    def first_runs(self, n: int) -> FrameSet:
        """The members in the first `n` maximal runs (without listing the others)."""
        if n <= 0:
            return _EMPTY
        if self._runs is not None:
            return self if len(self._runs) <= n else FrameSet._of_runs(self._runs[:n])
        self._pass()
        starts = FrameSet(self._bits & ~(self._bits << 1))  # the first frame of each run
        count = len(starts)
        if count <= n:
            return self
        return FrameSet._of_bits(self._bits & ((1 << starts._select(n, count)) - 1))


def _select_in(bits: int, position: int) -> int:
    """Smallest f with popcount(bits & mask(0, f + 1)) > position (binary search)."""
    lo, hi = 0, bits.bit_length()  # answer in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (bits & ((1 << mid) - 1)).bit_count() > position:
            hi = mid
        else:
            lo = mid
    return lo


_EMPTY = object.__new__(FrameSet)
_EMPTY._runs, _EMPTY._bits = (), None
