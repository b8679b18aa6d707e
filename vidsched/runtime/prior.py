"""The propagation prior: pixels other frames show, brought in before the diffusion model.

ProPainter propagates pixels along optical flow and synthesises the rest; DiffuEraser
starts its diffusion from ProPainter's result. vidsched offers both ways of meeting
(``vidsched run --prior propagate --prior-mode known|init``), on top of
:func:`vidsched.propagation.propagate` (global homography + DIS flow, nearest frames
first, a confidence per pixel):

- *known*: propagated pixels whose confidence reaches ``threshold`` become known pixels
  before the plan is compiled: the hole shrinks, mask-aware specialisation drops frames
  that become complete, and the model fills only what no frame shows (or what
  propagation was unsure of).
- *init*: the whole hole is left to the model, but sampling starts from the propagated
  frames (pixels no frame shows: OpenCV Telea) noised to ``strength`` (SDEdit), so the
  model keeps what propagation got right and corrects what it got wrong.
- *hybrid*: both, per pixel by confidence (the issue's "confidence deciding which pixels
  are known"): trusted propagated pixels become known as in *known*; the rest of the hole
  starts from the propagated guess where there is one and from Telea (over the frame
  with the trusted pixels in) where no frame shows it, noised to ``strength``. The model
  keeps the layout and colours of that guess and adds the texture a spatial
  interpolation cannot (DiffuEraser starts from ProPainter's result the same way).

Bookkeeping stays honest: known input pixels are never changed, and :func:`sources_map`
says for every pixel where it came from (input, propagation or model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is loaded by the functions: the CLI reads the defaults without it
    import numpy as np

PRIOR_KINDS = ("none", "propagate")
PRIOR_MODES = ("known", "init", "hybrid")
STARTING_MODES = ("init", "hybrid")  # the modes whose sampling starts from the prior (SDEdit)
SOURCE_INPUT, SOURCE_PROPAGATED, SOURCE_MODEL = 0, 1, 2
# The defaults of `vidsched run`, chosen by measurement (docs/results.md, sections 6 and 8:
# five held-out clips at their own resolution, object and logo masks). Section 6 (corpus
# model at step 8,000): the prior raised the model's hole PSNR on every clip and mask;
# *known* beat *init* on object masks and lost on logos; trusting every propagated pixel
# (threshold 0) beat trusting only confident ones. Section 8 (step 12,400, the ancestral
# sampler): *hybrid* from sigma 0.25 beat *known* on both (object 23.79 vs 23.69 dB, logos
# 27.63 vs 23.86) and beat flow propagation on object masks (23.72); larger starting
# sigmas lost on logos (0.5: 27.29, 1: 26.86, 2: 25.85), where Telea's guess is already
# close. Raise the strength (and the threshold) when a model fills better than
# propagation and Telea guess.
DEFAULT_PRIOR = "propagate"
DEFAULT_MODE = "hybrid"
DEFAULT_THRESHOLD = 0.0  # confidence from which a propagated pixel is trusted as known
DEFAULT_STRENGTH = 0.25  # SDEdit's starting sigma for --prior-mode init / hybrid (data range [-1, 1])


@dataclass(frozen=True)
class PriorResult:
    """What the model is given: frames (with trusted propagated pixels in *known* mode),
    the hole it must fill, and (in *init* mode) the frames to start sampling from."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    hole: np.ndarray  # (T, H, W) bool: what the model fills
    start: np.ndarray | None  # (T, H, W, 3) uint8 SDEdit start (init mode), else None
    propagated: np.ndarray  # (T, H, W) bool: hole pixels taken from other frames (known mode)
    filled_fraction: float  # share of the hole that propagation could fill at all
    seconds: float


def apply_prior(frames: np.ndarray, hole: np.ndarray, mode: str = DEFAULT_MODE, *,
                threshold: float = DEFAULT_THRESHOLD) -> PriorResult:
    """Propagate, then prepare the model's problem for ``mode`` ("known", "init" or "hybrid")."""
    import time

    import numpy as np

    from vidsched.propagation import propagate

    if mode not in PRIOR_MODES:
        raise ValueError(f"unknown prior mode {mode!r} (one of {', '.join(PRIOR_MODES)})")
    t0 = time.perf_counter()
    prop = propagate(frames, hole)
    filled_fraction = float(prop.filled.sum() / max(1, hole.sum()))
    if mode == "known":
        trusted = prop.filled & (prop.confidence >= threshold) & hole
        out = frames.copy()
        out[trusted] = prop.frames[trusted]
        return PriorResult(out, hole & ~trusted, None, trusted, filled_fraction, time.perf_counter() - t0)
    if mode == "init":
        rest = hole & ~prop.filled
        start = _guess(prop.frames, rest)
        empty = np.zeros_like(hole)
        return PriorResult(frames, hole, start, empty, filled_fraction, time.perf_counter() - t0)
    trusted = prop.filled & (prop.confidence >= threshold) & hole
    out = frames.copy()
    out[trusted] = prop.frames[trusted]
    todo = hole & ~trusted
    # The guess: every propagated pixel, trusted or not, i.e. prop.frames itself (no copy
    # of the video), and Telea where no frame shows the pixel.
    start = _guess(prop.frames, todo & ~prop.filled)
    return PriorResult(out, todo, start, trusted, filled_fraction, time.perf_counter() - t0)


def _guess(propagated: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """A new array: the propagated frames with Telea's fill where no frame shows a pixel
    (``unseen``), and frames that are all unseen started from the video's mean colour."""
    from vidsched.baselines import telea

    return _without_blind_frames(telea(propagated, unseen), unseen) if unseen.any() else propagated.copy()


def _without_blind_frames(guess: np.ndarray, unseen: np.ndarray) -> np.ndarray:
    """Frames whose every pixel is unseen (all hole, nothing propagated) give Telea nothing
    to draw from: OpenCV returns them unchanged, i.e. the hidden input, which the model
    would then keep. Start them from the mean colour of the pixels the video does show
    (mid-grey when it shows none) instead. Changes ``guess`` in place."""
    import numpy as np

    blind = unseen.reshape(len(unseen), -1).all(axis=1)
    if not blind.any():
        return guess
    total, count = np.zeros(guess.shape[-1]), 0
    for t in np.flatnonzero(~blind):
        shown = guess[t][~unseen[t]]
        total += shown.sum(axis=0, dtype=np.float64)
        count += len(shown)
    guess[blind] = np.round(total / count).astype(guess.dtype) if count else 128
    return guess


def sources_map(hole: np.ndarray, propagated: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8: 0 = the input's pixel, 1 = propagated from another frame, 2 = the model's."""
    import numpy as np

    out = np.zeros(hole.shape, np.uint8)
    out[hole] = SOURCE_MODEL
    out[propagated & hole] = SOURCE_PROPAGATED
    return out


def sources_video(sources: np.ndarray) -> np.ndarray:
    """The sources map as grey frames for review: black = input, grey = propagated, white = model."""
    import numpy as np

    grey = np.array([0, 128, 255], np.uint8)[sources]
    return np.repeat(grey[..., None], 3, axis=-1)
