"""The evaluation suite and `vidsched eval`: composites, frame selection, datasets, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidsched.cli import main
from vidsched.errors import VidschedError
from vidsched.metrics import lpips as lpips_mod
from vidsched.metrics import weights
from vidsched.metrics.pixel import psnr_video
from vidsched.metrics.suite import EvalVideo, evaluate, load_videos, report_lines


@pytest.fixture(autouse=True)
def _no_weights(monkeypatch, tmp_path):
    for spec in weights.WEIGHTS.values():
        monkeypatch.delenv(spec.env, raising=False)
    monkeypatch.setenv("VIDSCHED_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "_installed_lpips_weights", lambda: [])


def clip(seed: int, t: int = 10, size: int = 32):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
    gt = np.stack([np.roll(base, i, axis=1)[:, :size] for i in range(t)])  # a smooth pan
    hole = np.zeros((t, size, size), bool)
    hole[:, 8:20, 10:22] = True
    pred = gt.copy()
    pred[hole] = rng.integers(0, 256, (int(hole.sum()), 3), dtype=np.uint8)
    return gt, pred, hole


def test_metrics_see_the_composite_only():
    gt, pred, hole = clip(0)
    outside = pred.copy()
    outside[~hole] = 0  # garbage outside the hole must not count
    a = evaluate([EvalVideo("a", gt, pred, hole)], ["psnr", "ssim", "e_warp"])
    b = evaluate([EvalVideo("a", gt, outside, hole)], ["psnr", "ssim", "e_warp"])
    assert a.summary == b.summary
    assert a.summary["psnr"] == pytest.approx(psnr_video(gt, np.where(hole[..., None], pred, gt)))


def test_frames_without_a_hole_are_not_scored():
    gt, pred, hole = clip(1)
    hole[:4] = False  # complete frames: identical to the ground truth on the composite
    report = evaluate([EvalVideo("a", gt, pred, hole)], ["psnr", "ssim"])
    t = np.arange(4, len(gt))
    comp = np.where(hole[..., None], pred, gt)
    assert np.isfinite(report.summary["psnr"])
    assert report.summary["psnr"] == pytest.approx(psnr_video(gt[t], comp[t]))


def test_identical_videos_take_the_largest_finite_psnr_like_devil():
    gt, pred, hole = clip(2)
    g2, p2, h2 = clip(3)
    report = evaluate([EvalVideo("a", gt, pred, hole), EvalVideo("b", g2, g2, h2)], ["psnr"])
    assert report.per_video["b"]["psnr"] == float("inf")
    assert report.summary["psnr"] == pytest.approx(report.per_video["a"]["psnr"])


def test_unavailable_metrics_say_why_and_are_never_computed():
    gt, pred, hole = clip(4)
    report = evaluate([EvalVideo("a", gt, pred, hole)], ["psnr", "lpips", "fid", "vfid"])
    assert set(report.unavailable) == {"lpips", "fid", "vfid"}
    assert "alexnet-owt-7be5be79.pth" in report.unavailable["lpips"]
    assert "VIDSCHED_LPIPS_ALEX" in report.unavailable["lpips"]
    assert "at least 2 videos" in report.unavailable["vfid"]
    assert set(report.summary) == {"psnr"}
    text = "\n".join(report_lines(report))
    assert "unavailable" in text and "VIDSCHED_FID_INCEPTION" in text


def test_lpips_runs_through_the_suite_when_weights_are_present(monkeypatch, tmp_path):
    torch.manual_seed(0)
    alex, lin = tmp_path / "alex.pth", tmp_path / "lin.pth"
    torch.save(lpips_mod.AlexNetFeatures().state_dict(), alex)
    torch.save({k: v.abs() for k, v in lpips_mod.LinearLayers().state_dict().items()}, lin)
    monkeypatch.setenv("VIDSCHED_LPIPS_ALEX", str(alex))
    monkeypatch.setenv("VIDSCHED_LPIPS_LIN", str(lin))
    gt, pred, hole = clip(5)
    report = evaluate([EvalVideo("a", gt, pred, hole), EvalVideo("b", gt, gt, hole)], ["lpips"])
    assert report.per_video["a"]["lpips"] > 0
    assert report.per_video["b"]["lpips"] == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs_are_named():
    gt, pred, hole = clip(6)
    with pytest.raises(VidschedError, match="the mask is"):
        evaluate([EvalVideo("v", gt, pred, hole[:, :-1])], ["psnr"])
    with pytest.raises(VidschedError, match="prediction is"):
        evaluate([EvalVideo("v", gt, pred[:-1], hole)], ["psnr"])
    with pytest.raises(VidschedError, match="unknown metric 'mse'"):
        evaluate([EvalVideo("v", gt, pred, hole)], ["mse"])


def _write_dataset(root, names):
    for sub in ("gt", "pred", "mask"):
        (root / sub).mkdir(parents=True)
    for i, name in enumerate(names):
        gt, pred, hole = clip(10 + i)
        np.save(root / "gt" / f"{name}.npy", gt)
        np.save(root / "pred" / f"{name}.npy", pred)
        np.save(root / "mask" / f"{name}.npy", hole)


def test_dataset_mode_matches_names(tmp_path):
    _write_dataset(tmp_path, ["b", "a"])
    videos = load_videos(tmp_path / "pred", tmp_path / "gt", tmp_path / "mask")
    assert [v.name for v in videos] == ["a", "b"]
    gt, pred, hole = clip(11)  # "a" was written second
    assert np.array_equal(videos[0].gt, gt) and np.array_equal(videos[0].hole, hole)
    (tmp_path / "pred" / "a.npy").unlink()
    with pytest.raises(VidschedError, match="no clip named 'a' in --pred"):
        load_videos(tmp_path / "pred", tmp_path / "gt", tmp_path / "mask")


def test_cli_single_video_table_and_json(tmp_path, capsys):
    gt, pred, hole = clip(7)
    for name, arr in (("gt", gt), ("pred", pred), ("hole", hole)):
        np.save(tmp_path / f"{name}.npy", arr)
    args = ["eval", "--pred", str(tmp_path / "pred.npy"), "--gt", str(tmp_path / "gt.npy"),
            "--mask", str(tmp_path / "hole.npy")]
    assert main(args + ["--metrics", "psnr,ssim,e_warp,lpips"]) == 0
    out = capsys.readouterr().out
    assert "PSNR (dB)" in out and "E_warp" in out and "LPIPS      unavailable" in out
    assert main(args + ["--metrics", "offline", "--json", "-o", str(tmp_path / "r.json")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["summary"]) == {"psnr", "ssim", "e_warp"}
    assert json.loads((tmp_path / "r.json").read_text()) == doc
    comp = np.where(hole[..., None], pred, gt)
    assert doc["summary"]["psnr"] == pytest.approx(psnr_video(gt, comp))


def test_cli_dataset_mode_prints_every_video(tmp_path, capsys):
    _write_dataset(tmp_path, ["one", "two"])
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--mask", str(tmp_path / "mask"), "--metrics", "psnr"]) == 0
    out = capsys.readouterr().out
    assert "\none " in out and "\ntwo " in out and "2 video(s)" in out


def test_cli_errors(tmp_path, capsys):
    gt, pred, hole = clip(8)
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "hole.npy", hole[:, :16])
    base = ["eval", "--pred", str(tmp_path / "pred.npy"), "--gt", str(tmp_path / "gt.npy")]
    assert main(base + ["--mask", str(tmp_path / "hole.npy")]) == 1
    err = capsys.readouterr().err
    assert "mask" in err and "Traceback" not in err
    assert main(base + ["--mask", str(tmp_path / "hole.npy"), "--metrics", "psnr,mse"]) == 2
    assert main(base + ["--mask", str(tmp_path / "missing.npy")]) == 1
