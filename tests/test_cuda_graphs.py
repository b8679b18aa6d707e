"""GraphedModel: CUDA-graph replay of the network call gives the eager result (GPU only),
and on the CPU it is a plain call that captures nothing."""

from __future__ import annotations

import pytest
import torch

from vidsched.model.unet import VideoUNet, VideoUNetConfig
from vidsched.runtime.cuda_graphs import GraphedModel, static_buffers

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")

CONFIG = VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                         num_heads=2, rel_pos_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_model(device) -> VideoUNet:
    """Random weights everywhere: the U-Net's zero-initialised output layer would make every
    output 0, and then different inputs could not be told apart."""
    torch.manual_seed(0)
    model = VideoUNet(CONFIG)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.02)
    return model.to(device).eval()


def test_the_test_model_answers_different_inputs_differently():
    model = tiny_model("cpu")
    with torch.no_grad():
        assert not torch.allclose(model(*inputs("cpu", 0)), model(*inputs("cpu", 1)))


def test_static_buffers_made_in_inference_mode_take_copies_in_either_mode():
    with torch.inference_mode():
        args = inputs("cpu", 0)
        buffers = static_buffers(args)
        buffers[0].copy_(args[0] + 1)  # the executor's calls: inside inference mode
    fresh = inputs("cpu", 1)
    with torch.no_grad():  # a benchmark's or a user's call: outside it
        for buf, a in zip(buffers, fresh):
            buf.copy_(a)
    assert torch.equal(buffers[0], fresh[0])


def inputs(device, seed: int, batch: int = 2):
    """The network's arguments for a batch of windows, the last frame of each a padding frame."""
    g = torch.Generator().manual_seed(seed)
    K, S = CONFIG.max_frames, CONFIG.image_size
    x = torch.randn(batch, K, 3, S, S, generator=g)
    known = (torch.rand(batch, K, 1, S, S, generator=g) > 0.5).float()
    index = torch.arange(K).repeat(batch, 1) + torch.randint(0, 10, (batch, 1), generator=g)
    valid = torch.ones(batch, K, dtype=torch.bool)
    valid[:, -1] = False
    logsnr = torch.randn(batch, generator=g) * 3
    return tuple(t.to(device) for t in (x, known, index, valid, logsnr))


def test_on_cpu_it_just_calls_the_model():
    model = tiny_model("cpu")
    graphed = GraphedModel(model)
    args = inputs("cpu", 0)
    with torch.no_grad():
        expected = model(*args)
    out = graphed(*args)
    assert torch.equal(out, expected)
    assert graphed.captures == 0 and graphed.replays == 0


def test_disabled_it_just_calls_the_model():
    model = tiny_model("cpu")
    graphed = GraphedModel(model, enabled=False)
    graphed(*inputs("cpu", 1))
    assert graphed.captures == 0 and graphed.replays == 0


@needs_cuda
def test_replay_matches_eager_on_the_gpu():
    device = torch.device("cuda")
    model = tiny_model(device)
    graphed = GraphedModel(model)
    results = []
    for seed in range(3):  # one capture, then replays with new inputs copied into the graph's buffers
        args = inputs(device, seed)
        with torch.no_grad():
            eager = model(*args)
        replayed = graphed(*args)
        torch.testing.assert_close(replayed, eager, rtol=2e-3, atol=2e-3)
        results.append(replayed)
    assert graphed.captures == 1 and graphed.replays == 3
    # Each call returns its own tensor: a later replay does not overwrite an earlier result.
    assert not torch.allclose(results[0], results[1])
    with torch.no_grad():
        torch.testing.assert_close(results[0], model(*inputs(device, 0)), rtol=2e-3, atol=2e-3)


@needs_cuda
def test_a_new_shape_is_captured_once_more():
    device = torch.device("cuda")
    model = tiny_model(device)
    graphed = GraphedModel(model)
    for batch in (1, 3, 1, 3):
        args = inputs(device, batch, batch=batch)
        with torch.no_grad():
            eager = model(*args)
        torch.testing.assert_close(graphed(*args), eager, rtol=2e-3, atol=2e-3)
    assert graphed.captures == 2 and graphed.replays == 4


@needs_cuda
def test_executor_with_graphs_matches_executor_without():
    """A whole plan sampled with graph replay gives the eager result (up to float noise)."""
    import numpy as np

    from vidsched.compiler import compile_scheme
    from vidsched.runtime.denoiser import model_denoiser
    from vidsched.runtime.executor import Executor, SamplerSettings, initial_buffer

    device = torch.device("cuda")
    model = tiny_model(device)
    rng = np.random.default_rng(0)
    T, S = 8, CONFIG.image_size
    frames = rng.integers(0, 256, (T, S, S, 3), dtype=np.uint8)
    hole = np.zeros((T, S, S), bool)
    hole[:, 4:10, 3:12] = True
    plan = compile_scheme("hierarchy2", {"T": T, "K": CONFIG.max_frames}, steps=3)
    buffers = []
    for graphs in (True, False):
        make = model_denoiser(model, cuda_graphs=graphs)
        buffer = initial_buffer(frames, hole)
        with torch.inference_mode():
            Executor(make, SamplerSettings(steps=3), device=device).run(plan, buffer, hole, seed=0)
        buffers.append(buffer.astype(np.float32))
        assert (make.graphed.captures > 0) == graphs
    np.testing.assert_allclose(buffers[0], buffers[1], atol=2e-2)


def _denoiser_inputs(device, seed: int):
    x, known, index, valid, _ = inputs(device, seed)
    g = torch.Generator().manual_seed(seed + 100)
    values = (torch.rand(x.shape, generator=g) * 2 - 1).to(device)
    return x * 5, values, known, index, valid


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_the_graphed_denoiser_is_the_preconditioned_network_clipped(prediction):
    """model_denoiser graphs the whole D(x, sigma); on the CPU it is a plain call, and it
    must equal precond.make_denoiser's D clipped to the data range, known pixels kept."""
    from vidsched.diffusion.precond import Conditioning, make_denoiser
    from vidsched.runtime.denoiser import model_denoiser

    model = tiny_model("cpu")
    x, values, known, index, valid = _denoiser_inputs("cpu", 3)
    make = model_denoiser(model, cuda_graphs=True, prediction=prediction)
    cond = Conditioning(known_values=values, known=known, frame_index=index, frame_valid=valid)
    reference = make_denoiser(model, cond, prediction)
    with torch.no_grad():
        for sigma in (80.0, torch.tensor(1.5), 0.01):
            got = make(values, known, index, valid)(x, sigma)
            want = reference(x, torch.as_tensor(sigma)).clamp(-1, 1)
            torch.testing.assert_close(got, want)
            assert torch.equal(got[known.expand_as(got) > 0], values[known.expand_as(values) > 0])
    assert make.graphed.captures == 0  # the CPU captures nothing


@needs_cuda
def test_the_graphed_denoiser_matches_eager_on_the_gpu():
    from vidsched.runtime.denoiser import model_denoiser

    device = torch.device("cuda")
    model = tiny_model(device)
    graphed, eager = model_denoiser(model, cuda_graphs=True), model_denoiser(model, cuda_graphs=False)
    with torch.inference_mode():
        for seed in range(3):
            x, values, known, index, valid = _denoiser_inputs(device, seed)
            for sigma in (torch.tensor(20.0, device=device), torch.tensor(0.3, device=device)):
                torch.testing.assert_close(graphed(values, known, index, valid)(x, sigma),
                                           eager(values, known, index, valid)(x, sigma), rtol=2e-3, atol=2e-3)
    assert graphed.graphed.captures == 1 and graphed.graphed.replays == 6
