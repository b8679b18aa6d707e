"""Training loop: eq. 3 of the paper with AdamW, EMA and gradient clipping.

State is written to a run folder: ``checkpoint.safetensors`` / ``.json`` (the raw
weights), ``ema.safetensors`` / ``.json`` (the EMA weights, what `vidsched run` uses),
``train_state.pt`` (optimizer, step, RNG; loaded with ``weights_only=True``) and
``log.csv``. Everything is written atomically, so a killed run resumes from its last
save with ``resume=True``.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidsched.atomic import atomic_write
from vidsched.diffusion.precond import training_loss
from vidsched.model.checkpoint import save_checkpoint
from vidsched.model.unet import VideoUNet, VideoUNetConfig
from vidsched.training.data import ExampleSampler


@dataclass
class TrainConfig:
    run_dir: str = "runs/tiny"
    steps: int = 2000
    batch_size: int = 2
    lr: float = 2e-4
    warmup_steps: int = 200
    weight_decay: float = 0.0
    ema_decay: float = 0.999  # the paper's EMA rate
    grad_clip: float = 1.0
    schedule: str = "cosine"  # Chen 2023 noise schedule: linear, cosine or sigmoid
    p_consecutive: float = 0.5  # mixture weight of runs of consecutive frames
    seed: int = 0
    save_every: int = 250
    log_every: int = 25
    threads: int = 0  # torch CPU threads (0: torch's default)
    model: dict = field(default_factory=lambda: VideoUNetConfig.tiny().to_dict())


def train(cfg: TrainConfig, frames: np.ndarray, resume: bool = False, log=print) -> Path:
    """Train on `frames` (N, S, S, 3) uint8; returns the run folder."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    model_cfg = VideoUNetConfig.from_dict(cfg.model)
    torch.manual_seed(cfg.seed)
    model = VideoUNet(model_cfg)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = ExampleSampler(frames, model_cfg.max_frames, seed=cfg.seed, p_consecutive=cfg.p_consecutive)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    step = 0
    state_path = run / "train_state.pt"
    if resume and state_path.exists():
        from vidsched.model.checkpoint import read_checkpoint

        state = torch.load(state_path, weights_only=True)
        model.load_state_dict(read_checkpoint(run / "checkpoint.json")[0])
        ema.load_state_dict(read_checkpoint(run / "ema.json")[0])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        gen.set_state(state["torch_rng"])
        sampler.rng.bit_generator.state = json.loads(state["numpy_rng"])
        log(f"resumed at step {step}")

    log_path = run / "log.csv"
    new_log = not log_path.exists() or step == 0
    log_file = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.writer(log_file)
    if new_log:
        writer.writerow(["step", "loss", "lr", "seconds", "data_seconds"])

    def save() -> None:
        meta = {"step": step, "schedule": cfg.schedule, "ema_decay": cfg.ema_decay, "trained_on": str(cfg.run_dir)}
        save_checkpoint(run / "checkpoint", model.state_dict(), model_cfg, dict(meta, weights="raw"))
        save_checkpoint(run / "ema", ema.state_dict(), model_cfg, dict(meta, weights="ema"))
        state = {"optimizer": opt.state_dict(), "step": step, "torch_rng": gen.get_state(),
                 "numpy_rng": json.dumps(sampler.rng.bit_generator.state)}
        atomic_write(state_path, lambda tmp: torch.save(state, tmp))

    model.train()
    t_start = time.perf_counter()
    losses, data_time = [], 0.0
    while step < cfg.steps:
        t0 = time.perf_counter()
        b = sampler.batch(cfg.batch_size)
        x0, known, loss_mask = torch.from_numpy(b.x0), torch.from_numpy(b.known), torch.from_numpy(b.loss_mask)
        index, valid = torch.from_numpy(b.index), torch.from_numpy(b.valid)
        t = torch.rand(cfg.batch_size, generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        data_time += time.perf_counter() - t0
        lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        for group in opt.param_groups:
            group["lr"] = lr
        loss = training_loss(model, x0, t, noise, known, index, valid, loss_mask, cfg.schedule)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1.0 - cfg.ema_decay)
        step += 1
        losses.append(loss.item())
        if step % cfg.log_every == 0 or step == cfg.steps:
            elapsed = time.perf_counter() - t_start
            writer.writerow([step, f"{np.mean(losses):.5f}", f"{lr:.2e}", f"{elapsed:.1f}", f"{data_time:.1f}"])
            log_file.flush()
            log(f"step {step}/{cfg.steps} loss {np.mean(losses):.4f} lr {lr:.1e} "
                f"{step / max(elapsed, 1e-9):.2f} steps/s (data {100 * data_time / max(elapsed, 1e-9):.0f} %)")
            losses = []
        if step % cfg.save_every == 0 or step == cfg.steps:
            save()
    log_file.close()
    return run
