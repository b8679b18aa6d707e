"""Draw docs/img/informative_masks.png: one mask-aware scheme, two masks, two plans.

    python docs/make_informative_figure.py      # writes docs/img/informative_masks.png

The built-in scheme `improved_ar_informative` (T=40, K=8) is compiled as `vidsched
compile improved_ar_informative --set K=8 --mask MASK` does, once for each mask of MASKS:

- docs/examples/mask_moving.npy: 8 x 8 pixels, a 2 x 4 hole that moves one column right
  per frame and wraps around every 7 frames; frames 36-39 have no hole;
- docs/examples/mask_still.npy: the same hole, standing still at columns 3-4, over the
  same frames (made with ``m = np.zeros((40, 8, 8), bool); m[:36, 2:6, 3:5] = True``).

Each panel shows the mask over time (one square per frame, the hole in magenta, placed
over the frame's column) above the plan's stages figure (as `vidsched render` draws it).
The frames each stage observes differ: with the moving hole, the nearby frames whose
hole has moved off the block's; with the still one, only a frame without the hole shows
what a block misses. The output is deterministic (same inputs, same bytes).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from vidsched.compiler import compile_scheme  # noqa: E402
from vidsched.compositing import HOLE_TINT  # noqa: E402
from vidsched.lang.holes import HoleMap  # noqa: E402
from vidsched.masks_io import load_mask  # noqa: E402
from vidsched.plan import Plan  # noqa: E402
from vidsched.render import render_plan  # noqa: E402

SCHEME = "improved_ar_informative"
OVERRIDES = {"K": 8}  # T comes from the masks (40 frames)
#: (label, mask file relative to the checkout), one panel each, top to bottom
MASKS = (
    ("moving hole", "docs/examples/mask_moving.npy"),
    ("still hole", "docs/examples/mask_still.npy"),
)
OUTPUT = ROOT / "docs" / "img" / "informative_masks.png"

GRID_RGB = (0xC0, 0xC0, 0xC0)  # vidsched.render's grid lines: how the frame columns are found
KNOWN = (225, 225, 225)
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
TITLE_H, STRIP_GAP, PANEL_GAP = 34, 6, 24
TITLE_SIZE, LABEL_SIZE = 18, 14


def compile_with_mask(mask_path: Path) -> Plan:
    """The plan of SCHEME for ``mask_path``, as `vidsched compile --mask` makes it."""
    hole = load_mask(mask_path)
    return compile_scheme(SCHEME, {**OVERRIDES, "T": hole.shape[0]}, holes=HoleMap.from_mask(hole))


def observed(plan: Plan) -> list[tuple[int, ...]]:
    """Per stage, the frames it observes (complete and marginal)."""
    return [tuple(sorted(st.observe + st.marginal)) for st in plan.stages]


def _frame_columns(stages: np.ndarray, T: int) -> tuple[float, float]:
    """Left x and pitch of the frame columns in a rendered stages figure: the table's
    horizontal grid lines span exactly the frame cells (the label cells have no border)."""
    grid = np.all(np.abs(stages[..., :3].astype(int) - GRID_RGB) <= 24, axis=-1)
    y = int(np.argmax(grid.sum(axis=1)))  # a horizontal line: the row with most grid pixels
    xs = np.flatnonzero(grid[y])
    left, right = int(xs[0]), int(xs[-1]) + 1
    return left, (right - left) / T


def _mask_strip(hole: np.ndarray, width: int, left: float, pitch: float) -> Image.Image:
    """One square per frame, centred over its column: known pixels grey, the hole magenta."""
    T, H, W = hole.shape
    scale = max(1, int(pitch - 4) // max(H, W))  # a gap of 4 px or more between frames
    side = scale * max(H, W)
    strip = Image.new("RGB", (width, side), BACKGROUND)
    for t in range(T):
        rgb = np.where(hole[t][..., None], np.array(HOLE_TINT, np.uint8), np.array(KNOWN, np.uint8))
        square = np.kron(rgb, np.ones((scale, scale, 1), np.uint8)).astype(np.uint8)
        x = int(round(left + (t + 0.5) * pitch - square.shape[1] / 2))
        strip.paste(Image.fromarray(square), (x, (side - square.shape[0]) // 2))
    return strip


def _panel(label: str, mask_path: Path, plan: Plan, workdir: Path) -> Image.Image:
    """A title, the mask strip, and the plan's stages figure (without its own title)."""
    hole = load_mask(mask_path)
    png = workdir / "stages.png"
    render_plan(plan, png, title="")
    with Image.open(png) as image:  # dot leaves the margins transparent: put it on white
        rgba = image.convert("RGBA")
    stages = np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, BACKGROUND + (255,)), rgba).convert("RGB"))
    top = int(np.argmax((stages != BACKGROUND).any(axis=(1, 2))))
    stages = stages[max(0, top - 4):]  # the strip goes right above the frame numbers
    left, pitch = _frame_columns(stages, plan.num_frames)
    strip = _mask_strip(hole, stages.shape[1], left, pitch)
    panel = Image.new("RGB", (stages.shape[1], TITLE_H + strip.height + STRIP_GAP + stages.shape[0]), BACKGROUND)
    panel.paste(strip, (0, TITLE_H))
    panel.paste(Image.fromarray(stages), (0, TITLE_H + strip.height + STRIP_GAP))
    draw = ImageDraw.Draw(panel)
    name = mask_path.relative_to(ROOT) if mask_path.is_relative_to(ROOT) else mask_path
    n, k = plan.num_frames, OVERRIDES["K"]
    title = f"{SCHEME} (T={n}, K={k}) with the {label} of {name}: {len(plan.stages)} stages"
    draw.text((12, 6), title, fill=TEXT, font=ImageFont.load_default(size=TITLE_SIZE))
    font = ImageFont.load_default(size=LABEL_SIZE)
    draw.text((12, TITLE_H + strip.height // 2), "mask (magenta: hole)", fill=TEXT, font=font, anchor="lm")
    return panel


def make_figure(out: Path = OUTPUT, masks=MASKS) -> dict[str, Plan]:
    """Compile SCHEME for each mask of ``masks``, draw the figure to ``out`` (.png) and
    return the plans by label."""
    plans = {label: compile_with_mask(ROOT / path) for label, path in masks}
    with tempfile.TemporaryDirectory() as tmp:
        panels = [_panel(label, ROOT / path, plans[label], Path(tmp)) for label, path in masks]
    width = max(p.width for p in panels)
    height = sum(p.height for p in panels) + PANEL_GAP * (len(panels) - 1)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    y = 0
    for p in panels:
        canvas.paste(p, (0, y))
        y += p.height + PANEL_GAP
    # A few flat colours: a palette PNG is small and exact.
    buffer = io.BytesIO()
    canvas.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        buffer, format="PNG", optimize=True
    )
    Path(out).write_bytes(buffer.getvalue())
    return plans


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    plans = make_figure(args.output)
    for label, plan in plans.items():
        print(f"{label}: observed per stage {observed(plan)}")
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
