"""The plan executor with deterministic fake denoisers (no network).

The fakes make a stage's output identifiable: at unknown pixels the denoiser returns a
code of the window it runs on, so the test can tell which stage wrote which frame.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidsched.compiler import compile_scheme
from vidsched.runtime.executor import (
    Executor,
    SamplerSettings,
    compose_output,
    gather_window,
    initial_buffer,
    stage_seed,
)
from vidsched.runtime.resume import ProgressStore, ResumeError, fingerprint

T, H, W = 20, 6, 5


def window_code(index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B,) a number in (-1, 1) that identifies a window by its frames."""
    idx = (index.float() * valid.float()).sum(dim=1)
    return torch.tanh(idx / 50.0)


def constant_denoiser(values, known, index, valid):
    """D = the known values where known, else the window's code: the sampler converges
    to it exactly, whatever the noise."""
    code = window_code(index, valid).view(-1, 1, 1, 1, 1)

    def denoise(x, sigma):
        return torch.where(known > 0, values, code.expand_as(values))

    return denoise


def noisy_denoiser(values, known, index, valid):
    """Depends on the sampler state, so each stage's result depends on its noise."""
    code = window_code(index, valid).view(-1, 1, 1, 1, 1)

    def denoise(x, sigma):
        s = sigma.view(-1, 1, 1, 1, 1)
        return torch.where(known > 0, values, 0.5 * torch.tanh(x / (1 + s)) + 0.3 * code)

    return denoise


def video_and_hole(seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    hole = np.zeros((T, H, W), bool)
    hole[:, 1:4, 1:3] = True  # a hole in every frame ...
    hole[5] = False  # ... except frames 5 and 6, which are complete
    hole[6] = False
    return frames, hole


SETTINGS = SamplerSettings(name="heun", steps=4)  # Heun: the tests count 2N - 1 evaluations a stage


def run(plan, frames, hole, make=constant_denoiser, **kwargs):
    buffer = initial_buffer(frames, hole)
    stats = Executor(make, SETTINGS).run(plan, buffer, hole, **kwargs)
    return compose_output(frames, hole, buffer), stats


@pytest.fixture(scope="module")
def improved_ar_plan():
    # Improved AR observes incomplete future frames: it has marginals.
    plan = compile_scheme("improved_ar", {"T": T, "K": 8})
    assert any(st.marginal for st in plan.stages)
    return plan


def test_known_pixels_are_bit_exact(improved_ar_plan):
    frames, hole = video_and_hole()
    out, _ = run(improved_ar_plan, frames, hole)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.array_equal(out[~hole], frames[~hole])
    assert not np.array_equal(out[hole], frames[hole])  # the holes were filled


def test_each_frame_is_written_by_the_stage_that_generates_it(improved_ar_plan):
    frames, hole = video_and_hole()
    out, _ = run(improved_ar_plan, frames, hole)
    for st in improved_ar_plan.stages:
        window = torch.tensor([sorted(st.generate + st.observe + st.marginal)])
        code = window_code(window, torch.ones_like(window, dtype=torch.bool)).item()
        expected = np.uint8(np.clip(np.rint((code + 1) * 127.5), 0, 255))
        for f in st.generate:
            assert (out[f][hole[f]] == expected).all(), f"frame {f} was not written by stage {st.index}"


def test_marginal_samples_are_discarded():
    # Stage 0 generates 0-3 and sees 4-5 as marginals; stage 1 generates 4-7.
    text = """scheme m(T = 8, K = 8) {
        stage { generate 0 ..< 4; observe 4 ..< 6 }
        stage { generate todo; observe 2 ..< 4 }
    }"""
    from vidsched.errors import SourceFile

    plan = compile_scheme(SourceFile("m.sched", text))
    assert plan.stages[0].marginal == [4, 5]
    frames = np.full((8, H, W, 3), 200, np.uint8)
    hole = np.ones((8, H, W), bool)
    buffer = initial_buffer(frames, hole)
    executor = Executor(constant_denoiser, SETTINGS)
    seen = []
    executor.run(plan, buffer, hole, batch_stages=False, after_batch=lambda b, buf: seen.append(buf.copy()))
    after_stage0 = seen[0]
    assert np.all(after_stage0[4:][hole[4:]] == 0), "a marginal frame's samples were written"
    assert np.any(after_stage0[:4][hole[:4]] != 0)


def test_windows_give_complete_observations_full_masks():
    frames, hole = video_and_hole()
    plan = compile_scheme("improved_ar", {"T": T, "K": 8})
    buffer = initial_buffer(frames, hole)
    st = next(s for s in plan.stages if s.observe and s.marginal)
    w = gather_window(st, buffer, hole, 8)
    for p, f in enumerate(w.frames):
        if f in st.observe:
            assert w.known[p].all()
        else:
            assert np.array_equal(w.known[p, 0], ~hole[f])
    assert w.valid.sum() == len(w.frames) and not w.valid[len(w.frames):].any()


@pytest.mark.parametrize("scheme", ["hierarchy2", "improved_ar_2res"])
def test_batched_equals_sequential(scheme):
    plan = compile_scheme(scheme, {"T": T, "K": 8})
    assert len(plan.batches) < len(plan.stages), "the test needs a plan with real batches"
    frames, hole = video_and_hole(1)
    batched, stats_b = run(plan, frames, hole, make=noisy_denoiser, seed=3, batch_stages=True)
    sequential, stats_s = run(plan, frames, hole, make=noisy_denoiser, seed=3, batch_stages=False)
    assert np.array_equal(batched, sequential)
    assert stats_b.sequential_calls < stats_s.sequential_calls
    assert stats_b.network_evaluations == stats_s.network_evaluations == len(plan.stages) * (2 * 4 - 1)


def test_seed_changes_the_result_and_is_reproducible(improved_ar_plan):
    frames, hole = video_and_hole()
    a, _ = run(improved_ar_plan, frames, hole, make=noisy_denoiser, seed=1)
    b, _ = run(improved_ar_plan, frames, hole, make=noisy_denoiser, seed=1)
    c, _ = run(improved_ar_plan, frames, hole, make=noisy_denoiser, seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stage_seeds_are_distinct():
    seeds = {stage_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300


def test_resume_equals_uninterrupted(tmp_path, improved_ar_plan):
    plan = improved_ar_plan
    frames, hole = video_and_hole(2)
    full, _ = run(plan, frames, hole, make=noisy_denoiser, seed=5)

    key = fingerprint(plan.model_dump(mode="json"), frames, hole, 5, SETTINGS.to_dict())
    store = ProgressStore(tmp_path / "out.npy", key)
    buffer = initial_buffer(frames, hole)
    executor = Executor(noisy_denoiser, SETTINGS)

    class Crash(Exception):
        pass

    def save_then_crash(next_batch, buf):
        store.save(next_batch, buf)
        if next_batch == 2:
            raise Crash

    with pytest.raises(Crash):
        executor.run(plan, buffer, hole, seed=5, after_batch=save_then_crash)
    state = ProgressStore(tmp_path / "out.npy", key).load()
    assert state.next_batch == 2
    executor.run(plan, state.buffer, hole, seed=5, start_batch=state.next_batch)
    resumed = compose_output(frames, hole, state.buffer)
    assert np.array_equal(resumed, full)

    with pytest.raises(ResumeError):
        ProgressStore(tmp_path / "out.npy", "another run").load()
    store.clear()
    assert not store.exists()


def test_nan_names_the_stage(improved_ar_plan):
    from vidsched.runtime.executor import SamplingError

    def nan_denoiser(values, known, index, valid):
        return lambda x, sigma: torch.full_like(x, float("nan"))

    frames, hole = video_and_hole()
    with pytest.raises(SamplingError, match="stage 0"):
        run(improved_ar_plan, frames, hole, make=nan_denoiser)


def test_a_cap_on_windows_per_call_changes_nothing():
    plan = compile_scheme("hierarchy2", {"T": T, "K": 8})
    frames, hole = video_and_hole(1)
    whole, stats_whole = run(plan, frames, hole, make=noisy_denoiser, seed=3)
    buffer = initial_buffer(frames, hole)
    stats_cap = Executor(noisy_denoiser, SETTINGS, max_windows_per_call=1).run(plan, buffer, hole, seed=3)
    assert np.array_equal(compose_output(frames, hole, buffer), whole)
    assert stats_cap.network_evaluations == stats_whole.network_evaluations
    assert stats_cap.sequential_calls > stats_whole.sequential_calls
