"""The mask-aware built-ins (hole_fraction, coverage, informative, has_mask), the hole map
they read (vidsched/lang/holes.py), and the scheme that uses them
(schemes/improved_ar_informative.sched).

Values are checked against hand-computed ones on small synthetic masks; a call without a
mask is an error at the call; the scheme falls back to improved_ar_far_future without
a mask and its plan follows the mask."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from vidsched.compiler import compile_scheme
from vidsched.errors import MaskRequiredError, ParameterError, ResourceLimitError, SchemeErrors, SourceFile
from vidsched.frames import FrameSet
from vidsched.lang.holes import GRID, HoleMap
from vidsched.lang.limits import Limits

FILE = "holes.sched"


def scheme(body: str, params: str = "T = 4, K = 4") -> SourceFile:
    return SourceFile(FILE, f"scheme s({params}) {{\n{body}\n    stage {{ generate todo }}\n}}\n")


def mask(T: int, H: int = 4, W: int = 4) -> np.ndarray:
    return np.zeros((T, H, W), bool)


@pytest.fixture
def four():
    """4 frames of 4 x 4 pixels, one cell per pixel (16 cells):
    0: the top row (4 cells); 1: the left half of the top row (2 cells);
    2: the second row (4 cells); 3: no hole."""
    m = mask(4)
    m[0, 0, :] = True
    m[1, 0, :2] = True
    m[2, 1, :] = True
    return HoleMap.from_mask(m)


# ---- the hole map ----------------------------------------------------------------------------
def test_hole_map_bits_are_cells_row_by_row(four):
    assert (four.rows, four.cols, four.cells) == (4, 4, 16)
    assert four.holes == (0b1111, 0b11, 0b1111 << 4, 0)
    assert four.complete_frames() == [3]


def test_a_cell_is_a_hole_when_any_of_its_pixels_is():
    m = mask(2, 64, 96)  # 32 x 32 cells of 2 x 3 pixels
    m[0, 1, 2] = True  # one pixel: cell (0, 0)
    m[1, 63, 95] = True  # the last pixel: the last cell
    h = HoleMap.from_mask(m)
    assert (h.rows, h.cols) == (GRID, GRID)
    assert h.holes == (1, 1 << (GRID * GRID - 1))


def test_uneven_bands_cover_every_pixel():
    m = mask(1, 33, 70)  # 33 rows into 32 bands (one of 2 rows), 70 columns (bands of 2 or 3)
    m[0, 32, 69] = True
    m[0, 0, 0] = True
    h = HoleMap.from_mask(m)
    assert (h.rows, h.cols) == (32, 32)
    assert h.holes[0] == 1 | 1 << (32 * 32 - 1)


def test_small_frames_have_one_cell_per_pixel():
    m = mask(1, 3, 5)
    m[0, 2, 4] = True
    h = HoleMap.from_mask(m)
    assert (h.rows, h.cols) == (3, 5) and h.holes == (1 << 14,)


def test_hole_map_rejects_bad_input():
    with pytest.raises(ValueError):
        HoleMap.from_mask(np.zeros((4, 4), bool))
    with pytest.raises(ValueError):
        HoleMap(2, 2, (1 << 4,))


def test_from_mask_in_chunks_equals_frame_by_frame():
    rng = np.random.default_rng(0)
    m = rng.random((2100, 8, 8)) < 0.05  # more frames than one chunk
    h = HoleMap.from_mask(m)
    assert h.holes == tuple(HoleMap.from_mask(m[t : t + 1]).holes[0] for t in range(len(m)))


# ---- the built-ins, with hand-computed values ----------------------------------------------------
def test_builtin_values(four):
    text = scheme(
        """
    assert has_mask()
    assert hole_fraction(0) == 1 / 4 and hole_fraction(1) == 1 / 8 and hole_fraction(3) == 0
    assert hole_fraction({0, 2}) == 1 / 2 and hole_fraction({0, 1}) == 1 / 4 and hole_fraction({}) == 0
    assert coverage(0, 1) == 1 / 2            # frame 1 knows the right half of frame 0's hole
    assert coverage(0, 2) == 1 and coverage(0, 3) == 1
    assert coverage(1, 0) == 0                # frame 0 knows none of frame 1's hole
    assert coverage(0, {0, 1}) == 1 / 2       # known in at least one frame of the set
    assert coverage({0, 2}, {1}) == 3 / 4     # the hole of a set: the union, 8 cells
    assert coverage(3, 0) == 1 and coverage(0, {}) == 0
    assert informative(0, {1, 2, 3}, 1) == {2}          # 2 and 3 know all 4 cells; 2 is nearer
    assert informative(0, {1, 3}, 4) == {3}             # then nothing is missing: it stops
    assert informative(0, {1}, 4) == {1}
    assert informative({0, 2}, {1, 2, 3}, 1) == {3}     # only 3 knows all 8 cells
    assert informative({0, 2}, {1, 2}, 2) == {2, 1}     # 2 knows 4, then 1 the 2 cells left
    assert informative(3, {0, 1, 2}, 2) == {} and informative(0, {0}, 2) == {}
    assert informative(0, {1, 2, 3}, 0) == {}
"""
    )
    compile_scheme(text, holes=four)


def test_values_are_exact_fractions(four):
    assert four.hole_fraction(FrameSet.of([1])) == Fraction(1, 8)
    assert isinstance(four.coverage(FrameSet.of([0]), FrameSet.of([2])), int)
    assert four.coverage(FrameSet.of([0, 2]), FrameSet.of([1])) == Fraction(3, 4)


def test_informative_ties_go_to_the_nearest_frame_then_the_earlier():
    m = mask(9)
    m[4, 0, 0] = True  # frame 4 has a hole; every other frame knows it
    h = HoleMap.from_mask(m)
    others = FrameSet.of([0, 1, 2, 3, 5, 6, 7, 8])
    assert h.informative(FrameSet.of([4]), others, 1).to_list() == [3]
    assert h.informative(FrameSet.of([4]), FrameSet.of([0, 7]), 1).to_list() == [7]
    assert h.informative(FrameSet.of([4]), FrameSet.of([1, 7]), 1).to_list() == [1]


def test_informative_picks_greedily():
    # Hole of the target: 6 cells. A knows cells 0-3, B 2-5, C 0-1 and 4-5.
    # Greedy: A (4), then C (the 2 left; B also 2, C nearer), then nothing.
    m = mask(4, 1, 6)
    m[0] = True
    m[1, 0, 4:] = True  # knows 0-3
    m[2, 0, :2] = True  # knows 2-5
    m[3, 0, 2:4] = True  # knows 0-1, 4-5
    h = HoleMap.from_mask(m)
    picked = h.informative(FrameSet.of([0]), FrameSet.of([1, 2, 3]), 3)
    assert picked.to_list() == [1, 2]  # A = 1 first; then B = 2 and C = 3 both add 2: 2 is nearer


# ---- without a mask -----------------------------------------------------------------------------
@pytest.mark.parametrize("call", ["hole_fraction(0)", "coverage(0, 1)", "informative(0, todo, 2)"])
def test_a_call_without_a_mask_is_an_error_at_the_call(call):
    text = scheme(f"    let x = 1\n    if x == 1 {{ let y = {call} }}")
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(text)
    (err,) = info.value.errors
    assert isinstance(err, MaskRequiredError)
    line = text.text.splitlines().index(next(ln for ln in text.text.splitlines() if call in ln)) + 1
    column = text.text.splitlines()[line - 1].index(call) + 1
    assert (err.line, err.column) == (line, column)
    rendered = err.render()
    name = call.split("(")[0]
    assert rendered.splitlines()[0] == (
        f"{FILE}:{line}:{column}: error[mask-required]: {name}() needs the mask: compile with --mask MASK"
    )
    assert re.fullmatch(r" {%d}\^+" % (4 + column - 1), rendered.splitlines()[2])
    assert "has_mask()" in rendered


def test_has_mask_guards_the_calls(four):
    text = scheme("    if has_mask() { assert hole_fraction(0) == 1 / 4 } else { assert not has_mask() }")
    compile_scheme(text)
    compile_scheme(text, holes=four)


def test_a_call_not_reached_needs_no_mask():
    compile_scheme(scheme("    if false { let y = hole_fraction(0) }"))


def test_the_mask_sets_T_and_a_different_T_is_an_error(four):
    plan = compile_scheme(scheme("", "T = 200, K = 4"), holes=four)
    assert plan.num_frames == 4 and plan.given == [3]
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(scheme("", "T = 200, K = 4"), {"T": 5}, holes=four)
    (err,) = info.value.errors
    assert isinstance(err, ParameterError) and "the mask has 4 frames" in err.message


def test_the_built_ins_are_charged_evaluation_steps():
    h = HoleMap.from_mask(mask(10_000))
    text = scheme("    for f in 0 ..< 100 { let c = coverage(f, todo) }", "T = 10000, K = 10000")
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(text, holes=h, limits=Limits(max_fuel=500_000, fuel_per_frame=0))
    assert isinstance(info.value.errors[0], ResourceLimitError)
    compile_scheme(text, holes=h, limits=Limits(max_fuel=2_000_000, fuel_per_frame=0))


# ---- the scheme -------------------------------------------------------------------------------
def moving_box(T: int, speed: int = 2, size: int = 32) -> np.ndarray:
    """A box of a quarter of the width sliding right, wrapping around."""
    m = np.zeros((T, size, size), bool)
    w = size // 4
    for t in range(T):
        x = (t * speed) % (size - w)
        m[t, size // 4 : 3 * size // 4, x : x + w] = True
    return m


def stages(plan):
    return [(s.generate, s.observe, s.marginal) for s in plan.stages]


def test_without_a_mask_the_scheme_is_improved_ar_far_future():
    for overrides in ({"T": 40, "K": 8}, {"T": 200, "K": 16}, {"T": 97, "K": 12, "far": 5}):
        a = compile_scheme("improved_ar_informative", overrides)
        b = compile_scheme("improved_ar_far_future", overrides)
        assert stages(a) == stages(b)


def test_with_a_hole_that_does_not_move_it_is_improved_ar_far_future():
    m = np.zeros((60, 32, 32), bool)
    m[:, 10:20, 5:15] = True
    a = compile_scheme("improved_ar_informative", {"K": 8}, holes=HoleMap.from_mask(m))
    b = compile_scheme("improved_ar_far_future", {"K": 8}, holes=HoleMap.from_mask(m))
    assert stages(a) == stages(b)


def test_the_plan_follows_the_mask():
    T, K = 60, 8
    slow = compile_scheme("improved_ar_informative", {"K": K}, holes=HoleMap.from_mask(moving_box(T, 1)))
    fast = compile_scheme("improved_ar_informative", {"K": K}, holes=HoleMap.from_mask(moving_box(T, 3)))
    far = compile_scheme("improved_ar_far_future", {"T": T, "K": K})
    assert stages(slow) != stages(fast)
    assert stages(slow) != stages(far) and stages(fast) != stages(far)
    # a frame without a hole knows everything: it is picked (and complete)
    m = moving_box(T, 1)
    m[12] = False
    plan = compile_scheme("improved_ar_informative", {"K": K}, holes=HoleMap.from_mask(m))
    first = plan.stages[0]
    assert 12 in first.observe and plan.given == [12]


def test_picked_frames_know_the_block_hole():
    T, K = 80, 8
    h = HoleMap.from_mask(moving_box(T, 2))
    plan = compile_scheme("improved_ar_informative", {"K": K}, holes=h)
    far = 2 * K
    for st in plan.stages[1:]:
        block = FrameSet.of(st.generate)
        window = FrameSet.of(st.observe + st.marginal)
        recent = [f for f in st.observe if st.generate[0] - 2 <= f < st.generate[0]]
        extra = window.difference(FrameSet.of(recent))
        assert len(st.generate) + len(st.observe) + len(st.marginal) <= K
        for f in extra:
            knows = h.coverage(block, FrameSet.of([f])) > 0
            far_frame = (f - max(block)) % far == 0 and f > max(block)
            assert knows or far_frame or f < min(block), (st.index, f)


def test_the_scheme_compiles_at_many_sizes_with_a_mask():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from plan_invariants import assert_plan_invariants

    for T, K, speed in [(1, 16, 1), (7, 4, 1), (50, 8, 2), (200, 16, 1), (301, 12, 5), (23, 5, 3)]:
        plan = compile_scheme("improved_ar_informative", {"K": K}, holes=HoleMap.from_mask(moving_box(T, speed)))
        assert plan.num_frames == T
        assert_plan_invariants(plan)


def test_cli_compile_with_a_mask(tmp_path, capsys):
    from vidsched.cli import main

    path = tmp_path / "m.npy"
    np.save(path, moving_box(40, 2))
    assert main(["compile", "improved_ar_informative", "--set", "K=8", "--mask", str(path), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "improved_ar_informative (T=40, K=8" in out
    plan = compile_scheme("improved_ar_informative", {"K": 8}, holes=HoleMap.from_mask(moving_box(40, 2)))
    assert f"{len(plan.stages)} stages" in out


# ---- the compile benchmark's masked case ------------------------------------------------------
def _compile_speed():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "compile_speed.py"
    spec = importlib.util.spec_from_file_location("compile_speed_for_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compile_benchmark_times_every_scheme_that_reads_the_mask_with_one(monkeypatch):
    from vidsched.compiler import builtin_schemes

    bench = _compile_speed()
    compiled = []  # (T, hole map) of each compile the benchmark times
    real_compile = bench.compile_scheme

    def recording_compile(name, overrides, **kwargs):
        compiled.append((overrides["T"], kwargs.get("holes")))
        return real_compile(name, overrides, **kwargs)

    monkeypatch.setattr(bench, "compile_scheme", recording_compile)
    reads_mask = re.compile(r"\b(has_mask|hole_fraction|coverage|informative)\(")
    assert sorted(bench.MASKED_SCHEMES) == sorted(b.name for b in builtin_schemes() if reads_mask.search(b.text))
    maps, seconds = bench.hole_maps(1)
    assert sorted(maps) == [bench.T_SMALL, bench.T_LARGE] and all(s > 0 for s in seconds.values())
    assert all(maps[T].num_frames == T and maps[T].holes[0] != maps[T].holes[1] for T in maps)  # moving
    row = bench.measure_scheme("improved_ar_informative", 1, maps)
    assert row["scheme"] == "improved_ar_informative +mask" and row["masked"] and "error" not in row
    assert compiled == [(bench.T_SMALL, maps[bench.T_SMALL]), (bench.T_LARGE, maps[bench.T_LARGE])]
