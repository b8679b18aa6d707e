"""Compile time and memory grow about linearly with T (docs/language.md, sections 9 and 24).

Non-timing checks: the peak memory (tracemalloc) of evaluating and validating a scheme,
and the bitmask work its frame sets do (vidsched.frames.work_done), at T = 200,000 against
T = 20,000. Stored as bitmasks over the whole video, every stage's sets took O(T) memory
and every operation O(T) work: a scheme of T / step stages cost O(T^2) (about 100x for
10x the frames). Also: fuel that grows with T, and a T past the limit refused at once.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from vidsched.compiler import compile_scheme, stage_list_for
from vidsched.errors import SchemeErrors
from vidsched.frames import FrameSet, work_done
from vidsched.lang.limits import Limits
from vidsched.lang.validate import validate

SMALL, LARGE = 20_000, 200_000
FACTOR = 15  # 10x the frames: at most 15x the memory and the work (linear: about 10x)


def _peak_and_work(name: str, T: int) -> tuple[int, int]:
    gc.collect()
    work = work_done()
    tracemalloc.start()
    try:
        validate(stage_list_for(name, {"T": T, "K": 16}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, work_done() - work


@pytest.mark.parametrize("name", ["ar", "hierarchy2"])
def test_memory_and_set_work_grow_about_linearly_with_T(name):
    small_peak, small_work = _peak_and_work(name, SMALL)
    large_peak, large_work = _peak_and_work(name, LARGE)
    assert large_peak <= FACTOR * small_peak, (name, small_peak, large_peak)
    assert large_work <= FACTOR * small_work + 100, (name, small_work, large_work)


def test_sets_of_few_runs_are_stored_as_runs():
    todo = FrameSet.interval(0, 10**6) - FrameSet.interval(0, 500_000)
    block = todo.first(8)
    assert todo.stored_as_runs and block.stored_as_runs and block.to_list() == list(range(500_000, 500_008))
    fragmented = FrameSet.range(0, 10**6, 3)
    assert not fragmented.stored_as_runs and (fragmented & FrameSet.interval(0, 10)).stored_as_runs


def test_the_fuel_budget_grows_with_T():
    limits = Limits()
    assert limits.fuel_budget(10**6) == limits.max_fuel + limits.fuel_per_frame * 10**6
    # fdm/hierarchy needs about 100 steps per frame: with a fixed budget of 5,000,000 it
    # stopped above T = 35,000 or so.
    used = stage_list_for("fdm/hierarchy", {"T": 50_000}).fuel_used
    assert limits.max_fuel < used <= limits.fuel_budget(50_000)


@pytest.mark.parametrize("name", ["ar", "fdm/hierarchy"])
def test_a_T_past_the_limit_fails_at_once_naming_it(name):
    limit = Limits().max_frames
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(name, {"T": limit + 1})
    text = str(info.value)
    assert f"T = {limit + 1} is more than the limit of {limit:,} frames" in text
    assert info.value.errors[0].kind == "parameter"


def _random_set(rng, T: int) -> set[int]:
    kind = rng.random()
    if kind < 0.3:  # about MAX_RUNS runs: both forms, and the boundary between them
        n = rng.choice([1, 31, 32, 33, 34])
        starts = sorted(rng.sample(range(0, T, 3), min(n, len(range(0, T, 3)))))
        return {f for s in starts for f in range(s, s + rng.randint(1, 2))}
    if kind < 0.6:
        lo = rng.randrange(T)
        return set(range(lo, rng.randint(lo, T)))
    return {f for f in range(T) if rng.random() < rng.random()}


def test_both_forms_agree_with_python_sets():
    import random

    rng = random.Random(7)
    for _ in range(300):
        T = rng.choice([40, 300, 5000])
        a, b = _random_set(rng, T), _random_set(rng, T)
        A, B = FrameSet.of(a), FrameSet.of(b)
        assert A.stored_as_runs == (A.run_count() <= 32)
        for got, want in ((A | B, a | b), (A & B, a & b), (A - B, a - b), (B - A, b - a)):
            assert got.to_list() == sorted(want) and got == FrameSet.of(want) and hash(got) == hash(FrameSet.of(want))
        k, f = rng.randrange(-2, 50), rng.randrange(-3, T + 3)
        s = sorted(a)
        assert A.first(k).to_list() == s[: max(k, 0)] and A.last(k).to_list() == (s[-k:] if k > 0 else [])
        assert A.after(f).to_list() == [x for x in s if x > f] and A.before(f).to_list() == [x for x in s if x < f]
        assert A.clip(f).to_list() == [x for x in s if x < f] and (f in A) == (f in a)
        assert A.shift(k - 20).to_list() == sorted(x + k - 20 for x in s if x + k - 20 >= 0)
        if s:
            p = rng.randrange(len(s))
            assert (A.min(), A.max(), A.at(p), len(A)) == (s[0], s[-1], s[p], len(s))
