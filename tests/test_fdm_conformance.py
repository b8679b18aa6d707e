"""schemes/fdm/*.sched reproduce FDM's reference stage lists.

Two sources of truth: the stage lists produced by FDM's own code
(``shared/reference/fdm_schemes.json``) and, for many more parameter sets, the
independent re-implementation in ``tests/fdm_reference.py`` (which itself is checked
against the JSON in test_fdm_reference.py). Stages are compared as sets, in order.
"""

from __future__ import annotations

import pytest

from fdm_reference import extra_parameter_sets, fdm_stages, load_reference_examples, reference_path
from vidsched.compiler import compile_scheme

SCHEME_FILE = {"autoreg": "fdm/autoreg", "long_range": "fdm/long_range", "hierarchy": "fdm/hierarchy"}


def our_stages(scheme: str, params: dict) -> list[tuple[frozenset[int], frozenset[int]]]:
    plan = compile_scheme(SCHEME_FILE[scheme], params)
    assert all(not st.marginal for st in plan.stages), "FDM schemes never observe incomplete frames"
    return [(frozenset(st.observe), frozenset(st.generate)) for st in plan.stages]


def _describe(ours, theirs) -> str:
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return (
                f"first difference at stage {i}: ours obs={sorted(a[0])} gen={sorted(a[1])}, "
                f"FDM obs={sorted(b[0])} gen={sorted(b[1])}"
            )
    return f"{len(ours)} stages vs FDM's {len(theirs)}"


EXAMPLES = load_reference_examples() if reference_path().exists() else []


@pytest.mark.skipif(not EXAMPLES, reason="shared/reference/fdm_schemes.json not found")
@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"{e['fdm_scheme']}-T{e['T']}-K{e['K']}-n{e['n_obs']}-s{e['step']}" for e in EXAMPLES]
)
def test_reference_examples(example):
    params = {"T": example["T"], "K": example["K"], "n_obs": example["n_obs"], "step": example["step"]}
    if example["oracle_scheme"] == "hierarchy":
        params["levels"] = example["levels"]
    ours = our_stages(example["oracle_scheme"], params)
    assert ours == example["expected"], _describe(ours, example["expected"])


CASES = [(scheme, params) for scheme in SCHEME_FILE for params in extra_parameter_sets(scheme)]


@pytest.mark.parametrize("scheme,params", CASES, ids=[f"{s}-{'-'.join(map(str, p.values()))}" for s, p in CASES])
def test_matches_fdm_on_more_parameter_sets(scheme, params):
    ours = our_stages(scheme, params)
    theirs = fdm_stages(scheme, **params)
    assert ours == theirs, _describe(ours, theirs)
