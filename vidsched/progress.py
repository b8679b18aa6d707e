"""Progress bars for `vidsched run`: one over stages, one over the network evaluations
of the current batch (rich; shown on stderr, off with --quiet or when not a terminal)."""

from __future__ import annotations

import sys

from vidsched.runtime.executor import Progress


def run_with_progress(req, quiet: bool = False):
    from vidsched.runtime.pipeline import inpaint

    if quiet or not sys.stderr.isatty():
        return inpaint(req, progress=_LinesProgress(quiet).progress())

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bars = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    state: dict = {}

    def on_start(stages: int, batches: int, steps: int) -> None:
        if "stages" in state:  # the next chunk of a long video: the same bars, from zero
            bars.reset(state["stages"], total=stages, description=state.get("chunk", "stages"))
            bars.reset(state["steps"], total=steps)
        else:
            state["stages"] = bars.add_task(state.get("chunk", "stages"), total=stages)
            state["steps"] = bars.add_task("sampler steps", total=steps)
        state["total_steps"] = steps

    def on_chunk(index: int, count: int, start: int, stop: int) -> None:
        state["chunk"] = f"chunk {index + 1}/{count} (frames {start}-{stop - 1}): stages"
        bars.console.print(f"chunk {index + 1}/{count}: frames {start}-{stop - 1} (propagating, then sampling)")

    def on_batch_start(b: int, members: list[int]) -> None:
        state["members"] = len(members)
        what = f"batch {b}: stage{'s' if len(members) > 1 else ''} {', '.join(map(str, members[:6]))}"
        bars.reset(state["steps"], total=state["total_steps"], description=what + (" ..." if len(members) > 6 else ""))

    def on_batch_tracks(b: int, tracks: list) -> None:
        if len(tracks) > 1:  # regions in lockstep: stage numbers are per region
            bars.update(state["steps"], description=f"batch {b}: {len(tracks)} regions, "
                                                     f"{sum(len(members) for _, members in tracks)} stages")

    def on_batch_calls(calls: int) -> None:
        bars.update(state["steps"], total=state["total_steps"] * calls)

    def on_step() -> None:
        bars.advance(state["steps"])

    def on_batch_end(b: int) -> None:
        bars.advance(state["stages"], state["members"])

    def on_prior(done: int, total: int) -> None:  # propagation, before the model's bars
        if "prior" not in state:
            state["prior"] = bars.add_task("propagating frames", total=total)
        elif done == 0:
            bars.reset(state["prior"], total=total)
        bars.update(state["prior"], completed=done)

    with bars:
        return inpaint(req, progress=Progress(on_batch_start, on_step, on_batch_end, on_start, on_batch_calls,
                                               on_chunk, on_prior, on_batch_tracks))


class _LinesProgress:
    """Plain one-line-per-batch progress for logs (nothing with --quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.done = 0

    def progress(self) -> Progress:
        if self.quiet:
            return Progress()

        def start(b: int, tracks: list[tuple[str, list[int]]]) -> None:
            if len(tracks) == 1:
                what = f"stages {', '.join(map(str, tracks[0][1]))}"
            else:  # regions in lockstep: each has its own stage numbers
                what = "; ".join(f"{label}: stages {', '.join(map(str, members))}" for label, members in tracks)
            print(f"batch {b}: {what}", file=sys.stderr, flush=True)

        def chunk(index: int, count: int, first: int, stop: int) -> None:
            print(f"chunk {index + 1}/{count}: frames {first}-{stop - 1}", file=sys.stderr, flush=True)

        def prior(done: int, total: int) -> None:  # a line when propagation starts
            if done == 0:
                print(f"propagating pixels from other frames into {total} frame{'s' if total != 1 else ''}",
                      file=sys.stderr, flush=True)

        return Progress(on_batch_tracks=start, on_chunk=chunk, on_prior=prior)
