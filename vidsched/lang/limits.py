"""The compiler's resource limits (:class:`Limits`), shared by the parser and the evaluator.

Every limit is checked *before* the work it bounds is done, and passing one is a
:class:`~vidsched.errors.SchemeError` at the position where it happened, so that any
scheme -- however large, deep or adversarial -- ends within a few seconds with either a
plan or an error (docs/language.md, section 24).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds that guarantee every scheme terminates quickly."""

    # Largest T (compile time and memory are linear in T up to here); the plan contract's
    # vidsched.plan.MAX_FRAMES is the same bound (the front end does not import the plan).
    max_frames: int = 1_000_000
    max_stages: int = 200_000
    max_steps: int = 20_000_000  # loop iterations and stages, all loops together
    max_int_bits: int = 256  # every integer, and a fraction's numerator and denominator
    # A `while` without `limit N` may run at most this many iterations per entry:
    # generous for any scheme that makes progress (a stage per iteration needs <= T).
    while_limit_per_frame: int = 4
    while_limit_base: int = 1000
    # Evaluation steps ("fuel"), all the work of a run together: one per expression
    # evaluated, statement run and loop iteration; SET_OP_STEPS for an operation on frame
    # sets, plus the bitmask work it actually did (one step per FRAMES_PER_STEP frames of
    # a fragmented set's bitmask: sets of at most 32 runs have none); one per member that
    # a built-in lists; and for each stage, the work of validating and lowering it (150,
    # plus two per frame of its window). The budget is max_fuel + fuel_per_frame * T
    # (fuel_budget): the work a scheme legitimately does grows with the video, about a
    # second of compiling per 5,000,000 steps. With K = 16 and their default parameters
    # the shipped schemes need 29 to 46 steps per frame whatever T is (fdm/hierarchy:
    # 102); improved_ar_2res/3res, which work on fragmented (periodic) sets, about 96,
    # flat in T (vidsched/frames.py keeps such sets as periodic segments).
    max_fuel: int = 5_000_000
    fuel_per_frame: int = 200
    # Blocks and expressions nested inside each other, counted together. A chain of
    # left-associative operators (`1 + 2 + 3 + ...`) is one level, however long.
    max_nesting: int = 100
    max_source_chars: int = 100_000  # length of a scheme's text (parsing costs ~10 us a character)

    def default_while_limit(self, num_frames: int) -> int:
        return self.while_limit_per_frame * num_frames + self.while_limit_base

    def fuel_budget(self, num_frames: int) -> int:
        """Evaluation steps a compile of a `num_frames`-frame video may take."""
        return self.max_fuel + self.fuel_per_frame * max(num_frames, 0)


# How many frames of a fragmented frame set's bitmask make one evaluation step of work
# (vidsched.frames.work_done counts in these units).
FRAMES_PER_STEP = 4096
# Evaluation steps of one operation on frame sets, besides its bitmask work.
SET_OP_STEPS = 2
