"""The video U-Net: shapes, padding isolation, relative positions, conditioning, config."""

from __future__ import annotations

import json

import pytest
import torch

from vidsched.model import VideoUNet, VideoUNetConfig, count_parameters, describe

SMALL = VideoUNetConfig(
    image_size=16,
    max_frames=4,
    channels=8,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(16, 8),
    num_heads=2,
    rel_pos_channels=8,
    norm_groups=4,
)


def randomized(model: VideoUNet, seed: int = 0) -> VideoUNet:
    """Give the zero-initialised layers (output conv, attention projections, second convs
    of residual blocks) random weights, so that every path affects the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> VideoUNet:
    torch.manual_seed(0)
    return randomized(VideoUNet(SMALL))


def inputs(batch: int = 2, frames: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    S = SMALL.image_size
    x = torch.randn(batch, frames, 3, S, S, generator=g)
    known = (torch.rand(batch, frames, 1, S, S, generator=g) > 0.5).float()
    frame_index = torch.tensor([[3, 40, 41, 90][:frames]] * batch)
    frame_valid = torch.ones(batch, frames, dtype=torch.bool)
    logsnr = torch.linspace(-3.0, 2.0, batch)
    return x, known, frame_index, frame_valid, logsnr


def run(model, x, known, frame_index, frame_valid, logsnr):
    with torch.no_grad():
        return model(x, known, frame_index, frame_valid, logsnr)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("frames", [1, 4])
def test_output_shape(model, batch, frames):
    args = inputs(batch, frames)
    eps = run(model, *args)
    assert eps.shape == (batch, frames, 3, SMALL.image_size, SMALL.image_size)
    assert eps.dtype == torch.float32 and torch.isfinite(eps).all()


def test_fresh_model_predicts_zero():
    eps = run(VideoUNet(SMALL).eval(), *inputs())
    assert torch.count_nonzero(eps) == 0  # final conv is zero-initialised


@pytest.mark.parametrize("pad_position", [1, 3])
def test_padding_frame_cannot_influence_real_frames(model, pad_position):
    x, known, frame_index, frame_valid, logsnr = inputs()
    frame_valid[:, pad_position] = False
    before = run(model, x, known, frame_index, frame_valid, logsnr)
    x2, known2, index2 = x.clone(), known.clone(), frame_index.clone()
    x2[:, pad_position] = torch.randn_like(x2[:, pad_position]) * 5
    known2[:, pad_position] = 1 - known2[:, pad_position]
    index2[:, pad_position] = 1000
    after = run(model, x2, known2, index2, frame_valid, logsnr)
    real = frame_valid[0]
    assert (after[:, real] - before[:, real]).abs().max() <= 1e-6
    assert not torch.allclose(after[:, pad_position], before[:, pad_position])


def test_all_padding_window_is_finite(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    frame_valid[1] = False  # a dummy batch entry: no softmax row may be empty
    assert torch.isfinite(run(model, x, known, frame_index, frame_valid, logsnr)).all()


def test_batch_entries_are_independent(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    before = run(model, x, known, frame_index, frame_valid, logsnr)
    x[1] = torch.randn_like(x[1])
    frame_index[1] = torch.tensor([0, 1, 2, 3])
    after = run(model, x, known, frame_index, frame_valid, logsnr)
    assert (after[0] - before[0]).abs().max() <= 1e-6


def test_only_index_differences_matter(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    base = run(model, x, known, frame_index, frame_valid, logsnr)
    shifted = run(model, x, known, frame_index + 1234, frame_valid, logsnr)
    assert (shifted - base).abs().max() <= 1e-5
    respaced = run(model, x, known, torch.tensor([[0, 1, 2, 3]] * 2), frame_valid, logsnr)
    assert (respaced - base).abs().max() > 1e-3


def test_permuting_frames_with_their_indices_permutes_outputs(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    base = run(model, x, known, frame_index, frame_valid, logsnr)
    perm = torch.tensor([2, 0, 3, 1])
    out = run(model, x[:, perm], known[:, perm], frame_index[:, perm], frame_valid[:, perm], logsnr)
    assert (out - base[:, perm]).abs().max() <= 1e-5


def test_mask_channel_matters(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    base = run(model, x, known, frame_index, frame_valid, logsnr)
    flipped = run(model, x, 1 - known, frame_index, frame_valid, logsnr)
    assert (flipped - base).abs().max() > 1e-3


def test_logsnr_matters(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    base = run(model, x, known, frame_index, frame_valid, logsnr)
    other = run(model, x, known, frame_index, frame_valid, logsnr + 1.5)
    assert (other - base).abs().max() > 1e-3


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = randomized(VideoUNet(SMALL)).train()
    x, known, frame_index, frame_valid, logsnr = inputs()
    frame_valid[0, 2] = False
    eps = model(x, known, frame_index, frame_valid, logsnr)
    ((eps - torch.randn_like(eps)) ** 2 * (1 - known)).mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, dead


def test_gradients_reach_zero_initialised_output_layer():
    model = VideoUNet(SMALL).train()  # fresh: only the zero-initialised layers get gradient
    eps = model(*inputs())
    (eps - 1).pow(2).mean().backward()
    assert model.conv_out.weight.grad.abs().sum() > 0


def test_forward_is_one_graph(model):
    """No .item(), no host syncs, no Python branching on tensor values: TorchDynamo traces
    the whole forward without a graph break (what CUDA graphs and torch.compile need)."""
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="eager", fullgraph=True, dynamic=False)
    args = inputs()
    args[3][1, 3] = False
    with torch.no_grad():
        assert torch.equal(compiled(*args), model(*args))
    torch._dynamo.reset()


def test_input_validation(model):
    x, known, frame_index, frame_valid, logsnr = inputs()
    with pytest.raises(ValueError, match="at most K = 4"):
        model(torch.cat([x, x], 1), torch.cat([known, known], 1), torch.cat([frame_index] * 2, 1),
              torch.cat([frame_valid] * 2, 1), logsnr)
    with pytest.raises(ValueError, match="known must be"):
        model(x, known[:, :, :, :8], frame_index, frame_valid, logsnr)
    with pytest.raises(ValueError, match="frame_valid must be a bool"):
        model(x, known, frame_index, frame_valid.float(), logsnr)
    with pytest.raises(ValueError, match="logsnr"):
        model(x, known, frame_index, frame_valid, logsnr[:1])
    with pytest.raises(ValueError, match="not divisible"):
        model(x[..., :15, :15], known[..., :15, :15], frame_index, frame_valid, logsnr)


def _count(config: VideoUNetConfig) -> int:
    with torch.device("meta"):
        return count_parameters(VideoUNet(config))


def test_preset_sizes():
    assert 2_000_000 <= _count(VideoUNetConfig.tiny()) <= 3_000_000
    paper = VideoUNetConfig.paper()
    assert paper.max_frames == 16 and paper.channels == 128
    assert paper.attention_resolutions == (32, 16, 8)
    assert 50_000_000 <= _count(paper) <= 200_000_000


def test_describe_mentions_the_essentials():
    text = describe(VideoUNetConfig.tiny())
    assert "64x64" in text and "(K):   8" in text and "16, 8" in text and "parameters" in text


def test_config_round_trip():
    for config in (SMALL, VideoUNetConfig.tiny(), VideoUNetConfig.paper()):
        d = json.loads(json.dumps(config.to_dict()))
        assert VideoUNetConfig.from_dict(d) == config
    assert VideoUNetConfig.from_dict({}) == VideoUNetConfig.tiny()


def test_config_rejects_unknown_keys():
    d = SMALL.to_dict() | {"num_layers": 12, "flash": True}
    with pytest.raises(ValueError, match=r"unknown model config key\(s\): 'flash', 'num_layers'"):
        VideoUNetConfig.from_dict(d)


def test_config_validation():
    with pytest.raises(ValueError, match="attention resolution"):
        VideoUNetConfig(image_size=16, channel_mult=(1, 2), attention_resolutions=(4,))
    with pytest.raises(ValueError, match="not divisible"):
        VideoUNetConfig(image_size=20, channel_mult=(1, 2, 2, 2), attention_resolutions=())
    with pytest.raises(ValueError, match="invalid VideoUNetConfig"):
        VideoUNetConfig.from_dict({"channels": "wide"})
