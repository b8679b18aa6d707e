"""The documentation's figure scripts: they run, and what their figures claim holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from script_loader import load_script

ROOT = Path(__file__).resolve().parents[1]

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def _script(name: str):
    return load_script(f"docs/{name}.py", f"docs_{name}")


@needs_dot
def test_informative_figure_plans_change_with_the_mask(tmp_path):
    fig = _script("make_informative_figure")
    out = tmp_path / "informative_masks.png"
    plans = fig.make_figure(out)

    moving, still = (fig.observed(plans[label]) for label, _ in fig.MASKS)
    # The README's claim: the same scheme, T and K, and the observed frames differ with the mask ...
    assert [st.generate for st in plans["moving hole"].stages] == [st.generate for st in plans["still hole"].stages]
    assert moving != still
    differ = [i for i, (a, b) in enumerate(zip(moving, still)) if a != b]
    assert len(differ) >= len(moving) // 2, f"only stages {differ} differ"
    # ... with the still hole, no frame with a hole shows what a block misses: every stage
    # observes frame 36, the first without one; with the moving hole nearby frames do.
    assert all(36 in frames for frames in still)
    assert any(36 not in frames for frames in moving)
    assert plans["moving hole"].stages[1].marginal == [11, 25]

    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 300 * 1024
    again = tmp_path / "again.png"
    fig.make_figure(again)
    assert again.read_bytes() == data  # deterministic


def test_informative_figure_masks_differ_only_in_motion():
    """The two masks hide as many pixels in the same frames: only the hole's motion differs."""
    import numpy as np

    moving = np.load(ROOT / "docs" / "examples" / "mask_moving.npy")
    still = np.load(ROOT / "docs" / "examples" / "mask_still.npy")
    assert moving.shape == still.shape
    assert (moving.sum(axis=(1, 2)) == still.sum(axis=(1, 2))).all()
    assert (still[:36] == still[0]).all() and not still[36:].any()


@pytest.mark.usefixtures("one_thread")
def test_dilate_figure_changes_only_the_grown_hole(tmp_path):
    """The README's --dilate picture: both runs keep every pixel outside their own hole,
    and they differ only where the grown hole is."""
    from vidsched.masks_io import grow_mask
    from vidsched.runtime.pipeline import DEFAULT_VIDEO
    from vidsched.videoio import read_video

    fig = _script("make_dilate_figure")
    out, results, hole = fig.main(tmp_path / "dilate.png")
    assert out.is_file()
    frames = read_video(DEFAULT_VIDEO).frames
    grown = grow_mask(hole, fig.DILATE)
    plain, dilated = results[0], results[fig.DILATE]
    # bit-exact known pixels are promised for lossless outputs (.npy here)
    assert np.array_equal(plain[~hole], frames[~hole])
    assert np.array_equal(dilated[~grown], frames[~grown])
    assert (dilated[grown & ~hole] != frames[grown & ~hole]).any()
    assert not (plain != dilated).any(axis=-1)[~grown].any()


@pytest.mark.usefixtures("one_thread")
def test_cup_demo_runs_the_readme_command_on_any_clip(tmp_path):
    """docs/make_cup_demo.py on a small generated clip (the corpus is not in CI): the two
    holes scaled to the clip, vidsched run's defaults and --detail clone, the figures and the picture."""
    from vidsched.masks_io import load_mask
    from vidsched.videoio import read_video
    from vidsched.videowrite import write_video

    demo = _script("make_cup_demo")
    hole = demo.demo_mask(48, 480, 640)
    assert hole.shape == (48, 480, 640) and hole[0, 250, 150] and hole[47, 250, 150 + 6 * 47]
    assert hole[:, 435, 520].all() and not hole[:, 100, 600].any()  # the caption stays, the wall around it is known
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    frames = np.stack([np.stack([(xx * 2 + 3 * t) % 256, (yy * 2) % 256, (xx + yy) % 256], -1) for t in range(12)])
    frames = np.clip(frames + rng.integers(0, 6, frames.shape), 0, 255).astype(np.uint8)
    source = write_video(tmp_path / "source.mp4", frames, 15)
    out = tmp_path / "demo.png"
    figures = demo.main(["--video", str(source), "--frames", "10", "--workdir", str(tmp_path / "work"),
                         "--out", str(out)])
    assert out.is_file() and set(figures) == {"defaults", "--detail clone"}
    for run in figures.values():
        assert run["network_evaluations"] > 0 and np.isfinite(run["hole_psnr"]) and run["sharpness"] > 0
    assert (tmp_path / "work" / "cup_out_detail.mp4").is_file()
    clip = read_video(tmp_path / "work" / "cup48.mp4").frames
    assert clip.shape == (10, 96, 128, 3)
    assert np.array_equal(load_mask(tmp_path / "work" / "mask", num_frames=10), demo.demo_mask(10, 96, 128))


def test_watermark_demo_geometry():
    """The watermark is a text in the lower right corner, about 12 % of the width, and the
    mask covers every pixel the text touches, grown by MASK_GROWTH."""
    demo = _script("make_watermark_demo")
    coverage, mask = demo.watermark(720, 1280)
    ys, xs = np.nonzero(coverage > 0)
    assert 0.10 * 1280 <= xs.max() - xs.min() + 1 <= 0.14 * 1280
    assert xs.min() > 640 and ys.min() > 600  # lower right
    assert mask[coverage > 0].all()
    assert mask.sum() > (coverage > 0).sum()
    grown = np.nonzero(mask)
    assert grown[1].min() == xs.min() - demo.MASK_GROWTH and grown[0].max() == ys.max() + demo.MASK_GROWTH
    # cropping keeps the aspect ratio: a 4:3 frame loses rows to become 16:9
    frames = np.zeros((2, 48, 64, 3), np.uint8)
    frames[:, :6] = 255  # the top rows are cropped away
    out = demo.to_size(frames, (128, 72))
    assert out.shape == (2, 72, 128, 3) and out[:, :2].max() < 30


@pytest.mark.usefixtures("one_thread")
def test_watermark_demo_runs_the_readme_command_on_any_clip(tmp_path):
    """docs/make_watermark_demo.py on a small generated clip (the corpus is not in CI):
    vidsched run's defaults against Telea and flow propagation, the figures and the picture."""
    from vidsched.videoio import read_video
    from vidsched.videowrite import write_video

    demo = _script("make_watermark_demo")
    yy, xx = np.mgrid[0:120, 0:160]
    frames = np.stack([np.stack([(xx * 2 + 3 * t) % 256, (yy * 2) % 256, (xx + yy) % 256], -1) for t in range(8)])
    source = write_video(tmp_path / "source.mp4", frames.astype(np.uint8), 15)
    out = tmp_path / "demo.png"
    figures = demo.main(["--video", str(source), "--frames", "6", "--size", "320x180",
                         "--workdir", str(tmp_path / "work"), "--out", str(out)])
    assert out.is_file() and figures["network_evaluations"] > 0
    assert figures["size"] == "320x180" and figures["frames"] == 6
    for key in ("hole_psnr", "detail_hole_psnr", "mp4_hole_psnr", "telea_hole_psnr", "flow_propagation_hole_psnr"):
        assert np.isfinite(figures[key]), key
    clean = read_video(tmp_path / "work" / "clean.mp4").frames
    result = np.load(tmp_path / "work" / "out.npy")
    _, mask = demo.watermark(180, 320)
    assert np.array_equal(result[:, ~mask], read_video(tmp_path / "work" / "watermarked.mp4").frames[:, ~mask])
    detailed = np.load(tmp_path / "work" / "out_detail.npy")  # --detail clone: only the hole differs
    assert np.array_equal(detailed[:, ~mask], result[:, ~mask]) and not np.array_equal(detailed, result)
    assert clean.shape == result.shape == (6, 180, 320, 3)


def test_watermark_demo_display_levels_stretch_at_most_4x():
    """The corner view maps the truth's 1st-99th percentile to black-white, but never by more
    than 255 / MIN_LEVELS: a flat bright wall is not blown up into codec noise, and a dark
    corner is brightened."""
    demo = _script("make_watermark_demo")
    rng = np.random.default_rng(0)
    dark = rng.integers(5, 70, (40, 60, 3)).astype(np.uint8)
    lo, hi = demo.display_levels(dark)
    assert 5 <= lo < 10 and 65 < hi <= 70
    shown = demo.corner(dark, (0, 0, 60, 40), (lo, hi))
    assert shown.shape == (40 * demo.ZOOM, 60 * demo.ZOOM, 3) and shown.max() == 255 and shown.min() == 0
    flat = np.full((40, 60, 3), 240, np.uint8)
    flat[::7] = 244
    lo, hi = demo.display_levels(flat)
    assert hi - lo == demo.MIN_LEVELS and hi <= 255  # clamped into the grey range
    shown = demo.corner(flat, (0, 0, 60, 40), (lo, hi))
    assert int(shown.max()) - int(shown.min()) <= 4 * 255 / demo.MIN_LEVELS + 1


def test_watermark_demo_rejects_an_unknown_clip(tmp_path):
    demo = _script("make_watermark_demo")
    with pytest.raises(SystemExit, match="not a corpus clip"):
        demo.main(["--clip", "nosuchclip", "--workdir", str(tmp_path)])
    assert not any(tmp_path.iterdir())  # nothing written
