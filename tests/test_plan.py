"""The plan's batches are the one record of a stage's batch (issue 12, "the typed chain").

A compiled plan writes no stage-level ``batch``; ``Plan.batch_of`` and ``Plan.graph()``
read it from ``batches``. Plan files written by earlier versions carry ``batch`` on every
stage: they still load when those values agree with ``batches``, and are refused with a
clear message when they do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidsched.compiler import compile_scheme
from vidsched.plan import PLAN_FORMAT_JOINT, Plan, PlanError, check_plan

V1_PLAN = Path(__file__).parent / "data" / "plan_v1_ar_T12_K4.json"  # written with stage-level "batch"


@pytest.mark.parametrize("name", ["hierarchy2", "keyframes_joint"])
def test_a_compiled_plan_writes_each_stages_batch_only_in_batches(name):
    plan = compile_scheme(name, {"T": 40, "K": 8})
    data = json.loads(plan.to_json())
    assert data["stages"] and not any("batch" in st for st in data["stages"])
    if name == "hierarchy2":
        assert any(len(members) > 1 for members in plan.batches)  # batches shared by several stages
    else:
        assert any(st.joint is not None for st in plan.stages) and plan.format == PLAN_FORMAT_JOINT
    expected = {i: b for b, members in enumerate(data["batches"]) for i in members}
    assert plan.batch_of == expected
    assert dict(plan.graph().nodes(data="batch")) == expected
    back = check_plan(Plan.model_validate_json(plan.to_json()))
    assert back == plan and back.batch_of == expected


def test_a_legacy_plan_with_stage_batches_still_loads():
    legacy = json.loads(V1_PLAN.read_text())
    assert [st["batch"] for st in legacy["stages"]] == [0, 1, 2, 3, 4]
    plan = check_plan(Plan.model_validate(legacy))
    assert plan == compile_scheme("ar", {"T": 12, "K": 4}, steps=4)
    assert plan.batch_of == {i: i for i in range(5)}
    assert all("batch" in st for st in legacy["stages"])  # the caller's data is left as it was
    # a /2 plan (joint groups) written with stage-level batches loads too
    joint = compile_scheme("keyframes_joint", {"T": 40, "K": 8})
    data = json.loads(joint.to_json())
    for st in data["stages"]:
        st["batch"] = joint.batch_of[st["index"]]
    loaded = check_plan(Plan.model_validate_json(json.dumps(data)))
    assert loaded == joint and loaded.format == PLAN_FORMAT_JOINT


def test_a_legacy_plan_whose_stage_batches_disagree_is_refused():
    legacy = json.loads(V1_PLAN.read_text())
    legacy["stages"][3]["batch"] = 1
    with pytest.raises(PlanError, match="^stage 3 says batch 1 but the batches list puts it in batch 3$"):
        Plan.model_validate(legacy)
    with pytest.raises(PlanError, match="stage 3 says batch 1"):
        Plan.model_validate_json(json.dumps(legacy))
