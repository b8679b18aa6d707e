"""Long videos in chunks of frames, so that a run's memory does not grow with the video.

A run holds, per frame it works on, the propagation prior's arrays (propagated frames,
confidence, sources, the guess, the known frames) and the model's buffers: about 27
bytes per pixel, 53 MB per 1080p frame (BENCHMARKS.md, "Memory of `vidsched run`"), so a
few hundred frames of 1080p fill a 24 GB machine. ProPainter's answer is the same as this
module's (its ``--subvideo_length``, 80 frames by default): cut the video into chunks
and run them one after another. What a chunk sees:

    lo ........ start ==//== cut ============ stop ........ hi
    finished    the frames this chunk fills       frames the
    frames      (start..cut: the chunk before     propagation prior
    (context)   filled them too: cross-faded)     may copy from (look-ahead)

- *context*: up to :data:`CONTEXT` frames before ``start``, taken from the output of the
  chunks before (their holes already filled): the model conditions on them as known
  frames and the prior's guess is steadied with their fill, so a fill continues across
  the cut instead of starting afresh; propagation copies only what the input shows (their
  holes stay hidden from it), as in an unchunked run (copying the earlier fill along the
  flow was tried: docs/results.md section 15);
- *blend*: the :data:`BLEND` frames before the cut are filled by both chunks, and the
  output fades from the earlier chunk's fill to the later one's over them, so what is
  left of the change between two independently sampled fills is spread over a few frames
  rather than shown as a jump;
- *look-ahead*: up to :data:`LOOKAHEAD` frames after ``stop`` (propagation's reach,
  ``vidsched.propagation.propagate``'s ``max_distance``), given to the prior only, so a
  pixel that a later frame shows is still copied from it. The model does not fill them:
  the next chunk does.

With one chunk (the default whenever the video fits the memory budget) the run is
exactly the unchunked one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vidsched.errors import VidschedError

#: Finished frames before a chunk that condition it (propagation reaches 15 frames back).
CONTEXT = 15
#: Frames after a chunk that its propagation prior may copy from (propagate's max_distance).
LOOKAHEAD = 15
#: Working memory of a run per pixel of every frame it holds (measured: 5.33 GB for 100
#: frames of 1920 x 1080 with the default hybrid prior, BENCHMARKS.md).
BYTES_PER_PIXEL = 27
#: The working memory a chunk may use by default (``--chunk-frames`` overrides it).
MEMORY_BUDGET = 4 * 1024 ** 3
#: Fewest frames an automatic chunk fills (very large frames may then pass the budget).
MIN_CHUNK = 32


#: Frames at each cut that both chunks fill, cross-faded from the earlier chunk's fill to
#: the later one's (docs/results.md section 15).
BLEND = 4


@dataclass(frozen=True)
class Chunk:
    """Frames ``[lo, hi)`` of the video go into the run; it fills ``[start, stop)``;
    ``[lo, start)`` are finished frames (context), ``[stop, hi)`` look-ahead. Its first
    ``blend`` frames were filled by the chunk before too: the output cross-fades from
    that fill to this one's over them."""

    index: int
    lo: int
    start: int
    stop: int
    hi: int
    blend: int = 0

    @property
    def frames(self) -> int:
        """How many frames the run holds."""
        return self.hi - self.lo


def auto_chunk_frames(height: int, width: int, budget: int = MEMORY_BUDGET) -> int:
    """How many frames a chunk fills so that its working set (with context and
    look-ahead) stays within ``budget`` bytes: at least :data:`MIN_CHUNK`."""
    per_frame = BYTES_PER_PIXEL * height * width
    return max(MIN_CHUNK, budget // per_frame - CONTEXT - LOOKAHEAD)


def plan_chunks(num_frames: int, chunk_frames: int, context: int | None = None,
                lookahead: int | None = None, blend: int | None = None) -> list[Chunk]:
    """The chunks of a ``num_frames`` video: cuts every ``chunk_frames`` frames at most, the
    sizes evened out (250 frames in chunks of 100 are cut as 84 + 83 + 83, not 100 + 100 +
    50); each chunk after the first also fills the ``blend`` (default :data:`BLEND`, at most
    the chunk before's size) frames before its cut, with up to ``context`` (default
    :data:`CONTEXT`) finished frames before that and ``lookahead`` (default
    :data:`LOOKAHEAD`) frames after its end."""
    context = CONTEXT if context is None else context
    lookahead = LOOKAHEAD if lookahead is None else lookahead
    blend = BLEND if blend is None else blend
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise VidschedError(f"--chunk-frames must be a positive number of frames, got {chunk_frames!r}")
    if num_frames < 1:
        raise VidschedError("a video needs at least one frame")
    count = math.ceil(num_frames / chunk_frames)
    bounds = [round(i * num_frames / count) for i in range(count + 1)]
    chunks = []
    for i, (cut, stop) in enumerate(zip(bounds, bounds[1:])):
        shared = min(blend, cut - bounds[i - 1]) if i else 0  # never into the chunk before's own blend
        start = cut - shared
        chunks.append(Chunk(i, max(0, start - context), start, stop, min(num_frames, stop + lookahead), shared))
    return chunks
