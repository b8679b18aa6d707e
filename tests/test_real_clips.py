"""experiments/real_clips.py: the held-out evaluation on clips at their own resolution.

Runs the script's main function in --quick mode on small generated clips (no corpus
needed), with Telea, temporal propagation and the shipped checkpoint at 2 sampler steps.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from script_loader import load_script


@pytest.fixture(scope="module")
def real_clips():
    yield load_script("experiments/real_clips.py")
    sys.modules.pop("real_clips", None)


def small_clip(T: int, H: int, W: int, seed: int) -> np.ndarray:
    """A panning texture with a square moving across it, uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W + 2 * T].astype(np.float64)
    base = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 0.05 * rng.standard_normal(yy.shape)
    frames = []
    for t in range(T):
        f = np.stack([base, 1 - base, base ** 2], axis=-1)[:, 2 * t:2 * t + W].copy()
        f[4 + t:14 + t, 6 + 3 * t:16 + 3 * t] = (0.9, 0.1, 0.2)
        frames.append(f)
    return np.rint(np.clip(np.stack(frames), 0, 1) * 255).astype(np.uint8)


def test_quick_run_on_given_clips(real_clips, tmp_path, capsys) -> None:
    clips = [("wide", small_clip(8, 40, 64, 0)), ("tall", small_clip(8, 56, 48, 1))]
    out = tmp_path / "out"
    code = real_clips.main(["--quick", "--results-dir", str(tmp_path), "--img-dir", str(tmp_path),
                            "--save-outputs", str(out), "--threads", "1", "--name", "rc"], clips=clips)
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()

    payload = json.loads((tmp_path / "rc.json").read_text())
    methods = ["telea", "propagation", "flow_propagation", "vidsched-corpus64/auto", "vidsched-corpus64/full"]
    assert payload["methods"] == methods
    assert payload["sampler"] == "dpmpp_2m" and payload["steps"] == 2 and payload["frames"] == 8
    assert payload["scheme"] == "improved_ar_far_future"
    assert [(c["name"], c["width"], c["height"], c["frames"]) for c in payload["clips"]] == [
        ("wide", 64, 40, 8), ("tall", 48, 56, 8)]
    assert set(payload["results"]) == {"object", "logo"}

    for kind, per_clip in payload["results"].items():
        assert set(per_clip) == {"wide", "tall"}
        for clip, r in per_clip.items():
            mask = r["mask"]
            assert mask["kind"] == kind and mask["moving"] == (kind == "object")
            assert 0.01 <= mask["hole_fraction_min"] <= mask["hole_fraction"] < 1
            assert math.isfinite(r["e_warp_truth"])
            assert set(r["methods"]) == set(methods)
            for label, m in r["methods"].items():
                assert m["known_exact"] is True, (kind, clip, label)
                for metric in ("hole_psnr", "ssim", "e_warp", "seconds"):
                    assert isinstance(m[metric], float) and math.isfinite(m[metric]), (kind, clip, label, metric)
                assert 0 < m["ssim"] <= 1 and m["e_warp"] >= 0 and m["seconds"] >= 0
                if mask["eroded_hole_pixels"] > 0:
                    assert isinstance(m["sharpness"], float) and m["sharpness"] >= 0
                else:
                    assert m["sharpness"] is None
                # the model's evaluations are counted; the baselines make none
                assert (m["network_evaluations"] > 0) == label.startswith("vidsched")

            # the saved outputs: known pixels of every method bit-exact, holes filled
            saved = np.load(out / f"{clip}_{kind}.npz")
            gt, hole = saved["truth"], saved["hole"]
            assert hole.shape == gt.shape[:3] and hole.any(axis=(1, 2)).all()
            for label in methods:
                pred = saved[label.replace("/", "__")]
                assert pred.dtype == np.uint8 and pred.shape == gt.shape
                assert np.array_equal(pred[~hole], gt[~hole]), (kind, clip, label)

    # the summary: means over clips, also the last printed line (one JSON object)
    last = json.loads(printed[-1])
    assert last["summary"] == payload["summary"]
    assert last["clips"] == ["wide", "tall"]
    for kind in ("object", "logo"):
        for label in methods:
            s = payload["summary"][kind][label]
            values = [payload["results"][kind][c]["methods"][label]["hole_psnr"] for c in ("wide", "tall")]
            assert s["hole_psnr"] == pytest.approx(np.mean(values))
            assert s["known_exact"] is True

    # the table and the pictures
    md = (tmp_path / "rc.md").read_text()
    assert "## object masks" in md and "## logo masks" in md
    assert "| clip | telea | propagation | flow_propagation | vidsched-corpus64/auto | vidsched-corpus64/full |" in md
    from PIL import Image

    for kind in ("object", "logo"):
        image = np.asarray(Image.open(tmp_path / f"rc_{kind}.png"))
        # two rows (one per clip), six panels each: input, four methods, truth
        assert image.shape[0] == 2 * (20 + real_clips.PANEL_HEIGHT) + 3
        assert image.shape[1] >= 6 * (real_clips.PANEL_HEIGHT * 48 // 56)


def test_synthetic_source_from_the_command_line(real_clips, tmp_path, capsys) -> None:
    code = real_clips.main(["--quick", "--synthetic", "--no-shipped", "--masks", "object,logo,box",
                            "--results-dir", str(tmp_path), "--img-dir", str(tmp_path), "--no-figures"])
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last["summary"]) == {"object", "logo", "box"}
    assert set(last["summary"]["box"]) == {"telea", "propagation", "flow_propagation"}
    assert (tmp_path / "real_clips_quick.json").is_file() and not list(tmp_path.glob("*.png"))


def test_stretch_avoids_scene_cuts(real_clips) -> None:
    rng = np.random.default_rng(0)
    dark = np.clip(rng.normal(40, 5, (6, 24, 32, 3)), 0, 255).astype(np.uint8)
    bright = np.clip(rng.normal(200, 5, (12, 24, 32, 3)), 0, 255).astype(np.uint8)
    frames = np.concatenate([dark, bright])  # a cut at frame 6
    start, stretch = real_clips.pick_stretch(frames, 8)
    assert start == 6 and len(stretch) == 8
    start, stretch = real_clips.pick_stretch(frames, 20)  # no shot is long enough: the longest one
    assert start == 6 and len(stretch) == 12


def test_moving_masks_hide_moving_content(real_clips) -> None:
    frames = small_clip(8, 48, 64, 2)
    clip = real_clips.Clip("c", frames, "given")
    hole, info = real_clips.clip_mask(clip, "object", 0, min_moving=0.05)
    assert info["moving_content_in_hole"] >= 0.05 or info["seeds_tried"] == real_clips.MASK_TRIES
    again, _ = real_clips.clip_mask(clip, "object", 0, min_moving=0.05)
    assert np.array_equal(hole, again)  # reproducible
    logo, info = real_clips.clip_mask(clip, "logo", 0, min_moving=0.05)
    assert info["seeds_tried"] == 1 and (logo == logo[0]).all()


def test_bad_arguments(real_clips) -> None:
    for argv in (["--masks", "grid"], ["--region", "crop2"], ["--baselines", "magic"], ["--frames", "1"]):
        with pytest.raises(SystemExit):
            real_clips.parse_args(argv)


def test_a_sampler_ablation_makes_one_method_per_setting_and_a_cost_plot(real_clips, tmp_path, capsys) -> None:
    clips = [("wide", small_clip(6, 40, 64, 0))]
    code = real_clips.main(["--quick", "--frames", "6", "--masks", "logo", "--baselines", "telea", "--region", "full",
                            "--samplers", "dpmpp_2m:1,heun:2,heun:2:40", "--results-dir", str(tmp_path), "--img-dir",
                            str(tmp_path), "--threads", "1", "--name", "abl"], clips=clips)
    assert code == 0
    payload = json.loads((tmp_path / "abl.json").read_text())
    assert payload["methods"] == ["telea", "vidsched-corpus64/full dpmpp_2m:1", "vidsched-corpus64/full heun:2",
                                  "vidsched-corpus64/full heun:2:40"]
    row = payload["results"]["logo"]["wide"]["methods"]
    # Heun spends 2N - 1 evaluations per stage, DPM-Solver++(2M) N: the plot's x axis
    assert row["vidsched-corpus64/full heun:2"]["network_evaluations"] == \
        3 * row["vidsched-corpus64/full dpmpp_2m:1"]["network_evaluations"]
    # churn adds noise, not evaluations, and changes the result
    churned = row["vidsched-corpus64/full heun:2:40"]
    assert churned["network_evaluations"] == row["vidsched-corpus64/full heun:2"]["network_evaluations"]
    assert churned["hole_psnr"] != row["vidsched-corpus64/full heun:2"]["hole_psnr"]
    assert (tmp_path / "abl_evaluations.png").stat().st_size > 1000


def test_bad_sampler_settings_are_refused(real_clips) -> None:
    for text in ("euler:10", "heun", "heun:0", "heun:x", "heun:10:-1", "heun:10:x", "ddpm:10:40", "heun:10:40:1"):
        with pytest.raises(SystemExit):
            real_clips.parse_args(["--samplers", text])
    assert real_clips.parse_args(["--samplers", "ddpm:50,heun:10,heun:10:40"]).samplers == [
        ("ddpm", 50, 0.0), ("heun", 10, 0.0), ("heun", 10, 40.0)]
