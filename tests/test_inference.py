"""The one inference path (runtime.inference.Inpainter): regions at the input's
resolution, known pixels bit-exact, the same result as the former whole-frame path,
and resume across regions identical to an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidsched.model.unet import VideoUNet, VideoUNetConfig
from vidsched.runtime.executor import Executor, SamplerSettings, compose_output, initial_buffer
from vidsched.runtime.inference import InferenceSettings, Inpainter
from vidsched.runtime.resume import ProgressStore

S, K = 16, 4
CONFIG = VideoUNetConfig.from_dict({**VideoUNetConfig.tiny().to_dict(), "image_size": S, "max_frames": K,
                                    "channels": 8, "channel_mult": [1, 2], "attention_resolutions": [8],
                                    "num_heads": 2, "rel_pos_channels": 8, "norm_groups": 4})
META = {"prediction": "v", "schedule": "cosine"}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VideoUNet(CONFIG).eval()


def inpainter(model, **changes) -> Inpainter:
    options = dict(scheme="ar", sampler=SamplerSettings(name="dpmpp_2m", steps=3), seed=1, region="crop")
    options.update(changes)
    return Inpainter(model, CONFIG, META, InferenceSettings(**options), cuda_graphs=False)


def clip(T=10, H=60, W=90, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([(xx * 3) % 256, (yy * 4) % 256, (xx + yy) % 256], -1)
    frames = np.stack([np.roll(base, t, axis=1) for t in range(T)]).astype(np.uint8)
    return (frames + rng.integers(0, 8, frames.shape)).astype(np.uint8)


def two_holes(T=10, H=60, W=90):
    hole = np.zeros((T, H, W), bool)
    hole[:, 5:12, 6:14] = True  # a stationary logo near the top left
    for t in range(2, min(8, T)):  # a small moving object, only in frames 2-7
        hole[t, 40:50, 50 + 2 * t:58 + 2 * t] = True
    return hole


def test_known_pixels_are_bit_exact_and_holes_filled(model):
    frames, hole = clip(), two_holes()
    done = inpainter(model)(frames, hole)
    assert done.frames.shape == frames.shape and done.frames.dtype == np.uint8
    assert np.array_equal(done.frames[~hole], frames[~hole])
    assert (done.frames[hole] != frames[hole]).any()
    assert len(done.regions.regions) >= 2 and done.network_evaluations > 0
    # Frames without any hole are never touched and never sampled in.
    assert np.array_equal(done.frames[[0, 1, 8, 9]][~hole[[0, 1, 8, 9]]], frames[[0, 1, 8, 9]][~hole[[0, 1, 8, 9]]])


def test_whole_frame_path_equals_the_former_executor_path(model):
    """At the model's resolution, --region full is exactly what vidsched ran before:
    compile for the mask, execute, composite."""
    from vidsched.compiler import compile_scheme

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (9, S, S, 3), dtype=np.uint8)
    hole = np.zeros((9, S, S), bool)
    hole[:, 4:10, 3:12] = True
    hole[4] = False  # a complete frame: specialised away in both
    inp = inpainter(model, region="full", scheme="improved_ar_far_future")
    new = inp(frames, hole).frames

    settings = SamplerSettings(name="dpmpp_2m", steps=3)
    complete = np.flatnonzero(~hole.reshape(9, -1).any(axis=1)).tolist()
    plan = compile_scheme("improved_ar_far_future", {"T": 9, "K": K}, complete_frames=complete, steps=3,
                          sampler="dpmpp_2m")
    from vidsched.runtime.denoiser import model_denoiser

    executor = Executor(model_denoiser(model, cuda_graphs=False, prediction="v"), settings, max_windows_per_call=1)
    buffer = initial_buffer(frames, hole)
    with torch.inference_mode():
        executor.run(plan, buffer, hole, seed=1)
    old = compose_output(frames, hole, buffer)
    assert np.array_equal(new, old)


@pytest.mark.parametrize("batch_stages", [False, True])
def test_resume_across_regions_equals_an_uninterrupted_run(model, tmp_path, batch_stages):
    frames, hole = clip(seed=2), two_holes()
    inp = inpainter(model, batch_stages=batch_stages, scheme="hierarchy2" if batch_stages else "ar")
    run = inp(frames, hole)
    whole, total = run.frames, run.batches
    planned = inp.plan(hole)
    from vidsched.runtime.executor import batches_to_run
    from vidsched.runtime.inference import job_waves

    per_region = [len(batches_to_run(j.plan, batch_stages)) for j in planned[1]]
    assert len(planned[1]) >= 2 and total >= 2
    # Two separate holes: with stage batching their regions run in lockstep (one wave,
    # as many batches as the longer plan); without, one after the other.
    assert total == (max(per_region) if batch_stages else sum(per_region))
    assert len(job_waves(planned[1], batch_stages)) == (1 if batch_stages else len(per_region))

    for stop_after in sorted({1, per_region[0], total - 1, total} - {0}):  # inside a plan, at its end, the last
        store = ProgressStore(tmp_path / f"out{stop_after}.npy", "key")
        done_batches = []

        class Stop(Exception):
            pass

        def on_end(b):
            done_batches.append(b)
            if len(done_batches) == stop_after:
                raise Stop

        from vidsched.runtime.executor import Progress

        with pytest.raises(Stop):
            inp(frames, hole, progress=Progress(on_batch_end=on_end), store=store, planned=planned)
        assert store.exists()
        resumed = inp(frames, hole, store=store, resume=True, planned=planned)
        assert resumed.resumed_from_batch == stop_after
        assert np.array_equal(resumed.frames, whole), stop_after


def logo_and_passing_hole(T=10, H=60, W=90):
    """A stationary logo and a small hole passing above it: their regions' boxes overlap
    in frames 4-7, their holes do not."""
    hole = np.zeros((T, H, W), bool)
    hole[:, 34:40, 44:52] = True
    for t in range(T):
        hole[t, 12:18, 4 + 6 * t:10 + 6 * t] = True
    return hole


def boxes_overlap(a, b) -> bool:
    return a.y0 < b.y1 and b.y0 < a.y1 and a.x0 < b.x1 and b.x0 < a.x1 and bool(set(a.frames) & set(b.frames))


@pytest.mark.parametrize("holes", [two_holes, logo_and_passing_hole])
def test_later_regions_condition_on_earlier_fills_not_on_holes(model, holes):
    """Overlapping work is never done twice: each region fills only the pieces of the hole
    it owns, its plan only generates frames with pixels left to fill, and the fills
    together are the hole, each pixel once."""
    frames, hole = clip(), holes()
    inp = inpainter(model)
    regions, jobs = inp.plan(hole)
    if holes is logo_and_passing_hole:  # the case this covers: boxes that overlap
        assert any(boxes_overlap(a, b) for i, a in enumerate(regions.regions) for b in regions.regions[i + 1:])
    covered = np.zeros_like(hole)
    for job in jobs:
        r = job.region
        box = covered[:, r.y0:r.y1, r.x0:r.x1]
        mask = hole[:, r.y0:r.y1, r.x0:r.x1] & r.owned(len(hole)) & ~box
        box |= mask
        generated = {f for st in job.plan.stages for f in st.generate}
        assert generated == set(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1)).tolist())
    assert np.array_equal(covered, hole)
    done = inp(frames, hole, planned=(regions, jobs))
    assert np.array_equal(done.frames[~hole], frames[~hole])
    assert (done.frames[hole] != frames[hole]).any()


def test_job_waves_keep_overlapping_jobs_in_order_and_kinds_apart():
    from types import SimpleNamespace as NS

    from vidsched.runtime.inference import job_waves

    def job(y0, x0, side=10, refine=False):
        return NS(region=NS(y0=y0, x0=x0, y1=y0 + side, x1=x0 + side), refine=refine)

    # 0 and 2 overlap, 1 and 3 are apart from everything, 4 overlaps 2, 5 is a tile over 1.
    jobs = [job(0, 0), job(0, 50), job(5, 5), job(50, 50), job(12, 12), job(0, 50, 5, refine=True)]
    assert job_waves(jobs) == [[0, 1, 3], [2], [4], [5]]
    assert job_waves(jobs, batch_stages=False) == [[0], [1], [2], [3], [4], [5]]
    assert job_waves([]) == []
    # Boxes overlap but neither fill lies in the other's box: one wave. A later job whose
    # fill lies in an earlier one's box (not the reverse) may share its wave, never precede it.
    a = NS(region=NS(y0=0, x0=0, y1=20, x1=20), refine=False, fill_box=(0, 0, 5, 5))
    b = NS(region=NS(y0=10, x0=10, y1=30, x1=30), refine=False, fill_box=(25, 25, 30, 30))
    c = NS(region=NS(y0=40, x0=40, y1=60, x1=60), refine=False, fill_box=(40, 40, 45, 45))
    d = NS(region=NS(y0=50, x0=50, y1=70, x1=70), refine=False, fill_box=(50, 50, 55, 55))  # c's fill outside
    e = NS(region=NS(y0=0, x0=0, y1=8, x1=8), refine=False, fill_box=(0, 0, 8, 8))  # a's fill in its box
    assert job_waves([a, b]) == [[0, 1]]
    assert job_waves([c, d]) == [[0, 1]]
    assert job_waves([a, e]) == [[0], [1]]
    assert job_waves([a, c, e, d]) == [[0, 1, 3], [2]]
    x = NS(region=NS(y0=0, x0=0, y1=10, x1=10), refine=False, fill_box=(0, 0, 2, 2))
    y = NS(region=NS(y0=0, x0=0, y1=20, x1=20), refine=False, fill_box=(0, 15, 5, 20))  # after x
    z = NS(region=NS(y0=10, x0=0, y1=30, x1=12), refine=False, fill_box=(10, 0, 14, 4))  # its fill in y's box
    assert job_waves([x, z]) == [[0, 1]]
    assert job_waves([x, y, z]) == [[0], [1, 2]]  # z may not run before y


def _forward_counter(model):
    calls = []
    original = model.forward

    def counted(*args, **kwargs):
        calls.append(args[0].shape[0])
        return original(*args, **kwargs)

    return calls, counted


@pytest.mark.parametrize("holes", [two_holes, logo_and_passing_hole])
def test_regions_in_lockstep_share_calls_and_sample_as_one_by_one(model, holes, monkeypatch):
    """Regions whose boxes are apart run in lockstep (a wave): with one window per call
    (a CPU) the result is the regions one by one to the bit; with the whole batch per
    call (a GPU) the windows of every region of a wave share each network call, and the
    result is the same up to float rounding."""
    import vidsched.runtime.inference as inference

    frames, hole = clip(seed=3), holes()
    runs = {}
    for waves in ("lockstep", "one_by_one"):
        for cap in (1, 64):
            with monkeypatch.context() as m:
                if waves == "one_by_one":
                    m.setattr(inference, "job_waves", lambda jobs, batch_stages=True: [[r] for r in range(len(jobs))])
                inp = inpainter(model, scheme="hierarchy2", max_windows_per_call=cap)
                calls, counted = _forward_counter(inp.model)
                m.setattr(inp.model, "forward", counted)
                result = inp(frames, hole)
            runs[waves, cap] = (result, len(calls))
    planned = inpainter(model, scheme="hierarchy2").plan(hole)
    waves = inference.job_waves(planned[1])
    assert len(waves) < len(planned[1])  # some regions share a wave
    assert np.array_equal(runs["lockstep", 1][0].frames, runs["one_by_one", 1][0].frames)
    assert runs["lockstep", 1][1] == runs["one_by_one", 1][1]
    assert runs["lockstep", 64][1] < runs["one_by_one", 64][1]  # fewer, larger network calls
    assert runs["lockstep", 64][0].batches < runs["one_by_one", 64][0].batches
    batched, alone = runs["lockstep", 64][0].frames.astype(int), runs["one_by_one", 64][0].frames.astype(int)
    assert np.array_equal(batched[~hole], frames[~hole]) and np.abs(batched - alone).max() <= 2
    assert runs["lockstep", 64][0].network_evaluations == runs["one_by_one", 64][0].network_evaluations


def test_resume_inside_and_between_waves_equals_an_uninterrupted_run(model, tmp_path):
    from vidsched.runtime.executor import Progress
    from vidsched.runtime.inference import job_waves

    frames, hole = clip(seed=4), logo_and_passing_hole()
    inp = inpainter(model, scheme="hierarchy2")
    planned = inp.plan(hole)
    assert len(job_waves(planned[1])) >= 2  # overlapping boxes: more than one wave
    run = inp(frames, hole, planned=planned)

    class Stop(Exception):
        pass

    for stop_after in range(1, run.batches + 1):
        store = ProgressStore(tmp_path / f"w{stop_after}.npy", "key")
        seen = []

        def on_end(b):
            seen.append(b)
            if len(seen) == stop_after:
                raise Stop

        with pytest.raises(Stop):
            inp(frames, hole, planned=planned, progress=Progress(on_batch_end=on_end), store=store)
        again = inp(frames, hole, planned=planned, store=store, resume=True)
        assert again.resumed_from_batch == stop_after
        assert np.array_equal(again.frames, run.frames), stop_after


def test_sdedit_start_keeps_the_prior_at_low_noise_and_forgets_it_at_high_noise(model):
    """With a prior and a starting noise level: at a tiny level the result is the prior
    (up to 8-bit rounding); the prior's influence shrinks as the level grows, and at
    sigma_max the result is close to a run from pure noise with the same seed."""
    frames, hole = clip(T=6, seed=4), two_holes(T=6)
    prior = np.clip(frames.astype(int) + 40, 0, 255).astype(np.uint8)  # a guess: brighter than the truth
    prior[~hole] = frames[~hole]
    base = inpainter(model, sampler=SamplerSettings(name="heun", steps=4))(frames, hole).frames
    diffs_to_prior, diffs_to_base = [], []
    for level in (0.002, 0.3, 3.0, 80.0):
        run = inpainter(model, sampler=SamplerSettings(name="heun", steps=4, start_sigma=level))
        out = run(frames, hole, prior=prior).frames
        assert np.array_equal(out[~hole], frames[~hole])
        diffs_to_prior.append(np.abs(out[hole].astype(int) - prior[hole]).mean())
        diffs_to_base.append(np.abs(out[hole].astype(int) - base[hole]).mean())
    assert diffs_to_prior[0] < 8.0, diffs_to_prior  # resampling of the region only
    assert diffs_to_prior == sorted(diffs_to_prior), diffs_to_prior
    assert diffs_to_base[-1] < 0.2 * diffs_to_base[0], diffs_to_base
    with pytest.raises(Exception, match="prior"):
        inpainter(model, sampler=SamplerSettings(name="heun", steps=2, start_sigma=1.0))(frames, hole)


def test_refinement_adds_finer_tiles_keeps_known_pixels_and_resumes(model, tmp_path):
    """A big hole at coarse zoom gets a second pass of tiles at half the zoom; known
    pixels stay exact, and an interrupted refinement resumes to the same result."""
    frames = clip(T=5, H=80, W=100, seed=5)
    hole = np.zeros((5, 80, 100), bool)
    hole[:, 15:65, 20:80] = True
    inp = inpainter(model, refine=1, refine_strength=0.5, sampler=SamplerSettings(name="heun", steps=2))
    regions, jobs = inp.plan(hole)
    coarse = [j for j in jobs if not j.refine]
    tiles = [j for j in jobs if j.refine]
    assert coarse and tiles and all(t.region.zoom < max(c.region.zoom for c in coarse) for t in tiles)
    done = inp(frames, hole, planned=(regions, jobs))
    assert np.array_equal(done.frames[~hole], frames[~hole])
    no_refine = inpainter(model, sampler=SamplerSettings(name="heun", steps=2))(frames, hole).frames
    assert not np.array_equal(done.frames, no_refine)

    from vidsched.runtime.executor import Progress

    class Stop(Exception):
        pass

    seen = []

    def on_end(b):
        seen.append(b)
        if len(seen) == sum(len(j.plan.stages) for j in coarse) + 1:  # inside the refinement
            raise Stop

    store = ProgressStore(tmp_path / "r.npy", "key")
    with pytest.raises(Stop):
        inp(frames, hole, planned=(regions, jobs), progress=Progress(on_batch_end=on_end), store=store)
    again = inp(frames, hole, planned=(regions, jobs), store=store, resume=True)
    assert np.array_equal(again.frames, done.frames)


def test_seam_matching_changes_only_hole_pixels(model):
    frames, hole = clip(seed=6), two_holes()
    plain = inpainter(model)(frames, hole).frames
    matched = inpainter(model, seam="match")(frames, hole).frames
    assert np.array_equal(matched[~hole], frames[~hole])
    assert not np.array_equal(matched, plain)


@pytest.mark.parametrize("case", ["smaller_than_the_model", "hole_everywhere", "hole_at_the_border", "salt"])
def test_awkward_inputs_work(model, case):
    rng = np.random.default_rng(7)
    H, W = (10, 12) if case == "smaller_than_the_model" else (40, 56)
    frames = rng.integers(0, 256, (5, H, W, 3), dtype=np.uint8)
    hole = np.zeros((5, H, W), bool)
    if case == "smaller_than_the_model":
        hole[:, 3:7, 4:9] = True
    elif case == "hole_everywhere":
        hole[2] = True  # one frame has nothing known
        hole[:, 5:30, 5:50] = True
    elif case == "hole_at_the_border":
        hole[:, :6, -9:] = True
    else:
        hole = rng.random((5, H, W)) < 0.02
    done = inpainter(model, sampler=SamplerSettings(name="dpmpp_2m", steps=2))(frames, hole)
    assert np.array_equal(done.frames[~hole], frames[~hole])
    assert len(done.regions.regions) <= 32


def test_a_fill_sampled_from_a_guess_keeps_the_guess_detail():
    """With a prior (SDEdit), the model's change is pasted, not its low-resolution fill:
    where the model returns the guess unchanged the full-resolution guess comes back
    exactly (no blur from the round trip), a uniform change of the fill moves the guess
    by about that much, and pixels outside the hole are the base's."""
    from vidsched.geometry import to_model_resolution
    from vidsched.runtime.inference import _detail_preserving

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (2, 48, 80, 3), dtype=np.uint8)
    guess = rng.integers(40, 200, (2, 48, 80, 3), dtype=np.uint8)  # fine detail a 16 px model cannot hold
    hole = np.zeros((2, 48, 80), bool)
    hole[:, 10:30, 20:60] = True
    small, geometry = to_model_resolution(guess, 16, mode="letterbox")
    same = _detail_preserving(base, hole, small, guess, geometry)
    assert np.array_equal(same[hole], guess[hole]) and np.array_equal(same[~hole], base[~hole])
    brighter = np.clip(small.astype(int) + 20, 0, 255).astype(np.uint8)
    moved = _detail_preserving(base, hole, brighter, guess, geometry).astype(int)
    shift = moved[hole] - guess[hole].astype(int)
    assert 17 <= np.median(shift) <= 20 and np.array_equal(moved[~hole], base[~hole])


def test_progress_lines_name_the_regions_of_a_lockstep_batch(model, capsys):
    from vidsched.progress import _LinesProgress

    frames, hole = clip(seed=3), two_holes()
    inp = inpainter(model, scheme="hierarchy2")
    inp(frames, hole, progress=_LinesProgress(quiet=False).progress())
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("batch")]
    assert lines and lines[0].startswith("batch 0: region 1: stages ") and "; region 2: stages " in lines[0]
    inp(frames, np.where(np.arange(90) < 45, hole, False), progress=_LinesProgress(quiet=False).progress())
    single = [line for line in capsys.readouterr().err.splitlines() if line.startswith("batch")]
    assert single[0].startswith("batch 0: stages ") and "region" not in single[0]  # one region: as before
