"""Tests of the FDM oracle (tests/fdm_reference.py) itself.

* it reproduces every example of shared/reference/fdm_schemes.json stage for stage
  (observed and generated frames compared as sets);
* on a sweep of parameter sets, its schedules are well-formed (each frame generated
  exactly once, at most K frames per stage, observed frames already done, ...);
* the documented quirk / retry / failure classification behaves as described.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fdm_reference as fr  # noqa: E402

EXAMPLES = fr.load_reference_examples()


def _example_id(ex: dict) -> str:
    return f"{ex['fdm_scheme']}-T{ex['T']}-K{ex['K']}-obs{ex['n_obs']}-step{ex['step']}"


# --------------------------------------------------------------------------- JSON examples


def test_reference_file_loaded():
    assert fr.reference_path().is_file()
    assert len(EXAMPLES) >= 10
    names = {ex["fdm_scheme"] for ex in EXAMPLES}
    assert {"autoreg", "long-range"} <= names
    assert any(n.startswith("hierarchy-") for n in names)
    assert {ex["oracle_scheme"] for ex in EXAMPLES} == set(fr.SCHEMES)


@pytest.mark.parametrize("ex", EXAMPLES, ids=_example_id)
def test_oracle_matches_reference_example(ex):
    got = fr.fdm_stages(ex["oracle_scheme"], ex["T"], ex["K"], ex["n_obs"], ex["step"], ex["levels"])
    expected = ex["expected"]
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g[1] == e[1], f"stage {i}: generated {sorted(g[1])} != FDM {sorted(e[1])}"
        assert g[0] == e[0], f"stage {i}: observed {sorted(g[0])} != FDM {sorted(e[0])}"
    assert len(got) == len(expected)
    # literal FDM behaviour agrees on the examples too, and none is a skipped set
    assert fr.fdm_stages(ex["oracle_scheme"], ex["T"], ex["K"], ex["n_obs"], ex["step"],
                         ex["levels"], literal=True) == expected
    assert not fr.hits_fdm_retry(ex["oracle_scheme"], ex["T"], ex["K"], ex["n_obs"],
                                 ex["step"], ex["levels"])


@pytest.mark.parametrize("ex", EXAMPLES, ids=_example_id)
def test_fdm_names_accepted(ex):
    got = fr.fdm_stages(ex["fdm_scheme"], ex["T"], ex["K"], ex["n_obs"], ex["step"])
    assert got == ex["expected"]


# --------------------------------------------------------------------------- sanity sweep


def _check_well_formed(stages, T, K, n_obs, step):
    assert stages, "at least one stage"
    done = set(range(n_obs))
    generated_total = []
    for i, (obs, lat) in enumerate(stages):
        assert lat, f"stage {i} generates nothing"
        assert all(0 <= f < T for f in lat)
        assert not (lat & done), f"stage {i} regenerates {sorted(lat & done)}"
        assert obs <= done, f"stage {i} observes undone frames {sorted(obs - done)}"
        assert len(obs) + len(lat) <= K, f"stage {i} uses {len(obs) + len(lat)} > K frames"
        if not (i == 0 and n_obs == 0):
            assert len(lat) <= step
            assert len(obs) <= K - step
        else:
            assert not obs
        done |= lat
        generated_total.extend(lat)
    # every frame generated exactly once, given frames never
    assert sorted(generated_total) == list(range(n_obs, T))
    assert done == set(range(T))


SWEEP = [
    (T, K, n_obs, step)
    for T in (10, 13, 17, 24, 33, 50, 64, 101, 150)
    for K in (4, 5, 6, 8, 11, 16, 20)
    for n_obs in sorted({0, 1, 2, K // 2, K - 1, K})
    for step in sorted({1, 2, 3, K // 2, K - 2, K - 1})
    if K < T and 1 <= step <= K - 1
]


@pytest.mark.parametrize("scheme", ["autoreg", "long_range"])
def test_sweep_autoregressive_schemes(scheme):
    for T, K, n_obs, step in SWEEP:
        stages = fr.fdm_stages(scheme, T, K, n_obs, step)
        _check_well_formed(stages, T, K, n_obs, step)
        # generated frames are contiguous runs starting right after the last done frame
        done_max = n_obs - 1
        for i, (obs, lat) in enumerate(stages):
            if i == 0 and n_obs == 0:
                assert lat == frozenset(range(K))
            else:
                assert lat == frozenset(range(done_max + 1, min(done_max + 1 + step, T)))
            done_max = max(lat)
        assert not fr.hits_fdm_retry(scheme, T, K, n_obs, step)


def test_sweep_autoreg_observes_latest():
    for T, K, n_obs, step in SWEEP:
        done = set(range(n_obs))
        for i, (obs, lat) in enumerate(fr.fdm_stages("autoreg", T, K, n_obs, step)):
            if not (i == 0 and n_obs == 0):
                assert obs == frozenset(sorted(done)[-(K - step):])
            done |= lat


def test_sweep_long_range_observation_rule():
    for T, K, n_obs, step in SWEEP:
        n_cond = K - step
        done = set(range(n_obs))
        given = set(range(n_obs)) if n_obs else set(range(K))
        for i, (obs, lat) in enumerate(fr.fdm_stages("long_range", T, K, n_obs, step)):
            if not (i == 0 and n_obs == 0):
                recent = set(sorted(done)[max(0, len(done) - n_cond // 2):])
                assert recent <= obs
                assert obs - recent <= given
                assert len(obs) == min(n_cond, len(recent | given))
                # the given frames used are the newest ones
                extra = obs - recent
                if extra:
                    assert all(g in obs for g in given - recent if g > min(extra))
            done |= lat


@pytest.mark.parametrize("levels", [2, 3, 4])
def test_sweep_hierarchy(levels):
    counts = {"ok": 0, "retry": 0, "failure": 0}
    for T, K, n_obs, step in SWEEP:
        if step < 2:
            with pytest.raises(fr.FDMFailure):
                fr.fdm_stages("hierarchy", T, K, n_obs, step, levels)
            continue
        try:
            stages = fr.fdm_stages("hierarchy", T, K, n_obs, step, levels)
        except fr.FDMRetry:
            counts["retry"] += 1
            assert fr.hits_fdm_retry("hierarchy", T, K, n_obs, step, levels)
            continue
        except fr.FDMFailure:
            counts["failure"] += 1
            assert not fr.fdm_supported("hierarchy", T, K, n_obs, step, levels)
            continue
        counts["ok"] += 1
        _check_well_formed(stages, T, K, n_obs, step)
        assert not fr.hits_fdm_retry("hierarchy", T, K, n_obs, step, levels)
        assert fr.fdm_supported("hierarchy", T, K, n_obs, step, levels)
        assert not fr.hits_fdm_quirk("hierarchy", T, K, n_obs, step, levels)
        # the first conditional stage (n_obs > 0) spans the rest of the video up to T-1
        if n_obs > 0:
            assert max(stages[0][1]) == T - 1 and min(stages[0][1]) == n_obs
    assert counts["ok"] > 100, counts


def test_hierarchy_spacings():
    # worked examples from the reference data
    assert fr.hierarchy_spacings(50, 8, 3, 3) == {1: 21, 2: 4, 3: 1}
    assert fr.hierarchy_spacings(50, 8, 4, 3) == {1: 14, 2: 3, 3: 1}
    assert fr.hierarchy_spacings(33, 8, 8, 3) == {1: 3, 2: 1, 3: 1}
    assert fr.hierarchy_spacings(50, 3, 3, 2) == {1: 23, 2: 1}
    with pytest.raises(fr.FDMFailure):
        fr.hierarchy_spacings(50, 3, 1, 2)


def test_linspace_formula():
    """The arithmetic the scheme language must reproduce for int(np.linspace(...)):
    v_i = i * ((stop - start) / (num - 1)) + start in float64, last = stop, truncated."""

    def plain(start, stop, num):
        if num == 0:
            return []
        if num == 1:
            return [int(start)]
        d = (stop - start) / (num - 1)
        return [int(i * d + start) for i in range(num - 1)] + [int(stop)]

    for T in range(2, 320):
        for num in range(0, 21):
            for n in range(0, min(T, 21)):
                assert fr._linspace_int(n + 1 if n else 0, T - 0.001 if n else T - 1, num) == \
                    plain(n + 1 if n else 0, T - 0.001 if n else T - 1, num)
                if n:
                    assert list(np.linspace(0, n - 1 + 0.999, num).astype(np.int32)) == \
                        plain(0, n - 1 + 0.999, num)


# --------------------------------------------------------------------------- quirks & errors


def test_long_range_zero_slice_quirk():
    # K - step == 1: FDM's [-0:] makes it observe every done frame
    T, K, n_obs, step = 20, 6, 3, 5
    assert fr.hits_fdm_quirk("long_range", T, K, n_obs, step)
    intent = fr.fdm_stages("long_range", T, K, n_obs, step)
    literal = fr.fdm_stages("long_range", T, K, n_obs, step, literal=True)
    assert all(obs == frozenset({2}) for obs, _ in intent)
    assert literal[1][0] == frozenset(range(8))
    assert [lat for _, lat in intent] == [lat for _, lat in literal]


def test_autoreg_step_equals_k_quirk():
    assert fr.hits_fdm_quirk("autoreg", 20, 6, 3, 6)
    assert all(not obs for obs, _ in fr.fdm_stages("autoreg", 20, 6, 3, 6))
    assert not fr.hits_fdm_quirk("autoreg", 20, 6, 3, 5)


def test_retry_detection():
    # K - step < 2 at the level-1 stage
    assert fr.hits_fdm_retry("hierarchy", 50, 6, 4, 5, 2)
    with pytest.raises(fr.FDMRetry):
        fr.fdm_stages("hierarchy", 50, 6, 4, 5, 2)
    assert not fr.hits_fdm_retry("hierarchy", 50, 6, 3, 3, 2)
    assert not fr.hits_fdm_retry("autoreg", 50, 6, 4, 5)


def test_unconditional_too_long_first_stage():
    with pytest.raises(fr.FDMFailure):
        fr.fdm_stages("autoreg", 10, 12, 0, 4)
    # hierarchy: linspace(0, T-1, K) with K > T covers every frame in one stage
    assert fr.fdm_stages("hierarchy", 10, 12, 0, 4) == [(frozenset(), frozenset(range(10)))]


def test_argument_validation():
    with pytest.raises(ValueError):
        fr.fdm_stages("nope", 10, 4, 1, 2)
    with pytest.raises(ValueError):
        fr.fdm_stages("autoreg", 10, 4, 1, 5)
    with pytest.raises(ValueError):
        fr.fdm_stages("autoreg", 10, 4, 11, 2)
    assert fr.normalize_scheme_name("hierarchy-3") == ("hierarchy", 3)
    assert fr.normalize_scheme_name("long-range") == ("long_range", 2)
    assert fr.fdm_stages("autoreg", 10, 4, 10, 2) == []


# --------------------------------------------------------------------------- extra sets


@pytest.mark.parametrize("scheme", fr.SCHEMES)
def test_extra_parameter_sets(scheme):
    sets = fr.extra_parameter_sets(scheme)
    assert len(sets) == 40
    assert sets == fr.extra_parameter_sets(scheme)  # deterministic
    assert len({tuple(sorted(p.items())) for p in sets}) == 40
    for p in sets:
        assert 10 <= p["T"] <= 300 and 4 <= p["K"] <= 20 and p["K"] < p["T"]
        assert 0 <= p["n_obs"] <= p["K"] and 1 <= p["step"] <= p["K"] - 1
        if scheme == "hierarchy":
            assert p["levels"] in (2, 3)
        assert not fr.hits_fdm_retry(scheme, **p)
        assert not fr.hits_fdm_quirk(scheme, **p)
        stages = fr.fdm_stages(scheme, **p)
        _check_well_formed(stages, p["T"], p["K"], p["n_obs"], p["step"])
    if scheme == "hierarchy":
        assert {p["levels"] for p in sets} == {2, 3}
    assert any(p["n_obs"] == 0 for p in sets)
    assert any(p["n_obs"] > 0 for p in sets)
