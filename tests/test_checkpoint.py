"""Checkpoints: safetensors + JSON round trip, and clear errors for broken ones."""

from __future__ import annotations

import json

import pytest
import torch

from vidsched.errors import VidschedError
from vidsched.model import CheckpointError, VideoUNet, VideoUNetConfig, load_checkpoint, save_checkpoint
from vidsched.model import checkpoint as ckpt_module

SMALL = VideoUNetConfig(
    image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), num_res_blocks=1,
    attention_resolutions=(8,), num_heads=2, rel_pos_channels=8, norm_groups=4,
)
META = {"step": 1200, "schedule": "sigmoid", "ema": 0.999, "note": "test"}


def make_model(config: VideoUNetConfig = SMALL, seed: int = 0) -> VideoUNet:
    torch.manual_seed(seed)
    model = VideoUNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # no zero layers: outputs differ between models
    return model.eval()


def outputs(model: VideoUNet) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    S = model.config.image_size
    x = torch.randn(2, 3, 3, S, S, generator=g)
    known = (torch.rand(2, 3, 1, S, S, generator=g) > 0.5).float()
    with torch.no_grad():
        return model(x, known, torch.tensor([[0, 5, 9]] * 2), torch.ones(2, 3, dtype=torch.bool),
                     torch.tensor([-1.0, 2.0]))


@pytest.fixture
def saved(tmp_path):
    model = make_model()
    json_path = save_checkpoint(tmp_path / "run" / "step1200", model.state_dict(), SMALL, META)
    return model, json_path


def test_round_trip(saved):
    model, json_path = saved
    assert json_path.name == "step1200.json"
    assert json_path.with_suffix(".safetensors").is_file()
    loaded, config, meta = load_checkpoint(json_path)
    assert config == SMALL and meta == META
    assert not loaded.training
    assert torch.equal(outputs(loaded), outputs(model))


def test_paths_accepted(saved, tmp_path):
    model, json_path = saved
    stem = json_path.with_suffix("")
    for p in (stem, json_path, json_path.with_suffix(".safetensors"), str(stem)):
        assert load_checkpoint(p)[1] == SMALL
    save_checkpoint(str(tmp_path / "dir") + "/", model.state_dict(), SMALL, {})  # new directory
    assert (tmp_path / "dir" / "checkpoint.json").is_file()
    save_checkpoint(tmp_path / "plain", model.state_dict(), SMALL, {})  # a stem
    assert (tmp_path / "plain.json").is_file() and (tmp_path / "plain.safetensors").is_file()
    (tmp_path / "dir2").mkdir()
    save_checkpoint(tmp_path / "dir2", model.state_dict(), SMALL, {})
    assert load_checkpoint(tmp_path / "dir2")[1] == SMALL


def test_files_are_plain_and_no_temporaries_remain(saved):
    _, json_path = saved
    document = json.loads(json_path.read_text())
    assert document["format"] == "vidsched.checkpoint/1"
    assert document["weights"] == "step1200.safetensors" and document["weights_format"] == "safetensors"
    assert document["config"] == SMALL.to_dict() and document["meta"] == META
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["step1200.json", "step1200.safetensors"]


def test_overwrite_replaces(saved):
    _, json_path = saved
    other = make_model(seed=5)
    save_checkpoint(json_path, other.state_dict(), SMALL, {"step": 2})
    loaded, _, meta = load_checkpoint(json_path)
    assert meta == {"step": 2} and torch.equal(outputs(loaded), outputs(other))


def test_errors_are_vidsched_errors():
    assert issubclass(CheckpointError, VidschedError)


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.json")
    with pytest.raises(CheckpointError, match="no checkpoint in directory"):
        load_checkpoint(tmp_path)


def test_missing_weights(saved):
    _, json_path = saved
    json_path.with_suffix(".safetensors").unlink()
    with pytest.raises(CheckpointError, match="step1200.safetensors, which is missing"):
        load_checkpoint(json_path)


def test_weights_without_json(saved):
    _, json_path = saved
    json_path.unlink()
    with pytest.raises(CheckpointError, match="has no step1200.json beside it"):
        load_checkpoint(json_path.with_suffix(".safetensors"))


def test_truncated_weights(saved):
    _, json_path = saved
    weights = json_path.with_suffix(".safetensors")
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(json_path)
    # Without the recorded size and sha256 to compare against, safetensors itself notices.
    document = json.loads(json_path.read_text())
    del document["weights_bytes"], document["weights_sha256"]
    json_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(json_path)


def test_corrupt_weights_same_size(saved):
    _, json_path = saved
    weights = json_path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[:64] = b"\xff" * 64  # garbage header
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its checkpoint"):
        load_checkpoint(json_path)
    # A checkpoint that records no sha256 (written before it was recorded) still gets a
    # clear error from the reader itself.
    document = json.loads(json_path.read_text())
    del document["weights_sha256"]
    json_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(json_path)


def test_altered_weights_of_the_same_size_are_refused(saved):
    """A valid weights file whose values changed (same size, same keys) no longer matches
    the sha256 its checkpoint recorded."""
    import safetensors.torch as st

    model, json_path = saved
    weights = json_path.with_suffix(".safetensors")
    state = st.load_file(str(weights))
    name = next(iter(state))
    state[name] = state[name] + 1.0
    st.save_file(state, str(weights), metadata={"format": "pt"})
    assert weights.stat().st_size == json.loads(json_path.read_text())["weights_bytes"]
    with pytest.raises(CheckpointError, match="altered"):
        load_checkpoint(json_path)


def test_checkpoint_sha256_follows_the_contents_not_the_path(tmp_path):
    first = save_checkpoint(tmp_path / "ck", make_model(seed=1).state_dict(), SMALL, META)
    digest = ckpt_module.checkpoint_sha256(first)
    assert digest == json.loads(first.read_text())["weights_sha256"]
    second = save_checkpoint(tmp_path / "ck", make_model(seed=2).state_dict(), SMALL, META)
    assert second == first and ckpt_module.checkpoint_sha256(second) != digest


def test_bad_json(saved):
    _, json_path = saved
    json_path.write_text(json_path.read_text()[:40])
    with pytest.raises(CheckpointError, match=r"not valid JSON \(line"):
        load_checkpoint(json_path)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not a vidsched checkpoint"):
        load_checkpoint(tmp_path / "x.json")


def test_unknown_config_key(saved):
    _, json_path = saved
    document = json.loads(json_path.read_text())
    document["config"]["use_flash"] = True
    json_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="unknown model config key.*'use_flash'"):
        load_checkpoint(json_path)


def test_weights_of_another_architecture(tmp_path):
    wider = VideoUNetConfig(**(SMALL.to_dict() | {"channels": 16}))
    json_path = save_checkpoint(tmp_path / "c", make_model(wider).state_dict(), SMALL, {})
    with pytest.raises(CheckpointError, match=r"155 shape mismatch\(es\): emb_mlp\.0\.weight: checkpoint \(64, 16\) vs model \(32, 8\)"):
        load_checkpoint(json_path)
    deeper = VideoUNetConfig(**(SMALL.to_dict() | {"num_res_blocks": 2}))
    json_path = save_checkpoint(tmp_path / "d", make_model(deeper).state_dict(), SMALL, {})
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\): .*down\.1\."):
        load_checkpoint(json_path)
    state = make_model().state_dict()
    del state["conv_out.bias"]
    json_path = save_checkpoint(tmp_path / "e", state, SMALL, {})
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\): conv_out\.bias"):
        load_checkpoint(json_path)


def test_meta_must_be_json(tmp_path):
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save_checkpoint(tmp_path / "m", make_model().state_dict(), SMALL, {"when": object()})


def test_torch_fallback_without_safetensors(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt_module, "_st", None)
    model = make_model()
    json_path = save_checkpoint(tmp_path / "fallback", model.state_dict(), SMALL, META)
    assert json.loads(json_path.read_text())["weights"] == "fallback.pt"
    loaded, _, meta = load_checkpoint(json_path)
    assert meta == META and torch.equal(outputs(loaded), outputs(model))
