"""The model card's quality bar: a checkpoint against OpenCV's Telea on held-out vtest clips.

Clips from the held-out last 20 % of vtest.avi (never trained on), at the model's
resolution, each of the four appendix-D mask types, moving. The model fills them through
a scheme with Heun; Telea fills them frame by frame (vidsched.baselines). Both are scored
on the composite (known pixels from the ground truth) with the evaluation suite's PSNR
and SSIM (DEVIL parity), over the frames with a hole.

    python model/evaluate_heldout.py --checkpoint runs/vtest64/ema.json [--clips 6 --frames 16 --steps 10]

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--video", type=Path, help="default: data/vtest.avi (fetched if missing)")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--scheme", default="improved_ar_far_future")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from vidsched.benchmark import ModelMethod, baseline_method, heldout_frames, heldout_test_set, predict_all, score

    if args.threads:
        torch.set_num_threads(args.threads)
    model = ModelMethod(args.checkpoint, scheme=args.scheme, steps=args.steps, seed=args.seed)
    held = heldout_frames(model.config.image_size, args.video, root=REPO)
    test_set = heldout_test_set(held, clips=args.clips, frames=args.frames)
    methods = {"vidsched": model, "telea": baseline_method("telea")}
    table: dict[str, dict[str, dict[str, float]]] = {}
    t0 = time.perf_counter()
    for kind, clips in test_set.items():
        for name, method in methods.items():
            report = score(clips, predict_all(method, clips), ["psnr", "ssim"])
            table.setdefault(kind, {})[name] = report.summary
    print(f"checkpoint {args.checkpoint} (step {model.meta.get('step')}, {model.meta.get('weights', '?')} weights), "
          f"{args.clips} held-out clips x {args.frames} frames at {model.config.image_size}x{model.config.image_size}, "
          f"scheme {args.scheme}, Heun {args.steps} steps ({time.perf_counter() - t0:.0f} s)")
    print(f"{'mask':<7} {'vidsched PSNR / SSIM':>22} {'Telea PSNR / SSIM':>20}  beats Telea")
    beats = {}
    for kind, row in table.items():
        ours, telea = row["vidsched"], row["telea"]
        beats[kind] = ours["psnr"] > telea["psnr"] and ours["ssim"] > telea["ssim"]
        print(f"{kind:<7} {ours['psnr']:13.2f} / {ours['ssim']:.4f} {telea['psnr']:11.2f} / {telea['ssim']:.4f}  "
              f"{'yes' if beats[kind] else 'NO'}")
    print(json.dumps({"checkpoint": str(args.checkpoint), "step": model.meta.get("step"),
                      "weights": model.meta.get("weights"), "clips": args.clips, "frames": args.frames,
                      "steps": args.steps, "scheme": args.scheme, "results": table, "beats_telea": beats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
