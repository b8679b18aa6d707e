"""Training loop: eq. 3 of the paper with AdamW, EMA, gradient clipping, and DDP.

State is written to a run folder: ``checkpoint.safetensors`` / ``.json`` (the raw
weights), ``ema.safetensors`` / ``.json`` (the EMA weights, what gets shipped),
``train_state.pt`` (optimizer, step and every random stream; loaded with
``weights_only=True``), ``config.yaml`` (the resolved config), ``log.csv``, ``loss.png``
and ``samples/``. Everything is written atomically, so a killed run resumes from its
last save with ``resume=True`` -- on the CPU bit-identically: the same losses and
weights as a run that was never interrupted.

Under ``torchrun --nproc_per_node=N`` each process trains on its own random examples
(seeded by rank) with DistributedDataParallel averaging the gradients (nccl on GPUs,
gloo on the CPU); rank 0 writes the run folder, and every save checks that the replicas'
weights are still identical.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vidsched.atomic import atomic_write, atomic_write_text
from vidsched.diffusion.precond import training_loss
from vidsched.errors import VidschedError
from vidsched.model.checkpoint import read_checkpoint, save_checkpoint
from vidsched.model.unet import VideoUNet
from vidsched.training.config import TrainConfig, to_yaml
from vidsched.training.data import ExampleSampler
from vidsched.training.report import plot_loss, write_preview

RANK_SEED_STRIDE = 1000  # rank r draws examples from seed + 1000 r (rank 0: the single-process streams)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The lr of optimizer step `step` (0-based): linear warmup, constant, then an optional cosine decay."""
    lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if 0 < cfg.decay_start <= step and cfg.steps > cfg.decay_start:
        progress = min(1.0, (step - cfg.decay_start) / (cfg.steps - cfg.decay_start))
        floor = cfg.min_lr_ratio * cfg.lr
        lr = floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return lr


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 when run plainly)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(cfg: TrainConfig) -> tuple[Distributed, torch.device]:
    """Join the torchrun job named by the environment (if any) and pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise VidschedError("device: cuda was asked for, but torch sees no CUDA device")
    if world == 1:
        return Distributed(), torch.device("cuda" if use_cuda else "cpu")
    import torch.distributed as dist

    dist_info = Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if use_cuda:
        torch.cuda.set_device(dist_info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist_info, torch.device(f"cuda:{dist_info.local_rank}" if use_cuda else "cpu")


def _all_gather(obj, dist_info: Distributed) -> list:
    if dist_info.world == 1:
        return [obj]
    import torch.distributed as dist

    out = [None] * dist_info.world
    dist.all_gather_object(out, obj)
    return out


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer, bit for bit (replicas must agree exactly)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class StepReport:
    """What the trainer tells its caller after each logged interval."""

    step: int
    steps: int
    loss: float
    lr: float
    steps_per_second: float
    data_share: float  # fraction of the wall time spent making examples


def _check_resumable(run: Path, cfg: TrainConfig) -> None:
    """A run folder may be resumed with other step counts or rates, not another network."""
    saved = run / "checkpoint.json"
    if not saved.exists():
        return
    meta = json.loads(saved.read_text())
    model = cfg.model_config().to_dict()
    if meta.get("config") and meta["config"] != model:
        diff = sorted(k for k in model if meta["config"].get(k) != model[k])
        raise VidschedError(
            f"{run} holds a run of another network (differs in {', '.join(diff)}); "
            "resume with its config or pick a new run_dir"
        )
    saved_prediction = (meta.get("meta") or {}).get("prediction", "eps")
    if saved_prediction != cfg.prediction:
        raise VidschedError(f"{run} holds a run trained with {saved_prediction}-prediction, the config asks for "
                            f"{cfg.prediction}; resume with prediction: {saved_prediction} or pick a new run_dir")


ORIGINAL_CONFIG = "config.orig.yaml"


def _config_changes(run: Path, cfg: TrainConfig) -> list[str]:
    """``key: old -> new`` for every config key (dotted for sections) that differs from the
    run folder's ``config.yaml``: what a resume changes (the network itself cannot change,
    :func:`_check_resumable`)."""
    import yaml

    try:
        saved = yaml.safe_load((run / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(saved, dict):
        return []

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    old, new = flat(saved), flat(yaml.safe_load(to_yaml(cfg)))  # both as YAML reads them
    return [f"{k}: {old.get(k, '(unset)')} -> {new.get(k, '(unset)')}" for k in sorted(set(old) | set(new))
            if k != "run_dir" and old.get(k) != new.get(k)]


def _keep_original_config(run: Path, changes: list[str], log: Callable[[str], None]) -> None:
    """Before a resume with another config rewrites ``config.yaml``: say what changed, and
    keep the run's first config as ``config.orig.yaml`` (once: later changes keep it)."""
    original = run / ORIGINAL_CONFIG
    if not original.exists():
        atomic_write_text(original, (run / "config.yaml").read_text())
    log(f"note: resuming with a changed config: {'; '.join(changes)} (config.yaml now holds the new values; "
        f"the run's first config is kept in {original})")


def train(
    cfg: TrainConfig,
    clips: np.ndarray | list[np.ndarray],
    held_out: np.ndarray | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
    on_report: Callable[[StepReport], None] | None = None,
    stills: list[np.ndarray] | None = None,
) -> Path:
    """Train on ``clips`` ((N, S, S, 3) uint8 arrays, or (N, H, W, 3) at any size with
    ``data.crop: multiscale``) and ``stills`` (photographs, for ``data.still_share``);
    returns the run folder.

    ``held_out`` frames, if given, feed the periodic sample PNGs.
    """
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, clips, held_out, resume, log, on_report, stills)
    finally:
        torch.set_num_threads(threads)  # a library call leaves the process as it found it


def _initialise_from(model, ema, path: Path, model_cfg, log) -> None:
    """Start a new run from a checkpoint's weights (both the raw and the EMA copy)."""
    try:
        state, other_cfg, meta = read_checkpoint(path)
    except (OSError, ValueError, VidschedError) as e:
        raise VidschedError(f"init_from: cannot read {path}: {e}") from None
    mine, theirs = model_cfg.to_dict(), other_cfg.to_dict()
    if mine != theirs:
        changed = sorted(k for k, v in mine.items() if theirs.get(k) != v)
        raise VidschedError(f"init_from: {path} is a different network (differs in {', '.join(changed)})")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}  # fp16 copies too
    model.load_state_dict(state)
    ema.load_state_dict(state)
    log(f"initialised from {path} (its step {meta.get('step', '?')})")


def _train(cfg, clips, held_out, resume, log, on_report, stills=None) -> Path:
    dist_info, device = setup_distributed(cfg)
    run = Path(cfg.run_dir)
    state_path = run / "train_state.pt"
    changes: list[str] = []
    if resume:
        _check_resumable(run, cfg)
        changes = _config_changes(run, cfg)
    elif (run / "checkpoint.json").exists() or state_path.exists():
        raise VidschedError(f"{run} already holds a run; pass --resume to continue it, or pick another run_dir")
    if dist_info.main:
        run.mkdir(parents=True, exist_ok=True)
        if changes:
            _keep_original_config(run, changes, log)
        atomic_write_text(run / "config.yaml", to_yaml(cfg))

    model_cfg = cfg.model_config()
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = VideoUNet(model_cfg).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rank_seed = cfg.seed + RANK_SEED_STRIDE * dist_info.rank
    sampler = ExampleSampler.from_config(cfg, clips, stills, seed=rank_seed)
    gen = torch.Generator().manual_seed(rank_seed + 1)  # diffusion times and noise (on the host: device-independent)
    step = 0
    if resume and state_path.exists():
        state = torch.load(state_path, weights_only=True)
        model.load_state_dict(read_checkpoint(run / "checkpoint.json")[0])
        ema.load_state_dict(read_checkpoint(run / "ema.json")[0])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        rngs = state.get("rng") or [{"torch": state["torch_rng"], "numpy": state["numpy_rng"]}]
        if len(rngs) != dist_info.world:
            log(f"note: the run was saved by {len(rngs)} process(es), now {dist_info.world}: "
                "random streams restart from the seed")
        else:
            mine = rngs[dist_info.rank]
            gen.set_state(mine["torch"])
            sampler.rng.bit_generator.state = json.loads(mine["numpy"])
            if "torch_global" in mine:
                torch.set_rng_state(mine["torch_global"])  # dropout
        log(f"resumed at step {step}")
    elif resume:
        log(f"nothing to resume in {run}: starting from step 0")
    if step == 0 and cfg.init_from:
        _initialise_from(model, ema, Path(cfg.init_from), model_cfg, log)

    net = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    log_path = run / "log.csv"
    log_file = writer = None
    if dist_info.main:
        new_log = not log_path.exists() or step == 0
        log_file = open(log_path, "w" if new_log else "a", newline="")
        writer = csv.writer(log_file)
        if new_log:
            writer.writerow(["step", "loss", "lr", "seconds", "data_seconds"])

    def save() -> None:
        rng = {"torch": gen.get_state(), "numpy": json.dumps(sampler.rng.bit_generator.state),
               "torch_global": torch.get_rng_state()}
        rngs = _all_gather(rng, dist_info)
        digests = _all_gather(weights_digest(model), dist_info)
        if len(set(digests)) != 1:
            raise VidschedError(f"DDP replicas diverged at step {step}: weight digests {digests}")
        if not dist_info.main:
            return
        meta = {"step": step, "schedule": cfg.schedule, "prediction": cfg.prediction, "ema_decay": cfg.ema_decay,
                "trained_on": cfg.data.source, "data": asdict(cfg.data),
                "processes": dist_info.world}
        save_checkpoint(run / "checkpoint", model.state_dict(), model_cfg, dict(meta, weights="raw"))
        save_checkpoint(run / "ema", ema.state_dict(), model_cfg, dict(meta, weights="ema"))
        state = {"optimizer": opt.state_dict(), "step": step, "rng": rngs}
        atomic_write(state_path, lambda tmp: torch.save(state, tmp))
        atomic_write_text(run / "replicas.json", json.dumps({"step": step, "weights_sha256": digests}, indent=1))
        log_file.flush()
        plot_loss(log_path, run / "loss.png")

    def preview() -> None:
        if dist_info.main and held_out is not None and len(held_out):
            path = write_preview(ema, held_out, run / "samples" / f"step_{step:06d}.png", cfg.sample_steps,
                                 prediction=cfg.prediction)
            log(f"samples: {path}")

    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and cfg.bf16
                else nullcontext())
    model.train()
    ema_params, model_params = list(ema.parameters()), list(model.parameters())
    t_start, start_step = time.perf_counter(), step
    losses, data_time, interval_start = [], 0.0, time.perf_counter()
    if cfg.data_workers and step < cfg.steps:
        from vidsched.training.loader import worker_batches

        stream = worker_batches(cfg, clips, stills, (rank_seed, dist_info.rank, step), pin=device.type == "cuda")
        draw = lambda: next(stream)  # noqa: E731
    else:
        draw = lambda: sampler.batch(cfg.batch_size)  # noqa: E731
    while step < cfg.steps:
        t0 = time.perf_counter()
        b = draw()
        x0, known, loss_mask, index, valid = (
            torch.as_tensor(a).to(device, non_blocking=True) for a in (b.x0, b.known, b.loss_mask, b.index, b.valid)
        )
        t = torch.rand(cfg.batch_size, generator=gen).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        data_time += time.perf_counter() - t0
        lr = learning_rate(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        with autocast:
            loss = training_loss(net, x0, t, noise, known, index, valid, loss_mask, cfg.schedule, cfg.prediction)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        with torch.no_grad():  # one fused call, not one kernel per tensor (a GPU step is launch-bound)
            torch._foreach_lerp_(ema_params, model_params, 1.0 - cfg.ema_decay)
        step += 1
        losses.append(loss.detach())
        if step % cfg.log_every == 0 or step == cfg.steps:
            mean_loss = float(torch.stack(losses).float().mean())  # one host sync per log interval
            if dist_info.world > 1:
                mean_loss = float(np.mean(_all_gather(mean_loss, dist_info)))
            now = time.perf_counter()
            report = StepReport(step, cfg.steps, mean_loss, lr, len(losses) / max(now - interval_start, 1e-9),
                                data_time / max(now - t_start, 1e-9))
            if dist_info.main:
                writer.writerow([step, f"{mean_loss:.5f}", f"{lr:.2e}", f"{now - t_start:.2f}", f"{data_time:.3f}"])
                if on_report is not None:
                    on_report(report)
                else:
                    log(f"step {step}/{cfg.steps} loss {mean_loss:.4f} lr {lr:.1e} "
                        f"{report.steps_per_second:.2f} steps/s (data {100 * report.data_share:.0f} %)")
            losses, interval_start = [], now
        if step % cfg.save_every == 0 or step == cfg.steps:
            save()
        if cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps):
            preview()
    if cfg.data_workers and step > start_step:
        stream.close()  # stops the worker processes now, not at garbage collection
    if step == start_step and dist_info.main:
        log(f"{run} is already at step {step} of {cfg.steps}: nothing to do")
    if log_file is not None:
        log_file.close()
    if dist_info.world > 1:
        # A rank that exits while another still talks to it dies in gloo's threads
        # ("terminate called without an active exception", SIGABRT; seen under load):
        # meet, then leave the group in order.
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return run
