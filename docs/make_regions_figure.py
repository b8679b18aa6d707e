"""Draw docs/img/regions.png: the regions `vidsched run` works on, over real frames.

    python docs/make_regions_figure.py       (needs the corpus: python model/train.py fetch-data)

Left: `cup` (640x480, a handheld clip) with a caption; right: `vtest` (768x576) with a
moving object silhouette; the hole tinted, each region's box with its number and zoom.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidsched.regions import draw_regions, plan_regions  # noqa: E402
from vidsched.training.corpus import load_corpus  # noqa: E402
from vidsched.training.masks import generate_mask  # noqa: E402


def main() -> None:
    from PIL import Image

    corpus = load_corpus(ROOT / "data" / "corpus", with_stills=False)
    clips = dict(corpus.unseen + corpus.heldout)
    panels = []
    for name, kind, seed in (("cup", "logo", 0), ("vtest", "object", 4)):
        frames = clips[name][:40]
        hole = generate_mask(kind, len(frames), frames.shape[1:3], moving=True, seed=seed)
        plan = plan_regions(hole, 64, mode="crop", window=8)
        t = 20
        image = draw_regions(frames[t], hole[t], plan, t)
        scale = 480 / image.shape[0]
        panels.append(np.asarray(Image.fromarray(image).resize((round(image.shape[1] * scale), 480))))
        print(f"{name}: {plan.summary()}")
    gap = np.full((480, 8, 3), 255, np.uint8)
    out = ROOT / "docs" / "img" / "regions.png"
    Image.fromarray(np.concatenate([panels[0], gap, panels[1]], axis=1)).save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
