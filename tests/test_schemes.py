"""The built-in schemes (schemes/*.sched, schemes/fdm/*.sched).

* every built-in scheme compiles at many (T, K) and its plan satisfies the plan
  invariants (tests/plan_invariants.py);
* the paper's schemes have the shape their description says (first window, block sizes,
  where the marginals are, keyframe levels), and reject bad parameters with a message;
* golden plans for ar, improved_ar and hierarchy2 at T = 40, K = 8 (tests/golden/);
* every scheme has a header comment, and `vidsched schemes` lists them all.

Regenerate the golden files (after checking the change is intended, with
`vidsched compile NAME --set T=40 --set K=8 --explain` and `vidsched render`):

    VIDSCHED_UPDATE_GOLDEN=1 python -m pytest tests/test_schemes.py -k golden
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from vidsched.cli import main as cli_main
from vidsched.compiler import builtin_schemes, compile_scheme
from vidsched.errors import SchemeErrors

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_invariants import assert_plan_invariants  # noqa: E402

SCHEMES = builtin_schemes()
NAMES = [b.name for b in SCHEMES]
PAPER_SCHEMES = [
    "ar",
    "reverse_ar",
    "hierarchy2",
    "improved_ar",
    "improved_ar_far_future",
    "improved_ar_2res",
    "improved_ar_3res",
]
SIZES = [(1, 16), (7, 4), (16, 16), (50, 8), (200, 16), (301, 12), (23, 5), (97, 32), (24, 16)]
# Known failures: (scheme, T, K) -> reason. Strict: the test reports when one is fixed.
# (scheme, T, K) -> reason, for sizes a scheme is known to reject (strict xfail).
KNOWN_FAILURES: dict[tuple[str, int, int], str] = {}
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
GOLDEN = ["ar", "improved_ar", "hierarchy2"]
UPDATE_GOLDEN = os.environ.get("VIDSCHED_UPDATE_GOLDEN") == "1"


def compiled(name: str, T: int, K: int, **extra: int):
    return compile_scheme(name, {"T": T, "K": K, **extra})


def windows(plan):
    return [(st.generate, st.observe, st.marginal) for st in plan.stages]


# ---- every built-in scheme ---------------------------------------------------------
def test_the_paper_schemes_are_built_in():
    missing = set(PAPER_SCHEMES) - set(NAMES)
    assert not missing, f"built-in schemes missing: {sorted(missing)} (have {NAMES})"


def _size_cases():
    for name in NAMES:
        for T, K in SIZES:
            reason = KNOWN_FAILURES.get((name, T, K))
            marks = [pytest.mark.xfail(reason=reason, raises=SchemeErrors, strict=True)] if reason else []
            yield pytest.param(name, T, K, id=f"{name}-T{T}-K{K}", marks=marks)


@pytest.mark.parametrize("name,T,K", list(_size_cases()))
def test_scheme_plan_invariants(name, T, K):
    plan = compiled(name, T, K)
    assert plan.num_frames == T and plan.max_frames == K
    assert_plan_invariants(plan)


@pytest.mark.parametrize("name", NAMES)
def test_scheme_compiles_with_its_defaults(name):
    plan = compile_scheme(name)
    assert_plan_invariants(plan)
    assert plan.params["T"] == 200 and plan.params["K"] == 16, "every scheme defaults to T = 200, K = 16"


# ---- the paper's schemes, scheme by scheme -----------------------------------------
@pytest.mark.parametrize("T,K", [(200, 16), (61, 8), (37, 12)])
def test_ar_shape(T, K):
    plan = compiled("ar", T, K)
    step = K // 2
    first, *rest = windows(plan)
    assert first == (list(range(K)), [], [])
    start = K
    for gen, obs, mar in rest:
        assert gen == list(range(start, min(start + step, T)))
        assert obs == list(range(start - (K - step), start)), "observes the K - step most recent frames"
        assert mar == []
        start += step
    assert start >= T


@pytest.mark.parametrize("T,K", [(200, 16), (61, 8)])
def test_reverse_ar_is_ar_mirrored(T, K):
    ar, rev = compiled("ar", T, K), compiled("reverse_ar", T, K)
    mirror = lambda xs: sorted(T - 1 - f for f in xs)  # noqa: E731
    assert windows(rev) == [(mirror(g), mirror(o), mirror(m)) for g, o, m in windows(ar)]


@pytest.mark.parametrize("T,K", [(200, 16), (40, 8), (301, 12)])
def test_hierarchy2_shape(T, K):
    plan = compiled("hierarchy2", T, K)
    step = K // 2
    keys, obs, mar = windows(plan)[0]
    assert len(keys) == K and keys[0] == 0 and keys[-1] == T - 1 and obs == [] and mar == []
    gaps = max(b - a - 1 for a, b in zip(keys, keys[1:]))
    for gen, obs, mar in windows(plan)[1:]:
        assert 1 <= len(gen) <= step and mar == []
        assert gen == list(range(gen[0], gen[-1] + 1)), "a piece of one gap: consecutive frames"
        assert len(gen) + len(obs) == K, "the window is filled with complete frames"
        assert any(f > gen[-1] for f in obs) and any(f < gen[0] for f in obs), "conditioned on both sides"
        assert len(gen) <= gaps


@pytest.mark.parametrize("T,K", [(200, 16), (61, 8), (37, 12)])
def test_improved_ar_shape(T, K):
    plan = compiled("improved_ar", T, K)
    step, future = K // 2, K // 4
    first, *rest = windows(plan)
    assert first == (list(range(K - future)), [], list(range(K - future, K)))
    for gen, obs, mar in rest:
        assert len(gen) <= step and gen == list(range(gen[0], gen[-1] + 1))
        assert mar == list(range(gen[-1] + 1, min(gen[-1] + 1 + future, T))), "the frames right after the block"
        assert obs == list(range(gen[0] - len(obs), gen[0])), "the most recent complete frames"
        assert len(gen) + len(obs) + len(mar) == K
        if gen[-1] + future < T:
            assert len(obs) == K - step - future
    assert plan.stats.marginal_frames > 0


@pytest.mark.parametrize("T,K,far", [(200, 16, None), (200, 16, 5), (90, 8, None)])
def test_improved_ar_far_future_shape(T, K, far):
    extra = {} if far is None else {"far": far}
    plan = compiled("improved_ar_far_future", T, K, **extra)
    far = 2 * K if far is None else far
    future = K // 4
    for i, (gen, obs, mar) in enumerate(windows(plan)):
        assert gen == list(range(gen[0], gen[-1] + 1))
        expected = [gen[-1] + far * j for j in range(1, future + 1) if gen[-1] + far * j < T]
        assert mar == expected, f"stage {i}: far-future marginals"
        assert obs == list(range(gen[0] - len(obs), gen[0])), "the most recent complete frames"
        if i > 0:
            assert len(gen) + len(obs) + len(mar) == K
    assert plan.stats.marginal_frames > 0


@pytest.mark.parametrize("T,K,stride", [(200, 16, 3), (100, 8, 3), (200, 16, 4)])
def test_improved_ar_2res_levels(T, K, stride):
    plan = compiled("improved_ar_2res", T, K, stride=stride)
    keys = set(range(0, T, stride))
    names = [st.name for st in plan.stages]
    n1 = sum(1 for s in names if s.startswith("keyframes"))
    level1, level2 = plan.stages[:n1], plan.stages[n1:]
    assert {f for st in level1 for f in st.generate} == keys
    assert all(set(st.marginal) <= keys for st in level1), "level 1 looks ahead along the keyframes only"
    assert level1[0].generate == sorted(keys)[: K - K // 4]
    assert all(not (set(st.generate) & keys) for st in level2)
    for st in level2:
        g = st.generate
        assert len(g) <= K // 2
        # the keyframes between the generated frames are observed, complete
        assert set(range(g[0], g[-1] + 1)) & keys <= set(st.observe)
    assert any(st.marginal for st in level2)


@pytest.mark.parametrize("T,K,mid", [(200, 16, 5), (200, 16, 4), (120, 8, 5)])
def test_improved_ar_3res_levels(T, K, mid):
    coarse = 15
    plan = compiled("improved_ar_3res", T, K, mid=mid)
    level = []
    for st in plan.stages:
        level.append(1 if st.name.startswith("every coarse") else 2 if st.name.startswith("every mid") else 3)
    assert level == sorted(level), "levels run in order"
    gen_at = lambda L: {f for st, lv in zip(plan.stages, level) if lv == L for f in st.generate}  # noqa: E731
    assert gen_at(1) == set(range(0, T, coarse))
    assert gen_at(2) == set(range(0, T, mid)) - set(range(0, T, coarse))
    assert gen_at(3) == set(range(T)) - set(range(0, T, mid)) - set(range(0, T, coarse))


@pytest.mark.parametrize("name", ["ar", "reverse_ar", "hierarchy2"])
def test_no_marginal_schemes_observe_only_complete_frames(name):
    for T, K in [(200, 16), (50, 8)]:
        assert compiled(name, T, K).stats.marginal_frames == 0


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("ar", {"step": 16}, "step must be between 1 and K-1"),
        ("ar", {"step": 0}, "step must be between 1 and K-1"),
        ("ar", {"K": 1}, "K must be at least 2"),
        ("reverse_ar", {"step": 20}, "step must be between 1 and K-1"),
        ("hierarchy2", {"step": 16}, "step must be between 1 and K-1"),
        ("improved_ar", {"step": 10, "future": 6}, "step + future must be less than K"),
        ("improved_ar", {"future": -1}, "future must be at least 0"),
        ("improved_ar_far_future", {"far": 0}, "far (the spacing of the far-future frames) must be at least 1"),
        ("improved_ar_2res", {"stride": 1}, "stride (the keyframe spacing) must be at least 2"),
        ("improved_ar_3res", {"mid": 15}, "the spacings must satisfy 2 <= mid < coarse"),
        ("improved_ar_3res", {"step": 0}, "step must be at least 1"),
    ],
)
def test_bad_parameters_are_rejected(name, overrides, message):
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(name, overrides)
    assert message in info.value.render()


# ---- golden plans ------------------------------------------------------------------
def _golden_data(name: str) -> dict:
    plan = compiled(name, 40, 8)
    return {
        "scheme": name,
        "params": {"T": 40, "K": 8},
        "stages": [
            {"name": st.name, "generate": st.generate, "observe": st.observe, "marginal": st.marginal}
            for st in plan.stages
        ],
    }


def _golden_text(data: dict) -> str:
    # One stage per line, so a diff of the file reads like `vidsched compile --explain`.
    lines = [json.dumps(st, separators=(", ", ": ")) for st in data["stages"]]
    return (
        "{\n"
        f'  "scheme": {json.dumps(data["scheme"])},\n'
        f'  "params": {json.dumps(data["params"])},\n'
        '  "stages": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    )


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_plan(name):
    path = GOLDEN_DIR / f"{name}_T40_K8.json"
    data = _golden_data(name)
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(_golden_text(data), encoding="utf-8")
    how = (
        f"if the change is intended, check it with `vidsched compile {name} --set T=40 --set K=8 --explain` "
        f"and `vidsched render {name} --set T=40 --set K=8 -o /tmp/{name}.png`, then regenerate with "
        "`VIDSCHED_UPDATE_GOLDEN=1 python -m pytest tests/test_schemes.py -k golden`"
    )
    assert path.is_file(), f"golden file {path} is missing; {how}"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert expected["params"] == data["params"]
    got, want = data["stages"], expected["stages"]
    roles = ("generate", "observe", "marginal")
    for i, (g, w) in enumerate(zip(got, want)):
        for role in roles:
            assert g[role] == w[role], f"{name}: stage {i} {role} is {g[role]}, golden {path.name} says {w[role]}; {how}"
    assert len(got) == len(want), f"{name}: {len(got)} stages, golden {path.name} has {len(want)}; {how}"


def test_golden_files_exist_only_for_golden_schemes():
    files = sorted(p.name for p in GOLDEN_DIR.glob("*.json"))
    assert files == sorted(f"{n}_T40_K8.json" for n in GOLDEN)


# ---- headers and the `schemes` command -----------------------------------------------
def _header(text: str) -> list[str]:
    """The comment lines before the first code line."""
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            lines.append(s.lstrip("#").strip())
        elif s:
            break
    return lines


@pytest.mark.parametrize("scheme", SCHEMES, ids=NAMES)
def test_scheme_has_header_comment(scheme):
    first = next(line for line in scheme.text.splitlines() if line.strip())
    assert first.startswith("#"), f"{scheme.name}: the file must start with a header comment"
    header = _header(scheme.text)
    assert header[0], f"{scheme.name}: the first header line is the summary and must not be empty"
    assert scheme.summary == header[0]
    assert len(header[0]) <= 110, f"{scheme.name}: the summary should fit on one line ({len(header[0])} chars)"
    assert len([h for h in header if h]) >= 3, f"{scheme.name}: the header should say what the scheme does"
    text = "\n".join(header)
    params = compile_scheme(scheme.name).params
    for p in params:
        assert re.search(rf"\b{re.escape(p)}\b", text), f"{scheme.name}: the header does not document parameter {p}"
    if "/" not in scheme.name:
        assert "Paper:" in text, f"{scheme.name}: the header should point to the paper section (a `Paper:` line)"


def test_schemes_command_lists_every_builtin_scheme(capsys):
    assert cli_main(["schemes"]) == 0
    out = capsys.readouterr().out
    listed = {}
    for line in out.splitlines():
        if line.strip():
            name, _, summary = line.strip().partition(" ")
            listed[name] = summary.strip()
    assert set(listed) == set(NAMES)
    for b in SCHEMES:
        assert listed[b.name] == b.summary


# ---- the invariant checker itself rejects broken plans ------------------------------
def _broken(mutate) -> dict:
    data = compiled("improved_ar", 40, 8).model_dump(mode="json")
    mutate(data)
    return data


def _merge_batches(d):
    # stages 1 and 2 in one batch: stage 2 observes frames stage 1 generates
    d["batches"] = [[0], [1, 2]] + d["batches"][3:]
    d["stats"]["batches"] -= 1


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["stages"][1]["observe"].extend([20, 21, 22]), "has 11 frames but K = 8"),
        (lambda d: d["stages"][1]["observe"].__setitem__(1, 30), "observes frames {30} as complete before"),
        (lambda d: d["stages"][1]["marginal"].reverse(), "marginal is not sorted"),
        (lambda d: d["stages"][1]["marginal"].__setitem__(0, 0), "marginal but they are complete"),
        (lambda d: d["stages"][2]["generate"].append(0), "generate is not sorted"),
        (lambda d: d["stages"][2]["observe"].append(10), "are in both generate and observe"),
        (lambda d: d["stages"][2]["generate"].__setitem__(0, 5), "generates frames {5} that are already complete"),
        (lambda d: d["stages"][-1]["generate"].pop(), "never generated"),
        (lambda d: d["stages"][0].__setitem__("generate", []), "generates nothing"),
        (lambda d: d["batches"][1].append(2), "is in batches"),
        (_merge_batches, "edge 1 -> 2"),
    ],
)
def test_invariant_checker_rejects_broken_plans(mutate, message):
    assert_plan_invariants(_broken(lambda d: None))
    with pytest.raises(AssertionError, match=re.escape(message)):
        assert_plan_invariants(_broken(mutate))
