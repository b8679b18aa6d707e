"""`vidsched run` end to end: a tiny random-weight model on a few-frame clip.

The model (16 x 16 pixels, K = 4, 8 channels) and the clip (8 frames of 24 x 20, a square
moving right, a box-shaped hole moving right) are made in a temporary folder; every run
uses 2 sampler steps, so a whole run takes a fraction of a second on the CPU. The clip is
not the model's size, so every run also goes through the resize / composite-back path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidsched.cli import main
from vidsched.model.checkpoint import save_checkpoint
from vidsched.model.unet import VideoUNet, VideoUNetConfig, count_parameters
from vidsched.runtime import pipeline, resume
from vidsched.videoio import read_video
from vidsched.videowrite import write_video

T, H, W = 8, 20, 24
CONFIG = VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                         num_heads=2, rel_pos_channels=8)
OTHER = VideoUNetConfig(image_size=16, max_frames=4, channels=16, channel_mult=(1, 2), attention_resolutions=(8,),
                        num_heads=2, rel_pos_channels=8)


def make_clip() -> tuple[np.ndarray, np.ndarray]:
    """(frames T x H x W x 3 uint8, hole T x H x W uint8 with 255 = fill)."""
    frames = np.zeros((T, H, W, 3), np.uint8)
    frames[..., 0] = 40
    frames[..., 1] = (np.arange(W) * 10)[None, None, :]
    frames[..., 2] = (np.arange(H) * 12)[None, :, None]
    hole = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        frames[t, 4:10, 2 + 2 * t:8 + 2 * t] = (220, 60, 30)  # the moving square
        hole[t, 8:14, 3 + t:11 + t] = 255  # the moving box to fill
    # What the hole hides is garbage, as in a real input: a fill never hands it back, and a
    # pixel propagated exactly from another frame (a still camera) still counts as filled.
    frames[hole > 0] = (255, 0, 255)
    return frames, hole


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    model = VideoUNet(CONFIG)
    checkpoint = save_checkpoint(d / "ckpt" / "tiny", model.state_dict(), CONFIG)
    frames, hole = make_clip()
    np.save(d / "clip.npy", frames)
    write_video(d / "clip_png", frames, 10)
    np.save(d / "mask.npy", hole)
    return SimpleNamespace(dir=d, checkpoint=checkpoint, video=d / "clip.npy", png=d / "clip_png",
                           mask=d / "mask.npy", frames=frames, hole=hole > 0,
                           num_parameters=count_parameters(model))


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run_args(a: SimpleNamespace, output: Path, *extra, video: Path | None = None) -> list:
    return ["run", video or a.video, "--mask", a.mask, "--checkpoint", a.checkpoint, "--steps", "2",
            "-o", output, *extra]


@pytest.fixture(scope="module")
def reference(assets, tmp_path_factory) -> np.ndarray:
    """The output of an uninterrupted run with the defaults (seed 0, the default scheme)."""
    out = tmp_path_factory.mktemp("reference") / "out.npy"
    assert main([str(x) for x in run_args(assets, out, "--quiet")]) == 0
    return np.load(out)


def assert_inpainted(a: SimpleNamespace, out: np.ndarray) -> None:
    """Known pixels bit-exact, hole pixels filled by the model."""
    assert out.shape == (T, H, W, 3) and out.dtype == np.uint8
    assert np.array_equal(out[~a.hole], a.frames[~a.hole])
    changed = (out != a.frames).any(axis=-1)[a.hole].mean()
    assert changed > 0.5, f"only {changed:.0%} of the hole pixels changed"


# ---- 1. a normal run --------------------------------------------------------------------------
def test_run_writes_npy_and_a_comparison_video(capsys, recwarn, assets, reference, tmp_path):
    out, compare = tmp_path / "out.npy", tmp_path / "cmp.mp4"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "--compare", compare))
    assert code == 0, stderr
    result = np.load(out)
    assert_inpainted(assets, result)
    assert np.array_equal(result, reference)  # same seed, same everything
    # The summary line; progress lines on stderr (not a terminal, not --quiet).
    # the default sampler (ancestral, RUN_SAMPLER) spends one evaluation per step: 4 stages x 2 steps
    assert f"wrote {out}: {T} frames; 4 stages in 4 batches, 8 network evaluations" in stdout
    assert f"wrote {compare}" in stdout
    assert "batch 0: stages 0" in stderr and "Traceback" not in stderr
    # The comparison video has an even height of its own: no padding warning.
    assert not [w for w in recwarn if "odd" in str(w.message)], [str(w.message) for w in recwarn]
    side = read_video(compare)
    assert side.num_frames == T and side.width == 2 * W + 4 and side.height > H
    # A finished run leaves nothing else beside its outputs (no partial folder, no temp files).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.mp4", "out.npy"]


def test_png_folder_in_and_out_quiet(capsys, assets, reference, tmp_path):
    out = tmp_path / "frames"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "--quiet", video=assets.png))
    assert code == 0, stderr
    assert stderr == ""  # --quiet: no progress lines
    assert stdout.startswith(f"wrote {out}: {T} frames;")
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{t:05d}.png" for t in range(T)]
    result = read_video(out).frames
    assert_inpainted(assets, result)
    # PNG frames are exact, and the input decodes to the same pixels as the .npy: same result.
    assert np.array_equal(result, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_mp4_output(capsys, assets, tmp_path):
    out = tmp_path / "out.mp4"
    code, _, stderr = cli(capsys, *run_args(assets, out, "-q"))
    assert code == 0, stderr
    video = read_video(out)  # lossy: only its length and size are checked
    assert video.num_frames == T and video.size == (H, W)


# ---- 2. determinism, batching, samplers -------------------------------------------------------
def test_different_seed_gives_a_different_result(capsys, assets, reference, tmp_path):
    out = tmp_path / "seed1.npy"
    assert cli(capsys, *run_args(assets, out, "-q", "--seed", "1"))[0] == 0
    result = np.load(out)
    assert_inpainted(assets, result)
    assert not np.array_equal(result, reference)


def test_batching_does_not_change_the_result(capsys, assets, tmp_path):
    """hierarchy2 runs its 3 gap stages as one batched call; one at a time gives the same
    video. Every stage draws its noise from its own (seed, stage) stream, so the only
    possible difference is float rounding of a batch-of-3 vs batch-of-1 network call
    (on this CPU the two are bit-identical); a tolerance of 2/255 on a few pixels covers
    other BLAS libraries and devices."""
    batched, sequential = tmp_path / "batched.npy", tmp_path / "sequential.npy"
    code, stdout, _ = cli(capsys, *run_args(assets, batched, "-q", "--scheme", "hierarchy2"))
    assert code == 0 and "4 stages in 2 batches" in stdout
    code, stdout, _ = cli(capsys, *run_args(assets, sequential, "-q", "--scheme", "hierarchy2", "--no-batch-stages"))
    assert code == 0 and "4 stages in 4 batches" in stdout
    a, b = np.load(batched).astype(int), np.load(sequential).astype(int)
    assert_inpainted(assets, a.astype(np.uint8))
    assert np.abs(a - b).max() <= 2
    assert (a != b).mean() < 0.01


def test_the_default_sampler_is_ancestral_sampling(capsys, assets, reference, tmp_path):
    out = tmp_path / "euler_a.npy"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--sampler", "euler_a"))
    assert code == 0, stderr
    assert np.array_equal(np.load(out), reference)


def test_heun_sampler(capsys, assets, reference, tmp_path):
    out = tmp_path / "heun.npy"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--sampler", "heun"))
    assert code == 0, stderr
    assert "12 network evaluations" in stdout  # Heun: 2N - 1 evaluations per stage
    result = np.load(out)
    assert_inpainted(assets, result)
    assert not np.array_equal(result, reference)


@pytest.mark.parametrize("sampler, steps", [("dpmpp_2m", 2), ("ddpm", 2), ("dpmpp_2m_sde", 3)])
def test_one_evaluation_per_step_samplers(capsys, assets, reference, tmp_path, sampler, steps):
    """(DPM-Solver++(2M) SDE's first step is the ancestral step and its last returns the
    estimate: at 2 steps it equals the default sampler exactly, so it runs 3. DDPM's grid
    cannot start from a guess: it runs with the known prior.)"""
    out = tmp_path / "dpm.npy"
    extra = ["--prior-mode", "known"] if sampler == "ddpm" else []
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--sampler", sampler, "--steps", str(steps), *extra))
    assert code == 0, stderr
    assert f"{4 * steps} network evaluations" in stdout  # one evaluation per step, 4 stages
    result = np.load(out)
    assert_inpainted(assets, result)
    assert not np.array_equal(result, reference)


def test_ddpm_starts_from_the_default_priors_guess(capsys, assets, tmp_path):
    """The default prior starts sampling from a guess (SDEdit); DDPM enters its training
    schedule part-way for that, so it runs with the defaults too."""
    out = tmp_path / "x.npy"
    code, _, stderr = cli(capsys, *run_args(assets, out, "-q", "--sampler", "ddpm", "--steps", "2"))
    assert code == 0, stderr
    assert_inpainted(assets, np.load(out))


def test_heun_churn_changes_the_result_not_the_cost(capsys, assets, reference, tmp_path):
    out = tmp_path / "churn.npy"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--sampler", "heun", "--churn", "40"))
    assert code == 0, stderr
    assert "12 network evaluations" in stdout  # Heun 2N - 1 per stage, churn or not
    result = np.load(out)
    assert_inpainted(assets, result)
    assert not np.array_equal(result, reference)


def test_churn_is_refused_for_a_sampler_without_it(capsys, assets, tmp_path):
    out = tmp_path / "x.npy"
    code, _, stderr = cli(capsys, *run_args(assets, out, "-q", "--churn", "10"))  # the default, euler_a
    assert code != 0 and "churn" in stderr and "heun" in stderr
    assert not out.exists()


# ---- 3. interruption and --resume --------------------------------------------------------------
def crash_after_batch(monkeypatch, batches_done: int = 2) -> None:
    """Make the run stop like a Ctrl-C right after the progress of batch `batches_done`
    is saved."""
    save = resume.ProgressStore.save

    def save_then_interrupt(self, next_batch, buffer):
        save(self, next_batch, buffer)
        if next_batch == batches_done:
            raise KeyboardInterrupt

    monkeypatch.setattr(resume.ProgressStore, "save", save_then_interrupt)


def interrupted_run(capsys, monkeypatch, assets, out: Path, *extra) -> Path:
    with monkeypatch.context() as m:
        crash_after_batch(m)
        code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", *extra))
    partial = out.with_name(out.name + ".vidsched-partial")
    assert code == 130
    assert f"progress saved in {partial}" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert partial.is_dir() and (partial / "state.json").is_file()
    assert not out.exists()
    return partial


def test_resume_after_an_interruption_gives_the_uninterrupted_result(capsys, monkeypatch, assets, reference,
                                                                    tmp_path):
    out = tmp_path / "out.npy"
    partial = interrupted_run(capsys, monkeypatch, assets, out)
    assert json.loads((partial / "state.json").read_text())["next_batch"] == 2
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--resume"))
    assert code == 0, stderr
    assert "resumed at batch 2" in stdout
    assert "4 network evaluations" in stdout  # only the two remaining stages ran (2 steps each)
    assert np.array_equal(np.load(out), reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]


def test_resume_with_other_arguments_is_refused(capsys, monkeypatch, assets, tmp_path):
    out = tmp_path / "out.npy"
    partial = interrupted_run(capsys, monkeypatch, assets, out)
    saved = {p.name: p.read_bytes() for p in partial.iterdir()}
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--resume", "--seed", "7"))
    assert code == 1
    assert "belongs to a different run" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert {p.name: p.read_bytes() for p in partial.iterdir()} == saved  # nothing overwritten


def test_resume_with_other_batching_is_refused(capsys, monkeypatch, assets, tmp_path):
    """The saved state counts batches in the order they ran: resuming a --no-batch-stages
    run with batching (or the reverse) would skip stages, so it is an error."""
    out = tmp_path / "out.npy"
    interrupted_run(capsys, monkeypatch, assets, out, "--scheme", "hierarchy2", "--no-batch-stages")
    code, _, stderr = cli(capsys, *run_args(assets, out, "-q", "--scheme", "hierarchy2", "--resume"))
    assert code == 1 and "belongs to a different run" in stderr
    assert not out.exists()
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--scheme", "hierarchy2", "--resume",
                                                 "--no-batch-stages"))
    assert code == 0 and "resumed at batch 2" in stdout, stderr


def test_resume_refuses_a_retrained_checkpoint_behind_the_same_path(capsys, monkeypatch, assets, tmp_path):
    """Resume keys the checkpoint by its weights' sha256, not its path: weights retrained
    into the same file would mix two models."""
    ckpt = save_checkpoint(tmp_path / "ck" / "model", VideoUNet(CONFIG).state_dict(), CONFIG)
    out = tmp_path / "out.npy"
    interrupted_run(capsys, monkeypatch, assets, out, "--checkpoint", ckpt)
    torch.manual_seed(5)
    save_checkpoint(tmp_path / "ck" / "model", VideoUNet(CONFIG).state_dict(), CONFIG)  # "retrained"
    code, _, stderr = cli(capsys, *run_args(assets, out, "-q", "--resume", "--checkpoint", ckpt))
    assert code == 1 and "belongs to a different run" in stderr
    assert not out.exists()


def test_a_new_run_discards_stale_progress(capsys, monkeypatch, assets, reference, tmp_path):
    out = tmp_path / "out.npy"
    partial = interrupted_run(capsys, monkeypatch, assets, out)
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q"))
    assert code == 0 and "resumed" not in stdout
    assert "discarded the saved progress" in stderr
    assert not partial.exists()
    assert np.array_equal(np.load(out), reference)


def test_resume_without_saved_progress_starts_over(capsys, assets, reference, tmp_path):
    out = tmp_path / "out.npy"
    code, _, stderr = cli(capsys, *run_args(assets, out, "-q", "--resume"))
    assert code == 0 and "no saved progress found" in stderr
    assert np.array_equal(np.load(out), reference)


# ---- 4. bad input: a message, exit 1, nothing overwritten -------------------------------------
def _bad_video(a, d):
    (d / "bad.mp4").write_bytes(b"this is not a video" * 20)
    return {"video": d / "bad.mp4"}, "cannot read video"


def _missing_video(a, d):
    return {"video": d / "nothere.mp4"}, "video not found"


def _empty_video(a, d):
    np.save(d / "empty.npy", np.zeros((0, H, W, 3), np.uint8))
    return {"video": d / "empty.npy"}, "contains no frames"


def _mask_of_another_shape(a, d):
    """A mask of the video's shape at another size is scaled (below); another shape is an error."""
    np.save(d / "m.npy", np.full((T, H // 2, W), 255, np.uint8))
    return {"mask": d / "m.npy"}, f"the mask is {W}x{H // 2} but the video is {W}x{H}, another shape"


def _mask_of_another_length(a, d):
    np.save(d / "m.npy", a.hole[:5].astype(np.uint8))
    return {"mask": d / "m.npy"}, f"the mask has 5 frames but the video has {T}"


def _no_mask(a, d):
    return {"mask": None}, "no mask given"


def _missing_checkpoint(a, d):
    return {"checkpoint": d / "nothere.json"}, "checkpoint not found"


def _copy_checkpoint(a, d) -> Path:
    shutil.copytree(a.checkpoint.parent, d / "ckpt")
    return d / "ckpt" / a.checkpoint.name


def _truncated_checkpoint(a, d):
    ckpt = _copy_checkpoint(a, d)
    weights = ckpt.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    return {"checkpoint": ckpt}, "truncated"


def _truncated_checkpoint_size_unrecorded(a, d):
    """Truncated weights whose size and sha256 the JSON does not record: safetensors itself fails."""
    ckpt = _truncated_checkpoint(a, d)[0]["checkpoint"]
    doc = json.loads(ckpt.read_text())
    del doc["weights_bytes"], doc["weights_sha256"]
    ckpt.write_text(json.dumps(doc))
    return {"checkpoint": ckpt}, "is corrupt or truncated"


def _checkpoint_of_another_architecture(a, d):
    """Weights of a wider network under this config."""
    torch.manual_seed(1)
    ckpt = save_checkpoint(d / "other" / "tiny", VideoUNet(OTHER).state_dict(), CONFIG)
    return {"checkpoint": ckpt}, "do not fit the architecture"


def _K_larger_than_the_model(a, d):
    return {"extra": ["--set", "K=9"]}, "the model sees at most K = 4"


def _unknown_scheme(a, d):
    return {"extra": ["--scheme", "no_such_scheme"]}, "no_such_scheme"


def _output_is_the_input(a, d):
    return {"output": "input"}, "is the input video"


def _unknown_output_format(a, d):
    return {"output": d / "out.txt"}, "unknown output format"


BAD_INPUTS = [_bad_video, _missing_video, _empty_video, _mask_of_another_shape, _mask_of_another_length, _no_mask,
              _missing_checkpoint, _truncated_checkpoint, _truncated_checkpoint_size_unrecorded,
              _checkpoint_of_another_architecture, _K_larger_than_the_model, _unknown_scheme, _output_is_the_input,
              _unknown_output_format]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_a_clear_error(capsys, assets, tmp_path, case):
    video = tmp_path / "input.npy"
    np.save(video, assets.frames)
    output = tmp_path / "existing.npy"
    np.save(output, np.arange(5))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    kw, needle = case(assets, tmp_path)
    if kw.get("output") == "input":
        kw["output"] = video
    target = kw.get("output", output)
    args = ["run", kw.get("video", video), "--checkpoint", kw.get("checkpoint", assets.checkpoint),
            "--steps", "2", "-q", "-o", target, *kw.get("extra", [])]
    if kw.get("mask", assets.mask) is not None:
        args += ["--mask", kw.get("mask", assets.mask)]
    code, stdout, stderr = cli(capsys, *args)
    assert code == 1, (stdout, stderr)
    assert stderr.startswith("error: ") and needle in stderr, stderr
    assert "Traceback" not in stderr
    for name, data in before.items():  # the earlier output (and the input) are untouched
        assert (tmp_path / name).read_bytes() == data, name
    assert not Path(str(target) + ".vidsched-partial").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp files left


def test_mask_without_a_hole_copies_the_video_through(capsys, assets, tmp_path):
    """... and still writes the --compare and --save-sources asked for (they were skipped)."""
    mask = tmp_path / "none.npy"
    np.save(mask, np.zeros((T, H, W), np.uint8))
    out, compare, sources = tmp_path / "out.npy", tmp_path / "compare.npy", tmp_path / "sources.npy"
    code, stdout, stderr = cli(capsys, "run", assets.video, "--mask", mask, "--checkpoint", assets.checkpoint,
                               "-q", "-o", out, "--compare", compare, "--save-sources", sources)
    assert code == 0, stderr
    assert "copied through" in stdout and "no pixel to fill" in stderr
    assert f"wrote {compare}" in stdout
    assert np.array_equal(np.load(out), assets.frames)
    assert len(np.load(compare)) == T
    assert (np.load(sources) == 0).all()  # every pixel is the input's


def test_a_mask_at_half_the_size_is_scaled_to_the_video(capsys, assets, tmp_path):
    """A mask of the video's shape at half its size (drawn on a preview) is scaled up, with
    a note: the scaled hole covers every pixel the mask's hole covers, and every pixel
    outside it stays exact."""
    import cv2

    small = np.zeros((T, H // 2, W // 2), np.uint8)
    small[:, 3:6, 4:8] = 255
    np.save(tmp_path / "half.npy", small)
    out = tmp_path / "out.npy"
    code, stdout, stderr = cli(capsys, "run", assets.video, "--mask", tmp_path / "half.npy", "--checkpoint",
                               assets.checkpoint, "--steps", "2", "-q", "-o", out, "--prior", "none")
    assert code == 0, stderr
    assert f"the mask is {W // 2}x{H // 2} and the video {W}x{H}: the mask was scaled" in stderr, stderr
    covered = cv2.resize(small[0], (W, H), interpolation=cv2.INTER_NEAREST) > 0  # what the small mask covers
    changed = (np.load(out) != assets.frames).any(axis=-1)
    assert changed[:, covered].mean() > 0.5  # filled
    grown = cv2.dilate(covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert not changed[:, ~grown].any()  # nothing beyond the scaled hole (a pixel or two wider at most)


def test_holes_in_a_few_frames_leave_the_other_frames_untouched(capsys, assets, tmp_path):
    """Holes at the frame border in the last 4 of 8 frames: those are filled, every other
    frame comes back bit-exact, and the note about the stages the scheme skips reads as
    English (it said "1 stages of the scheme were skipped")."""
    hole = np.zeros((T, H, W), np.uint8)
    hole[4:, 0:6, W - 8:W] = 255  # in the top-right corner
    np.save(tmp_path / "few.npy", hole)
    out = tmp_path / "out.npy"
    code, stdout, stderr = cli(capsys, "run", assets.video, "--mask", tmp_path / "few.npy", "--checkpoint",
                               assets.checkpoint, "--steps", "2", "-q", "-o", out, "--prior", "none")
    assert code == 0, stderr
    result, hole = np.load(out), hole > 0
    assert np.array_equal(result[~hole], assets.frames[~hole])
    assert (result[hole] != assets.frames[hole]).any()
    assert "note: 4 frames have no hole in a region: 1 stage of the scheme was skipped there" in stderr, stderr


def test_the_propagation_summary_never_rounds_to_all_or_nothing():
    """Salt noise is 99.7 % propagated: the summary said "100 % taken as known, the model
    fills the rest"."""
    assert [pipeline.percent(x) for x in (0, 0.001, 0.25, 0.9949, 0.997, 1)] == [
        "0 %", "< 1 %", "25 %", "99 %", "> 99 %", "100 %"]


@pytest.mark.parametrize("prior", ["propagate", "none"])
def test_mask_over_every_pixel_is_filled_not_handed_back(capsys, assets, tmp_path, prior):
    """A hole over the whole of every frame: nothing is known, the run says so, and the
    result is the model's, not the hidden input (the default prior's Telea guess used to
    return all-hole frames unchanged, so the model handed the input back)."""
    mask = tmp_path / "all.npy"
    np.save(mask, np.full((T, H, W), 255, np.uint8))
    out = tmp_path / "out.npy"
    code, stdout, stderr = cli(capsys, "run", assets.video, "--mask", mask, "--checkpoint", assets.checkpoint,
                               "--steps", "2", "-q", "-o", out, "--prior", prior)
    assert code == 0, stderr
    assert "covers every pixel of every frame" in stderr
    result = np.load(out)
    assert result.shape == assets.frames.shape
    hidden = np.corrcoef(result.reshape(-1).astype(float), assets.frames.reshape(-1).astype(float))[0, 1]
    assert hidden < 0.5, f"the fill correlates {hidden:.2f} with the input the mask hides"


def test_nan_during_sampling_names_the_stage(capsys, monkeypatch, assets, tmp_path):
    """The network returns NaN from the third stage on (the default sampler, 2 steps: 2 calls a stage)."""
    forward = VideoUNet.forward
    calls = []

    def nan_from_stage_2(self, x, *args):
        calls.append(1)
        eps = forward(self, x, *args)
        return torch.full_like(eps, float("nan")) if len(calls) > 4 else eps

    monkeypatch.setattr(VideoUNet, "forward", nan_from_stage_2)
    out, sources = tmp_path / "out.npy", tmp_path / "sources.npy"
    np.save(out, np.arange(5))
    np.save(sources, np.arange(7))
    before = out.read_bytes(), sources.read_bytes()
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--save-sources", sources))
    assert code == 1
    assert "NaN" in stderr and "stage 2 (" in stderr and "Traceback" not in stderr
    # nothing overwritten: --save-sources was written before the sampling, and kept on failure
    assert (out.read_bytes(), sources.read_bytes()) == before


# ---- 5. `vidsched run` with no arguments -----------------------------------------------------
def test_run_without_arguments_shows_the_default_plan(capsys, monkeypatch, tmp_path):
    """This version ships no checkpoint or example clip: a note says so and the default
    scheme's plan is shown (and written where -o points) instead."""
    monkeypatch.chdir(tmp_path)
    for name in ("DEFAULT_CHECKPOINT", "DEFAULT_VIDEO", "DEFAULT_MASK"):  # as shipped today
        if getattr(pipeline, name).exists():
            monkeypatch.setattr(pipeline, name, tmp_path / "not-shipped" / getattr(pipeline, name).name)
    code, stdout, stderr = cli(capsys, "run", "-o", tmp_path / "plan")
    assert code == 0, stderr
    assert stderr.startswith("note: ") and "ships neither yet" in stderr
    assert pipeline.DEFAULT_SCHEME in stdout and "stages in" in stdout
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["format"] == "vidsched.plan/1" and plan["scheme"] == pipeline.DEFAULT_SCHEME
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


def test_run_without_checkpoint_is_exit_1(capsys, monkeypatch, assets, tmp_path):
    monkeypatch.setattr(pipeline, "DEFAULT_CHECKPOINT", tmp_path / "not-shipped.safetensors")
    code, _, stderr = cli(capsys, "run", assets.video, "--mask", assets.mask, "-o", tmp_path / "out.npy")
    assert code == 1 and "pass --checkpoint" in stderr and "Traceback" not in stderr


# ---- 6. model-info -----------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_model_info_presets(capsys, preset):
    code, stdout, _ = cli(capsys, "model-info", "--preset", preset)
    assert code == 0
    config = getattr(VideoUNetConfig, preset)()
    with torch.device("meta"):
        n = count_parameters(VideoUNet(config))
    assert f"parameters:            {n:,}" in stdout
    assert f"frames per call (K):   {config.max_frames}" in stdout


def test_model_info_checkpoint(capsys, assets):
    code, stdout, _ = cli(capsys, "model-info", "--checkpoint", assets.checkpoint)
    assert code == 0
    assert f"{assets.num_parameters:,}" in stdout and "16x16" in stdout


def test_model_info_bad_preset_is_a_usage_error(capsys):
    assert cli(capsys, "model-info", "--preset", "huge")[0] == 2


# ---- the installed program -------------------------------------------------------------------
def test_vidsched_script_runs_end_to_end(assets, reference, tmp_path):
    program = shutil.which("vidsched")
    command = [program] if program else [sys.executable, "-m", "vidsched.cli"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"  # see one_thread in tests/conftest.py
    out = tmp_path / "out.npy"
    done = subprocess.run(command + [str(x) for x in run_args(assets, out, video=assets.png)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: {T} frames;")
    assert np.array_equal(np.load(out), reference)  # and the same result in another process


@pytest.mark.parametrize("mode", ["known", "init", "hybrid"])
def test_propagation_prior_keeps_known_pixels_and_writes_the_sources(capsys, assets, tmp_path, mode):
    out, sources = tmp_path / "out.npy", tmp_path / "sources.npy"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--prior", "propagate", "--prior-mode", mode,
                                                 "--save-sources", sources, "--sampler", "dpmpp_2m"))
    assert code == 0, stderr
    assert re.search(r"propagation \([0-9.]+ s\): ", stdout) and stderr == ""  # a summary line (its time), not a warning
    result = np.load(out)
    assert_inpainted(assets, result)
    grey = np.load(sources)[..., 0]
    assert grey.shape == assets.hole.shape
    assert (grey[~assets.hole] == 0).all() and set(np.unique(grey[assets.hole])) <= {128, 255}
    if mode == "init":
        assert (grey[assets.hole] == 255).all()  # init: the model writes every hole pixel
    if mode == "hybrid":  # trusted pixels come from propagation, the model starts from a guess for the rest
        assert "starting from a guess at sigma" in stdout or "nothing left for the model" in stdout


def test_regions_on_a_non_square_clip_and_the_regions_picture(capsys, assets, tmp_path):
    """A wide clip with a small hole: --region crop works on a square region around it
    (the summary says so), known pixels stay exact, and --explain-regions draws the
    regions over the frame without running the model."""
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (6, 40, 100, 3), dtype=np.uint8)
    hole = np.zeros((6, 40, 100), bool)
    hole[:, 10:16, 70:78] = True
    np.save(tmp_path / "wide.npy", frames)
    np.save(tmp_path / "wide_mask.npy", hole)
    out = tmp_path / "out.npy"
    args = ["run", tmp_path / "wide.npy", "--mask", tmp_path / "wide_mask.npy", "--checkpoint", assets.checkpoint,
            "--steps", "2", "--region", "crop"]
    code, stdout, stderr = cli(capsys, *args, "-o", out, "-q")
    assert code == 0, stderr
    import re

    side = re.search(r"crop, 1 region: (\d+)x(\d+) at zoom", stdout)
    assert side and side.group(1) == side.group(2) and int(side.group(1)) < 40, stdout  # square, not the frame
    result = np.load(out)
    assert result.shape == frames.shape and np.array_equal(result[~hole], frames[~hole])
    picture = tmp_path / "regions.png"
    code, stdout, stderr = cli(capsys, *args, "--explain-regions", picture)
    assert code == 0 and picture.is_file() and "1 region" in stdout, stderr
    from PIL import Image

    assert Image.open(picture).size[0] >= 100
    np.save(tmp_path / "no_hole.npy", np.zeros_like(hole))  # the picture says why there is no region
    args[3] = tmp_path / "no_hole.npy"
    code, stdout, stderr = cli(capsys, *args, "--explain-regions", picture)
    assert code == 0 and "0 regions" in stdout and "nothing to fill" in stdout, (stdout, stderr)


def test_the_propagation_prior_is_on_by_default_and_none_turns_it_off(capsys, assets, tmp_path):
    """`vidsched run` propagates by default (measured best: docs/results.md, section 6) and
    trusts every propagated pixel; --prior none leaves every hole pixel to the model."""
    out, sources = tmp_path / "out.npy", tmp_path / "sources.npy"
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--save-sources", sources))
    assert code == 0, stderr
    assert "propagation (" in stdout
    grey = np.load(sources)[..., 0]
    assert (grey[assets.hole] == 128).any()  # some hole pixels came from other frames
    assert_inpainted(assets, np.load(out))
    code, stdout, stderr = cli(capsys, *run_args(assets, out, "-q", "--prior", "none", "--save-sources", sources))
    assert code == 0, stderr
    assert "propagation (" not in stdout
    assert (np.load(sources)[..., 0][assets.hole] == 255).all()


def test_an_odd_frame_size_is_a_one_line_warning_not_python_s_format(capsys, assets, tmp_path):
    """A 23x19 clip written as .mp4 is padded to even sizes for the codec: the user reads
    ``warning: ...`` like the notes, not a file and line of vidsched's source."""
    video, mask = tmp_path / "odd.npy", tmp_path / "odd_mask.npy"
    np.save(video, assets.frames[:, :H - 1, :W - 1])
    np.save(mask, assets.hole[:, :H - 1, :W - 1])
    out = tmp_path / "odd.mp4"
    code, _, stderr = cli(capsys, "run", video, "--mask", mask, "--checkpoint", assets.checkpoint, "--steps", "1",
                          "-o", out, "--quiet")
    assert code == 0, stderr
    assert f"warning: {W - 1}x{H - 1} is odd" in stderr
    assert ".py:" not in stderr and "UserWarning" not in stderr
    assert read_video(out).width == W  # padded, not cropped


def test_other_libraries_warnings_keep_python_s_format(capsys):
    """Only vidsched's own warnings are reworded; a library's go to Python's printer."""
    from vidsched import cli as cli_module

    seen = []
    cli_module._show_warning(lambda *a: seen.append(a), "deprecated", DeprecationWarning, "/site-packages/x.py", 3)
    cli_module._show_warning(lambda *a: seen.append(a), "careful", UserWarning, "/site-packages/x.py", 4)
    cli_module._show_warning(lambda *a: seen.append(a), "odd size", UserWarning, cli_module.__file__, 5)
    assert [a[0] for a in seen] == ["deprecated", "careful"]
    assert capsys.readouterr().err == "warning: odd size\n"


def test_dilate_grows_the_mask_and_keeps_every_pixel_outside_it(capsys, assets, tmp_path):
    """--dilate N fills a margin of N pixels around the user's mask (object removal with a
    tight segmentation); pixels outside the grown mask are the input's, bit-exact."""
    from vidsched.masks_io import grow_mask

    out = tmp_path / "grown.npy"
    code, _, stderr = cli(capsys, *run_args(assets, out, "--dilate", "2", "--quiet"))
    assert code == 0, stderr
    grown = grow_mask(assets.hole, 2)
    added = int(grown.sum() - assets.hole.sum())
    assert f"note: --dilate 2: the mask grew by {added:,} pixels" in stderr
    result = np.load(out)
    assert np.array_equal(result[~grown], assets.frames[~grown])
    ring = grown & ~assets.hole
    assert (result != assets.frames).any(axis=-1)[ring].mean() > 0.3  # the margin was filled, not kept
    code, _, stderr = cli(capsys, *run_args(assets, tmp_path / "bad.npy", "--dilate", "-1"))
    assert code == 2 and not (tmp_path / "bad.npy").exists()


def test_a_video_resampled_in_time_takes_its_mask_along(capsys, assets, tmp_path):
    """--fps 5 on a 10 fps video file keeps every other frame; a mask video of the source's
    length is resampled with it (the packed mask's frames picked by index), and a single
    mask image stands for every kept frame."""
    from vidsched.masks_io import write_mask
    from vidsched.videoio import read_video

    video = write_video(tmp_path / "clip.avi", assets.frames, 10)
    write_mask(tmp_path / "mask.avi", assets.hole)
    kept = read_video(video, fps=5)
    assert kept.num_frames < T
    out = tmp_path / "out.npy"
    args = ["run", video, "--checkpoint", assets.checkpoint, "--steps", "2", "-o", out, "--fps", "5", "--mask"]
    code, _, err = cli(capsys, *args, tmp_path / "mask.avi")
    assert code == 0, err
    result, hole = np.load(out), assets.hole[kept.source_frames]
    assert result.shape == kept.frames.shape
    assert np.array_equal(result[~hole], kept.frames[~hole])
    assert (result != kept.frames).any(axis=-1)[hole].mean() > 0.5
    from PIL import Image

    Image.fromarray(assets.hole[3].astype(np.uint8) * 255).save(tmp_path / "still.png")
    code, _, err = cli(capsys, *args, tmp_path / "still.png")
    assert code == 0, err
    still = np.repeat(assets.hole[3][None], len(kept.source_frames), axis=0)
    assert np.array_equal(np.load(out)[~still], kept.frames[~still])
