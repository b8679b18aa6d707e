"""The trainer: configs, lr schedule, bit-identical resume, DDP replicas, run-folder outputs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vidsched.errors import VidschedError
from vidsched.model.checkpoint import read_checkpoint_info
from vidsched.training.config import ConfigError, TrainConfig, load_config, to_yaml
from vidsched.training.data import ExampleSampler
from vidsched.training.trainer import learning_rate, train, weights_digest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "model" / "configs"

# A network small enough for a few steps in well under a second.
MICRO = {"preset": "tiny", "image_size": 16, "max_frames": 4, "channels": 8, "channel_mult": [1, 2],
         "attention_resolutions": [8], "num_heads": 2, "rel_pos_channels": 8, "norm_groups": 4}


def micro_config(run_dir: Path, **changes) -> TrainConfig:
    values = {"run_dir": str(run_dir), "model": MICRO, "steps": 6, "batch_size": 2, "log_every": 1,
              "save_every": 3, "sample_every": 0, "warmup_steps": 2, "threads": 1, **changes}
    return load_config(None, [f"{k}={json.dumps(v)}" for k, v in values.items()])


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1, 16, 16, 3))
    drift = np.arange(40)[:, None, None, None] * 3  # a little motion so frames differ
    return ((base + drift) % 256).astype(np.uint8)


def losses(run: Path) -> list[tuple[int, str]]:
    with open(run / "log.csv", newline="") as f:
        return [(int(r["step"]), r["loss"]) for r in csv.DictReader(f)]


# ---- config ---------------------------------------------------------------------------------
def test_shipped_configs_load_and_name_the_shipped_networks():
    """corpus64.yaml is the recipe of the default checkpoint (v-prediction, the corpus),
    vtest64.yaml the previous one's (eps, vtest alone)."""
    from vidsched.runtime.pipeline import DEFAULT_CHECKPOINT, PREVIOUS_CHECKPOINT

    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.steps >= 1, path
    for recipe, shipped in (("corpus64.yaml", DEFAULT_CHECKPOINT), ("vtest64.yaml", PREVIOUS_CHECKPOINT)):
        cfg = load_config(CONFIGS / recipe)
        shipped_config, meta, _ = read_checkpoint_info(shipped)
        assert cfg.model_config() == shipped_config, recipe
        assert meta.get("prediction", "eps") == cfg.prediction, recipe
        assert meta["recipe"] == f"model/configs/{recipe}"


def test_overrides_and_resolved_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 10\ndata:\n  fps: 5\nmodel:\n  preset: tiny\n  channels: 16\n")
    cfg = load_config(path, ["data.crop=center", "lr=1e-3", "model.num_heads=2"], run_dir="elsewhere")
    assert (cfg.steps, cfg.data.fps, cfg.data.crop, cfg.lr, cfg.run_dir) == (10, 5.0, "center", 1e-3, "elsewhere")
    resolved = yaml.safe_load(to_yaml(cfg))
    assert resolved["model"]["channels"] == 16 and resolved["model"]["num_heads"] == 2
    assert resolved["model"]["max_frames"] == 8  # the preset's value, written out
    assert load_config(None, [f"{k}={json.dumps(v)}" for k, v in resolved.items() if k != "data"]).steps == 10


@pytest.mark.parametrize("text, message", [
    ("stpes: 10", "did you mean 'steps'"),
    ("data: {fsp: 3}", "did you mean 'fps'"),
    ("model: {chanels: 3}", "did you mean 'channels'"),
    ("model: {preset: huge}", "unknown preset 'huge'"),
    ("steps: ten", "steps must be an integer"),
    ("lr: -1", "lr must be positive"),
    ("schedule: quadratic", "schedule must be one of"),
    ("data: {crop: diagonal}", "data.crop must be one of"),
    ("prediction: x0", "prediction must be eps or v"),
    ("data: {source: corpus}", "needs data.crop: multiscale"),
    ("data: {crop: multiscale, max_stride: 0}", "max_stride must be at least 1"),
    ("data: {still_share: 2}", "still_share must be in"),
    ("data: {mask_mix: {appendix_d: 1, stars: 1}}", "data.mask_mix"),
    ("model: {image_size: 30}", "not divisible"),
    ("- 1\n- 2", "expected a mapping"),
    ("steps: [1", "not valid YAML"),
])
def test_bad_configs_are_named(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(path)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["steps"])


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, decay_start=600, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 599) == pytest.approx(1e-3)
    assert learning_rate(cfg, 800) == pytest.approx(0.55e-3)  # half way down the cosine
    assert learning_rate(cfg, 1000) == pytest.approx(1e-4)
    lrs = [learning_rate(cfg, s) for s in range(600, 1001)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert learning_rate(TrainConfig(steps=1000, lr=1e-3, warmup_steps=1), 999) == 1e-3  # no decay by default


# ---- training -------------------------------------------------------------------------------
def test_resume_is_bit_identical(tmp_path, clip):
    whole = train(micro_config(tmp_path / "whole"), clip, log=lambda s: None)
    part = tmp_path / "part"
    train(micro_config(part, steps=3), clip, log=lambda s: None)
    train(micro_config(part), clip, resume=True, log=lambda s: None)
    assert losses(whole) == losses(part)
    assert [s for s, _ in losses(part)] == list(range(1, 7))
    for name in ("checkpoint.safetensors", "ema.safetensors"):
        assert (whole / name).read_bytes() == (part / name).read_bytes(), name


def test_training_changes_the_weights_and_writes_the_run_folder(tmp_path, clip):
    cfg = micro_config(tmp_path / "run", steps=4, save_every=2, sample_every=4, sample_steps=2)
    torch.manual_seed(cfg.seed)
    from vidsched.model.unet import VideoUNet

    initial = weights_digest(VideoUNet(cfg.model_config()))
    run = train(cfg, clip, held_out=clip[-8:], log=lambda s: None)
    _, meta, _ = read_checkpoint_info(run / "ema.json")
    assert meta["step"] == 4 and meta["weights"] == "ema"
    replicas = json.loads((run / "replicas.json").read_text())
    assert replicas["weights_sha256"] != [initial]
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["channels"] == 8
    from PIL import Image

    sample = Image.open(run / "samples" / "step_000004.png")
    assert sample.width > 2 * 16 and sample.height > 4 * 16
    loss_png = run / "loss.png"
    assert loss_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_folder_is_never_silently_reused(tmp_path, clip):
    run = tmp_path / "run"
    train(micro_config(run, steps=2), clip, log=lambda s: None)
    with pytest.raises(VidschedError, match="--resume"):
        train(micro_config(run, steps=2), clip, log=lambda s: None)
    other = dict(MICRO, channels=16)
    with pytest.raises(VidschedError, match="another network.*channels"):
        train(micro_config(run, steps=4, model=other), clip, resume=True, log=lambda s: None)


# ---- the command line -----------------------------------------------------------------------
def _micro_yaml(tmp_path: Path, clip: np.ndarray, **changes) -> Path:
    np.save(tmp_path / "clip.npy", clip)
    values = {"run_dir": str(tmp_path / "run"), "data": {"source": str(tmp_path / "clip.npy"), "min_frames": 8},
              "model": MICRO, "steps": 4, "batch_size": 1, "log_every": 1, "save_every": 2, "sample_every": 0,
              "threads": 1, **changes}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_dry_run_writes_nothing(tmp_path, clip):
    cfg = _micro_yaml(tmp_path, clip)
    proc = subprocess.run([sys.executable, str(REPO / "model" / "train.py"), "train", "--config", str(cfg),
                           "--dry-run", "--set", "lr=5e-4"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "32 training frames, 8 held out" in proc.stdout
    assert "lr: 0.0005" in proc.stdout and "nothing trained" in proc.stdout
    assert not (tmp_path / "run").exists()


def test_bad_config_on_the_command_line_is_one_line(tmp_path, clip):
    cfg = _micro_yaml(tmp_path, clip)
    proc = subprocess.run([sys.executable, str(REPO / "model" / "train.py"), "train", "--config", str(cfg),
                           "--set", "stepz=3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: unknown config key 'stepz'; did you mean 'steps'?"


def test_torchrun_two_cpu_processes_keep_identical_replicas(tmp_path, clip):
    cfg = _micro_yaml(tmp_path, clip)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(REPO / "model" / "train.py"), "train", "--config", str(cfg)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "x 2 process(es)" in proc.stdout
    replicas = json.loads((tmp_path / "run" / "replicas.json").read_text())
    assert replicas["step"] == 4
    assert len(replicas["weights_sha256"]) == 2 and len(set(replicas["weights_sha256"])) == 1
    state = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)
    assert len(state["rng"]) == 2  # each rank's streams, for resuming
    assert state["rng"][0]["numpy"] != state["rng"][1]["numpy"]  # ranks draw different examples


def test_v_prediction_multiscale_run_records_its_prediction_and_refuses_another_on_resume(tmp_path):
    """A v-prediction run on a clip of its own size (cropped at random zooms) trains, says
    what it predicts in the checkpoint, and cannot be resumed as an eps run."""
    rng = np.random.default_rng(5)
    big = rng.integers(0, 255, (30, 40, 52, 3)).astype(np.uint8)
    run = tmp_path / "v"
    cfg = micro_config(run, steps=3, prediction="v", data={"crop": "multiscale", "max_stride": 2})
    train(cfg, [big], held_out=None, log=lambda s: None)
    _, meta, _ = read_checkpoint_info(run / "ema.json")
    assert meta["prediction"] == "v" and meta["schedule"] == "cosine"
    assert all(np.isfinite(float(loss)) for _, loss in losses(run))
    with pytest.raises(VidschedError, match="v-prediction"):
        train(micro_config(run, steps=4), [big], resume=True, log=lambda s: None)


def test_a_new_run_can_start_from_another_runs_weights(tmp_path, clip):
    """init_from: a new run starts from a checkpoint's weights (a GPU burst continuing a
    CPU run); with a negligible learning rate the weights written after one step are the
    initial ones (Adam moves each weight by about lr); a different network is refused."""
    from vidsched.model.checkpoint import read_checkpoint

    first = train(micro_config(tmp_path / "a", steps=4, save_every=4), clip, log=lambda s: None)
    source, _, _ = read_checkpoint(first / "ema.json")
    messages = []
    second = train(micro_config(tmp_path / "b", steps=1, save_every=1, lr=1e-12, init_from=str(first / "ema.json")),
                   clip,
                   log=messages.append)
    assert any("initialised from" in m for m in messages)
    raw, _, _ = read_checkpoint(second / "checkpoint.json")
    assert all(torch.allclose(raw[k].float(), source[k].float(), atol=1e-9) for k in source)
    fresh = train(micro_config(tmp_path / "e", steps=1, save_every=1, lr=1e-12), clip, log=lambda s: None)
    fresh_raw = read_checkpoint(fresh / "checkpoint.json")[0]
    assert not all(torch.allclose(fresh_raw[k].float(), source[k].float(), atol=1e-9) for k in source)
    other = dict(MICRO, channels=16)
    with pytest.raises(VidschedError, match="different network.*channels"):
        train(micro_config(tmp_path / "c", steps=1, model=other, init_from=str(first / "ema.json")), clip,
              log=lambda s: None)
    with pytest.raises(VidschedError, match="init_from: cannot read"):
        train(micro_config(tmp_path / "d", steps=1, init_from=str(tmp_path / "missing.json")), clip,
              log=lambda s: None)


def test_data_workers_feed_the_loop_with_distinct_streams(tmp_path, clip):
    """data_workers: batches come from worker processes, each its own random stream (no
    two workers repeat each other), of the same shapes as the loop's own; a run with
    workers trains and saves like one without."""
    from vidsched.training.loader import worker_batches

    cfg = micro_config(tmp_path / "w", steps=3, save_every=3, data_workers=2)
    stream = worker_batches(cfg, clip, None, (cfg.seed, 0, 0))
    first, second = next(stream), next(stream)
    stream.close()
    assert first.x0.shape == second.x0.shape == (cfg.batch_size, *first.x0.shape[1:])
    assert not torch.equal(first.x0, second.x0) or not torch.equal(first.known, second.known)
    own = ExampleSampler.from_config(cfg, clip, seed=cfg.seed).batch(cfg.batch_size)
    assert tuple(first.x0.shape) == own.x0.shape and tuple(first.index.shape) == own.index.shape
    run = train(cfg, clip, log=lambda s: None)
    assert [s for s, _ in losses(run)] == [1, 2, 3]
    with pytest.raises(VidschedError, match="data_workers must be >= 0"):
        micro_config(tmp_path / "bad", data_workers=-1)
