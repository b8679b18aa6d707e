"""Windows denoised together (issue 12 item 4): `joint { ... }` groups from the language
to the plan, the runtime's fused denoiser, batching, resume and the figure.

The runtime tests use fake denoisers (tests/test_executor.py) whose estimate at unknown
pixels is a code of the window they run on, so the fused estimate of a frame can be
compared with the mean of the codes of the windows that hold it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidsched.compiler import compile_scheme
from vidsched.errors import SchemeErrors, SourceFile
from vidsched.plan import PLAN_FORMAT, PLAN_FORMAT_JOINT, Plan, PlanError, check_plan
from vidsched.runtime.executor import (
    Executor,
    SamplerSettings,
    compose_output,
    gather_window,
    initial_buffer,
    joint_denoiser,
    window_layout,
)
from vidsched.runtime.resume import ProgressStore, fingerprint

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_invariants import assert_plan_invariants  # noqa: E402
from test_executor import T, constant_denoiser, noisy_denoiser, video_and_hole, window_code  # noqa: E402
import test_run  # noqa: E402
from test_run import assets  # noqa: E402,F401  (the tiny model and clip of `vidsched run`)

SETTINGS = SamplerSettings(name="heun", steps=4)  # the plans count Heun (2N - 1 a stage)
V1_PLAN = Path(__file__).parent / "data" / "plan_v1_ar_T12_K4.json"


def plan_of(body: str, T: int = T, K: int = 8, **kwargs) -> Plan:
    text = f"scheme j(T = {T}, K = {K}) {{\n{body}\n}}\n"
    return compile_scheme(SourceFile("j.sched", text), steps=4, **kwargs)


def errors_of(body: str, T: int = T, K: int = 8) -> list:
    with pytest.raises(SchemeErrors) as info:
        plan_of(body, T, K)
    return info.value.errors


def run(plan, frames, hole, make=noisy_denoiser, **kwargs):
    buffer = initial_buffer(frames, hole)
    kwargs.setdefault("seed", 3)
    cap = kwargs.pop("max_windows_per_call", None)
    Executor(make, SETTINGS, max_windows_per_call=cap).run(plan, buffer, hole, **kwargs)
    return buffer


# ---- the language and the plan ---------------------------------------------------------
def test_a_joint_block_is_one_unit_of_the_plan():
    plan = plan_of("""
    stage keys { generate 0 ..< T by 5 }
    joint fill shift 2 {
        generate todo
        observe done
        window sliding(0 ..< T, 8, 4)
    }
    """)
    assert plan.format == PLAN_FORMAT_JOINT
    keys, group = plan.stages
    assert group.joint is not None and keys.joint is None
    assert group.name == "fill" and group.generate == [f for f in range(T) if f % 5]
    assert group.observe == keys.generate
    assert group.joint.windows == [list(range(a, a + 8)) for a in (0, 4, 8, 12)]
    assert group.joint.shift == 2
    assert group.joint.shifted[0] == [0, 1] and group.joint.shifted[1] == list(range(2, 10))
    # One node: the group depends on the keyframe stage, as a stage would.
    assert plan.edges == [(0, 1, "data")] and plan.batches == [[0], [1]]
    # Each evaluation of the group runs its windows: 7 evaluations (Heun, 4 steps),
    # 4 even ones over 4 windows, 3 odd ones over the 5 shifted windows.
    assert plan.stats.network_evaluations == 7 + 4 * 4 + 3 * 5
    assert plan.stats.max_window == 8
    assert_plan_invariants(plan)
    check_plan(plan)


def test_the_state_changes_after_the_whole_group():
    # Inside the block `todo` is what it was before the group: both windows generate.
    plan = plan_of("joint { generate todo; window 0 ..< 8; window 4 ..< 12; window 12 ..< 20 }")
    (group,) = plan.stages
    assert group.generate == list(range(T)) and group.joint.windows[1] == list(range(4, 12))


def test_a_stage_plan_is_written_exactly_as_before():
    plan = compile_scheme("ar", {"T": 12, "K": 4}, steps=4)
    text = plan.to_json(indent=2)
    assert plan.format == PLAN_FORMAT and '"joint"' not in text
    # A plan file of format /1 (written before joint groups existed) loads, checks and
    # is written back unchanged but for its stages' batch values (the batches list holds them).
    old = V1_PLAN.read_text()
    loaded = check_plan(Plan.model_validate_json(old))
    expected = json.loads(old)
    for st in expected["stages"]:
        del st["batch"]
    assert json.loads(loaded.to_json()) == expected
    assert loaded == plan


def test_a_group_plan_round_trips_and_is_checked():
    plan = compile_scheme("keyframes_joint", {"T": 40, "K": 8})
    back = check_plan(Plan.model_validate_json(plan.to_json()))
    assert back == plan and back.format == PLAN_FORMAT_JOINT
    data = json.loads(plan.to_json())
    data["format"] = PLAN_FORMAT  # a /1 plan cannot hold a group
    with pytest.raises(PlanError, match="joint group"):
        check_plan(Plan.model_validate(data))
    data = json.loads(plan.to_json())
    data["stages"][1]["joint"]["windows"][0] = list(range(9))  # a window over K
    with pytest.raises(PlanError, match="a window holds 1..K"):
        check_plan(Plan.model_validate(data))
    data = json.loads(plan.to_json())
    del data["stages"][1]["joint"]["windows"][1:3]  # frames 8-11 in no window
    with pytest.raises(PlanError, match="in none of its joint.windows"):
        check_plan(Plan.model_validate(data))


@pytest.mark.parametrize(
    "body, kind, line, column, text",
    [
        # a window over K, at the window (the item of the list named)
        ("joint {\ngenerate todo\nwindow [0 ..< 9, 9 ..< 20]\n}", "stage-too-large", 3, 1,
         "window 0 of group 0 (item 0 of the list) has 9 frames but K = 8"),
        # a generated frame in no window, at the generate statement
        ("joint {\ngenerate todo\nwindow 0 ..< 8\nwindow 8 ..< 16\n}", "joint-window", 2, 1,
         "group 0 generates frames 16-19 that are in no window"),
        # a window frame that the group neither generates nor observes
        ("stage { generate 0 ..< 4 }\njoint {\ngenerate todo\nwindow 0 ..< 8\nwindow 8 ..< 20\n}", "joint-window",
         4, 1, "window 0 of group 1 holds frames 0-3 that the group neither generates nor observes"),
        # a frame generated by the group observed inside it
        ("joint {\ngenerate todo\nobserve 3\nwindow sliding(0 ..< T, 8, 4)\n}", "generate-observe-overlap", 3, 1,
         "group 0 both generates and observes frames 3"),
        # no window at all
        ("joint g {\ngenerate todo\n}", "joint-window", 1, 1, "group 0 has no window"),
        # statically: a stage inside a joint, a window outside one, a nested joint
        ("joint {\nstage { generate todo }\n}", "type", 2, 1, "a stage inside a joint block"),
        ("stage { generate todo }\nwindow 0 ..< 8", "type", 2, 1, "`window` outside a joint block"),
        ("joint {\njoint { generate todo }\n}", "type", 2, 1, "a joint block inside a joint block"),
        # a negative shift, at the shift
        ("let s = 0 - 1\njoint shift s { generate todo; window 0 ..< 8 }", "evaluation", 2, 13,
         "a joint's shift must be at least 0, got -1"),
    ],
)
def test_errors_have_positions(body, kind, line, column, text):
    errors = errors_of(body)
    found = [e for e in errors if text in e.message]
    assert found, [e.message for e in errors]
    err = found[0]
    assert (err.kind, err.line - 1, err.column) == (kind, line, column), err.render()
    assert f"j.sched:{err.line}:{err.column}: error[{kind}]" in err.render()


def test_a_window_written_in_a_procedure_is_reported_there():
    text = """proc windows(S, K) {
    window sliding(S, K + 1, K)
}
scheme j(T = 20, K = 8) {
    joint { generate todo; windows(todo, K) }
}
"""
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(SourceFile("p.sched", text))
    err = info.value.errors[0]
    assert err.kind == "stage-too-large" and err.line == 2
    assert any("in proc windows, called at line 5" in n for n in err.notes), err.notes


def test_mask_specialisation_keeps_the_windows():
    plan = compile_scheme("keyframes_joint", {"T": 40, "K": 8}, complete_frames=[1, 2, 3, 4])
    group = plan.stages[1]
    assert [1, 2, 3, 4] == [f for f in group.observe if f in (1, 2, 3, 4)]
    assert group.joint.windows[0] == list(range(8))
    assert_plan_invariants(plan)


@pytest.mark.parametrize("T_, K", [(1, 16), (5, 4), (16, 16), (17, 16), (40, 8), (200, 16), (10_000, 16)])
def test_keyframes_joint_compiles_from_short_to_long_videos(T_, K):
    plan = compile_scheme("keyframes_joint", {"T": T_, "K": K})
    assert_plan_invariants(plan)
    assert len(plan.stages) == (1 if T_ <= K else 2)


# ---- the runtime -----------------------------------------------------------------------
@pytest.mark.parametrize("window", ["6 ..< 14", "8 ..< 13"])
def test_one_window_equals_the_stage(window):
    """A group of one window is sampled with the very numbers of the same stage: the
    same noise stream (its index), the same layout, the window's estimate unchanged."""
    lo, hi = (int(x) for x in window.split(" ..< "))
    stage = plan_of(f"stage {{ generate 0 ..< 8 }}\nstage {{ generate 8 ..< {hi}; observe {lo} ..< 8 }}\n"
                    "stage { generate todo; observe last(done, 1) }")
    group = plan_of(f"stage {{ generate 0 ..< 8 }}\njoint {{ generate 8 ..< {hi}; observe {lo} ..< 8; window {window} }}\n"
                    "stage { generate todo; observe last(done, 1) }")
    assert group.stages[1].joint is not None
    frames, hole = video_and_hole()
    assert np.array_equal(run(stage, frames, hole), run(group, frames, hole))


def _group_inputs(plan, frames, hole):
    buffer = initial_buffer(frames, hole)
    window = gather_window(plan.stages[0], buffer, hole, plan.max_frames)
    values = torch.from_numpy(window.values)
    known = torch.from_numpy(window.known.astype(np.float32))
    return window, values, known


def test_a_frame_in_two_windows_gets_the_mean_of_their_estimates():
    plan = plan_of("joint shift 3 { generate todo; window 0 ..< 8; window 5 ..< 13; window 12 ..< 20 }")
    joint = plan.stages[0].joint
    frames, hole = video_and_hole()
    window, values, known = _group_inputs(plan, frames, hole)
    layouts = [window_layout(window, ws, 8, values, known) for ws in (joint.windows, joint.shifted)]
    calls = []

    def recording(v, k, index, valid):
        inner = constant_denoiser(v, k, index, valid)

        def d(x, sigma):
            calls.append(len(x))
            return inner(x, sigma)

        return d

    denoise = joint_denoiser(recording, layouts, values, known, max_windows=2)
    x = torch.randn((1,) + tuple(values.shape))

    def code(frames_):
        t = torch.tensor([frames_ + [frames_[-1]] * (8 - len(frames_))])
        return window_code(t, torch.tensor([[True] * len(frames_) + [False] * (8 - len(frames_))])).item()

    for evaluation, windows in enumerate([joint.windows, joint.shifted, joint.windows]):
        est = denoise(x, torch.tensor(1.0))[0]
        for f in range(T):
            holders = [w for w in windows if f in w]
            want = sum(code(w) for w in holders) / len(holders)
            unknown = torch.from_numpy(hole[f])
            assert torch.allclose(est[f, :, unknown], torch.tensor(want), atol=1e-6), (evaluation, f)
            assert torch.equal(est[f, :, ~unknown], values[f, :, ~unknown]), "known pixels stay clean"
    # Windows in calls of at most 2 (max_windows), every window once per evaluation.
    sizes = lambda n: [min(2, n - a) for a in range(0, n, 2)]  # noqa: E731
    assert len(joint.shifted) == 4
    assert calls == sizes(3) + sizes(4) + sizes(3) == [2, 1, 2, 2, 2, 1]


def test_the_sampler_converges_to_the_fused_estimate():
    """End to end with a denoiser that ignores x: the result is the fused estimate."""
    plan = plan_of("joint { generate todo; window 0 ..< 8; window 6 ..< 14; window 12 ..< 20 }")
    frames, hole = video_and_hole()
    out = compose_output(frames, hole, run(plan, frames, hole, make=constant_denoiser))
    codes = {w[0]: window_code(torch.tensor([w]), torch.ones(1, 8, dtype=torch.bool)).item()
             for w in plan.stages[0].joint.windows}
    to_u8 = lambda c: np.uint8(np.clip(np.rint((c + 1) * 127.5), 0, 255))  # noqa: E731
    assert (out[3][hole[3]] == to_u8(codes[0])).all()
    assert np.abs(out[7][hole[7]].astype(int) - to_u8((codes[0] + codes[6]) / 2)).max() <= 1
    assert np.abs(out[13][hole[13]].astype(int) - to_u8((codes[6] + codes[12]) / 2)).max() <= 1
    assert np.array_equal(out[~hole], frames[~hole])


BATCHED = """
stage keys { generate 0 ..< T by 6 }
joint left shift 2 { generate (1 ..< 12) - done; observe done & (0 ..< 12); window sliding(0 ..< 12, 8, 4) }
stage right { generate (12 ..< 18) - done; observe {12, 6} }
stage last { generate todo; observe 16 ..< 18 }
"""


def test_batching_treats_the_group_as_one_unit():
    plan = plan_of(BATCHED)
    assert [len(b) for b in plan.batches] == [1, 2, 1] and plan.stages[1].joint is not None
    frames, hole = video_and_hole(1)
    one_by_one = run(plan, frames, hole, batch_stages=False)
    for cap in (None, 1, 3):
        assert np.array_equal(run(plan, frames, hole, max_windows_per_call=cap), one_by_one), cap


@pytest.mark.parametrize("crash_after", [1, 2])  # before the group's batch, after it
def test_resume_after_an_interruption_gives_the_same_output(tmp_path, crash_after):
    plan = plan_of(BATCHED)
    frames, hole = video_and_hole(2)
    full = run(plan, frames, hole)
    key = fingerprint(plan.model_dump(mode="json"), frames, hole, 3, SETTINGS.to_dict())
    store = ProgressStore(tmp_path / "out.npy", key)

    class Crash(Exception):
        pass

    def save_then_crash(next_batch, buf):
        store.save(next_batch, buf)
        if next_batch == crash_after:
            raise Crash

    buffer = initial_buffer(frames, hole)
    executor = Executor(noisy_denoiser, SETTINGS)
    with pytest.raises(Crash):
        executor.run(plan, buffer, hole, seed=3, after_batch=save_then_crash)
    state = store.load()
    assert state.next_batch == crash_after
    executor.run(plan, state.buffer, hole, seed=3, start_batch=state.next_batch)
    assert np.array_equal(state.buffer, full)


def test_run_stats_count_window_evaluations():
    plan = plan_of(BATCHED)
    frames, hole = video_and_hole()
    stats = Executor(constant_denoiser, SETTINGS).run(plan, initial_buffer(frames, hole), hole)
    assert stats.network_evaluations == plan.stats.network_evaluations


# ---- the figure ------------------------------------------------------------------------
def test_the_figure_draws_the_windows(tmp_path):
    from vidsched.render import WINDOW_COLORS, graph_dot, render_plan, stages_dot, window_lanes

    plan = compile_scheme("keyframes_joint", {"T": 40, "K": 8})
    group = plan.stages[1]
    lanes = window_lanes(group.joint.windows)
    assert len(lanes) == 2  # windows every 4 frames, 8 long: two rows of boxes
    dot = stages_dot(plan)
    assert "9 windows" in dot and "shifted by 2" in dot and "window of a joint group" in dot
    # a window row: its frames amber, the others white; neighbours alternate shades
    assert dot.count(f'BGCOLOR="{WINDOW_COLORS[0]}"') > 0 and dot.count(f'BGCOLOR="{WINDOW_COLORS[1]}"') > 0
    assert "joint: 9 windows, shift 2" in graph_dot(plan)
    assert "window of a joint group" not in stages_dot(compile_scheme("ar", {"T": 12, "K": 4}))
    pytest.importorskip("graphviz")
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    out = render_plan(plan, tmp_path / "joint.svg")
    assert out.read_text().count("<polygon") > 3 * 40


# ---- vidsched run ----------------------------------------------------------------------
def test_vidsched_run_with_keyframes_joint(capsys, tmp_path, one_thread, assets):
    """The built-in scheme through `vidsched run` (tests/test_run.py's tiny model and clip,
    2 sampler steps): exit 0, known pixels bit-exact, the hole filled, and the same video
    with and without stage batching."""
    plan = compile_scheme("keyframes_joint", {"T": test_run.T, "K": test_run.CONFIG.max_frames})
    assert plan.stages[-1].joint is not None
    outs = []
    for extra in ([], ["--no-batch-stages"]):
        out = tmp_path / f"out{len(outs)}.npy"
        code, stdout, stderr = test_run.cli(capsys, *test_run.run_args(assets, out, "-q", "--scheme",
                                                                         "keyframes_joint", *extra))
        assert code == 0, stderr
        outs.append(np.load(out))
        test_run.assert_inpainted(assets, outs[-1])
    assert np.array_equal(outs[0], outs[1])

