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

    max_frames: int = 10_000_000  # largest T
    max_stages: int = 200_000
    max_steps: int = 20_000_000  # loop iterations and stages, all loops together
    max_int_bits: int = 256  # every integer, and a fraction's numerator and denominator
    # A `while` without `limit N` may run at most this many iterations per entry:
    # generous for any scheme that makes progress (a stage per iteration needs <= T).
    while_limit_per_frame: int = 4
    while_limit_base: int = 1000
    # Evaluation steps ("fuel"), all the work of a run together: one per expression
    # evaluated, statement run and loop iteration; 1 + T // FRAMES_PER_STEP for an
    # operation on the frame sets of a T-frame video; one per member that a built-in
    # lists; and for each stage, the work of validating and lowering it (150, plus two
    # per frame of its window). About a second of compiling. The work of a frame-set
    # operation grows with T, and so does the number of stages: the shipped schemes
    # need 1.1 million steps at most with T = 10,000 and 4.4 million with T = 30,000.
    max_fuel: int = 5_000_000
    # Blocks and expressions nested inside each other, counted together. A chain of
    # left-associative operators (`1 + 2 + 3 + ...`) is one level, however long.
    max_nesting: int = 100
    max_source_chars: int = 100_000  # length of a scheme's text (parsing costs ~10 us a character)

    def default_while_limit(self, num_frames: int) -> int:
        return self.while_limit_per_frame * num_frames + self.while_limit_base


# How many frames of a frame set make one evaluation step of work: an operation on the
# sets of a T-frame video costs 1 + T // FRAMES_PER_STEP steps.
FRAMES_PER_STEP = 4096
