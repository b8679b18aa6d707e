"""Train the video U-Net on real footage (by default OpenCV's vtest.avi, training split).

    python model/train.py fetch-data                                 # data/corpus: OpenCV's clips and photographs
    python model/train.py fetch-vtest                                # data/vtest.avi alone, sha256-checked
    python model/train.py train --config model/configs/vtest64.yaml  # the shipped checkpoint's recipe
    python model/train.py train --config model/configs/vtest64.yaml --resume     # after a crash or Ctrl-C
    python model/train.py train --config model/configs/smoke.yaml --dry-run      # check a config, train nothing
    torchrun --nproc_per_node=2 model/train.py train --config ...    # DistributedDataParallel

`--set key=value` overrides any config key (dotted for sections: --set data.fps=10,
--set model.channels=64). The first 80 % of every clip's frames train; the rest are
held out (sample PNGs during training; model/evaluate_heldout.py afterwards).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _progress(total: int, start: int):
    """A rich progress bar with loss and steps/s on a terminal; plain lines otherwise."""
    if not sys.stdout.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}  {task.fields[rate]}"), TimeRemainingColumn())
    task = bar.add_task("train", total=total, completed=start, loss="-", rate="")

    def on_report(r) -> None:
        bar.update(task, completed=r.step, loss=f"{r.loss:.4f}",
                   rate=f"{r.steps_per_second:.2f} steps/s, data {100 * r.data_share:.0f} %")

    return bar, on_report


def _describe(cfg, train_clips, held_out) -> list[str]:
    model = cfg.model_config()
    from vidsched.model.unet import VideoUNet

    params = sum(p.numel() for p in VideoUNet(model).parameters())
    frames = sum(len(c) for c in train_clips)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    sizes = sorted({f"{c.shape[2]}x{c.shape[1]}" for c in train_clips})
    where = (f"at their own sizes ({', '.join(sizes)}), cropped at random zooms to {model.image_size}x{model.image_size}"
             if cfg.data.crop == "multiscale" else f"at {model.image_size}x{model.image_size}")
    return [
        f"data: {cfg.data.source}: {len(train_clips)} clip(s), {frames} training frames, "
        f"{sum(len(c) for c in held_out)} held out, {where}",
        f"model: {params:,} parameters, K = {model.max_frames}",
        f"training: {cfg.steps} steps x batch {cfg.batch_size} x {world} process(es), lr {cfg.lr:g}"
        + (f" (cosine decay from step {cfg.decay_start})" if cfg.decay_start else "")
        + f", EMA {cfg.ema_decay}, {cfg.schedule} noise schedule",
        f"run folder: {cfg.run_dir}",
    ]


def _show_data(args) -> int:
    """``show-data``: a picture of what the network is trained on."""
    from PIL import Image

    from vidsched.atomic import atomic_write
    from vidsched.training.config import load_config
    from vidsched.training.data import ExampleSampler, load_training_data
    from vidsched.training.report import examples_image

    cfg = load_config(args.config, args.overrides)
    model = cfg.model_config()
    data = load_training_data(cfg.data, model.image_size, root=REPO)
    sampler = ExampleSampler.from_config(cfg, data.train, data.stills, seed=args.seed)
    image = examples_image(sampler.batch(args.examples))
    atomic_write(args.output, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
    print(f"wrote {args.output}: {args.examples} examples (rows) of K = {model.max_frames} frames; "
          "red = pixels to fill, grey frame = observed frame")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    corpus = sub.add_parser("fetch-data", help="download the training corpus (OpenCV's clips and photographs, "
                            "sha256-checked) into data/corpus")
    corpus.add_argument("--dest", type=Path, default=REPO / "data" / "corpus")
    corpus.add_argument("--archive", type=Path, help="a local copy of opencv-python-headless-4.10.0.84.tar.gz "
                        "(no download)")
    fetch = sub.add_parser("fetch-vtest", help="download OpenCV's vtest.avi alone and check its sha256")
    fetch.add_argument("--dest", type=Path, default=REPO / "data" / "vtest.avi")
    fetch.add_argument("--archive", type=Path, help="a local copy of the archive (no download)")
    tr = sub.add_parser("train", help="train (or resume) a run")
    tr.add_argument("--config", type=Path, help="a YAML file of config keys (model/configs/); defaults otherwise")
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key (repeatable; dotted keys for sections)")
    tr.add_argument("--run-dir", help="the run folder (overrides the config's run_dir)")
    tr.add_argument("--steps", type=int, help="train up to this step (overrides the config's steps)")
    tr.add_argument("--resume", action="store_true", help="continue the run in the run folder")
    tr.add_argument("--dry-run", action="store_true", help="resolve the config, load data, build the model; train nothing")
    show = sub.add_parser("show-data", help="draw training examples of a config to a PNG (holes tinted red)")
    show.add_argument("--config", type=Path)
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    show.add_argument("--examples", type=int, default=12)
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("-o", "--output", type=Path, default=Path("training_examples.png"))
    args = parser.parse_args(argv)

    from vidsched.errors import VidschedError

    try:
        if args.command == "fetch-vtest":
            from vidsched.training.data import fetch_vtest

            print(f"vtest.avi at {fetch_vtest(args.dest, args.archive)}")
            return 0
        if args.command == "fetch-data":
            from vidsched.training.corpus import fetch_corpus, load_corpus

            dest = fetch_corpus(args.dest, args.archive)
            print(f"corpus in {dest}: {load_corpus(dest, with_stills=True).describe()}")
            return 0
        from vidsched.training.config import load_config, to_yaml
        from vidsched.training.data import load_training_data

        if args.command == "show-data":
            return _show_data(args)
        cfg = load_config(args.config, args.overrides, run_dir=args.run_dir, steps=args.steps)
        size = cfg.model_config().image_size
        data = load_training_data(cfg.data, size, root=REPO)
        train_clips, held_out = data.train, data.heldout
        rank0 = int(os.environ.get("RANK", "0")) == 0
        if rank0:
            print("\n".join(_describe(cfg, train_clips, held_out)), flush=True)
        if args.dry_run:
            print("resolved config (written to the run folder as config.yaml when training):\n")
            print(to_yaml(cfg))
            print("dry run: nothing trained, nothing written")
            return 0

        from vidsched.training.trainer import train

        bar, on_report = _progress(cfg.steps, 0) if rank0 else (None, None)
        log = (bar.console.print if bar is not None else (lambda s: print(s, flush=True))) if rank0 else (lambda s: None)
        held = held_out[0] if held_out else None
        if bar is not None:
            with bar:
                run = train(cfg, train_clips, held, resume=args.resume, log=log, on_report=on_report,
                            stills=data.stills)
        else:
            run = train(cfg, train_clips, held, resume=args.resume, log=log, stills=data.stills)
        if rank0:
            print(f"done: weights in {run}/ema.json (EMA) and {run}/checkpoint.json (raw); "
                  f"try: vidsched run --checkpoint {run}/ema.json")
        return 0
    except VidschedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a path of the user's the system refused (read-only, full disk, ...): no traceback
        print(f"error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: continue with the same command and --resume (progress is saved every save_every steps)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
