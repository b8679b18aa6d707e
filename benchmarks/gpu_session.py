#!/usr/bin/env python
"""Everything the project wants measured on a lent GPU, in one call that fails soft.

    python benchmarks/gpu_session.py OUT_DIR [--budget-s 480] [--burst-s N --data FILE.npz]
    python benchmarks/gpu_session.py OUT_DIR --dry-run      # tiny sizes on the CPU (< 1 min)
    python benchmarks/gpu_session.py --pack-data FILE.npz   # the corpus, compact, for --data (CPU)
    python benchmarks/gpu_session.py OUT_DIR --only train_burst --budget-s 300 --burst-s 240 --data FILE.npz \
        [--burst-set batch_size=16 ...]

A device (one H100/H200) is lent by chance, 15 minutes in all, at most 10 minutes per
call, files back at most 16 MiB each. So every GPU measurement lives in this one script.
Each step runs in its own subprocess with its own timeout (a hang or crash loses that
step only; the timeouts of steps 1-7 sum to less than the budget) and writes
``OUT_DIR/<step>.json`` (status ok / skipped / failed, with its figures; a step that
dies keeps the figures it had written so far) and ``OUT_DIR/<step>.log`` (its output):

 1. cuda_tests        pytest tests/test_cuda_graphs.py, test_executor.py, test_diffusion.py;
                      pass/fail counts (the last two have no device option: they run as
                      they are, on the CPU; test_cuda_graphs.py uses the GPU when present)
 2. graphs_vs_eager   per network evaluation: CUDA-graph replay vs eager, batch 1 and the
                      batch sizes stage batching makes for hierarchy2 at T = 200, for the
                      shipped model and the paper preset (random weights): CUDA-event
                      timings, max abs difference of the outputs, peak device memory
 3. stage_batching    hierarchy2, T = 200, synthetic 64x64 frames with a moving hole: a
                      full executor run with the whole batch per call vs one window per
                      call (wall time, outputs compared)
 4. run_example       `vidsched run -q` of the shipped example, and of a synthetic
                      200-frame 640x480 clip with a moving object mask (--region auto):
                      wall time, network evaluations per second
 5. memory_flat_in_T  peak device memory of an executor run at T = 200 vs T = 2,000 (ar)
 6. overhead          executor overhead ratio on the GPU (runtime_overhead.py's measure:
                      wall time of the run / sum of isolated graph-replayed forward times)
 7. train_bf16        training steps/s of model/configs/corpus64.yaml and paper-gpu.yaml
                      (bf16 autocast), 30 / 20 steps on synthetic clips; a 2-process nccl
                      all-reduce when there are >= 2 GPUs
 8. train_burst       (with --burst-s N, in the time left of the budget) train the corpus64
                      recipe for N s on --data FILE.npz; EMA weights as fp16 safetensors,
                      log.csv and loss.png under OUT_DIR

``OUT_DIR/summary.json`` lists every step's status and time; it is also the last line
printed. ``--dry-run`` runs the same steps in the same order with tiny sizes on the CPU
(T = 16 instead of 200 / 2,000, 2 sampler steps, 2 training steps, a micro network in
place of the two models, 8-frame clips and 1 sampler step for `vidsched run`, no CUDA
graphs, nccl skipped, a 5 s burst on synthetic data), so the script is exercised while no device is
lent (tests/test_gpu_session.py). ``VIDSCHED_GPU_SESSION_FAIL=step[,step]`` makes those
steps raise (to test the fail-soft path).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))  # benchmarks/_machine.py, runtime_overhead.py

STEPS = ("cuda_tests", "graphs_vs_eager", "stage_batching", "run_example", "memory_flat_in_T", "overhead",
         "train_bf16", "train_burst")
# Shares of the budget (steps 1-7); their timeouts sum to 95 % of (budget - burst).
WEIGHTS = {"cuda_tests": 1.0, "graphs_vs_eager": 1.2, "stage_batching": 1.3, "run_example": 1.5,
           "memory_flat_in_T": 1.2, "overhead": 0.7, "train_bf16": 1.5}
MiB = 2**20
SHIPPED = REPO / "vidsched" / "assets" / "vidsched-corpus64.json"  # vidsched.runtime.pipeline.DEFAULT_CHECKPOINT


class Skip(Exception):
    """The step cannot run here (the reason is recorded)."""


# --------------------------------------------------------------------------------------
# The child side: one step, in its own process


class Step:
    """One step's record, rewritten to OUT_DIR/<name>.json whenever it changes, so that a
    step killed by its timeout still leaves what it had measured."""

    def __init__(self, out: Path, name: str, dry: bool) -> None:
        self.path = out / f"{name}.json"
        self.out = out
        self.dry = dry
        import torch

        self.torch = torch
        self.cuda = torch.cuda.is_available() and not dry
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.data: dict = {"step": name, "status": "running", "dry_run": dry, "device": str(self.device),
                           "gpu": torch.cuda.get_device_name(0) if self.cuda else None}

    def put(self, **kw) -> None:
        self.data.update(kw)
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def need_cuda(self) -> None:
        if not self.dry and not self.cuda:
            raise Skip("no CUDA device (torch.cuda.is_available() is False): this step measures the GPU")


def random_weights(config):
    """A network with PyTorch's default init everywhere (also the zero-initialised layers,
    so the output depends on the input), as benchmarks/runtime_overhead.py does."""
    import torch

    from vidsched.model.unet import VideoUNet

    torch.manual_seed(0)
    model = VideoUNet(config)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and not any(p.any() for p in m.parameters()):
            m.reset_parameters()
    return model.eval()


def models(st: Step):
    """[(name, model on the device, prediction)]: the shipped checkpoint and the paper preset
    (random weights); in a dry run a micro network stands in for both."""
    from vidsched.model.checkpoint import load_checkpoint, prediction_of
    from vidsched.model.unet import VideoUNetConfig

    shipped, _, meta = load_checkpoint(SHIPPED, st.device)  # loaded in a dry run too (the loader is checked)
    if st.dry:  # a forward pass of the tiny preset takes ~0.25 s on this CPU: a micro network stands in
        return [(f"micro (stands in for {name} in a dry run)", random_weights(micro_config()).to(st.device), "eps")
                for name in ("vtest64", "paper")]
    return [("vtest64", shipped, prediction_of(meta)),
            ("paper", random_weights(VideoUNetConfig.paper()).to(st.device), "eps")]


def micro_config():
    from vidsched.model.unet import VideoUNetConfig

    # tests/test_cuda_graphs.py's network: 16 px, K = 4
    return VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                           num_heads=2, rel_pos_channels=8)


def batch_sizes(T: int, K: int) -> list[int]:
    from vidsched.compiler import compile_scheme

    plan = compile_scheme("hierarchy2", {"T": T, "K": K}, steps=2, sampler="heun")
    return sorted({1} | {len(b) for b in plan.batches})


def timed(st: Step, fn, reps: int) -> list[float]:
    """Seconds per call of fn(), synchronised (CUDA events on a GPU)."""
    torch = st.torch
    times = []
    for _ in range(reps):
        if st.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


def step_cuda_tests(st: Step) -> None:
    files = ["tests/test_cuda_graphs.py"] if st.dry else \
        ["tests/test_cuda_graphs.py", "tests/test_executor.py", "tests/test_diffusion.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]
    st.put(command=" ".join(cmd), files=files,
           device_support="test_cuda_graphs.py runs its GPU tests when CUDA is present; test_executor.py and "
                          "test_diffusion.py have no device option, so they run as they are (CPU)")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    print(proc.stdout[-20000:] + proc.stderr[-5000:])
    counts = {}
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    last = lines[-1] if lines else ""  # pytest's closing line: "68 passed, 3 skipped in 5.04s"
    for n, what in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)", last):
        counts[what.rstrip("s") if what.startswith("error") else what] = int(n)
    st.put(seconds=round(time.perf_counter() - t0, 2), returncode=proc.returncode, counts=counts,
           tail=proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else [])
    if proc.returncode not in (0, 5):
        raise RuntimeError(f"pytest exited with {proc.returncode}: {counts}")


def step_graphs_vs_eager(st: Step) -> None:
    import torch
    from runtime_overhead import forward_inputs

    from vidsched.runtime.cuda_graphs import GraphedModel

    st.need_cuda()
    T = 16 if st.dry else 200
    reps = 2 if st.dry else 20
    st.put(T=T, reps=reps, mode="graphs vs eager" if st.cuda else "no CUDA: eager only",
           timing="CUDA events around each call, synchronised" if st.cuda else "perf_counter", results=[])
    for name, model, _ in models(st):
        cfg = model.config
        sizes = batch_sizes(T, cfg.max_frames)
        n = reps if sum(p.numel() for p in model.parameters()) < 20e6 else max(2, reps // 2)  # paper: ~0.5 s a call
        for B in sizes:
            args = tuple(a.to(st.device) for a in forward_inputs(B, cfg.max_frames, cfg.image_size))
            row = {"model": name, "parameters": sum(p.numel() for p in model.parameters()), "K": cfg.max_frames,
                   "image_size": cfg.image_size, "batch": B, "reps": n}
            with torch.no_grad():
                model(*args)  # warm-up
                st.sync()
                if st.cuda:
                    torch.cuda.reset_peak_memory_stats()
                eager_out = model(*args)
                eager = timed(st, lambda: model(*args), n)
                if st.cuda:
                    row["eager_peak_bytes"] = torch.cuda.max_memory_allocated()
            row["eager_s_median"] = statistics.median(eager)
            row["eager_s_per_window"] = row["eager_s_median"] / B
            if st.cuda:
                graphed = GraphedModel(model)
                torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                graph_out = graphed(*args)
                torch.cuda.synchronize()
                row["capture_s"] = time.perf_counter() - t0
                replay = timed(st, lambda: graphed(*args), n)
                row["graph_peak_bytes"] = torch.cuda.max_memory_allocated()
                row["graph_s_median"] = statistics.median(replay)
                row["graph_s_per_window"] = row["graph_s_median"] / B
                row["speedup"] = row["eager_s_median"] / row["graph_s_median"]
                row["max_abs_diff"] = float((graph_out.float() - eager_out.float()).abs().max())
                row["captures"], row["replays"] = graphed.captures, graphed.replays
                del graphed
                torch.cuda.empty_cache()
            print(json.dumps(row))
            st.data["results"].append(row)
            st.save()


class StopRun(Exception):
    pass


def executor_run(st: Step, model, prediction, plan, frames, hole, steps, cap, warm=True, make=None) -> dict:
    """One executor run (stage batching on, ``cap`` windows per call); graphs are captured
    in a warm-up over the plan's first batches until every call shape has been seen
    (``warm``), or were captured by an earlier run through the same denoiser factory ``make``."""
    import numpy as np
    import torch

    from vidsched.runtime.denoiser import model_denoiser
    from vidsched.runtime.executor import Executor, SamplerSettings, initial_buffer

    make = make or model_denoiser(model, cuda_graphs=True, prediction=prediction)
    ex = Executor(make, SamplerSettings(name="heun", steps=steps), device=st.device, max_windows_per_call=cap)
    shapes = {min(len(b), cap or len(b)) for b in plan.batches}
    t_warm = 0.0
    if warm:
        seen: set[int] = set()

        def stop(next_batch, _buffer):
            seen.add(min(len(plan.batches[next_batch - 1]), cap or 10**9))
            if shapes <= seen:
                raise StopRun

        t0 = time.perf_counter()
        with torch.inference_mode():
            try:
                ex.run(plan, initial_buffer(frames, hole), hole, seed=0, batch_stages=True, after_batch=stop)
            except StopRun:
                pass
        t_warm = time.perf_counter() - t0
    buffer = initial_buffer(frames, hole)
    st.sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        stats = ex.run(plan, buffer, hole, seed=0, batch_stages=True)
    st.sync()
    return {"wall_s": time.perf_counter() - t0, "warmup_s": t_warm, "sequential_calls": stats.sequential_calls,
            "network_evaluations": stats.network_evaluations, "buffer": buffer,
            "finite": bool(np.isfinite(buffer).all()), "graphed": make.graphed}


def step_stage_batching(st: Step) -> None:
    from runtime_overhead import synthetic_video

    from vidsched.compiler import compile_scheme

    st.need_cuda()
    T = 16 if st.dry else 200
    st.put(T=T, scheme="hierarchy2", results=[],
           what="full executor run, stage batching on; whole batch per call vs one window per call "
                "(max_windows_per_call None vs 1); CUDA graphs captured in a warm-up outside the timing")
    for name, model, prediction in models(st):
        if st.dry and "paper" in name:
            continue
        steps = 2 if st.dry else (25 if name == "vtest64" else 4)
        cfg = model.config
        frames, hole = synthetic_video(T, cfg.image_size)
        plan = compile_scheme("hierarchy2", {"T": T, "K": cfg.max_frames}, steps=steps, sampler="heun")
        row = {"model": name, "K": cfg.max_frames, "image_size": cfg.image_size, "heun_steps": steps,
               "stages": len(plan.stages), "batches": len(plan.batches),
               "batch_sizes": sorted({len(b) for b in plan.batches})}
        runs = {}
        for label, cap in (("batched", None), ("one_window", 1)):
            r = executor_run(st, model, prediction, plan, frames, hole, steps, cap)
            runs[label] = r
            row[f"{label}_wall_s"] = r["wall_s"]
            row[f"{label}_warmup_s"] = r["warmup_s"]
            row[f"{label}_sequential_calls"] = r["sequential_calls"]
            row["network_evaluations"] = r["network_evaluations"]
            row[f"{label}_finite"] = r["finite"]
            st.save()
        row["speedup"] = row["one_window_wall_s"] / row["batched_wall_s"]
        row["evaluations_per_s_batched"] = row["network_evaluations"] / row["batched_wall_s"]
        diff = abs(runs["batched"]["buffer"].astype("float32") - runs["one_window"]["buffer"].astype("float32"))
        row["max_abs_diff"] = float(diff.max())
        print(json.dumps(row))
        st.data["results"].append(row)
        st.save()
    name, model, prediction = models(st)[0]
    row = region_waves(st, name, model, prediction)
    print(json.dumps(row))
    st.data["region_waves"] = row
    st.save()


def region_waves(st: Step, name: str, model, prediction) -> dict:
    """Regions whose boxes are apart run in lockstep, their windows sharing network calls
    (vidsched.runtime.inference.job_waves), against the same regions one after another:
    a 640x480 clip (dry: 160x120) with four separate holes, the whole batch per call,
    each mode run once to capture its CUDA graphs and then timed."""
    import numpy as np
    import torch

    import vidsched.runtime.inference as inference
    from vidsched.runtime.executor import SamplerSettings
    from vidsched.runtime.inference import InferenceSettings, Inpainter

    T, H, W = (8, 120, 160) if st.dry else (48, 480, 640)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    hole = np.zeros((T, H, W), bool)
    side = max(4, H // 12)
    for cy, cx in ((0.2, 0.2), (0.2, 0.75), (0.75, 0.2), (0.75, 0.75)):  # four logos, far apart
        y, x = int(cy * H), int(cx * W)
        hole[:, y:y + side, x:x + side] = True
    settings = InferenceSettings(region="crop", sampler=SamplerSettings(name="euler_a", steps=2 if st.dry else 10),
                                 max_windows_per_call=10**6)
    meta = {"prediction": prediction}
    inp = Inpainter(model, model.config, meta, settings, device=st.device)
    planned = inp.plan(hole)
    one_by_one = lambda jobs, batch_stages=True: [[r] for r in range(len(jobs))]  # noqa: E731
    row = {"model": name, "frames": T, "size": [H, W], "regions": len(planned[1]),
           "waves": len(inference.job_waves(planned[1]))}
    outs = {}
    for label in ("waves", "one_by_one"):
        original = inference.job_waves
        if label == "one_by_one":
            inference.job_waves = one_by_one
        try:
            with torch.inference_mode():
                inp(frames, hole, planned=planned)  # warm-up: graphs captured
                st.sync()
                t0 = time.perf_counter()
                result = inp(frames, hole, planned=planned)
                st.sync()
        finally:
            inference.job_waves = original
        row[f"{label}_wall_s"] = time.perf_counter() - t0
        row[f"{label}_batches"] = result.batches
        row["network_evaluations"] = result.network_evaluations
        outs[label] = result.frames
    row["speedup"] = row["one_by_one_wall_s"] / row["waves_wall_s"]
    row["max_abs_diff"] = int(np.abs(outs["waves"].astype(int) - outs["one_by_one"]).max())
    return row


def _cli(args: list[str], out: Path, label: str) -> dict:
    cmd = [sys.executable, "-m", "vidsched.cli", *args]  # `vidsched`, whether or not it is on PATH
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    row = {"run": label, "command": " ".join(["vidsched", *args]), "returncode": proc.returncode,
           "wall_s": round(wall, 3), "summary": None}
    m = re.search(r"wrote (.+?): ([\d,]+) frames?; ([\d,]+) stages? in ([\d,]+) batch(?:es)?, "
                  r"([\d,]+) network evaluations?, ([\d.]+) s", proc.stdout)
    if m:
        num = lambda s: int(s.replace(",", ""))  # noqa: E731
        row.update(summary=m.group(0), frames=num(m.group(2)), stages=num(m.group(3)), batches=num(m.group(4)),
                   network_evaluations=num(m.group(5)), run_s=float(m.group(6)))
        row["evaluations_per_s"] = row["network_evaluations"] / row["run_s"] if row["run_s"] else None
        row["evaluations_per_s_wall"] = row["network_evaluations"] / wall
    else:
        row["stderr_tail"] = proc.stderr[-1500:]
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: vidsched run exited with {proc.returncode}: {proc.stderr[-500:]}")
    return row


def step_run_example(st: Step) -> None:
    import numpy as np

    from vidsched.training.masks import generate_mask

    st.need_cuda()
    device = "cuda" if st.cuda else "cpu"
    st.put(results=[])
    work = Path(tempfile.mkdtemp(prefix="gpu_session_"))
    try:
        if st.dry:  # the example's first 8 frames, 1 sampler step: a CPU evaluation takes seconds
            from vidsched.masks_io import load_mask
            from vidsched.runtime.pipeline import DEFAULT_MASK, DEFAULT_VIDEO
            from vidsched.videoio import read_video

            np.save(work / "example.npy", read_video(DEFAULT_VIDEO).frames[:8])
            np.save(work / "example_mask.npy", load_mask(DEFAULT_MASK)[:8])
            args = ["run", str(work / "example.npy"), "--mask", str(work / "example_mask.npy"), "--steps", "1"]
        else:
            args = ["run"]
        row = _cli(args + ["-q", "-o", str(work / "example.mp4"), "--device", device], work, "shipped example")
        st.data["results"].append(row)
        st.save()
        # A synthetic clip with a moving object mask, at 640x480 (dry: 160x120, 8 frames).
        T, H, W = (8, 120, 160) if st.dry else (200, 480, 640)
        y, x = np.mgrid[0:H, 0:W].astype(np.float32)
        frames = np.empty((T, H, W, 3), np.uint8)
        for t in range(T):
            frames[t, ..., 0] = np.clip(127.5 + 100 * np.sin((x + 2.0 * t) / 23.0), 0, 255)
            frames[t, ..., 1] = np.clip(127.5 + 100 * np.sin((y - 1.0 * t) / 31.0), 0, 255)
            frames[t, ..., 2] = np.clip(127.5 + 100 * np.sin((x + y + t) / 41.0), 0, 255)
        mask = generate_mask("object", T, (H, W), seed=0)
        np.save(work / "synthetic.npy", frames)
        np.save(work / "synthetic_mask.npy", mask)
        args = ["run", str(work / "synthetic.npy"), "--mask", str(work / "synthetic_mask.npy"), "--region", "auto",
                "-q", "-o", str(work / "synthetic.mp4"), "--device", device] + (["--steps", "1"] if st.dry else [])
        row = _cli(args, work, f"synthetic {T} frames {W}x{H}, object mask")
        row["hole_fraction"] = float(mask.mean())
        st.data["results"].append(row)
        st.save()
        st.data["prior_threads"] = prior_threads(st, frames[:8 if st.dry else 60], mask[:8 if st.dry else 60])
        st.save()
        if not st.dry and (work / "example.mp4").exists() and (work / "example.mp4").stat().st_size < 15 * MiB:
            shutil.copy(work / "example.mp4", st.out / "example.mp4")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prior_threads(st: Step, frames, mask) -> list[dict]:
    """The propagation prior (vidsched.runtime.prior.apply_prior, hybrid mode) on the host's
    CPU with 1, 4, 8 and every core's frames at a time (VIDSCHED_THREADS; dry: 1 and 2): on
    a GPU host the prior runs on the CPU before the model, so its cores set its speed."""
    import numpy as np

    from vidsched.parallel import THREADS_VARIABLE, usable_cores
    from vidsched.runtime.prior import apply_prior

    cores = usable_cores()
    counts = [1, 2] if st.dry else sorted({1, min(4, cores), min(8, cores), cores})
    rows, first = [], None
    for threads in counts:
        os.environ[THREADS_VARIABLE] = str(threads)
        try:
            t0 = time.perf_counter()
            prior = apply_prior(frames, mask.astype(bool))
            wall = time.perf_counter() - t0
        finally:
            del os.environ[THREADS_VARIABLE]
        same = first is None or bool(np.array_equal(prior.start, first))
        first = prior.start if first is None else first
        rows.append({"threads": threads, "frames": int(len(frames)), "wall_s": round(wall, 3),
                     "s_per_frame": round(wall / len(frames), 4), "same_as_one_thread": same})
        print(json.dumps(rows[-1]))
    return rows


def step_memory_flat_in_T(st: Step) -> None:
    import torch
    from runtime_overhead import synthetic_video

    from vidsched.compiler import compile_scheme

    st.need_cuda()
    Ts = (16, 32) if st.dry else (200, 2000)
    st.put(scheme="ar", heun_steps=1, Ts=list(Ts), results=[],
           measure="torch.cuda.max_memory_allocated() over the run, minus the allocation at its start"
           if st.cuda else "no CUDA: device memory not measured (wall time and host buffer only)")
    for name, model, prediction in models(st):
        if st.dry and "paper" in name:
            continue
        cfg = model.config
        row = {"model": name, "K": cfg.max_frames, "image_size": cfg.image_size}
        for T in Ts:
            frames, hole = synthetic_video(T, cfg.image_size)
            plan = compile_scheme("ar", {"T": T, "K": cfg.max_frames}, steps=1, sampler="heun")
            if st.cuda:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                start = torch.cuda.memory_allocated()
            r = executor_run(st, model, prediction, plan, frames, hole, 1, None, warm=False)
            row[f"T{T}"] = {"stages": len(plan.stages), "wall_s": r["wall_s"], "finite": r["finite"],
                            "host_buffer_bytes": int(r["buffer"].nbytes)}
            if st.cuda:
                row[f"T{T}"]["peak_bytes"] = torch.cuda.max_memory_allocated()
                row[f"T{T}"]["peak_over_start_bytes"] = torch.cuda.max_memory_allocated() - start
            del r
            st.save()
        if st.cuda:
            a, b = (row[f"T{T}"]["peak_over_start_bytes"] for T in Ts)
            row["growth"] = (b - a) / a if a else None
            row["flat"] = b <= a + max(0.10 * a, 8 * MiB)  # runtime_memory.py's goal
        print(json.dumps(row))
        st.data["results"].append(row)
        st.save()


def step_overhead(st: Step) -> None:
    import torch
    from runtime_overhead import forward_inputs, synthetic_video, tiny_model

    from vidsched.compiler import compile_scheme
    from vidsched.runtime.cuda_graphs import GraphedModel
    from vidsched.runtime.denoiser import model_denoiser

    st.need_cuda()
    T, steps, K = (16, 2, 4) if st.dry else (48, 3, 8)
    runs = 1 if st.dry else 3
    model = (random_weights(micro_config()) if st.dry else tiny_model()).to(st.device)
    size = model.config.image_size
    frames, hole = synthetic_video(T, size)
    plan = compile_scheme("improved_ar", {"T": T, "K": K}, steps=steps, sampler="heun")
    per_stage = 2 * steps - 1
    sizes = sorted({len(b) for b in plan.batches})
    st.put(scheme="improved_ar", T=T, K=K, heun_steps=steps, runs=runs,
           model="micro network (dry run)" if st.dry else
           "VideoUNetConfig.tiny(), random weights (as benchmarks/runtime_overhead.py)",
           measure="overhead_ratio = wall time of Executor.run / sum over its calls (batches x evaluations per "
                   "stage) of the isolated network forward time at that batch size (CUDA-graph replay, "
                   "synchronised); the executor graphs the whole denoiser (preconditioning + network), whose "
                   "isolated time is denoiser_s_median; runtime_overhead.py itself runs on the CPU only")
    walls, rounds, denoiser_rounds = [], [], []
    make = model_denoiser(model, cuda_graphs=True, prediction="eps")  # one graphed denoiser for every run
    network = GraphedModel(model)  # the network alone, graph-replayed: the measure's denominator
    for i in range(runs + 1):  # run 0 captures the graphs (not counted)
        r = executor_run(st, model, "eps", plan, frames, hole, steps, None, warm=False, make=make)
        if i:
            walls.append(r["wall_s"])
        fwd, den = {}, {}
        for B in sizes:
            args = tuple(a.to(st.device) for a in forward_inputs(B, K, size))
            x, known, index, valid, _ = args
            d = make(x.clamp(-1, 1), known, index, valid)
            sigma = torch.tensor(1.0, device=st.device)
            with torch.no_grad():
                fwd[B] = statistics.median(timed(st, lambda: network(*args), 3 if st.dry else 20))
                den[B] = statistics.median(timed(st, lambda: d(x, sigma), 3 if st.dry else 20))
        rounds.append(fwd)
        denoiser_rounds.append(den)
    fwd_median = {B: statistics.median(rd[B] for rd in rounds) for B in sizes}
    den_median = {B: statistics.median(rd[B] for rd in denoiser_rounds) for B in sizes}
    graphed = make.graphed
    expected = sum(per_stage * fwd_median[len(b)] for b in plan.batches)
    wall = statistics.median(walls)
    st.put(forward_s_median={str(B): v for B, v in fwd_median.items()},
           denoiser_s_median={str(B): v for B, v in den_median.items()}, run_wall_s=walls, expected_s=expected,
           overhead_ratio=wall / expected, calls=len(plan.batches) * per_stage,
           overhead_per_call_s=(wall - expected) / (len(plan.batches) * per_stage),
           graph_captures=graphed.captures, graph_replays=graphed.replays, cpu_goal_ratio_max=1.05)
    print(f"overhead ratio {wall / expected:.3f} (wall {wall:.3f} s, expected {expected:.3f} s)")


def synthetic_clips(n: int, T: int, H: int, W: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    clips = []
    for _ in range(n):
        f = rng.uniform(10, 40, 3)
        v = rng.uniform(-2, 2, 2)
        t = np.arange(T, dtype=np.float32)[:, None, None]
        chans = [127.5 + 100 * np.sin((x + v[0] * t) / f[0]), 127.5 + 100 * np.sin((y + v[1] * t) / f[1]),
                 127.5 + 100 * np.sin((x + y + t) / f[2])]
        clips.append(np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8))
    return clips


def train_config(path: Path, run_dir: Path, steps: int, dry: bool, extra: list[str] = ()):
    from vidsched.training.config import load_config

    sets = ["sample_every=0", f"save_every={max(steps, 1)}", f"log_every={1 if dry else 10}", *extra]
    if dry:
        sets += ["device=cpu", "batch_size=1"]
        if "paper" in path.name:
            sets += ["model.preset=tiny"]
    return load_config(path, sets, run_dir=str(run_dir), steps=steps)


def step_train_bf16(st: Step) -> None:
    import torch

    from vidsched.training.trainer import train

    st.need_cuda()
    st.put(results=[], data="synthetic clips (moving sine patterns), no data fetch",
           steps={"corpus64.yaml": 2 if st.dry else 30, "paper-gpu.yaml": 2 if st.dry else 20})
    work = Path(tempfile.mkdtemp(prefix="gpu_session_train_"))
    try:
        for name in ("corpus64.yaml", "paper-gpu.yaml"):
            steps = st.data["steps"][name]
            cfg = train_config(REPO / "model" / "configs" / name, work / name, steps, st.dry)
            S = cfg.model_config().image_size
            if cfg.data.crop == "multiscale":
                clips, stills = synthetic_clips(3, 40, 96, 128), [c[0] for c in synthetic_clips(2, 1, 120, 160, 1)]
            else:
                clips, stills = synthetic_clips(3, 40, S, S), []
            reports = []
            if st.cuda:
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            train(cfg, clips, None, log=print, on_report=reports.append, stills=stills)
            wall = time.perf_counter() - t0
            rates = [r.steps_per_second for r in reports]
            row = {"config": name, "model": cfg.model.get("preset"), "batch_size": cfg.batch_size,
                   "bf16_autocast": bool(cfg.bf16 and st.cuda), "steps": steps, "wall_s": wall,
                   "steps_per_s_intervals": rates,
                   "steps_per_s": statistics.median(rates[1:] or rates),  # the first interval pays warm-up
                   "losses": [r.loss for r in reports], "data_share": reports[-1].data_share if reports else None}
            if st.cuda:
                row["peak_bytes"] = torch.cuda.max_memory_allocated()
            print(json.dumps(row))
            st.data["results"].append(row)
            st.save()
        st.put(nccl=nccl_check(st, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


NCCL_SCRIPT = """
import os, torch, torch.distributed as dist
r = int(os.environ["LOCAL_RANK"]); torch.cuda.set_device(r)
dist.init_process_group("nccl")
x = torch.full((1 << 20,), float(r + 1), device="cuda")
dist.all_reduce(x)
assert float(x[0]) == sum(range(1, dist.get_world_size() + 1)), float(x[0])
if r == 0: print("nccl all_reduce ok", float(x[0]))
dist.destroy_process_group()
"""


def nccl_check(st: Step, work: Path) -> dict:
    import torch

    if not st.cuda:
        return {"status": "skipped", "reason": "no CUDA: skipped"}
    if torch.cuda.device_count() < 2:
        return {"status": "skipped", "reason": "one GPU: skipped"}
    script = work / "nccl_check.py"
    script.write_text(NCCL_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    print(proc.stdout + proc.stderr[-3000:])
    return {"status": "ok" if proc.returncode == 0 else "failed", "returncode": proc.returncode,
            "gpus": torch.cuda.device_count(), "tail": proc.stdout.strip().splitlines()[-1:]}


def _decode_frames(buf, offsets):
    import cv2
    import numpy as np

    frames = [cv2.imdecode(buf[a:b], cv2.IMREAD_COLOR) for a, b in zip(offsets[:-1], offsets[1:])]
    return np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames])


def load_packed(path: Path):
    """(clips, stills, held-out clips) of a --pack-data file: uint8 RGB arrays."""
    import numpy as np

    out = {"clip": [], "still": [], "held": []}
    with np.load(path) as z:
        for key in sorted(z.files):
            kind, _, rest = key.partition("_")
            if kind in out and rest.endswith("_jpg"):
                frames = _decode_frames(z[key], z[key[:-4] + "_off"])
                out[kind].append(frames[0] if kind == "still" else frames)
            elif kind in out and not rest.endswith("_off"):
                out[kind].append(z[key])  # stored raw
    return out["clip"], out["still"], out["held"]


def step_train_burst(st: Step, seconds: float, data: str | None, sets: list[str] = (), decay: float = 0.0) -> None:
    from vidsched.model.checkpoint import read_checkpoint, save_checkpoint
    from vidsched.training.report import plot_loss
    from vidsched.training.trainer import train

    if seconds <= 0:
        raise Skip("no --burst-s given, or no time left in the budget")
    if data:
        clips, stills, held = load_packed(Path(data))
        source = f"{data}: {len(clips)} clips, {len(stills)} stills"
    elif st.dry:
        clips, stills, held = synthetic_clips(3, 40, 96, 128), [c[0] for c in synthetic_clips(2, 1, 120, 160, 1)], []
        source = "synthetic clips (dry run)"
    else:
        raise Skip("no --data FILE.npz given (make one with --pack-data on the CPU)")
    st.need_cuda()
    work = Path(tempfile.mkdtemp(prefix="gpu_session_burst_"))
    run_dir = work / "corpus64"
    path = REPO / "model" / "configs" / "corpus64.yaml"
    first = 2 if st.dry else 200
    sets = [f"log_every={1 if st.dry else 50}", "save_every=100000", *sets]
    st.put(data=source, burst_s=seconds, config="model/configs/corpus64.yaml", overrides=sets,
           plan=f"{first} steps to measure the rate, then resumed to the step count that fills the burst")
    try:
        t0 = time.perf_counter()
        reports = []
        cfg = train_config(path, run_dir, first, st.dry, sets)
        train(cfg, clips, None, log=print, on_report=reports.append, stills=stills)
        elapsed = time.perf_counter() - t0
        # the training rate after warm-up (the last reports), not counting the setup
        rates = [r.steps_per_second for r in reports[-2:]]
        rate = statistics.median(rates) if rates else first / elapsed
        target = first + max(1, int(rate * max(0.0, seconds - elapsed) * 0.95))
        # --burst-decay F: a cosine takes the lr down over the last F of the steps (a burst that
        # continues a run ends on a settled EMA instead of at full lr)
        decay_start = max(first, target - int(decay * (target - first))) if decay > 0 else None
        st.put(decay_start=decay_start)
        tail = [f"decay_start={decay_start}"] if decay_start is not None else []
        cfg = train_config(path, run_dir, target, st.dry, sets + tail)
        train(cfg, clips, held[0] if held else None, resume=True, log=print, on_report=reports.append, stills=stills)
        wall = time.perf_counter() - t0
        state, model_cfg, meta = read_checkpoint(run_dir / "ema.json")
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        ckpt = save_checkpoint(st.out / "burst_ema_fp16", half, model_cfg, dict(meta, dtype="float16"))
        for f in ("log.csv", "loss.png"):
            if (run_dir / f).exists():
                shutil.copy(run_dir / f, st.out / f"burst_{f}")
        if not (st.out / "burst_loss.png").exists():
            plot_loss(run_dir / "log.csv", st.out / "burst_loss.png")
        st.put(steps=target, wall_s=wall, steps_per_s=target / wall,
               last_loss=reports[-1].loss if reports else None,
               checkpoint=ckpt.name, weights_bytes=(st.out / "burst_ema_fp16.safetensors").stat().st_size,
               files=["burst_ema_fp16.safetensors", "burst_ema_fp16.json", "burst_log.csv", "burst_loss.png"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def child(out: Path, name: str, dry: bool, burst_s: float, data: str | None, burst_sets: list[str] = (),
          burst_decay: float = 0.0) -> int:
    import torch

    torch.manual_seed(0)
    if dry:
        torch.set_num_threads(1)
    st = Step(out, name, dry)
    st.save()
    t0 = time.perf_counter()
    try:
        if name in [s.strip() for s in os.environ.get("VIDSCHED_GPU_SESSION_FAIL", "").split(",")]:
            raise RuntimeError(f"simulated failure (VIDSCHED_GPU_SESSION_FAIL={name})")
        if name == "train_burst":
            step_train_burst(st, burst_s, data, burst_sets, burst_decay)
        else:
            globals()[f"step_{name}"](st)
        st.data["status"] = "ok"
    except Skip as e:
        st.data.update(status="skipped", reason=str(e))
    except Exception as e:  # noqa: BLE001 - recorded, and the parent goes on
        traceback.print_exc()
        st.data.update(status="failed", reason=f"{type(e).__name__}: {e}")
    st.data["seconds"] = round(time.perf_counter() - t0, 3)
    st.save()
    print(json.dumps({"step": name, "status": st.data["status"]}))
    return 0 if st.data["status"] != "failed" else 1


# --------------------------------------------------------------------------------------
# The parent side: every step in its own subprocess


def run_step(out: Path, name: str, timeout: float, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), str(out), "--step", name,
           "--burst-s", str(args.burst_s)] + (["--dry-run"] if args.dry_run else []) + \
          (["--data", str(args.data)] if args.data else []) + \
          [f"--burst-set={x}" for x in args.burst_set] + [f"--burst-decay={args.burst_decay}"]
    log = out / f"{name}.log"
    path = out / f"{name}.json"
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    reason = None
    with open(log, "w") as f:
        f.write(f"$ {' '.join(cmd)}\n(timeout {timeout:.0f} s)\n")
        f.flush()
        # the checkout first on the path, installed or not (the step's own subprocesses inherit it)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the step's whole process group (its own session), nothing else
            rc = proc.wait()
            reason = f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {"step": name}
    if reason or record.get("status") not in ("ok", "skipped", "failed"):
        record.update(status="failed", reason=reason or f"the step's process died (exit status {rc})",
                      partial=record.get("status") == "running")
    record.update(returncode=rc, timeout_s=round(timeout, 1), wall_s=round(seconds, 2))
    path.write_text(json.dumps(record, indent=1, default=str))
    return record


def timeouts(budget: float, burst: float, selected=WEIGHTS) -> dict[str, float]:
    """Each selected step's share of the budget (less the burst): a rerun of a few steps
    with --only gives them the whole budget."""
    weights = {k: w for k, w in WEIGHTS.items() if k in selected}
    share = 0.95 * (budget - burst)
    total = sum(weights.values())
    return {k: share * w / total for k, w in weights.items()}


def pack_data(dest: Path, max_side: int = 320, quality: int = 90) -> int:
    """The corpus's training shots and photographs at a max side of ``max_side``, as JPEG
    frames (raw uint8 arrays of the corpus are ~200 MiB even compressed; JPEG at quality
    90 of already lossy video is a fraction), and its held-out clip ends at 64x64 (raw),
    in one .npz for --data (read back by :func:`load_packed`)."""
    import numpy as np

    from vidsched.training.data import load_training_data
    from vidsched.training.config import load_config

    def shrink(a: np.ndarray) -> np.ndarray:
        import cv2

        h, w = a.shape[-3:-1]
        scale = max_side / max(h, w)
        if scale >= 1:
            return a
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if a.ndim == 3:
            return cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in a])

    def jpeg(frames: np.ndarray, prefix: str) -> None:
        import cv2

        chunks = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
                  for f in frames]
        arrays[prefix + "_jpg"] = np.concatenate(chunks).astype(np.uint8)
        arrays[prefix + "_off"] = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)

    cfg = load_config(REPO / "model" / "configs" / "corpus64.yaml")
    data = load_training_data(cfg.data, cfg.model_config().image_size, root=REPO)
    arrays: dict = {}
    for i, c in enumerate(data.train):
        jpeg(shrink(c), f"clip_{i:03d}")
    for i, s in enumerate(data.stills):
        jpeg(shrink(s)[None], f"still_{i:03d}")
    for i, h in enumerate(data.heldout):
        arrays[f"held_{i:03d}"] = h  # 64x64, raw
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, **arrays)
    size = dest.stat().st_size
    frames = sum(len(c) for c in data.train)
    print(f"wrote {dest}: {len(data.train)} clips ({frames} frames), {len(data.stills)} stills, {len(data.heldout)} "
          f"held-out ends; max side {max_side}, JPEG quality {quality}: {size / MiB:.1f} MiB"
          + ("" if size < 64 * MiB else " -- over 64 MiB: use a smaller --max-side or --quality"))
    print(json.dumps({"pack_data": str(dest), "bytes": size, "clips": len(data.train), "frames": frames,
                      "stills": len(data.stills), "heldout": len(data.heldout), "max_side": max_side,
                      "jpeg_quality": quality, "under_64_MiB": size < 64 * MiB}))
    return 0 if size < 64 * MiB else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, nargs="?", help="output folder (a step's JSON and log, summary.json)")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: checks the script, measures nothing")
    ap.add_argument("--budget-s", type=float, default=480, help="seconds for the whole session (default 480)")
    ap.add_argument("--burst-s", type=float, default=None,
                    help="train_burst: seconds of training in the time left (default: none; dry run: 5)")
    ap.add_argument("--data", type=Path, help="train_burst's data: an .npz from --pack-data")
    ap.add_argument("--burst-set", action="append", default=[], metavar="KEY=VALUE",
                    help="train_burst: a recipe override, repeatable (e.g. batch_size=16: a GPU step costs "
                         "about the same at batch 2 and 16)")
    ap.add_argument("--burst-decay", type=float, default=0.0, metavar="F",
                    help="train_burst: a cosine decay of the lr over the last F (0-1) of the burst's steps "
                         "(default 0: constant lr)")
    ap.add_argument("--pack-data", type=Path, metavar="FILE.npz", help="write the corpus compactly and exit (CPU)")
    ap.add_argument("--max-side", type=int, default=320, help="--pack-data: longest side of clips and stills")
    ap.add_argument("--quality", type=int, default=90, help="--pack-data: JPEG quality of the frames")
    ap.add_argument("--only", help="comma-separated steps to run (default: all), e.g. --only train_burst")
    ap.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # internal: run one step
    args = ap.parse_args(argv)
    if args.pack_data:
        return pack_data(args.pack_data, args.max_side, args.quality)
    if args.out is None:
        ap.error("OUT_DIR is required (or --pack-data FILE.npz)")
    if args.burst_s is None:
        args.burst_s = 5.0 if args.dry_run else 0.0
    selected = [x.strip() for x in args.only.split(",")] if args.only else list(STEPS)
    unknown = [x for x in selected if x not in STEPS]
    if unknown:
        ap.error(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(STEPS)}")
    if not 0.0 <= args.burst_decay <= 1.0:
        ap.error(f"--burst-decay must be in [0, 1], got {args.burst_decay:g}")
    if not args.step and set(selected) - {"train_burst"} and args.budget_s - args.burst_s < 120:
        ap.error(f"--budget-s {args.budget_s:g} leaves under 120 s for steps 1-7 beside --burst-s {args.burst_s:g}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step:
        return child(args.out, args.step, args.dry_run, args.burst_s, str(args.data) if args.data else None,
                     args.burst_set, args.burst_decay)

    from _machine import RUNTIME_PACKAGES, machine

    t_start = time.perf_counter()
    limits = timeouts(args.budget_s, args.burst_s, selected)
    print(f"GPU session{' (dry run: tiny sizes on the CPU)' if args.dry_run else ''}: budget {args.budget_s:.0f} s, "
          f"burst {args.burst_s:.0f} s; output in {args.out}")
    records = []
    for name in [s for s in STEPS if s in selected]:
        if name == "train_burst":
            left = args.budget_s - (time.perf_counter() - t_start)
            burst = min(args.burst_s, left - 45) if args.burst_s > 0 else 0
            if args.burst_s > 0 and burst < min(10, args.burst_s):
                burst = 0
            # setup, the rate-measuring steps, the save: 45 s beyond the burst (dry: the whole rest)
            timeout = max(30.0, left) if args.dry_run else max(burst + 45, 60)
            args_burst = args.burst_s
            args.burst_s = burst
            rec = run_step(args.out, name, timeout, args)
            args.burst_s = args_burst
        else:
            rec = run_step(args.out, name, limits[name], args)
        records.append(rec)
        print(f"  {name:<17} {rec['status']:<8} {rec['wall_s']:7.1f} s  (timeout {rec['timeout_s']:.0f} s)"
              + (f"  {rec.get('reason')}" if rec.get("reason") else ""), flush=True)
    import torch

    summary = {
        "benchmark": "gpu_session",
        "dry_run": args.dry_run,
        "budget_s": args.budget_s,
        "burst_s": args.burst_s,
        "only": args.only,
        "total_s": round(time.perf_counter() - t_start, 2),
        "steps": [{"step": r.get("step"), "status": r.get("status"), "wall_s": r.get("wall_s"),
                   "timeout_s": r.get("timeout_s"), "reason": r.get("reason")} for r in records],
        "counts": {s: sum(r.get("status") == s for r in records) for s in ("ok", "skipped", "failed")},
        "timeouts_s": {k: round(v, 1) for k, v in limits.items()},
        "machine": {**machine(RUNTIME_PACKAGES), "torch": torch.__version__,
                    "cuda_available": torch.cuda.is_available(),
                    "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
