"""Long videos in chunks of frames (vidsched.runtime.chunks, `vidsched run --chunk-frames`).

The chunk planner alone, then whole runs with a tiny random-weight model on a 24-frame
clip (the clip and model of tests/test_run.py, made longer): known pixels stay exact,
every chunk is conditioned on the finished frames before it, one chunk is exactly the
unchunked run, an interrupted chunked run resumes to the same output without sampling
its finished chunks again, and the working memory follows the chunk, not the video.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidsched.cli import main
from vidsched.errors import VidschedError
from vidsched.model.checkpoint import save_checkpoint
from vidsched.model.unet import VideoUNet, VideoUNetConfig
from vidsched.runtime import pipeline, resume
from vidsched.runtime.chunks import BLEND, CONTEXT, LOOKAHEAD, MIN_CHUNK, auto_chunk_frames, plan_chunks
from vidsched.videoio import read_video
from vidsched.videowrite import write_video

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

T, H, W = 24, 20, 24
CONFIG = VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                         num_heads=2, rel_pos_channels=8)


# ---- the planner -------------------------------------------------------------------------------
@pytest.mark.parametrize("num_frames, chunk", [(1, 1), (10, 100), (250, 100), (97, 8), (64, 32), (33, 1), (5, 2)])
def test_chunks_fill_every_frame_with_context_look_ahead_and_blends_at_the_cuts(num_frames, chunk):
    chunks = plan_chunks(num_frames, chunk)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start == 0 and chunks[0].blend == 0 and chunks[-1].stop == num_frames
    cuts = [c.start + c.blend for c in chunks]  # where each chunk's own frames begin
    assert cuts[1:] == [c.stop for c in chunks[:-1]]  # no gap
    sizes = [b - a for a, b in zip(cuts, cuts[1:] + [num_frames])]
    assert max(sizes) <= chunk and max(sizes) - min(sizes) <= 1  # evened out
    assert len(chunks) == -(-num_frames // chunk)
    times_filled = np.zeros(num_frames, int)
    for a, b in zip(chunks, chunks[1:]):
        assert b.blend == min(BLEND, sizes[a.index])  # BLEND frames, never into a's own blend
        assert b.start >= a.start + a.blend
    for c in chunks:
        times_filled[c.start:c.stop] += 1
        assert c.lo == max(0, c.start - CONTEXT) and c.hi == min(num_frames, c.stop + LOOKAHEAD)
    shared = np.zeros(num_frames, bool)
    for c in chunks:
        shared[c.start:c.start + c.blend] = True
    np.testing.assert_array_equal(times_filled, np.where(shared, 2, 1))  # the blend frames twice, the rest once
    if chunk >= num_frames:
        assert [(c.lo, c.start, c.stop, c.hi, c.blend) for c in chunks] == [(0, 0, num_frames, num_frames, 0)]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None])
def test_chunk_size_must_be_a_positive_count(bad):
    with pytest.raises(VidschedError, match="--chunk-frames must be a positive number"):
        plan_chunks(10, bad)


def test_auto_chunk_keeps_the_working_set_in_the_budget():
    budget = 4 * 1024 ** 3
    for h, w in ((480, 640), (576, 768), (1080, 1920)):
        n = auto_chunk_frames(h, w, budget)
        assert n >= MIN_CHUNK
        assert (n + CONTEXT + LOOKAHEAD) * 27 * h * w <= budget < (n + 1 + CONTEXT + LOOKAHEAD) * 27 * h * w
    assert auto_chunk_frames(480, 640) > 4 * auto_chunk_frames(1080, 1920)  # fewer frames when they are bigger
    assert auto_chunk_frames(4320, 7680) == MIN_CHUNK  # never fewer than this


# ---- whole runs --------------------------------------------------------------------------------
def make_clip() -> tuple[np.ndarray, np.ndarray]:
    """(frames T x H x W x 3 uint8, hole T x H x W uint8 with 255 = fill): a square moving
    right over a still, textured scene, a box-shaped hole sweeping right and back and a
    stationary logo, garbage under both."""
    scene = np.random.default_rng(3).integers(30, 200, (H // 2, W // 2, 3)).astype(np.uint8)
    frames = np.repeat(np.repeat(scene, 2, axis=0), 2, axis=1)[None].repeat(T, axis=0)
    hole = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        x = t % 12 if (t // 12) % 2 == 0 else 11 - t % 12
        frames[t, 4:10, 2 + x:8 + x] = (220, 60, 30)
        hole[t, 8:14, 3 + x:11 + x] = 255
    hole[:, 14:19, 17:23] = 255  # a stationary logo: what it hides no frame shows, the model fills it
    frames[hole > 0] = (255, 0, 255)
    return frames, hole


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("chunk_assets")
    torch.manual_seed(0)
    checkpoint = save_checkpoint(d / "ckpt" / "tiny", VideoUNet(CONFIG).state_dict(), CONFIG)
    frames, hole = make_clip()
    np.save(d / "clip.npy", frames)
    np.save(d / "mask.npy", hole)
    return SimpleNamespace(checkpoint=checkpoint, video=d / "clip.npy", mask=d / "mask.npy", frames=frames,
                           hole=hole > 0)


def run(capsys, a: SimpleNamespace, output: Path, *extra) -> tuple[int, str, str]:
    code = main([str(x) for x in ["run", a.video, "--mask", a.mask, "--checkpoint", a.checkpoint, "--steps", "2",
                                  "-o", output, *extra]])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def unchunked(assets, tmp_path_factory) -> np.ndarray:
    out = tmp_path_factory.mktemp("unchunked") / "out.npy"
    assert main([str(x) for x in ["run", assets.video, "--mask", assets.mask, "--checkpoint", assets.checkpoint,
                                  "--steps", "2", "-o", out, "-q"]]) == 0
    return np.load(out)


def test_a_chunked_run_fills_every_chunk_and_keeps_known_pixels(capsys, assets, unchunked, tmp_path):
    out, compare, sources = tmp_path / "out.npy", tmp_path / "cmp.mp4", tmp_path / "sources"
    code, stdout, stderr = run(capsys, assets, out, "--chunk-frames", "8", "--compare", compare,
                               "--save-sources", sources)
    assert code == 0, stderr
    result = np.load(out)
    assert result.shape == (T, H, W, 3)
    assert np.array_equal(result[~assets.hole], assets.frames[~assets.hole])  # bit-exact
    assert (result != assets.frames).any(axis=-1)[assets.hole].mean() > 0.9  # the garbage is gone everywhere
    for t in range(T):
        assert (result[t] != assets.frames[t]).any(axis=-1)[assets.hole[t]].mean() > 0.5, t
    assert "24 frames in 3 chunks of about 8" in stderr
    assert "chunk 1/3: frames 0-7" in stderr and "chunk 3/3: frames 12-23" in stderr  # with 4 to blend
    assert read_video(compare).num_frames == T and read_video(sources).num_frames == T
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.mp4", "out.npy", "sources"]  # no progress left
    assert not np.array_equal(result, unchunked)  # chunks are separate problems
    # One chunk as long as the video is the unchunked run, bit for bit.
    code, _, stderr = run(capsys, assets, tmp_path / "one.npy", "--chunk-frames", str(T), "-q")
    assert code == 0 and "chunks" not in stderr
    assert np.array_equal(np.load(tmp_path / "one.npy"), unchunked)


def test_each_chunk_is_conditioned_on_the_finished_frames_before_it(capsys, monkeypatch, assets, tmp_path):
    """What the prior of each chunk is given: the finished output before the chunk's first
    frame (with the input's holes, so that propagation copies only what the input shows),
    its own frames with their holes, and the look-ahead; it fills the chunk's own frames."""
    from vidsched.runtime import prior as prior_module

    seen = []
    real = prior_module.apply_prior

    def spy(frames, hole, *args, **kwargs):
        seen.append((frames.copy(), hole.copy(), kwargs.get("fill")))
        return real(frames, hole, *args, **kwargs)

    monkeypatch.setattr(prior_module, "apply_prior", spy)
    out = tmp_path / "out.npy"
    code, _, stderr = run(capsys, assets, out, "--chunk-frames", "8", "-q")
    assert code == 0, stderr
    result = np.load(out)
    chunks = plan_chunks(T, 8)
    assert len(seen) == len(chunks)
    for (frames, hole, fill), c in zip(seen, chunks):
        assert len(frames) == c.hi - c.lo
        context = slice(0, c.start - c.lo)
        np.testing.assert_array_equal(frames[context], result[c.lo:c.start])  # the finished frames
        np.testing.assert_array_equal(hole, assets.hole[c.lo:c.hi])  # what the input does not show
        np.testing.assert_array_equal(frames[c.start - c.lo:], assets.frames[c.start:c.hi])  # the input
        # Fill the chunk's own frames: the context is finished, the look-ahead a source only.
        assert fill == ((c.start - c.lo, c.stop - c.lo) if (c.lo, c.hi) != (c.start, c.stop) else None)


@pytest.mark.parametrize("prior", ["propagate", "none"])
def test_an_interrupted_chunked_run_resumes_without_sampling_finished_chunks(capsys, monkeypatch, assets,
                                                                              tmp_path, prior):
    reference = tmp_path / "ref.npy"
    code, ref_out, _ = run(capsys, assets, reference, "--chunk-frames", "8", "-q", "--prior", prior)
    assert code == 0
    out = tmp_path / "out.npy"
    save = resume.ProgressStore.save

    def save_then_interrupt(self, next_batch, buffer):  # stop after the first batch of a later chunk
        save(self, next_batch, buffer)
        if list(self.dir.glob("chunk-0-*.npy")):
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(resume.ProgressStore, "save", save_then_interrupt)
        code, _, stderr = run(capsys, assets, out, "--chunk-frames", "8", "-q", "--prior", prior)
    partial = out.with_name(out.name + ".vidsched-partial")
    assert code == 130 and "progress saved in" in stderr and not out.exists()
    assert len(list(partial.glob("chunk-0-*.npy"))) == 2 and (partial / "state.json").is_file()
    assert not list(partial.glob("chunk-1-*.npy"))
    code, stdout, stderr = run(capsys, assets, out, "--chunk-frames", "8", "-q", "--prior", prior, "--resume")
    assert code == 0, stderr
    np.testing.assert_array_equal(np.load(out), np.load(reference))
    evaluations = [int(s.split(" network evaluations")[0].rsplit(" ", 1)[1]) for s in (ref_out, stdout)]
    assert evaluations[1] < evaluations[0] - 4  # the first chunk was not sampled again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy", "ref.npy"]


def test_the_working_memory_follows_the_chunk_not_the_video(monkeypatch, assets, tmp_path):
    """Peak traced memory (numpy's arrays) of a 40-frame run at 48 x 64 in chunks of 8
    frames (with 2 frames of context and of look-ahead, to keep the test small): well
    under the unchunked run's, whether the input is a .npy (memory-mapped) or a video file
    (decoded chunk by chunk), and lower than with the .npy read whole."""
    from vidsched.runtime import chunks as chunks_module

    monkeypatch.setattr(chunks_module, "CONTEXT", 2)
    monkeypatch.setattr(chunks_module, "LOOKAHEAD", 2)
    monkeypatch.setenv("VIDSCHED_THREADS", "1")  # frames in flight on threads would make the peaks vary
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (40, 48, 64, 3), dtype=np.uint8)
    hole = np.zeros((40, 48, 64), np.uint8)
    for t in range(40):
        hole[t, 15:30, 5 + t // 2:25 + t // 2] = 255
    np.save(tmp_path / "long.npy", frames)
    np.save(tmp_path / "long_mask.npy", hole)

    def request(video, mask, name, chunk):
        return pipeline.RunRequest(video=video, mask=mask, output=tmp_path / name, checkpoint=assets.checkpoint,
                                   steps=1, chunk_frames=chunk)

    pipeline.inpaint(request(assets.video, assets.mask, "warm.npy", None))  # imports are not the run's memory
    peaks = {}
    for chunk in (None, 8):
        tracemalloc.start()
        pipeline.inpaint(request(tmp_path / "long.npy", tmp_path / "long_mask.npy", f"out_{chunk}.npy", chunk))
        peaks[chunk] = tracemalloc.get_traced_memory()[1] / frames.nbytes
        tracemalloc.stop()
    assert peaks[None] > 8  # the whole video's working set: the input, the prior's arrays, the model's buffers
    assert peaks[8] < 0.5 * peaks[None], peaks
    # A video file is decoded chunk by chunk, as the .npy is read: in chunks, not even the
    # input is held whole.
    write_video(tmp_path / "long.avi", frames, 10)
    tracemalloc.start()
    pipeline.inpaint(request(tmp_path / "long.avi", tmp_path / "long_mask.npy", "out_avi.npy", 8))
    streamed = tracemalloc.get_traced_memory()[1] / frames.nbytes
    tracemalloc.stop()
    assert abs(streamed - peaks[8]) < 0.3, (streamed, peaks)
    # The window of a chunk is 16 of the 40 frames (8 + 4 to blend + 2 + 2): the input held
    # whole costs 1 video, the streamed window about 0.4 of one.
    from vidsched import videoio

    read_whole = videoio.read_video
    monkeypatch.setattr(videoio, "read_video", lambda path, fps=None, stream=False, max_frames=None:
                        read_whole(path, fps, max_frames))
    tracemalloc.start()
    pipeline.inpaint(request(tmp_path / "long.npy", tmp_path / "long_mask.npy", "out_whole.npy", 8))
    whole = tracemalloc.get_traced_memory()[1] / frames.nbytes
    tracemalloc.stop()
    assert peaks[8] < whole - 0.4, (peaks, whole)


def test_the_output_fades_from_one_chunk_to_the_next_over_the_frames_both_fill(capsys, monkeypatch, assets,
                                                                               tmp_path):
    fills = []
    real = pipeline._ChunkRunner.fill

    def spy(self, video_frames, chunk, num_chunks):
        filled, propagated = real(self, video_frames, chunk, num_chunks)
        fills.append((chunk, filled.copy()))
        return filled, propagated

    monkeypatch.setattr(pipeline._ChunkRunner, "fill", spy)
    out = tmp_path / "out.npy"
    code, _, stderr = run(capsys, assets, out, "--chunk-frames", "8", "-q")
    assert code == 0, stderr
    result = np.load(out)
    expected = np.zeros_like(result)
    for (chunk, filled), following in zip(fills, [c for c, _ in fills[1:]] + [None]):
        own = slice(chunk.start + chunk.blend, chunk.stop - (following.blend if following else 0))
        expected[own] = filled[own.start - chunk.start:own.stop - chunk.start]
    for (a, before), (b, after) in zip(fills, fills[1:]):
        n = b.blend
        assert n == BLEND
        for j in range(n):
            t = b.start + j
            w = (j + 1) / (n + 1)
            mixed = np.rint((1 - w) * before[t - a.start].astype(np.float32) + w * after[j].astype(np.float32))
            expected[t] = np.where(assets.hole[t][..., None], mixed, after[j])
            # A fade, not a copy of either side: it lies between the two fills.
            lo = np.minimum(before[t - a.start], after[j])
            hi = np.maximum(before[t - a.start], after[j])
            assert ((result[t] >= lo) & (result[t] <= hi)).all()
        assert not np.array_equal(before[b.start - a.start:], after[:n])  # two different fills met here
    np.testing.assert_array_equal(result, expected)
    assert np.array_equal(result[~assets.hole], assets.frames[~assets.hole])


def test_the_cut_experiment_s_pair_errors_add_up_to_e_warp():
    """experiments/chunk_boundaries.py splits E_warp by pairs of frames: their mean is
    vidsched.metrics.warp's E_warp of the same video."""
    from script_loader import load_script

    from vidsched.metrics.warp import reference_motion, warping_error_from_motion

    experiment = load_script("experiments/chunk_boundaries.py")
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    truth = np.stack([np.roll(scene, t, axis=1) for t in range(5)])
    comp = truth.copy()
    comp[2, 10:20, 10:30] = 0  # one bad frame: its two pairs carry the error
    forward, occluded = reference_motion(truth)
    sums, counts = experiment.pair_errors(comp, forward, occluded)
    per_pair = sums / counts
    assert min(per_pair[1], per_pair[2]) > 2 * max(per_pair[0], per_pair[3])
    assert np.isclose(per_pair.mean(), warping_error_from_motion(comp, forward, occluded), rtol=1e-5)


@pytest.mark.parametrize("extra", [[], ["--chunk-frames", "8"], ["--prior", "none"]])
def test_explain_regions_shows_the_regions_the_run_uses(capsys, assets, tmp_path, extra):
    """--explain-regions plans as the run does: after the propagation prior (which fills the
    sweeping hole here, leaving the logo), in the first chunk."""
    code, stdout, stderr = run(capsys, assets, tmp_path / "out.npy", "-q", "--region", "crop", *extra)
    assert code == 0, stderr
    ran = next(line.strip() for line in stdout.splitlines() if line.strip().startswith("crop,"))
    picture = tmp_path / "regions.png"
    code, said, stderr = run(capsys, assets, tmp_path / "unused.npy", "--region", "crop", *extra,
                             "--explain-regions", picture)
    assert code == 0 and picture.is_file(), stderr
    assert said.splitlines()[0].endswith(ran), (said, ran)
    assert ("planned on what propagation leaves" in said) == ("none" not in extra)
    assert ("the first chunk" in said) == ("--chunk-frames" in extra)


def test_each_chunk_reports_its_propagation_before_its_sampling(assets, tmp_path):
    from vidsched.runtime.executor import Progress

    events = []
    progress = Progress(on_prior=lambda done, total: events.append(("prior", done, total)),
                        on_batch_start=lambda b, members: events.append(("batch", b)),
                        on_chunk=lambda i, n, first, stop: events.append(("chunk", i)))
    pipeline.inpaint(pipeline.RunRequest(video=assets.video, mask=assets.mask, output=tmp_path / "out.npy",
                                         checkpoint=assets.checkpoint, steps=1, chunk_frames=8), progress=progress)
    chunks = [k for k, e in enumerate(events) if e[0] == "chunk"]
    assert len(chunks) >= 2
    for start, end in zip(chunks, chunks[1:] + [len(events)]):
        mine = events[start + 1:end]
        priors = [e for e in mine if e[0] == "prior"]
        total = priors[0][2]
        assert [e[1] for e in priors] == list(range(total + 1)) and total > 0  # 0, 1, ..., total in order
        assert mine.index(priors[-1]) < mine.index(next(e for e in mine if e[0] == "batch"))
