"""Draw docs/img/masks.png: the mask types of `vidsched masks`, moving, over the example clip.

One row per type (MASK_TYPES: grid, lines, box, blob, object, logo; logos never move),
six frames spread over a 32-frame mask, the hole tinted as in `vidsched run --compare`.
The masks come from the same generator as `vidsched masks --type TYPE --frames 32
--height 120 --width 160 --seed SEED`, with SEED = --seed (default 3), or the seed in
KIND_SEEDS for the types listed there:

    python docs/make_mask_figure.py            # writes docs/img/masks.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from vidsched.compositing import HOLE_TINT  # noqa: E402
from vidsched.geometry import to_model_resolution  # noqa: E402
from vidsched.training.masks import MASK_TYPES, generate_mask  # noqa: E402
from vidsched.videoio import read_video  # noqa: E402

FRAMES = 32
SHOWN = 6
HEIGHT, WIDTH = 120, 160  # the example clip (384 x 288) scaled down, same aspect ratio
SEED = 3
KIND_SEEDS = {"object": 14}  # a person-like silhouette (most seeds give cars, animals or irregular blobs)
LABEL_W, HEADER_H, GAP = 56, 18, 3
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


def figure(clip: Path, seed: int = SEED) -> Image.Image:
    video = read_video(clip, max_frames=FRAMES)
    if video.num_frames < FRAMES:
        raise SystemExit(f"{clip} has {video.num_frames} frames; the figure needs {FRAMES}")
    frames, _ = to_model_resolution(video.frames, (HEIGHT, WIDTH))
    shown = np.linspace(0, FRAMES - 1, SHOWN).round().astype(int)
    width = LABEL_W + SHOWN * WIDTH + (SHOWN - 1) * GAP
    height = HEADER_H + len(MASK_TYPES) * HEIGHT + (len(MASK_TYPES) - 1) * GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    tint = np.array(HOLE_TINT, dtype=np.float32)
    for col, t in enumerate(shown):
        draw.text((LABEL_W + col * (WIDTH + GAP) + 2, 3), f"frame {t}", fill=TEXT)
    for row, kind in enumerate(MASK_TYPES):
        hole = generate_mask(kind, FRAMES, (HEIGHT, WIDTH), moving=True, seed=KIND_SEEDS.get(kind, seed))
        y = HEADER_H + row * (HEIGHT + GAP)
        draw.text((4, y + HEIGHT // 2 - 6), kind, fill=TEXT)
        for col, t in enumerate(shown):
            frame = frames[t].astype(np.float32)
            frame[hole[t]] = 0.5 * frame[hole[t]] + 0.5 * tint
            canvas.paste(Image.fromarray(frame.round().astype(np.uint8)), (LABEL_W + col * (WIDTH + GAP), y))
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=ROOT / "examples" / "vtest_heldout.mp4")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "img" / "masks.png")
    args = parser.parse_args()
    image = figure(args.clip, args.seed)
    # 256 colours are plenty for frames with a tinted hole and keep the PNG small.
    image.quantize(colors=256, method=2, dither=0).save(args.output, optimize=True)
    print(f"wrote {args.output} ({image.width}x{image.height}, {args.output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
