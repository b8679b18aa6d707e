"""Train the video U-Net on a real clip (by default OpenCV's vtest.avi, training split).

    python model/train.py fetch-vtest                      # data/vtest.avi, sha256-checked
    python model/train.py train --steps 4000 --run-dir runs/vtest64
    python model/train.py train --run-dir runs/vtest64 --resume

The first 80 % of the clip's frames train; the last 20 % are held out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch-vtest", help="download OpenCV's vtest.avi and check its sha256")
    fetch.add_argument("--dest", type=Path, default=REPO / "data" / "vtest.avi")
    tr = sub.add_parser("train", help="train (or resume) a run")
    tr.add_argument("--video", type=Path, default=REPO / "data" / "vtest.avi")
    tr.add_argument("--run-dir", default="runs/vtest64")
    tr.add_argument("--steps", type=int, default=4000)
    tr.add_argument("--batch-size", type=int, default=2)
    tr.add_argument("--lr", type=float, default=2e-4)
    tr.add_argument("--schedule", default="cosine", choices=["linear", "cosine", "sigmoid"])
    tr.add_argument("--save-every", type=int, default=250)
    tr.add_argument("--threads", type=int, default=0)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    from vidsched.errors import VidschedError
    from vidsched.training.data import fetch_vtest, load_frames, split

    try:
        if args.command == "fetch-vtest":
            print(f"vtest.avi at {fetch_vtest(args.dest)}")
            return 0
        from vidsched.model.unet import VideoUNetConfig
        from vidsched.training.trainer import TrainConfig, train

        video = args.video if args.video.exists() else fetch_vtest(args.video)
        model = VideoUNetConfig.tiny()
        frames, _held_out = split(load_frames(video, model.image_size))
        cfg = TrainConfig(run_dir=args.run_dir, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                          schedule=args.schedule, save_every=args.save_every, threads=args.threads, seed=args.seed,
                          model=model.to_dict())
        print(f"training on {len(frames)} frames of {video} at {model.image_size}x{model.image_size}, K={model.max_frames}")
        train(cfg, frames, resume=args.resume, log=lambda s: print(s, flush=True))
        return 0
    except VidschedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
