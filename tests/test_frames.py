"""FrameSet (vidsched.frames) against a naive reference built on Python sets and lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidsched.frames import FrameSet

# Small universes keep runs short and collisions (adjacent / overlapping runs) frequent.
frames = st.integers(min_value=0, max_value=80)
frame_lists = st.lists(frames, max_size=40)
counts = st.integers(min_value=-3, max_value=50)
FAST = settings(max_examples=200, deadline=None)


def ref(s: FrameSet) -> list[int]:
    return sorted(s)


def check_invariants(s: FrameSet) -> None:
    """Runs are sorted, non-empty, disjoint and non-adjacent; len and bool agree."""
    runs = s.runs
    for lo, hi in runs:
        assert lo < hi
    for (_, hi1), (lo2, _) in zip(runs, runs[1:]):
        assert hi1 < lo2, f"runs {runs} touch or overlap"
    assert len(s) == sum(hi - lo for lo, hi in runs)
    assert bool(s) == (len(s) > 0)
    assert list(s) == sorted(set(s))
    assert list(reversed(s)) == list(s)[::-1]


# ---- naive reference implementations -------------------------------------------------
def naive_nearest(members: list[int], n: int, to: int) -> list[int]:
    if n <= 0:
        return []
    # Closest first; on a tie the earlier frame wins.
    return sorted(sorted(members, key=lambda f: (abs(f - to), f))[:n])


def naive_spread(members: list[int], n: int) -> list[int]:
    m = len(members)
    if n >= m:
        return members
    if n <= 0:
        return []
    if n == 1:
        return members[:1]
    return sorted({members[i * (m - 1) // (n - 1)] for i in range(n)})


def naive_spread_right(members: list[int], n: int) -> list[int]:
    m = len(members)
    if n >= m:
        return members
    if n <= 0:
        return []
    if n == 1:
        return members[:1]
    positions = [0] + [-(-i * m // (n - 1)) - 1 for i in range(1, n)]
    return sorted({members[p] for p in positions})


# ---- construction ----------------------------------------------------------------------
def test_construction_basics():
    assert FrameSet.empty() == FrameSet.of([]) == FrameSet.interval(5, 5) == FrameSet.interval(7, 3)
    assert not FrameSet.empty() and len(FrameSet.empty()) == 0
    assert FrameSet.of([3, 1, 2, 2, 7]).runs == ((1, 4), (7, 8))
    assert FrameSet.interval(2, 6).to_list() == [2, 3, 4, 5]
    assert FrameSet.range(0, 10, 3).to_list() == [0, 3, 6, 9]
    assert FrameSet.range(9, -1, -3).to_list() == [0, 3, 6, 9]
    assert FrameSet.range(5, 0, -1).to_list() == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        FrameSet.range(0, 5, 0)
    s = FrameSet.of([1, 2, 3, 10])
    assert (s.min(), s.max()) == (1, 10)
    assert 2 in s and 4 not in s and 10 in s and 11 not in s and "2" not in s
    assert hash(s) == hash(FrameSet.of([10, 3, 2, 1])) and s == FrameSet.of([10, 3, 2, 1])
    assert s != [1, 2, 3, 10]
    assert repr(FrameSet.of([0, 1, 2, 5])) == "FrameSet({0-2, 5})"


def test_clip_and_shift():
    s = FrameSet.of([0, 1, 5, 9, 10, 11])
    assert s.clip(10).to_list() == [0, 1, 5, 9]
    assert s.clip(100) is s
    assert s.clip(0) == FrameSet.empty()
    assert s.shift(3).to_list() == [3, 4, 8, 12, 13, 14]


@FAST
@given(frame_lists)
def test_of_matches_set(xs):
    s = FrameSet.of(xs)
    check_invariants(s)
    assert ref(s) == sorted(set(xs))
    for f in range(-2, 84):
        assert (f in s) == (f in set(xs))


@FAST
@given(st.integers(-5, 60), st.integers(-5, 60), st.integers(-7, 7).filter(bool))
def test_range_matches_python_range(a, b, step):
    s = FrameSet.range(max(a, 0), max(b, 0), step) if step > 0 else FrameSet.range(a, b, step)
    # Frames are non-negative: a negative-step range drops its negative members.
    expected = sorted(f for f in set(range(max(a, 0), max(b, 0), step) if step > 0 else range(a, b, step)) if f >= 0)
    assert ref(s) == expected
    check_invariants(s)


# ---- set algebra -------------------------------------------------------------------------
@FAST
@given(frame_lists, frame_lists)
def test_algebra_matches_python_sets(xs, ys):
    a, b = FrameSet.of(xs), FrameSet.of(ys)
    sa, sb = set(xs), set(ys)
    for got, want in [
        (a | b, sa | sb),
        (a & b, sa & sb),
        (a - b, sa - sb),
        (b - a, sb - sa),
        (a.union(b), sa | sb),
        (a.intersection(b), sa & sb),
        (a.difference(b), sa - sb),
    ]:
        check_invariants(got)
        assert ref(got) == sorted(want)
    assert (a == b) == (sa == sb)
    assert (a | b) == (b | a) and (a & b) == (b & a)


@FAST
@given(frame_lists, frame_lists, frame_lists)
def test_algebra_laws(xs, ys, zs):
    a, b, c = FrameSet.of(xs), FrameSet.of(ys), FrameSet.of(zs)
    assert (a | b) | c == a | (b | c)
    assert a & (b | c) == (a & b) | (a & c)
    assert a - (b | c) == (a - b) - c
    assert (a - b) | (a & b) == a


# ---- positional selection -------------------------------------------------------------------
@FAST
@given(frame_lists, counts)
def test_first_last(xs, n):
    s, m = FrameSet.of(xs), sorted(set(xs))
    first, last = s.first(n), s.last(n)
    check_invariants(first)
    check_invariants(last)
    assert ref(first) == (m[: max(n, 0)])
    assert ref(last) == (m[max(len(m) - n, 0) :] if n > 0 else [])


@FAST
@given(frame_lists, st.integers(-5, 50), st.integers(-5, 50))
def test_slice(xs, a, b):
    s, m = FrameSet.of(xs), sorted(set(xs))
    got = s.slice(a, b)
    check_invariants(got)
    assert ref(got) == m[max(a, 0) : max(b, 0)]


@FAST
@given(frame_lists, st.integers(-3, 45))
def test_at(xs, i):
    s, m = FrameSet.of(xs), sorted(set(xs))
    if 0 <= i < len(m):
        assert s.at(i) == m[i]
    else:
        with pytest.raises(IndexError):
            s.at(i)


@FAST
@given(frame_lists, st.integers(-5, 90))
def test_after_before(xs, f):
    s, m = FrameSet.of(xs), sorted(set(xs))
    after, before = s.after(f), s.before(f)
    check_invariants(after)
    check_invariants(before)
    assert ref(after) == [x for x in m if x > f]
    assert ref(before) == [x for x in m if x < f]


@FAST
@given(frame_lists, counts, st.integers(-10, 95))
def test_nearest(xs, n, to):
    s, m = FrameSet.of(xs), sorted(set(xs))
    got = s.nearest(n, to)
    check_invariants(got)
    assert ref(got) == naive_nearest(m, n, to)


def test_nearest_ties_prefer_the_earlier_frame():
    s = FrameSet.of([2, 4, 6, 8])
    assert s.nearest(1, 5).to_list() == [4]
    assert s.nearest(2, 5).to_list() == [4, 6]
    assert s.nearest(3, 5).to_list() == [2, 4, 6]
    assert s.nearest(1, 100).to_list() == [8]
    assert s.nearest(1, -100).to_list() == [2]
    assert s.nearest(10, 5) == s


@FAST
@given(frame_lists, counts)
def test_spread(xs, n):
    s, m = FrameSet.of(xs), sorted(set(xs))
    got = s.spread(n)
    check_invariants(got)
    assert ref(got) == naive_spread(m, n)
    if 2 <= n <= len(m):
        assert len(got) == n and got.min() == m[0] and got.max() == m[-1]


@FAST
@given(frame_lists, counts)
def test_spread_right(xs, n):
    s, m = FrameSet.of(xs), sorted(set(xs))
    got = s.spread_right(n)
    check_invariants(got)
    assert ref(got) == naive_spread_right(m, n)
    if 1 <= n <= len(m):
        assert len(got) == n and got.min() == m[0]


@pytest.mark.parametrize("lo,hi,n", [(0, 100, 8), (0, 200, 16), (5, 37, 7), (10, 11, 3), (0, 16, 16), (3, 50, 2)])
def test_spread_is_numpy_linspace_on_ranges(lo, hi, n):
    np = pytest.importorskip("numpy")
    s = FrameSet.interval(lo, hi)
    want = sorted({int(x) for x in np.linspace(lo, hi - 1, n)}) if n < hi - lo else list(range(lo, hi))
    assert s.spread(n).to_list() == want
    want_right = sorted({int(x) for x in np.linspace(lo, hi - 0.001, n)}) if n < hi - lo else list(range(lo, hi))
    assert s.spread_right(n).to_list() == want_right


@FAST
@given(frame_lists, st.integers(1, 20))
def test_chunks(xs, n):
    s, m = FrameSet.of(xs), sorted(set(xs))
    pieces = s.chunks(n)
    assert [ref(p) for p in pieces] == [m[i : i + n] for i in range(0, len(m), n)]
    for p in pieces:
        check_invariants(p)


def test_chunks_rejects_non_positive_sizes():
    with pytest.raises(ValueError):
        FrameSet.of([1, 2]).chunks(0)


def test_large_and_fragmented_sets():
    """Bitmask storage: a 10-million-frame video (ten times the evaluator's limit) with
    every 3rd frame removed -- millions of runs -- still answers positional questions exactly."""
    n = 10_000_000
    big = FrameSet.interval(0, n)
    holes = FrameSet.range(0, n, 3)
    s = big - holes
    assert len(s) == n - len(range(0, n, 3))
    assert s.first(3).to_list() == [1, 2, 4]
    assert s.last(2).to_list() == [n - 3, n - 2] if (n - 1) % 3 == 0 else s.last(2).to_list() == [n - 2, n - 1]
    assert s.after(n - 5).to_list() == [f for f in range(n - 4, n) if f % 3]
    assert s.nearest(2, 300).to_list() == [299, 301]
    assert len(s.spread(5)) == 5 and s.spread(5).min() == 1 and s.spread(5).max() == s.max()
    assert s.at(1_000_000) == [f for f in range(1_500_010) if f % 3][1_000_000]


def test_absurd_frames_are_refused():
    with pytest.raises(ValueError):
        FrameSet.interval(0, 10**12)
    with pytest.raises(ValueError):
        FrameSet.of([10**12])
