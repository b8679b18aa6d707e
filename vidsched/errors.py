"""The project's errors.

Everything a user can get wrong raises a subclass of :class:`VidschedError`; the CLI
turns those into a message on stderr and exit status 1 (never a traceback). Scheme
errors carry a source position and print like a compiler (miniwdl, rustc)::

    schemes/mine.sched:7:18: error[stage-too-large]: stage 3 has 18 frames but K = 16
        stage { generate first(todo, 12); observe last(done, 6) }
                ^^^^^
      = in stage 3 (i = 2)
      = frames: 20-37
"""

from __future__ import annotations

from dataclasses import dataclass, field


class VidschedError(Exception):
    """Any error caused by the user's input (exit status 1)."""

    def render(self) -> str:
        return f"error: {self}"


@dataclass(frozen=True)
class SourceFile:
    """A scheme's text and the name to show for it in messages."""

    name: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 1 <= number <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A 1-based source position (end is inclusive-exclusive like Lark's end_column)."""

    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None


@dataclass(eq=False)
class SchemeError(VidschedError):
    """An error in a scheme, at a position in its source."""

    message: str
    span: Span | None = None
    source: SourceFile | None = None
    notes: list[str] = field(default_factory=list)
    stage: int | None = None

    kind = "scheme"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    def sort_key(self) -> tuple[int, int, int]:
        return (
            self.span.line if self.span else 1 << 30,
            self.span.column if self.span else 0,
            self.stage if self.stage is not None else -1,
        )

    def render(self) -> str:
        name = self.source.name if self.source else "<scheme>"
        if self.span is None:
            # No position (e.g. a malformed --set on the command line): no file either.
            head = f"{name + ': ' if self.source else ''}error[{self.kind}]: {self.message}"
            return "\n".join([head] + [f"  = {n}" for n in self.notes])
        head = f"{name}:{self.span.line}:{self.span.column}: error[{self.kind}]: {self.message}"
        out = [head]
        text = self.source.line(self.span.line) if self.source else ""
        if text:
            width = 1
            if self.span.end_line == self.span.line and self.span.end_column:
                width = max(1, self.span.end_column - self.span.column)
            out.append("    " + text.rstrip())
            # Tabs keep their width so the caret lines up under the source.
            pad = "".join(c if c == "\t" else " " for c in text[: self.span.column - 1])
            out.append("    " + pad + "^" * min(width, max(1, len(text) - self.span.column + 1)))
        out += [f"  = {n}" for n in self.notes]
        return "\n".join(out)


class SchemeSyntaxError(SchemeError):
    kind = "syntax"


class UnknownNameError(SchemeError):
    kind = "unknown-name"


class SchemeTypeError(SchemeError):
    kind = "type"


class ArityError(SchemeError):
    kind = "arity"


class ParameterError(SchemeError):
    """A bad parameter declaration or `--set` override."""

    kind = "parameter"


class AssignmentError(SchemeError):
    """Assigning to a parameter, an undeclared variable or built-in state."""

    kind = "assignment"


class EvaluationError(SchemeError):
    """Division by zero, an empty set where a frame is needed, and similar."""

    kind = "evaluation"


class AssertionFailedError(SchemeError):
    kind = "assertion"


class StageTooLargeError(SchemeError):
    kind = "stage-too-large"


class GeneratedTwiceError(SchemeError):
    kind = "generated-twice"


class EmptyStageError(SchemeError):
    kind = "empty-stage"


class GenerateObserveOverlapError(SchemeError):
    kind = "generate-observe-overlap"


class JointWindowError(SchemeError):
    """A joint group whose windows do not fit its frames: a window holding a frame the
    group neither generates nor observes, a frame of the group in no window, no window."""

    kind = "joint-window"


class CoverageError(SchemeError):
    kind = "coverage"


class MarginalForbiddenError(SchemeError):
    kind = "marginal-forbidden"


class NoProgressError(SchemeError):
    kind = "no-progress"


class RecursiveCallError(SchemeError):
    """A procedure or function that calls itself, directly or through others."""

    kind = "recursion"


class LoopLimitError(SchemeError):
    kind = "loop-limit"


class MaskRequiredError(SchemeError):
    """A built-in that reads the mask (hole_fraction, coverage, informative) called
    without one."""

    kind = "mask-required"


class ResourceLimitError(SchemeError):
    """Too many stages or evaluation steps: a guard against runaway schemes."""

    kind = "resource-limit"


class SchemeErrors(SchemeError):
    """Several scheme errors from one run, sorted by source position."""

    kind = "errors"

    def __init__(self, errors: list[SchemeError], truncated: int = 0) -> None:
        self.errors = sorted(errors, key=lambda e: e.sort_key())
        self.truncated = truncated
        first = self.errors[0]
        super().__init__(
            message=first.message if len(self.errors) == 1 else f"{len(self.errors)} errors",
            span=first.span,
            source=first.source,
        )

    def render(self) -> str:
        # One message per (kind, place): a mistake inside a loop fails in many stages,
        # and the user needs to see it once, with the stages it affects.
        groups: dict[tuple, list[SchemeError]] = {}
        for e in self.errors:
            key = (type(e), e.span, e.message if e.stage is None else None)
            groups.setdefault(key, []).append(e)
        parts = []
        for group in groups.values():
            first = group[0]
            text = first.render()
            others = [e.stage for e in group[1:] if e.stage is not None]
            if others:
                from vidsched.frames_text import compact_ranges

                text += f"\n  = the same error in {len(others)} more stage{'s' if len(others) > 1 else ''}: {compact_ranges(others)}"
            parts.append(text)
        if self.truncated:
            parts.append(f"... and {self.truncated} more errors not shown")
        n = len(self.errors) + self.truncated
        parts.append(f"{n} error{'s' if n != 1 else ''} found")
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return "; ".join(e.message for e in self.errors)


class MaskError(VidschedError):
    """A mask file that cannot be read or does not fit the scheme."""
