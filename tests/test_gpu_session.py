"""benchmarks/gpu_session.py: the one script a lent GPU runs. Its dry run (tiny sizes on the
CPU) goes through every step, so the script cannot rot while no device is lent; a step
that fails is recorded as failed and the later steps still run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from script_loader import load_script as load_script_at

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_session.py"
STEPS = ["cuda_tests", "graphs_vs_eager", "stage_batching", "run_example", "memory_flat_in_T", "overhead",
         "train_bf16", "train_burst"]

pytestmark = pytest.mark.slow  # the dry run takes ~50 s on 2 busy cores


def load_script():
    return load_script_at("benchmarks/gpu_session.py")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One dry run with graphs_vs_eager made to fail (VIDSCHED_GPU_SESSION_FAIL); the burst
    draws its batches in a worker process and decays its lr over the second half."""
    out = tmp_path_factory.mktemp("gpu_session")
    env = {**os.environ, "VIDSCHED_GPU_SESSION_FAIL": "graphs_vs_eager"}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out), "--dry-run", "--burst-decay", "0.5",
                           "--burst-set", "data_workers=1"], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout


def test_every_step_runs_in_order_and_the_summary_is_the_last_line(dry_run):
    out, stdout = dry_run
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(stdout.strip().splitlines()[-1]) == summary
    assert [s["step"] for s in summary["steps"]] == STEPS
    assert summary["dry_run"] is True
    # the timeouts of steps 1-7 fit in the budget (less the burst)
    assert sum(summary["timeouts_s"].values()) < summary["budget_s"] - summary["burst_s"]


def test_each_step_records_ok_or_a_reasoned_skip(dry_run):
    out, _ = dry_run
    for name in STEPS:
        record = json.loads((out / f"{name}.json").read_text())
        assert (out / f"{name}.log").exists()
        if name == "graphs_vs_eager":
            continue
        assert record["status"] in ("ok", "skipped"), (name, record)
        if record["status"] == "skipped":
            assert record["reason"]
        assert record["device"] == "cpu"


def test_a_failed_step_is_recorded_and_the_later_steps_still_run(dry_run):
    out, _ = dry_run
    failed = json.loads((out / "graphs_vs_eager.json").read_text())
    assert failed["status"] == "failed" and "simulated failure" in failed["reason"]
    assert "simulated failure" in (out / "graphs_vs_eager.log").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["failed"] == 1
    later = [s for s in summary["steps"] if STEPS.index(s["step"]) > STEPS.index("graphs_vs_eager")]
    assert later and all(s["status"] == "ok" for s in later)


def test_step_figures(dry_run):
    out, _ = dry_run
    tests = json.loads((out / "cuda_tests.json").read_text())
    assert tests["counts"].get("passed", 0) >= 1 and tests["counts"].get("failed", 0) == 0
    batching = json.loads((out / "stage_batching.json").read_text())["results"][0]
    assert batching["max_abs_diff"] < 0.01 and batching["batched_sequential_calls"] < batching[
        "one_window_sequential_calls"]
    waves = json.loads((out / "stage_batching.json").read_text())["region_waves"]
    assert waves["regions"] == 4 and waves["waves"] == 1 and waves["waves_batches"] < waves["one_by_one_batches"]
    assert waves["max_abs_diff"] <= 2 and waves["network_evaluations"] > 0
    example = json.loads((out / "run_example.json").read_text())["results"]
    assert len(example) == 2 and all(r["network_evaluations"] > 0 and r["evaluations_per_s"] for r in example)
    prior = json.loads((out / "run_example.json").read_text())["prior_threads"]
    assert [r["threads"] for r in prior] == [1, 2] and all(r["same_as_one_thread"] and r["wall_s"] > 0 for r in prior)
    overhead = json.loads((out / "overhead.json").read_text())
    assert overhead["overhead_ratio"] > 0
    train = json.loads((out / "train_bf16.json").read_text())
    assert [r["config"] for r in train["results"]] == ["corpus64.yaml", "paper-gpu.yaml"]
    assert all(r["steps_per_s"] > 0 for r in train["results"])
    assert train["nccl"]["status"] == "skipped" and train["nccl"]["reason"]
    burst = json.loads((out / "train_burst.json").read_text())
    weights = out / "burst_ema_fp16.safetensors"
    assert burst["steps"] >= 2 and weights.exists() and weights.stat().st_size < 16 * 2**20
    assert "data_workers=1" in burst["overrides"] and 2 <= burst["decay_start"] <= burst["steps"]
    assert (out / "burst_loss.png").exists() and (out / "burst_log.csv").exists()


def test_a_step_past_its_timeout_is_recorded_as_failed(tmp_path):
    gs = load_script()

    class Args:
        dry_run, burst_s, data, burst_set, burst_decay = True, 0, None, [], 0.0

    record = gs.run_step(tmp_path, "cuda_tests", 0.5, Args)
    assert record["status"] == "failed" and "timed out" in record["reason"]
    assert json.loads((tmp_path / "cuda_tests.json").read_text())["status"] == "failed"


def test_timeouts_leave_room_for_the_burst():
    gs = load_script()
    for budget, burst in ((480, 0), (570, 240)):
        limits = gs.timeouts(budget, burst)
        assert set(limits) == set(STEPS[:-1]) and sum(limits.values()) < budget - burst


def test_a_rerun_of_some_steps_shares_the_whole_budget_among_them():
    gs = load_script()
    some = gs.timeouts(200, 0, ["cuda_tests", "overhead"])
    assert set(some) == {"cuda_tests", "overhead"}
    assert abs(sum(some.values()) - 0.95 * 200) < 1e-6
    assert some["cuda_tests"] > gs.timeouts(200, 0)["cuda_tests"]
