"""Frame sets on long videos: the periodic-segment form (vidsched/frames.py) against a
plain Python set model, plans identical to those of the run/bitmask representation, and
the multi-resolution schemes (fragmented keyframe sets) compiling in linear work.

tests/data/plan_digests.json holds a digest of the plan of every shipped scheme at
T = 1,000 and T = 5,000 (and a few parameter variants of the fragmented schemes),
computed with the representation before periodic segments existed (runs when at most
32, else one bitmask); regenerate it only for an intended change of a plan:
``python tests/test_frames_speed.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import pytest

import vidsched.frames as frames_module
from vidsched.frames import MAX_RUNS, MAX_SEGS, FrameSet, work_done

GOLDEN = Path(__file__).parent / "data" / "plan_digests.json"
VARIANTS = [
    ("improved_ar_2res", {"stride": 2}),
    ("improved_ar_2res", {"stride": 5, "K": 8}),
    ("improved_ar_3res", {"coarse": 12, "mid": 5}),
    ("improved_ar_3res", {"coarse": 7, "mid": 3, "K": 8}),
    ("hierarchy2", {"K": 8}),
    ("fdm/hierarchy", {"K": 8}),
]


# ---- the representation against a Python set model ---------------------------------------
def _periodic(rng: random.Random, T: int) -> set[int]:
    """Frames of a few periodic stretches, runs and single frames: what schemes build."""
    out: set[int] = set()
    for _ in range(rng.randint(1, 4)):
        lo = rng.randrange(T)
        hi = rng.randint(lo, T)
        kind = rng.random()
        if kind < 0.5:
            period = rng.choice([2, 3, 4, 5, 6, 7, 12, 15, 60, 1500])
            residues = set(rng.sample(range(period), rng.randint(1, min(period, 4))))
            out |= {f for f in range(lo, hi) if f % period in residues}
        elif kind < 0.8:
            out |= set(range(lo, min(hi, lo + rng.randint(1, 50))))
        else:
            out |= {f for f in range(lo, min(hi, lo + 300)) if rng.random() < 0.3}
    return out


def _check(S: FrameSet, model: set[int]) -> None:
    want = sorted(model)
    assert S.to_list() == want
    assert len(S) == len(want) and bool(S) == bool(want)
    runs = S.runs
    assert sum(hi - lo for lo, hi in runs) == len(want) and S.run_count() == len(runs)
    assert all(hi1 < lo2 for (_, hi1), (lo2, _) in zip(runs, runs[1:]))
    assert S.stored_as_runs == (len(runs) <= MAX_RUNS)
    if S.stored_as_segments:
        assert len(S._segs) <= MAX_SEGS
    ref = FrameSet.of(model)
    assert S == ref and ref == S and hash(S) == hash(ref)
    if want:
        assert (S.min(), S.max(), S.span_end()) == (want[0], want[-1], want[-1] + 1)
    assert S.bits == sum(1 << f for f in want)


def test_segments_agree_with_python_sets_on_random_operations():
    rng = random.Random(2024)
    forms = {"runs": 0, "segments": 0, "bitmask": 0}
    for _ in range(250):
        T = rng.choice([100, 2000, 40_000])
        a, b = _periodic(rng, T), _periodic(rng, T)
        A, B = FrameSet.of(a), FrameSet.of(b)
        if rng.random() < 0.5:  # the same members built another way
            step, start = rng.choice([2, 3, 7]), rng.randrange(5)
            a = set(range(start, T, step))
            A = FrameSet.range(start, T, step)
        # A chain of operations, as a scheme's loop does (todo, done, keys & todo, ...).
        for _ in range(6):
            op = rng.randrange(9)
            f, k = rng.randrange(-3, T + 3), rng.randrange(-2, 60)
            if op == 0:
                A, a = A | B, a | b
            elif op == 1:
                A, a = A & B, a & b
            elif op == 2:
                A, a = A - B, a - b
            elif op == 3:
                A, a = B - A, b - a
            elif op == 4:
                A, a = A.after(f), {x for x in a if x > f}
            elif op == 5:
                A, a = A.clip(f), {x for x in a if x < f}
            elif op == 6:
                s = sorted(a)
                A, a = (A.first(k), set(s[: max(k, 0)])) if rng.random() < 0.5 else (A.last(k), set(s[-k:] if k > 0 else []))
            elif op == 7:
                d = rng.randrange(-50, 50)
                A, a = A.shift(d), {x + d for x in a if x + d >= 0}
            else:
                block = sorted(a)[: rng.randint(1, 9)]  # done | block, todo - block
                A, a = (A - FrameSet.of(block), a - set(block)) if rng.random() < 0.5 else (A | FrameSet.of(block), a | set(block))
            _check(A, a)
            forms["runs" if A.stored_as_runs else "segments" if A.stored_as_segments else "bitmask"] += 1
            s = sorted(a)
            for f in (rng.randrange(-2, T + 2) for _ in range(5)):
                assert (f in A) == (f in a)
            if s:
                p = rng.randrange(len(s))
                assert A.at(p) == s[p]
                head = A.first_runs(3)
                assert head.runs == A.runs[:3]
            b, B = (_periodic(rng, T), None) if rng.random() < 0.3 else (b, B)
            if B is None:
                B = FrameSet.of(b)
    assert min(forms.values()) > 20, forms  # every form was exercised


def _record_wide_bitmasks(monkeypatch) -> list[int]:
    """A list that gets every bitmask wider than 4,096 frames made from now on."""
    wide: list[int] = []
    of_bits, bits_of_segs = FrameSet._of_bits, frames_module._bits_of_segs

    def record(bits):
        if bits.bit_length() > 4096:
            wide.append(bits)
        return of_bits(bits)

    monkeypatch.setattr(FrameSet, "_of_bits", staticmethod(record))
    monkeypatch.setattr(frames_module, "_bits_of_segs", lambda segs: wide.append(segs) or bits_of_segs(segs))
    return wide


@pytest.mark.parametrize("period,residues", [(3, [0]), (3, [1, 2]), (15, [0, 5, 10]), (60, [7, 8, 9, 59])])
def test_periodic_sets_are_segments_and_operations_do_no_bitmask_work(period, residues, monkeypatch):
    T = 10**6
    keys = FrameSet.of(f for f in range(0, 100 * period) if f % period in residues) | FrameSet.range(0, T, period)
    wide = _record_wide_bitmasks(monkeypatch)
    todo = FrameSet.interval(0, T)
    done = FrameSet.empty()
    for _ in range(100):  # improved_ar_2res's keyframe loop
        rest = keys & todo
        block = rest.first(8)
        assert block.stored_as_runs and block.to_list() == sorted(block)
        done, todo = done | block, todo - block
    assert not wide  # no bitmask was built
    assert rest.stored_as_segments and todo.stored_as_segments and done.stored_as_segments
    assert len(done) == 800 and len(todo) == T - 800 and done.max() == block.max()


def test_irregular_fragmented_sets_are_still_bitmasks():
    rng = random.Random(5)
    s = FrameSet.of(rng.sample(range(100_000), 5000))
    assert not s.stored_as_runs and not s.stored_as_segments
    keys = FrameSet.range(0, 100_000, 3)
    assert (s & keys).to_list() == [f for f in s if f % 3 == 0]
    assert FrameSet.range(0, 100_000, 1000).stored_as_segments  # large periods too
    assert not FrameSet.range(0, 10**6, 5000).stored_as_segments  # past MAX_PERIOD: a bitmask


# ---- plans: identical to those of the earlier representation -------------------------------
def _digest(plan) -> str:
    d = json.loads(plan.to_json())
    batch_of = {i: b for b, members in enumerate(d["batches"]) for i in members}  # once each stage's "batch"
    proj = {
        "given": d["given"],
        "batches": d["batches"],
        "edges": d["edges"],
        "stages": [[s["name"], s["generate"], s["observe"], s["marginal"], batch_of[s["index"]], s["context"]] for s in d["stages"]],
    }
    return hashlib.sha256(json.dumps(proj, separators=(",", ":")).encode()).hexdigest()


def _cases() -> list[tuple[str, str, dict]]:
    from vidsched.compiler import builtin_schemes

    cases = [(f"{b.name}@{T}", b.name, {"T": T}) for b in builtin_schemes() for T in (1000, 5000)]
    for name, ov in VARIANTS:
        for T in (1000, 5000):
            key = name + "@" + str(T) + "".join(f",{k}={v}" for k, v in sorted(ov.items()))
            cases.append((key, name, {"T": T, **ov}))
    return cases


def test_plans_are_those_of_the_earlier_representation():
    from vidsched.compiler import compile_scheme

    golden = json.loads(GOLDEN.read_text())
    cases = [case for case in _cases() if case[0] in golden]  # schemes added since: not compared
    assert len(cases) == len(golden), "a scheme was removed or renamed: regenerate the digests"
    for key, name, overrides in cases:
        assert _digest(compile_scheme(name, overrides)) == golden[key], key


# ---- the fragmented schemes: linear work -------------------------------------------------
@pytest.mark.parametrize("name", ["improved_ar_2res", "improved_ar_3res"])
def test_fragmented_schemes_take_linear_fuel_and_no_bitmask_work(name, monkeypatch):
    from vidsched.compiler import stage_list_for
    from vidsched.lang.limits import Limits

    wide = _record_wide_bitmasks(monkeypatch)
    per_frame = []
    for T in (20_000, 200_000):
        used = stage_list_for(name, {"T": T, "K": 16}).fuel_used
        per_frame.append(used / T)
    assert not wide
    # About 96 steps per frame whatever T is (fdm/hierarchy: 102), well inside the budget.
    assert per_frame[1] <= 1.05 * per_frame[0] and per_frame[1] < 120, per_frame
    assert per_frame[1] * 10**6 < 0.6 * Limits().fuel_budget(10**6)


def test_a_loop_of_segment_operations_is_charged_for_its_work():
    """A runaway loop over long periodic sets must use its fuel about as fast as it uses
    time (it used 2 steps an operation: minutes at T = 10^6 before the fuel ran out)."""
    from vidsched.frames import SEG_OP_WORK

    keys, todo = FrameSet.range(0, 10**6, 3), FrameSet.interval(0, 10**6) - FrameSet.range(0, 999, 3)
    work = work_done()
    for _ in range(100):
        keys & todo
    assert work_done() - work >= 100 * SEG_OP_WORK


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    from vidsched.compiler import compile_scheme

    GOLDEN.write_text(json.dumps({k: _digest(compile_scheme(n, ov)) for k, n, ov in _cases()}, indent=1, sort_keys=True) + "\n")
