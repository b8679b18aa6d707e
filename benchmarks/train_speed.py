#!/usr/bin/env python
"""Training speed of the tiny CPU config, and the share of time spent waiting for data.

    python benchmarks/train_speed.py            # 60 steps
    python benchmarks/train_speed.py --quick    # 20 steps
    python benchmarks/train_speed.py --steps N [--threads N] [--batch-size N]

Runs the real trainer (vidsched.training.trainer.train) with the shipped recipe's model
and batch (model/configs/vtest64.yaml: tiny preset, 64x64, K = 8, batch 2) on the vtest
training split when data/vtest.avi is present (synthetic moving frames otherwise), in a
temporary run folder, and reads its log: steps per second over the logged intervals
after the first (which pays for allocator warm-up), and the share of wall time the
trainer spent making examples (frame indices, masks, tensors) -- the "data wait", since
examples are made in the training process. Goal: data share under 10 %.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py
from _machine import RUNTIME_PACKAGES, busy_note, load_avg, machine, torch_info  # noqa: E402

GOAL_DATA_SHARE = 0.10


def frames_for(size: int) -> tuple[list, str]:
    import numpy as np

    from vidsched.training.config import DataConfig
    from vidsched.training.data import VTEST_SHA256, load_training_data, sha256

    video = REPO / "data" / "vtest.avi"
    if video.exists() and sha256(video) == VTEST_SHA256:
        return load_training_data(DataConfig(), size, root=REPO).train, "vtest.avi training split"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
    clip = np.stack([np.roll(base, t, axis=1)[:, :size] for t in range(200)])
    return [clip], "synthetic (data/vtest.avi absent: python model/train.py fetch-vtest)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batch-size", type=int)
    args = parser.parse_args()
    steps = args.steps or (20 if args.quick else 60)
    log_every = max(1, steps // 10)

    from vidsched.training.config import load_config
    from vidsched.training.report import read_log
    from vidsched.training.trainer import train

    recipe = load_config(REPO / "model" / "configs" / "vtest64.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(REPO / "model" / "configs" / "vtest64.yaml", [
            f"run_dir={tmp}/run", f"steps={steps}", f"log_every={log_every}", f"save_every={steps}",
            "sample_every=0", f"threads={args.threads}", f"batch_size={args.batch_size or recipe.batch_size}",
        ])
        clips, source = frames_for(cfg.model_config().image_size)
        load_before = load_avg()
        train(cfg, clips, log=lambda s: None)
        log = read_log(Path(tmp) / "run" / "log.csv")
    import torch

    seconds, data_seconds, logged = log["seconds"], log["data_seconds"], log["step"]
    rate = (logged[-1] - logged[0]) / (seconds[-1] - seconds[0])
    share = float(data_seconds[-1] / seconds[-1])
    load = max(x for x in (load_before, load_avg()) if x is not None) if load_before is not None else load_avg()
    result = {
        "benchmark": "train_speed",
        "config": "model/configs/vtest64.yaml",
        "data": source,
        "batch_size": cfg.batch_size,
        "steps": steps,
        "steps_per_second": round(rate, 3),
        "seconds_per_step": round(1 / rate, 3),
        "data_share": round(share, 4),
        "goal_data_share": GOAL_DATA_SHARE,
        "goal_met": share < GOAL_DATA_SHARE,
        "threads": torch.get_num_threads() if not args.threads else args.threads,
        "load_avg_1min": load,
        "machine": machine(RUNTIME_PACKAGES),
        "torch": torch_info(),
    }
    print(f"data: {source}; tiny preset, 64x64, K = 8, batch {cfg.batch_size}, {steps} steps")
    print(f"{rate:.2f} steps/s ({1 / rate:.2f} s/step); data wait {100 * share:.1f} % of wall time "
          f"(goal < {100 * GOAL_DATA_SHARE:.0f} %: {'met' if result['goal_met'] else 'MISSED'})")
    note = busy_note(load)
    if note:
        print(note)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
