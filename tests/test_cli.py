"""The command line: exit codes, messages, JSON output, --explain, --set, --mask, render,
schemes, and that the compile-side commands never import torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vidsched.cli import main
from vidsched.plan import Plan

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

AR = textwrap.dedent(
    """\
    # a small autoregressive scheme
    scheme small_ar(T = 24, K = 8, step = 4) {
        while todo {
            stage next { generate first(todo, step); observe last(done, K - step) }
        }
    }
    """
)
BROKEN = textwrap.dedent(
    """\
    scheme broken(T = 24, K = 8) {
        let x = 1 +* 2
    }
    """
)
TOO_LARGE = textwrap.dedent(
    """\
    scheme big(T = 24, K = 8) {
        for i in [0, 12] {
            stage { generate i ..< i + 12 }
        }
    }
    """
)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ar_file(tmp_path: Path) -> Path:
    path = tmp_path / "small_ar.sched"
    path.write_text(AR)
    return path


def env_for_subprocess() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "100")
    return env


# ---- compile: success ------------------------------------------------------------------------
def test_compile_builtin_scheme(capsys):
    code, out, err = run_cli(capsys, "compile", "ar")
    assert code == 0, err
    assert "stages in" in out and "network evaluations" in out


def test_compile_file_summary(capsys, ar_file):
    code, out, err = run_cli(capsys, "compile", ar_file)
    assert code == 0, err
    assert out.splitlines()[0] == "small_ar (T=24, K=8, step=4)"
    assert "6 stages in 6 batches" in out  # 4 new frames per stage
    assert err == ""


def test_compile_json(capsys, ar_file):
    code, out, err = run_cli(capsys, "compile", ar_file, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["format"] == "vidsched.plan/1"
    assert data["num_frames"] == 24 and data["max_frames"] == 8
    plan = Plan.model_validate_json(out)
    assert [s.generate for s in plan.stages][:2] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert plan.source_file == str(ar_file)


def test_compile_output_file(capsys, ar_file, tmp_path):
    target = tmp_path / "out" / "plan.json"
    code, out, err = run_cli(capsys, "compile", ar_file, "-o", target)
    assert code == 0, err
    plan = Plan.model_validate_json(target.read_text())
    assert plan.scheme == "small_ar"
    assert f"plan written to {target}" in out
    # --json and -o together: the same plan on stdout and in the file
    code, out, _ = run_cli(capsys, "compile", ar_file, "--json", "--output", target)
    assert code == 0 and Plan.model_validate_json(out) == Plan.model_validate_json(target.read_text())
    assert not list(target.parent.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_compile_explain(capsys, ar_file):
    code, out, err = run_cli(capsys, "compile", ar_file, "--explain")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["stage", "batch", "name"]
    stage_lines = lines[1:7]
    assert all(ln.split()[0] == str(i) for i, ln in enumerate(stage_lines))
    assert stage_lines[0].split()[:3] == ["0", "0", "next"]
    assert "0-3 | - | -" in stage_lines[0]
    assert "4-7 | 0-3 | -" in stage_lines[1]
    assert lines[7].startswith("small_ar (")


def test_compile_set(capsys, ar_file):
    code, out, err = run_cli(capsys, "compile", ar_file, "--set", "T=40", "-s", "step=2", "--json")
    assert code == 0, err
    plan = Plan.model_validate_json(out)
    assert plan.num_frames == 40 and plan.params["step"] == 2
    assert all(len(s.generate) <= 2 for s in plan.stages)


def test_compile_sampler_and_steps(capsys, ar_file):
    code, out, err = run_cli(capsys, "compile", ar_file, "--sampler", "ddpm", "--steps", "1000", "--json")
    assert code == 0, err
    stats = json.loads(out)["stats"]
    assert stats["evaluations_per_stage"] == 1000
    assert stats["network_evaluations"] == 1000 * stats["stages"]


# ---- compile: errors -------------------------------------------------------------------------
def test_scheme_error_exit_1_with_position_and_no_traceback(capsys, tmp_path):
    path = tmp_path / "broken.sched"
    path.write_text(BROKEN)
    code, out, err = run_cli(capsys, "compile", path)
    assert code == 1
    assert out == ""
    assert f"{path}:2:16: error[syntax]:" in err
    assert "    let x = 1 +* 2" in err and "^" in err
    assert "Traceback" not in err


def test_stage_errors_are_all_reported(capsys, tmp_path):
    path = tmp_path / "big.sched"
    path.write_text(TOO_LARGE)
    code, _, err = run_cli(capsys, "compile", path)
    assert code == 1
    assert f"{path}:3:9: error[stage-too-large]: stage 0 has 12 frames but K = 8" in err
    assert "i = 0" in err
    assert "the same error in 1 more stage: 1" in err
    assert err.rstrip().endswith("2 errors found")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "nope=3"], "the scheme has no parameter nope"),
        (["--set", "T=abc"], "--set T=abc: the value must be a whole number"),
        (["--set", "T=0"], "parameter T must be at least 1"),
        (["--set", "T"], "expected NAME=VALUE"),
    ],
)
def test_bad_set_is_exit_1(capsys, ar_file, args, needle):
    code, out, err = run_cli(capsys, "compile", ar_file, *args)
    assert code == 1
    assert needle in err and "Traceback" not in err


def test_bad_set_value_points_at_the_parameter(capsys, ar_file):
    code, _, err = run_cli(capsys, "compile", ar_file, "--set", "step=x")
    assert code == 1
    column = AR.splitlines()[1].index("step") + 1
    assert f"{ar_file}:2:{column}: error[parameter]" in err


def test_missing_scheme_is_exit_1(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compile", "no_such_scheme")
    assert code == 1 and "no scheme file or built-in scheme named 'no_such_scheme'" in err
    assert "ar" in err  # lists the built-in schemes
    code, _, err = run_cli(capsys, "compile", tmp_path / "missing.sched")
    assert code == 1 and "scheme file not found" in err


@pytest.mark.parametrize(
    "args",
    [
        [],  # no command: help, exit 2 (Typer's no_args_is_help)
        ["compile"],  # missing argument
        ["compile", "ar", "--bogus"],  # unknown option
        ["compile", "ar", "--sampler", "euler"],  # bad choice
        ["compile", "ar", "--steps", "0"],  # out of range
        ["frobnicate"],  # unknown command
    ],
)
def test_usage_errors_exit_2(capsys, args):
    code, _, err = run_cli(capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err


def test_help_is_exit_0(capsys):
    code, out, _ = run_cli(capsys, "compile", "--help")
    assert code == 0 and "--set" in out and "--mask" in out


# ---- --mask ---------------------------------------------------------------------------------
def write_mask(path: Path, T: int, holes: set[int], h: int = 6, w: int = 5) -> Path:
    """T x H x W uint8 mask; frames in `holes` get a small hole (255 = fill)."""
    mask = np.zeros((T, h, w), dtype=np.uint8)
    for f in holes:
        mask[f, 1:3, 2:4] = 255
    np.save(path, mask)
    return path


def test_mask_sets_T_and_drops_complete_frames(capsys, ar_file, tmp_path):
    holes = set(range(0, 8)) | {17, 18}
    mask = write_mask(tmp_path / "mask.npy", 20, holes)
    code, out, err = run_cli(capsys, "compile", ar_file, "--mask", mask, "--json")
    assert code == 0, err
    plan = Plan.model_validate_json(out)
    assert plan.num_frames == 20  # from the mask, not the default 24
    generated = sorted(f for s in plan.stages for f in s.generate)
    assert generated == sorted(holes)
    assert set(plan.given) == set(range(20)) - holes
    assert plan.mask is not None and plan.mask.complete_frames == 10
    assert plan.mask.stages_before == 5 and plan.mask.stages_after == 3  # T = 20: 5 stages of 4
    assert plan.mask.stages_saved == 2


def test_mask_summary_reports_the_saving(capsys, ar_file, tmp_path):
    mask = write_mask(tmp_path / "mask.npy", 20, set(range(4)))
    code, out, err = run_cli(capsys, "compile", ar_file, "-m", mask)
    assert code == 0, err
    assert "mask: 16 frames without a hole; 5 -> 1 stages (4 saved" in out


def test_mask_with_matching_set_T(capsys, ar_file, tmp_path):
    mask = write_mask(tmp_path / "mask.npy", 20, {3})
    code, _, err = run_cli(capsys, "compile", ar_file, "--mask", mask, "--set", "T=20")
    assert code == 0, err


def test_mask_with_mismatching_set_T_is_exit_1(capsys, ar_file, tmp_path):
    mask = write_mask(tmp_path / "mask.npy", 20, {3})
    code, _, err = run_cli(capsys, "compile", ar_file, "--mask", mask, "--set", "T=30")
    assert code == 1
    assert "the mask has 20 frames but --set T=30" in err
    assert "Traceback" not in err


def test_mask_inverted_convention(capsys, ar_file, tmp_path):
    # With DEVIL's convention (white = known), an all-white mask means nothing to fill.
    mask = np.full((12, 4, 4), 255, dtype=np.uint8)
    mask[5, 0, 0] = 0  # one unknown pixel in frame 5
    np.save(tmp_path / "devil.npy", mask)
    code, out, err = run_cli(capsys, "compile", ar_file, "--mask", tmp_path / "devil.npy", "--mask-white-is-known",
                             "--json")
    assert code == 0, err
    plan = Plan.model_validate_json(out)
    assert [s.generate for s in plan.stages] == [[5]]


@pytest.mark.parametrize("content", [b"not a numpy file", None])
def test_bad_mask_is_exit_1(capsys, ar_file, tmp_path, content):
    path = tmp_path / "mask.npy"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli(capsys, "compile", ar_file, "--mask", path)
    assert code == 1
    assert "mask" in err and "Traceback" not in err


def test_mask_of_unknown_format_is_exit_1(capsys, ar_file, tmp_path):
    path = tmp_path / "mask.txt"
    path.write_text("0 1 0")
    code, _, err = run_cli(capsys, "compile", ar_file, "--mask", path)
    assert code == 1 and "unknown mask format" in err


# ---- render ----------------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_render(capsys, ar_file, tmp_path, suffix):
    target = tmp_path / f"figure{suffix}"
    code, out, err = run_cli(capsys, "render", ar_file, "-o", target)
    assert code == 0, err
    assert target.is_file() and target.stat().st_size > 100
    if suffix == ".svg":
        assert "<svg" in target.read_text()
    else:
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_render_a_plan_file_and_the_graph_view(capsys, ar_file, tmp_path):
    plan_path = tmp_path / "plan.json"
    assert run_cli(capsys, "compile", ar_file, "-o", plan_path)[0] == 0
    target = tmp_path / "graph.svg"
    code, _, err = run_cli(capsys, "render", plan_path, "-o", target, "--view", "graph")
    assert code == 0, err
    assert "<svg" in target.read_text()


def test_render_bad_extension(capsys, ar_file, tmp_path):
    code, _, err = run_cli(capsys, "render", ar_file, "-o", tmp_path / "figure.txt")
    assert code in (1, 2)
    assert ".txt" in err and ".svg" in err  # says what is wrong and what would work
    assert "Traceback" not in err
    assert not (tmp_path / "figure.txt").exists()


def test_render_scheme_error_is_exit_1(capsys, tmp_path):
    path = tmp_path / "broken.sched"
    path.write_text(BROKEN)
    code, _, err = run_cli(capsys, "render", path, "-o", tmp_path / "x.svg")
    assert code == 1 and f"{path}:2:16" in err


def test_render_bad_plan_file_is_exit_1(capsys, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"format": "something else"}')
    code, _, err = run_cli(capsys, "render", path, "-o", tmp_path / "x.svg")
    assert code == 1 and "is not a vidsched plan" in err


# ---- schemes ---------------------------------------------------------------------------------
def test_schemes_lists_builtin_names(capsys):
    code, out, err = run_cli(capsys, "schemes")
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "ar" in names
    from vidsched.compiler import builtin_schemes

    assert names == [b.name for b in builtin_schemes()]
    for line in out.splitlines():
        assert len(line.split(maxsplit=1)) == 2, f"no summary for {line!r}"


# ---- as a program ----------------------------------------------------------------------------
def test_python_m_vidsched_cli(tmp_path, ar_file):
    ok = subprocess.run([sys.executable, "-m", "vidsched.cli", "compile", str(ar_file), "--json"],
                        capture_output=True, text=True, env=env_for_subprocess(), timeout=120)
    assert ok.returncode == 0, ok.stderr
    Plan.model_validate_json(ok.stdout)
    broken = tmp_path / "broken.sched"
    broken.write_text(BROKEN)
    bad = subprocess.run([sys.executable, "-m", "vidsched.cli", "compile", str(broken)],
                         capture_output=True, text=True, env=env_for_subprocess(), timeout=120)
    assert bad.returncode == 1
    assert f"{broken}:2:16: error[syntax]" in bad.stderr and "Traceback" not in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "vidsched.cli", "compile"],
                           capture_output=True, text=True, env=env_for_subprocess(), timeout=120)
    assert usage.returncode == 2


@pytest.mark.skipif(shutil.which("vidsched") is None, reason="the vidsched script is not installed")
def test_vidsched_script(tmp_path):
    out = subprocess.run(["vidsched", "schemes"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ar" in out.stdout.split()


def test_compile_render_schemes_and_masks_never_import_torch(tmp_path, ar_file):
    plan = tmp_path / "plan.json"
    figure = tmp_path / "figure.svg"
    made = tmp_path / "made.npy"
    mask = write_mask(tmp_path / "mask.npy", 16, {1, 2})
    code = textwrap.dedent(
        f"""
        import sys
        from vidsched.cli import main
        codes = [
            main(["compile", {str(ar_file)!r}, "--explain", "-o", {str(plan)!r}]),
            main(["compile", "ar", "--mask", {str(mask)!r}, "--json"]),
            main(["schemes"]),
            main(["render", {str(plan)!r}, "-o", {str(figure)!r}]),
            main(["render", {str(ar_file)!r}, "-o", {str(figure)!r}, "--view", "graph"]),
            main(["masks", "--type", "grid", "--frames", "4", "--size", "16", "-o", {str(made)!r}]),
        ]
        bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print("CODES", codes)
        print("TORCH", bad)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env_for_subprocess(), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("CODES", "TORCH")))
    render_ok = "0" if shutil.which("dot") else "1"
    assert lines["CODES"] in (f"[0, 0, 0, {render_ok}, {render_ok}, 0]", "[0, 0, 0, 0, 0, 0]"), result.stderr
    assert lines["TORCH"] == "[]"
