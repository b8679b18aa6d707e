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
  are known"): trusted propagated pixels become known as in *known* (but steadied,
  below); the rest of the hole starts from the propagated guess where there is one and
  from Telea (over the frame with the trusted pixels in) where no frame shows it, noised
  to ``strength``. The model keeps the layout and colours of that guess and adds the
  texture a spatial interpolation cannot (DiffuEraser starts from ProPainter's result
  the same way).

In *init* and *hybrid* modes the guess's hole pixels, propagated or not, are steadied
over time (:func:`steady`: averaged with the same pixel in nearby frames where the scene
is still), so that the fill does not flicker from frame to frame.

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
# The guess's hole pixels are steadied over time (steady()): frames up to STEADY_RADIUS
# away, aligned by optical flow over the hole's box and STEADY_MARGIN pixels around it,
# weights exp(-(d / STEADY_TAU)^2) of the local grey difference d after alignment (grey
# levels, over STEADY_BOX pixels around, measured at a long side of at most
# STEADY_FLOW_SIZE). Chosen by measurement (docs/results.md section 14: which pixels, which
# frames' pixels, tau 4, 8 and 16, in place and along the motion, over five clips, three
# kinds of hole, three placements).
STEADY_RADIUS = 2
STEADY_TAU = 8.0
STEADY_BOX = 8
STEADY_MARGIN = 24
STEADY_FLOW_SIZE = 256


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
    detail_gains: np.ndarray | None = None  # restore: per frame, how much the steadied detail was raised (1: not)


def apply_prior(frames: np.ndarray, hole: np.ndarray, mode: str = DEFAULT_MODE, *,
                threshold: float = DEFAULT_THRESHOLD, fill: tuple[int, int] | None = None,
                progress=None, restore: bool = False) -> PriorResult:
    """Propagate, then prepare the model's problem for ``mode`` ("known", "init" or "hybrid").

    ``fill=(first, stop)`` (a chunk of a long video, ``vidsched.runtime.chunks``): frames
    from ``stop`` on are sources for propagation only, and are not returned; frames before
    ``first`` are finished (their holes hold an earlier fill): propagation copies only
    what the input shows, so their holes stay hidden from it, but to the rest they are
    complete frames (the guess is steadied with their fill, and the model gets no hole
    there). ``progress(done, total)``: propagation's progress over the frames it fills.
    ``restore`` (``vidsched run --detail restore``): the steadied guess gets back the fine
    detail the average took from it (:func:`vidsched.detail.restore_detail`)."""
    import time

    import numpy as np

    from vidsched.propagation import propagate

    if mode not in PRIOR_MODES:
        raise ValueError(f"unknown prior mode {mode!r} (one of {', '.join(PRIOR_MODES)})")
    t0 = time.perf_counter()
    prop = propagate(frames, hole, fill=fill, progress=progress)
    if fill is not None:
        from vidsched.propagation import Propagation

        first, stop = fill
        frames, hole = frames[:stop], hole[:stop].copy()
        hole[:first] = False  # finished frames
        prop = Propagation(*(a[:stop] for a in (prop.frames, prop.filled, prop.confidence, prop.source)))
    filled_fraction = float(prop.filled.sum() / max(1, hole.sum()))
    trusted = prop.filled & (prop.confidence >= threshold) & hole  # known and hybrid modes
    if mode == "known":
        out = frames.copy()
        out[trusted] = prop.frames[trusted]
        return PriorResult(out, hole & ~trusted, None, trusted, filled_fraction, time.perf_counter() - t0)
    # The guess (init and hybrid): propagation's pixels, Telea where no frame shows the
    # pixel, the whole hole steadied over time (steady()).
    guess, gains = _guess(prop.frames, hole & ~prop.filled, hole, restore)
    if mode == "init":
        return PriorResult(frames, hole, guess, np.zeros_like(hole), filled_fraction, time.perf_counter() - t0, gains)
    # hybrid: the trusted pixels are known to the model as they are in the guess.
    out = frames.copy()
    out[trusted] = guess[trusted]
    return PriorResult(out, hole & ~trusted, guess, trusted, filled_fraction, time.perf_counter() - t0, gains)


def _guess(propagated: np.ndarray, unseen: np.ndarray, hole: np.ndarray,
           restore: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """A new array: the propagated frames with Telea's fill where no frame shows a pixel
    (``unseen``), the input's ``hole`` steadied over time (:func:`steady`; with
    ``restore``, its detail then raised back to what it was before), and frames that are
    all unseen started from the video's mean colour; and with ``restore`` the gains per
    frame (else None)."""
    from vidsched.baselines import telea
    from vidsched.detail import hole_detail_energy, restore_detail

    guess = telea(propagated, unseen) if unseen.any() else propagated.copy()
    before = hole_detail_energy(guess, hole) if restore else None
    steady(guess, hole)
    gains = restore_detail(guess, hole, before) if restore else None
    return _without_blind_frames(guess, unseen), gains


def steady(guess: np.ndarray, hole: np.ndarray, *, radius: int = STEADY_RADIUS,
           tau: float = STEADY_TAU) -> np.ndarray:
    """``guess``'s ``hole`` pixels averaged with the same point of the scene in the frames
    up to ``radius`` away (whatever that frame holds there: its known pixel, a propagated
    copy, a guess), each weighted by how well the two frames agree around it:
    ``exp(-(d / tau)^2)``, ``d`` the mean absolute grey difference of the pixels known in
    both frames within ``STEADY_BOX`` pixels, completed inside the holes from around them
    by pull-push. Changes ``guess`` in place and returns it; its pixels outside ``hole``
    are not changed.

    The same point: each neighbour is aligned to the frame by DIS optical flow over the
    hole's box and ``STEADY_MARGIN`` pixels around it (at a long side of at most
    ``STEADY_FLOW_SIZE``); inside the hole the flow is the known pixels' flow, completed
    from around the hole by pull-push (the guesses there are what is being corrected, and
    matching them made the handheld cup clip flicker); wherever the unaligned pixel agrees
    better with the frame around it (a flow gone wrong), that pixel is used instead, with
    its own ``d``.

    Why: each frame's hole is filled on its own -- Telea from a hole border that moves,
    propagation from other source frames with other alignment errors -- so a hole pixel's
    value changes from frame to frame, and the model, starting from it at a low noise
    level (or keeping it, for trusted propagated pixels), keeps that flicker (E_warp of
    the object holes on the handheld cup clip was 2.3x nearest-frame copying's:
    docs/results.md section 14). Where the neighbours agree, the average is steadier and,
    as a mean of several observations or guesses of the same point, closer to the truth;
    where they do not (a waving tree, a flow that fails) the weights vanish and each frame
    keeps its own value. Averaging along the motion rather than at the same place keeps a
    moving edge where it is, which is what lets ``tau`` be 8 (section 14)."""
    import cv2
    import numpy as np

    T, H, W = hole.shape
    if T < 2:
        return guess
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    pending = {}  # steadied values not yet written: later frames still read the guesses
    for t in range(T + radius):
        if t < T and hole[t].any():
            ys, xs = np.nonzero(hole[t])
            y0, y1 = max(0, ys.min() - STEADY_MARGIN), min(H, ys.max() + 1 + STEADY_MARGIN)
            x0, x1 = max(0, xs.min() - STEADY_MARGIN), min(W, xs.max() + 1 + STEADY_MARGIN)
            neighbours = [s for s in range(max(0, t - radius), min(T, t + radius + 1)) if s != t]
            pending[t] = (y0, x0, _steadied(guess, hole, t, neighbours, (y0, y1, x0, x1), tau, dis))
        # Frame t - radius is read by no frame after t: write it.
        done = t - radius
        if done in pending:
            y0, x0, value = pending.pop(done)
            inside = hole[done, y0:y0 + value.shape[0], x0:x0 + value.shape[1]]
            guess[done, y0:y0 + value.shape[0], x0:x0 + value.shape[1]][inside] = value[inside]
    return guess


def _steadied(guess: np.ndarray, hole: np.ndarray, t: int, neighbours: list[int], box: tuple[int, int, int, int],
              tau: float, dis) -> np.ndarray:
    """Frame ``t``'s ``box`` (y0, y1, x0, x1) of ``guess`` averaged with its aligned
    ``neighbours`` (:func:`steady`); uint8."""
    import cv2
    import numpy as np

    from vidsched.propagation import pull_push

    y0, y1, x0, x1 = box
    ch, cw = y1 - y0, x1 - x0
    scale = min(1.0, STEADY_FLOW_SIZE / max(ch, cw))
    size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
    sx, sy = np.float32(size[0] / cw), np.float32(size[1] / ch)  # low-resolution pixels per full one
    side = 2 * max(1, round(STEADY_BOX * scale)) + 1

    def small(s: int):  # grey and known mask of frame s's box at the low resolution
        grey = cv2.cvtColor(guess[s, y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
        known = (~hole[s, y0:y1, x0:x1]).astype(np.float32)
        return (cv2.resize(grey, size, interpolation=cv2.INTER_AREA),
                cv2.resize(known, size, interpolation=cv2.INTER_AREA))

    def apart(a: np.ndarray, b: np.ndarray, both: np.ndarray):  # d (low resolution), or None
        num = cv2.boxFilter(np.abs(a - b) * both, -1, (side, side), normalize=False)
        den = cv2.boxFilter(both, -1, (side, side), normalize=False)
        enough = den > 0.3 * side * side
        if not enough.any():
            return None
        return pull_push(np.where(enough, num / np.maximum(den, 1e-6), 0).astype(np.float32), enough)

    grey_t, known_t = small(t)
    known_t = known_t > 0.999
    total = guess[t, y0:y1, x0:x1].astype(np.float32)
    weight = np.ones((ch, cw), np.float32)
    gx, gy = np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32))
    fx, fy = np.meshgrid(np.arange(cw, dtype=np.float32), np.arange(ch, dtype=np.float32))
    for s in neighbours:
        grey_s, known_s = small(s)
        flow = dis.calc(grey_t.astype(np.uint8), grey_s.astype(np.uint8), None)
        if known_t.any():  # inside the hole, the motion of the known pixels around it (not of the guesses)
            flow = np.stack([pull_push(np.ascontiguousarray(flow[..., c]), known_t) for c in range(2)], -1)
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        aligned = cv2.remap(grey_s, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        aligned_known = cv2.remap(known_s, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        d_still = apart(grey_t, grey_s, (known_t & (known_s > 0.999)).astype(np.float32))
        d_moved = apart(grey_t, aligned, (known_t & (aligned_known > 0.999)).astype(np.float32))
        if d_still is None and d_moved is None:
            continue
        if d_moved is None:
            d, moved = d_still, np.zeros_like(d_still, bool)
        elif d_still is None:
            d, moved = d_moved, np.ones_like(d_moved, bool)
        else:
            moved = d_moved < d_still
            d = np.where(moved, d_moved, d_still)
        full = (cw, ch)
        d = cv2.resize(d, full, interpolation=cv2.INTER_LINEAR)
        moved = cv2.resize(moved.astype(np.uint8), full, interpolation=cv2.INTER_NEAREST).astype(bool)
        up = cv2.resize(flow, full, interpolation=cv2.INTER_LINEAR)
        value = cv2.remap(guess[s, y0:y1, x0:x1], fx + up[..., 0] / sx, fy + up[..., 1] / sy, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        value = np.where(moved[..., None], value, guess[s, y0:y1, x0:x1])
        w = np.exp(-np.square(d / np.float32(tau)))
        total += w[..., None] * value
        weight += w
    return np.clip(np.rint(total / weight[..., None]), 0, 255).astype(guess.dtype)


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
