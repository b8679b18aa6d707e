"""Hardening of the command line: bad output paths and absurd sizes fail at once with a
message (never a traceback, never after the work), one rule for masks, plans checked on
load, and the smaller messages (--fps, eval without a hole, missing files, --set, training
configs, plurals, GIF frames)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidsched.cli import main
from vidsched.compiler import compile_scheme
from vidsched.errors import MaskError
from vidsched.masks_io import load_mask
from vidsched.model.checkpoint import save_checkpoint
from vidsched.model.unet import VideoUNet, VideoUNetConfig
from vidsched.videoio import read_video
from vidsched.videowrite import write_video

T, H, W = 8, 20, 24
CONFIG = VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                         num_heads=2, rel_pos_channels=8)
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for folders)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    checkpoint = save_checkpoint(d / "ckpt" / "tiny", VideoUNet(CONFIG).state_dict(), CONFIG)
    frames = np.zeros((T, H, W, 3), np.uint8)
    frames[..., 1] = (np.arange(W) * 10)[None, None, :]
    hole = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        frames[t, 4:10, 2 + 2 * t:8 + 2 * t] = (220, 60, 30)
        hole[t, 8:14, 3 + t:11 + t] = 255
    np.save(d / "clip.npy", frames)
    np.save(d / "mask.npy", hole)
    return SimpleNamespace(dir=d, checkpoint=checkpoint, video=d / "clip.npy", mask=d / "mask.npy", frames=frames)


@pytest.fixture
def no_sampling(monkeypatch):
    """Any attempt to load the model (the start of the work) fails the test."""
    from vidsched.runtime import inference

    def refuse(*a, **k):
        raise AssertionError("the run started working before its outputs were checked")

    monkeypatch.setattr(inference.Inpainter, "from_checkpoint", classmethod(refuse))


def run_args(a, output, *extra):
    return ["run", a.video, "--mask", a.mask, "--checkpoint", a.checkpoint, "--steps", "2", "-q", "-o", output, *extra]


# ---- 4. output locations are checked before any work --------------------------------------------
def _unwritable(tmp_path: Path, case: str, name: str) -> Path:
    if case == "through_a_file":
        (tmp_path / "afile.npy").write_bytes(b"not a folder")
        return tmp_path / "afile.npy" / name
    if case == "missing_parents_through_a_file":
        (tmp_path / "afile.npy").write_bytes(b"not a folder")
        return tmp_path / "afile.npy" / "sub" / name
    if case == "proc":
        return Path("/proc") / f"vidsched-test-{os.getpid()}-{name}"
    if case == "read_only_folder":
        if ROOT:
            pytest.skip("root ignores file permissions")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro / name
    raise KeyError(case)


UNWRITABLE = ["through_a_file", "missing_parents_through_a_file", "proc", "read_only_folder"]


@pytest.fixture
def restore_modes(tmp_path):
    yield
    for p in tmp_path.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)


@pytest.mark.parametrize("case", UNWRITABLE)
@pytest.mark.parametrize("option", ["-o", "--compare"])
def test_run_into_an_unwritable_place_fails_before_sampling(capsys, assets, tmp_path, no_sampling, restore_modes,
                                                            case, option):
    bad = _unwritable(tmp_path, case, "out.npy" if option == "-o" else "cmp.mp4")
    output = bad if option == "-o" else tmp_path / "out.npy"
    extra = ["--compare", bad] if option == "--compare" else []
    before = listing(tmp_path)
    start = time.perf_counter()
    code, out, err = cli(capsys, *run_args(assets, output, *extra))
    assert code == 1, (out, err)
    assert err.startswith("error: cannot write ") and str(bad) in err, err
    assert "Traceback" not in err and time.perf_counter() - start < 30
    assert listing(tmp_path) == before  # nothing written: no output, no progress folder, no temporary file


def test_run_whose_progress_folder_is_taken_by_a_file(capsys, assets, tmp_path, no_sampling):
    (tmp_path / "out.npy.vidsched-partial").write_text("a file")
    before = listing(tmp_path)
    code, _, err = cli(capsys, *run_args(assets, tmp_path / "out.npy"))
    assert code == 1 and "out.npy.vidsched-partial" in err and "a file of that name exists" in err, err
    assert listing(tmp_path) == before


def test_run_to_an_unwritable_place_through_the_library_is_a_vidsched_error(assets, tmp_path, no_sampling):
    from vidsched.errors import VidschedError
    from vidsched.runtime.pipeline import RunRequest, inpaint

    (tmp_path / "afile.npy").write_bytes(b"x")
    req = RunRequest(video=assets.video, mask=assets.mask, output=tmp_path / "afile.npy" / "out.npy",
                     checkpoint=assets.checkpoint, steps=2)
    with pytest.raises(VidschedError, match="cannot write"):
        inpaint(req)


@pytest.mark.parametrize("case", UNWRITABLE + ["existing_folder"])
def test_compile_output_into_an_unwritable_place(capsys, tmp_path, restore_modes, case):
    if case == "existing_folder":
        bad = tmp_path / "plan.json"
        bad.mkdir()
    else:
        bad = _unwritable(tmp_path, case, "plan.json")
    before = listing(tmp_path)
    code, out, err = cli(capsys, "compile", "ar", "--set", "T=8", "-o", bad)
    assert code == 1, (out, err)
    assert err.startswith(f"error: cannot write {bad}") and "Traceback" not in err, err
    assert out == "" and listing(tmp_path) == before


@pytest.mark.parametrize("case", UNWRITABLE + ["existing_folder"])
def test_render_output_into_an_unwritable_place(capsys, tmp_path, monkeypatch, restore_modes, case):
    from vidsched import render

    monkeypatch.setattr(render, "render_dot", lambda source, fmt: b"<svg/>")  # no Graphviz needed
    if case == "existing_folder":
        bad = tmp_path / "fig.svg"
        bad.mkdir()
    else:
        bad = _unwritable(tmp_path, case, "fig.svg")
    before = listing(tmp_path)
    code, out, err = cli(capsys, "render", "ar", "--set", "T=8", "-o", bad)
    assert code == 1, (out, err)
    assert err.startswith(f"error: cannot write {bad}") and "Traceback" not in err, err
    assert listing(tmp_path) == before
    # And a good place gets the figure (atomically: nothing else beside it).
    good = tmp_path / "new" / "fig.svg"
    code, out, err = cli(capsys, "render", "ar", "--set", "T=8", "-o", good)
    assert code == 0, err
    assert good.read_bytes() == b"<svg/>" and [p.name for p in good.parent.iterdir()] == ["fig.svg"]


@pytest.mark.parametrize("case", UNWRITABLE)
@pytest.mark.parametrize("name", ["mask.npy", "mask.mp4", "mask.png", "frames"])
def test_masks_output_into_an_unwritable_place(capsys, tmp_path, restore_modes, case, name):
    bad = _unwritable(tmp_path, case, name)
    before = listing(tmp_path)
    code, out, err = cli(capsys, "masks", "--stationary", "-o", bad)
    assert code == 1, (out, err)
    assert err.startswith(f"error: cannot write {bad}") and "Traceback" not in err, err
    assert listing(tmp_path) == before


def test_masks_folder_output_over_an_existing_file(capsys, tmp_path):
    (tmp_path / "frames").write_text("a file")
    code, _, err = cli(capsys, "masks", "-o", str(tmp_path / "frames") + "/")
    assert code == 1 and "a file of that name exists" in err, err


def test_eval_output_into_an_unwritable_place(capsys, tmp_path):
    gt = np.zeros((2, 8, 8, 3), np.uint8)
    for name in ("gt", "pred"):
        np.save(tmp_path / f"{name}.npy", gt)
    np.save(tmp_path / "m.npy", np.ones((2, 8, 8), bool))
    (tmp_path / "afile").write_text("x")
    code, out, err = cli(capsys, "eval", "--pred", tmp_path / "pred.npy", "--gt", tmp_path / "gt.npy",
                         "--mask", tmp_path / "m.npy", "--metrics", "psnr", "-o", tmp_path / "afile" / "r.json")
    assert code == 1 and "cannot write" in err and "computing" not in err, err


@pytest.mark.parametrize("args, needle", [
    (["--size", "200000"], "8,192 pixels a side"),
    (["--height", "100000", "--width", "8"], "8,192 pixels a side"),
    (["--frames", "100000000"], "2^28 = 268,435,456 pixels"),
    (["--frames", "5000", "--size", "8192"], "2^28 = 268,435,456 pixels"),
])
def test_absurd_mask_sizes_fail_at_once(capsys, tmp_path, args, needle):
    start = time.perf_counter()
    code, out, err = cli(capsys, "masks", *args, "-o", tmp_path / "m.npy")
    assert code == 1, (out, err)
    assert needle in err and "limit" in err and "Traceback" not in err, err
    assert time.perf_counter() - start < 5
    assert list(tmp_path.iterdir()) == []


def test_os_errors_are_messages_and_bugs_are_tracebacks(capsys, monkeypatch):
    import vidsched.compiler

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", "/somewhere/plan.json")

    monkeypatch.setattr(vidsched.compiler, "compile_scheme", denied)
    code, _, err = cli(capsys, "compile", "ar")
    assert code == 1 and err.strip() == "error: cannot write /somewhere/plan.json: Permission denied"

    def full(*a, **k):
        raise OSError(28, "No space left on device", "/data/.out.npy.partial-abc.npy")

    monkeypatch.setattr(vidsched.compiler, "compile_scheme", full)
    code, _, err = cli(capsys, "compile", "ar")
    assert code == 1 and err.strip() == "error: cannot write in /data: No space left on device"

    def bug(*a, **k):
        raise TypeError("a real bug")

    monkeypatch.setattr(vidsched.compiler, "compile_scheme", bug)
    with pytest.raises(TypeError, match="a real bug"):
        main(["compile", "ar"])


def test_check_writable_writes_nothing(tmp_path):
    from vidsched.atomic import OutputError, check_writable

    assert check_writable(tmp_path / "a" / "b" / "out.npy") == tmp_path / "a" / "b" / "out.npy"
    assert check_writable(tmp_path / "frames", folder=True) == tmp_path / "frames"
    assert list(tmp_path.iterdir()) == []  # neither the missing parents nor a probe file
    with pytest.raises(OutputError, match=r"cannot write .*x\.mp4 \(--compare\): Not a directory"):
        (tmp_path / "f").write_text("x")
        check_writable(tmp_path / "f" / "x.mp4", what="--compare")


# ---- 8. one rule for masks ---------------------------------------------------------------------
def _soft_mask() -> np.ndarray:
    """uint8 (3, 16, 16): black, white blocks, and anti-aliased values on both sides of 127."""
    m = np.zeros((3, 16, 16), np.uint8)
    m[:, 4:12, 4:12] = 255
    m[:, 4:12, 3] = 100  # a soft left edge: known
    m[:, 4:12, 12] = 200  # a soft right edge: hole
    m[1, 0, 0] = 127  # exactly half: known
    m[2, 0, 0] = 128  # just above: hole
    return m


def test_one_rule_for_every_format_and_dtype(tmp_path):
    import cv2

    m = _soft_mask()
    expected = m > 127
    np.save(tmp_path / "u8.npy", m)
    np.save(tmp_path / "i32.npy", m.astype(np.int32))
    np.save(tmp_path / "i64.npy", m.astype(np.int64))
    np.save(tmp_path / "f32.npy", m.astype(np.float32) / 255)
    np.save(tmp_path / "bool.npy", expected)
    np.save(tmp_path / "rgb.npy", np.repeat(m[..., None], 3, axis=-1))
    folder = tmp_path / "folder"
    folder.mkdir()
    for t in range(3):
        cv2.imwrite(str(folder / f"{t}.png"), m[t])
    for name in ("u8.npy", "i32.npy", "i64.npy", "f32.npy", "bool.npy", "rgb.npy", "folder"):
        assert np.array_equal(load_mask(tmp_path / name), expected), name
    cv2.imwrite(str(tmp_path / "one.png"), m[0])
    assert np.array_equal(load_mask(tmp_path / "one.png", num_frames=3), np.repeat(expected[:1], 3, axis=0))
    # A 0/1 integer array is a 0/1 mask.
    np.save(tmp_path / "01.npy", expected.astype(np.int64))
    assert np.array_equal(load_mask(tmp_path / "01.npy"), expected)


def test_a_lossy_mask_video_keeps_its_codec_noise_known(tmp_path):
    hole = np.zeros((4, 32, 32), bool)
    hole[:, 8:24, 8:24] = True
    frames = np.repeat((hole * 255).astype(np.uint8)[..., None], 3, axis=-1)
    noisy = frames.copy()
    noisy[:, :4, :4] = np.random.default_rng(0).integers(1, 30, (4, 4, 4, 3))  # compression-like noise in black
    write_video(tmp_path / "m.avi", noisy, fps=10)
    notes: list[str] = []
    assert np.array_equal(load_mask(tmp_path / "m.avi", notes=notes), hole)
    assert notes and "above 127" in notes[0] and "mask video" in notes[0]


@pytest.mark.parametrize("data, needle", [
    (np.array([[[0.0, np.nan]]]), "NaN"),
    (np.array([[[0.0, 1.5]]], np.float32), "from 0 to 1.5"),
    (np.array([[[0.0, 255.0]]]), "divide by 255"),
    (np.array([[[-1, 255]]], np.int16), "from -1 to 255"),
    (np.array([[[0, 300]]], np.uint16), "from 0 to 300"),
    (np.array([[[0.0, np.inf]]]), "inf"),
])
def test_nan_and_out_of_range_masks_are_refused_naming_the_file(tmp_path, capsys, data, needle):
    path = tmp_path / "bad.npy"
    np.save(path, data)
    with pytest.raises(MaskError, match="bad.npy") as info:
        load_mask(path)
    assert needle in str(info.value)
    code, _, err = cli(capsys, "compile", "ar", "--mask", path)
    assert code == 1 and "bad.npy" in err and needle in err and "Traceback" not in err


def test_anti_aliased_masks_get_a_note(tmp_path, capsys):
    m = _soft_mask()
    np.save(tmp_path / "soft.npy", m)
    notes: list[str] = []
    load_mask(tmp_path / "soft.npy", notes=notes)
    between = int(((m > 0) & (m < 255)).sum())
    assert len(notes) == 1 and f"{between:,} of {m.size:,} pixels" in notes[0] and "above 127" in notes[0]
    np.save(tmp_path / "soft_f.npy", m / 255.0)
    notes = []
    load_mask(tmp_path / "soft_f.npy", notes=notes)
    assert len(notes) == 1 and "above 0.5" in notes[0]
    # A clean mask gets none; the CLI prints the note on stderr.
    notes = []
    load_mask(tmp_path / "soft.npy", notes=None)
    np.save(tmp_path / "hard.npy", m > 127)
    load_mask(tmp_path / "hard.npy", notes=notes)
    assert notes == []
    code, out, err = cli(capsys, "compile", "ar", "--mask", tmp_path / "soft.npy", "--json")
    assert code == 0 and err.startswith("note: mask ") and "above 127" in err, err
    json.loads(out)  # stdout is still only the plan


def test_run_prints_the_mask_note(capsys, assets, tmp_path):
    soft = np.load(assets.mask).copy()
    soft[soft == 0] = 3  # faint noise everywhere: still known
    np.save(tmp_path / "soft.npy", soft)
    code, out, err = cli(capsys, "run", assets.video, "--mask", tmp_path / "soft.npy", "--checkpoint",
                         assets.checkpoint, "--steps", "2", "-q", "-o", tmp_path / "out.npy")
    assert code == 0, err
    assert "note: mask " in err and "above 127" in err


# ---- 9. smaller ones ----------------------------------------------------------------------------
@pytest.mark.parametrize("fps", ["1e9", "1001"])
def test_absurd_fps_is_refused_at_once(capsys, assets, tmp_path, no_sampling, fps):
    start = time.perf_counter()
    code, _, err = cli(capsys, *run_args(assets, tmp_path / "out.npy", "--fps", fps))
    assert code == 1 and "at most 1000 frames per second" in err, err
    assert time.perf_counter() - start < 30 and list(tmp_path.iterdir()) == []


def test_eval_without_a_hole_says_the_metrics_do_not_apply(capsys, tmp_path):
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "pred.npy", gt)
    np.save(tmp_path / "none.npy", np.zeros((3, 16, 16), np.uint8))
    args = ["eval", "--pred", tmp_path / "pred.npy", "--gt", tmp_path / "gt.npy", "--mask", tmp_path / "none.npy",
            "--metrics", "psnr,ssim"]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert "note: the mask has no hole" in err and "PSNR and SSIM do not apply" in err, err
    assert "nan" not in out and "n/a" in out and "not applicable" in out, out
    code, out, err = cli(capsys, *args, "--json")
    doc = json.loads(out)  # strict JSON: no NaN
    assert doc["summary"] == {} and set(doc["not_applicable"]) == {"psnr", "ssim"}
    assert "NaN" not in out


def test_eval_dataset_with_one_video_without_a_hole(tmp_path):
    from vidsched.metrics.suite import EvalVideo, evaluate, report_lines

    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    pred = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    hole = np.zeros((3, 16, 16), bool)
    hole[:, 4:8, 4:8] = True
    report = evaluate([EvalVideo("a", gt, pred, hole), EvalVideo("b", gt, pred, np.zeros_like(hole))], ["psnr"])
    assert np.isfinite(report.summary["psnr"]) and report.summary["psnr"] == report.per_video["a"]["psnr"]
    assert "psnr" not in report.per_video["b"] and "the mask of b has no hole" in report.notes["no_hole"]
    assert any(line.startswith("b ") and "n/a" in line for line in report_lines(report))


def _plan_file(tmp_path: Path, change) -> Path:
    plan = json.loads(compile_scheme("ar", {"T": 8, "K": 4}).to_json())
    change(plan)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _set(key, value):
    def change(plan):
        plan[key] = value
    return change


def _stage(i, key, value):
    def change(plan):
        plan["stages"][i][key] = value
    return change


def _generated_twice(plan):
    plan["stages"][2]["generate"] = [1, 6, 7]
    plan["stages"][2]["observe"] = [4]


def _batches_against_the_graph(plan):
    # Stage 1 observes what stage 0 generates: they cannot share a batch.
    assert plan["batches"][:2] == [[0], [1]]
    plan["batches"] = [[0, 1]] + plan["batches"][2:]


@pytest.mark.parametrize("change, needle", [
    (_stage(0, "generate", [0, 1, 2, 99]), "frames 99 outside 0..7"),
    (_stage(0, "generate", [-1, 0, 1, 2, 3]), "outside 0..7"),
    (_set("num_frames", 10**9), "num_frames = 1,000,000,000 is outside 1..1,000,000"),
    (_set("num_frames", 0), "outside 1.."),
    (_batches_against_the_graph, "edge 0 -> 1 (data) but stage 0 is in batch 0 and stage 1 in batch 0"),
    (_stage(1, "batch", 5), "stage 1 says batch 5 but the batches list puts it in batch 1"),  # a legacy field
    (_generated_twice, "generates frames 1 that are already complete"),
    (_stage(1, "observe", [3, 6]), "observes frames 6 as complete before they are"),
], ids=["frame_99", "negative", "huge_T", "zero_T", "batches", "legacy_stage_batch", "twice", "observe_early"])
def test_render_validates_a_plan_on_load(capsys, tmp_path, monkeypatch, change, needle):
    from vidsched import render

    monkeypatch.setattr(render, "render_dot", lambda source, fmt: b"<svg/>")
    path = _plan_file(tmp_path, change)
    start = time.perf_counter()
    code, out, err = cli(capsys, "render", path, "-o", tmp_path / "fig.svg")
    assert code == 1, (out, err)
    assert err.startswith(f"error: {path} is not a valid plan: ") and needle in err, err
    assert "Traceback" not in err and time.perf_counter() - start < 10
    assert not (tmp_path / "fig.svg").exists()


def test_render_draws_a_valid_plan_file(capsys, tmp_path, monkeypatch):
    from vidsched import render

    monkeypatch.setattr(render, "render_dot", lambda source, fmt: b"<svg/>")
    path = _plan_file(tmp_path, lambda plan: None)
    code, out, err = cli(capsys, "render", path, "-o", tmp_path / "fig.svg")
    assert code == 0, err
    assert (tmp_path / "fig.svg").read_bytes() == b"<svg/>"


def test_every_builtin_plan_passes_the_check():
    from vidsched.compiler import builtin_schemes
    from vidsched.plan import check_plan

    for b in builtin_schemes():
        check_plan(compile_scheme(b.name, {"T": 50}, complete_frames=[0, 7, 20, 21]))


def test_too_many_frames_for_one_figure_is_a_message(capsys, tmp_path, monkeypatch):
    from vidsched import render

    monkeypatch.setattr(render, "render_dot", lambda source, fmt: b"<svg/>")
    plan = compile_scheme("ar", {"T": 16, "K": 8}).model_copy(update={"num_frames": 10**6})  # render does not check
    with pytest.raises(ValueError, match="at most 20,000"):
        render.stages_dot(plan)
    assert "<TABLE" in render.stages_dot(plan, frames=(0, 50))


def test_eval_missing_ground_truth_is_named(capsys, tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((2, 8, 8, 3), np.uint8))
    np.save(tmp_path / "m.npy", np.ones((2, 8, 8), bool))
    code, _, err = cli(capsys, "eval", "--pred", tmp_path / "p.npy", "--gt", tmp_path / "missing.npy",
                       "--mask", tmp_path / "m.npy")
    assert code == 1 and f"ground truth not found: {tmp_path / 'missing.npy'} (--gt)" in err, err
    assert "training data" not in err
    code, _, err = cli(capsys, "eval", "--pred", tmp_path / "nope.npy", "--gt", tmp_path / "p.npy",
                       "--mask", tmp_path / "m.npy")
    assert code == 1 and "prediction not found" in err, err


@pytest.mark.parametrize("command", ["model-info", "run"])
def test_missing_checkpoint_is_named_as_given(capsys, assets, tmp_path, command, no_sampling):
    given = tmp_path / "x.safetensors"
    if command == "model-info":
        args = ["model-info", "-c", given]
    else:
        args = ["run", assets.video, "--mask", assets.mask, "-c", given, "-q", "-o", tmp_path / "out.npy"]
    code, _, err = cli(capsys, *args)
    assert code == 1, err
    assert f"checkpoint not found: {given}" in err and "x.json + x.safetensors" in err, err


def test_set_without_a_name(capsys, assets, tmp_path, no_sampling):
    code, _, err = cli(capsys, "compile", "ar", "--set", "=3")
    assert code == 1 and "--set expects NAME=VALUE" in err and "'=3'" in err, err
    code, _, err = cli(capsys, *run_args(assets, tmp_path / "out.npy", "--set", "=3"))
    assert code == 1 and "--set expects NAME=VALUE" in err, err


def test_a_training_config_with_several_typos_names_them_all(tmp_path):
    from vidsched.training.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("stpes: 10\nlrr: 0.1\ndata: {fsp: 3}\nmodel: {preset: tiny, chanels: 3}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    for key, hint in (("'stpes'", "'steps'"), ("'lrr'", "'lr'"), ("'data.fsp'", "'fps'"),
                      ("'model.chanels'", "'channels'")):
        assert key in text and hint in text, text


def test_resuming_with_a_changed_lr_says_so_and_keeps_the_original_config(tmp_path):
    import yaml

    from vidsched.training.config import load_config
    from vidsched.training.trainer import train

    micro = {"preset": "tiny", "image_size": 16, "max_frames": 4, "channels": 8, "channel_mult": [1, 2],
             "attention_resolutions": [8], "num_heads": 2, "rel_pos_channels": 8, "norm_groups": 4}
    rng = np.random.default_rng(0)
    clip = ((rng.integers(0, 255, (1, 16, 16, 3)) + np.arange(20)[:, None, None, None] * 3) % 256).astype(np.uint8)

    def config(steps, lr):
        values = {"run_dir": str(tmp_path / "run"), "model": micro, "steps": steps, "batch_size": 1, "log_every": 1,
                  "save_every": 2, "sample_every": 0, "warmup_steps": 1, "threads": 1, "lr": lr}
        return load_config(None, [f"{k}={json.dumps(v)}" for k, v in values.items()])

    train(config(2, 2e-4), clip, log=lambda s: None)
    first = (tmp_path / "run" / "config.yaml").read_text()
    logged: list[str] = []
    train(config(3, 1e-3), clip, resume=True, log=logged.append)
    notes = [line for line in logged if line.startswith("note: resuming with a changed config")]
    assert len(notes) == 1 and "lr: 0.0002 -> 0.001" in notes[0] and "steps: 2 -> 3" in notes[0], logged
    assert (tmp_path / "run" / "config.orig.yaml").read_text() == first
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["lr"] == 0.001
    # The same config again: no note, and the original stays the first one.
    logged.clear()
    train(config(3, 1e-3), clip, resume=True, log=logged.append)
    assert not [line for line in logged if "changed config" in line]
    assert (tmp_path / "run" / "config.orig.yaml").read_text() == first


def test_one_stage_in_one_batch(capsys, assets, tmp_path):
    from vidsched.cli import _n

    assert [_n(1, "stage"), _n(2, "stage"), _n(1, "batch"), _n(3, "batch"), _n(1000, "frame")] == [
        "1 stage", "2 stages", "1 batch", "3 batches", "1,000 frames"]
    hole = np.zeros((T, H, W), np.uint8)
    hole[:2, 8:14, 3:11] = 255  # two frames with a hole: one stage
    np.save(tmp_path / "m.npy", hole)
    code, out, err = cli(capsys, "run", assets.video, "--mask", tmp_path / "m.npy", "--checkpoint",
                         assets.checkpoint, "--steps", "2", "-q", "--prior", "none", "-o", tmp_path / "out.npy")
    assert code == 0, err
    assert "1 stage in 1 batch," in out and "stages" not in out and "batches" not in out, out
    code, out, err = cli(capsys, "compile", "ar", "--set", "T=8")
    assert "1 stage in 1 batch;" in out


# ---- 10. GIF output keeps every frame ----------------------------------------------------------
def test_gif_keeps_identical_consecutive_frames(tmp_path):
    from PIL import Image

    frames = np.zeros((7, 16, 24, 3), np.uint8)
    frames[3:] = (30, 140, 220)
    frames[6, 4:8, 4:8] = (250, 250, 0)
    path = write_video(tmp_path / "v.gif", frames, fps=10)
    back = read_video(path)
    assert back.num_frames == 7 and back.fps == pytest.approx(10)
    assert np.abs(back.frames.astype(int) - frames).mean() < 4
    with Image.open(path) as im:
        assert im.n_frames == 7


def test_run_to_gif_keeps_every_frame(capsys, assets, tmp_path):
    still = np.repeat(assets.frames[:1], T, axis=0)  # a clip that stands still ...
    np.save(tmp_path / "still.npy", still)
    hole = np.zeros((T, H, W), np.uint8)
    hole[:2, 8:14, 3:11] = 255  # ... with a hole in its first two frames: the last six stay identical
    np.save(tmp_path / "m.npy", hole)
    code, _, err = cli(capsys, "run", tmp_path / "still.npy", "--mask", tmp_path / "m.npy", "--checkpoint",
                       assets.checkpoint, "--steps", "2", "-q", "-o", tmp_path / "out.gif")
    assert code == 0, err
    assert read_video(tmp_path / "out.gif").num_frames == T
