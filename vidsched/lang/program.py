"""The checked program and the scopes that build it: what :mod:`vidsched.lang.check`
produces and :func:`vidsched.lang.evaluate.evaluate` runs.

A :class:`Scope` maps each name the scheme declares (a parameter, a ``let``, a loop
variable, a procedure's argument) to a :class:`Var`: a numbered slot of the runtime's
variable list and a static type. Names are resolved to slots once, while checking, so
evaluation indexes a list instead of looking names up (a 10,000-frame scheme runs tens
of thousands of loop iterations). The names here are the language's reserved ones:
they can be neither declared nor assigned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vidsched.errors import SourceFile, Span
from vidsched.lang import ast

STATE_NAMES = ("done", "todo", "given")
KEYWORDS = frozenset(
    "scheme let if else for in while limit assert given stage phase no marginals "
    "generate observe true false and or not by proc fn joint window".split()
)
REQUIRED_PARAMS = ("T", "K")


@dataclass
class Var:
    name: str
    slot: int
    type: str
    kind: str  # "param" | "let" | "for" | "arg"
    span: Span


class Scope:
    def __init__(self, parent: Scope | None) -> None:
        self.parent = parent
        self.vars: dict[str, Var] = {}

    def lookup(self, name: str) -> Var | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return None

    def visible_names(self) -> list[str]:
        names: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            names += scope.vars
            scope = scope.parent
        return names


@dataclass(frozen=True)
class Program:
    """A checked scheme, compiled to closures; run it with
    :func:`vidsched.lang.evaluate.evaluate`."""

    scheme: ast.Scheme
    source: SourceFile
    param_names: tuple[str, ...]
    param_spans: dict[str, Span]
    param_fns: tuple[Callable, ...]
    body: Callable
    num_slots: int
    param_types: dict[str, str] = field(default_factory=dict)  # static type of each default
