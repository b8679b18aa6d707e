"""Procedures and functions in the checker: the calls of ``proc`` and ``fn`` definitions.

A definition is not compiled once and called: each call is compiled in place, with the
static types of its arguments (:meth:`DefinitionCalls.expand`), so a body is checked as
precisely as code written at the call. What that needs is here, apart from the walk of
expressions and statements in :mod:`vidsched.lang.check`:

* the names each file declares (:meth:`~DefinitionCalls.declare_definitions`): twice, or
  a built-in's name, is an error;
* the switch to the file that declares a body while it is compiled (a procedure imported
  from a library is compiled in the library's file, with the library's own helpers);
* arity, recursion (forbidden: the call that closes a loop is an error), the bound on the
  bodies expanded, and the note on every error that depends on a call, naming the call
  site (``in proc step, called at line 13, column 9``);
* unknown procedures and functions, with the nearest declared or built-in name.

:class:`DefinitionCalls` is a mixin of the checker: it uses the checker's ``error``,
``expr``, ``block``, ``declare``, ``mark`` and ``cost_since`` and its state (the linked
modules, the file being compiled, the errors).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from vidsched.errors import (
    ArityError,
    AssignmentError,
    RecursiveCallError,
    ResourceLimitError,
    SchemeError,
    SchemeTypeError,
    SourceFile,
    Span,
    UnknownNameError,
)
from vidsched.lang import ast
from vidsched.lang import codegen as cg
from vidsched.lang.builtins import ANY, BUILTINS
from vidsched.lang.codegen import CALL_STEPS
from vidsched.lang.imports import Linked, Module
from vidsched.lang.program import KEYWORDS, STATE_NAMES, Scope

MAX_EXPANSIONS = 10_000  # bodies of procedures and functions compiled, one per call site


class DefinitionCalls:
    """The checker's handling of ``proc`` and ``fn``: see the module's docstring."""

    linked: Linked
    module: Module
    source: SourceFile
    errors: list[SchemeError]
    _weight: int

    def init_definitions(self, linked: Linked) -> None:
        # The file being compiled: the scheme's, or an imported one while a body declared
        # there is compiled (`expand` switches `module`, `source` and `definitions`).
        self.linked = linked
        self.module = linked.root
        self.source = linked.root.source
        self.definitions: dict[str, ast.Definition] = linked.root.names
        # `expanding` is the chain of calls being compiled (to find recursion).
        self.expanding: list[tuple[ast.Definition, Span]] = []
        self.expansions = 0
        self.reported: set[tuple[type, str, Span | None]] = set()

    # ---- files ----------------------------------------------------------------------
    def enter(self, module: Module) -> tuple[Module, SourceFile, dict]:
        """Compile in `module`'s file from now on; returns what :meth:`leave` restores."""
        saved = (self.module, self.source, self.definitions)
        self.module, self.source, self.definitions = module, module.source, module.names
        return saved

    def leave(self, saved: tuple[Module, SourceFile, dict]) -> None:
        self.module, self.source, self.definitions = saved

    def declare_definitions(self, module: Module) -> None:
        """Check the names `module` declares; a definition that may not be called under its
        name (declared twice, a built-in's name) leaves the module's namespace."""
        saved = self.enter(module)
        seen: dict[str, ast.Definition] = {}
        for defn in module.definitions:
            if defn.name in seen:
                line = seen[defn.name].span.line
                self.error(AssignmentError, f"{defn.name} is already declared (line {line})", defn.name_span)
            elif defn.name in BUILTINS or defn.name in STATE_NAMES or defn.name in KEYWORDS:
                what = "a built-in function" if defn.name in BUILTINS else "a built-in name"
                self.error(AssignmentError, f"{defn.name} is {what} and cannot be declared", defn.name_span)
                if module.names.get(defn.name) is defn:
                    del module.names[defn.name]
            else:
                seen[defn.name] = defn
        self.leave(saved)

    def check_bodies(self) -> None:
        """Each definition's body on its own, once, with arguments of unknown type: the
        errors that do not depend on a call (those of imported files in their own files)."""
        for module in self.linked.modules:
            for defn in module.definitions:
                if module.names.get(defn.name) is defn:
                    self.expand(defn, None, [ANY] * len(defn.params))

    def call_note(self, defn: ast.Definition, call_span: Span, module: Module) -> str:
        """``in proc step, called at line 13, column 9`` (naming the caller's file when
        the body is in another)."""
        where = f"line {call_span.line}, column {call_span.column}"
        if module is not self.module:
            where += f" of {self.source.name}"
        return f"in {defn.kind} {defn.name}, called at {where}"

    # ---- calls ----------------------------------------------------------------------
    def expand(self, defn: ast.Definition, call_span: Span | None, arg_types: list[str]) -> tuple[Callable, str, list[int]] | None:
        """Compile `defn`'s body for one call (or, with call_span None, once on its own
        with arguments of unknown type); return (code, type, parameter slots), or None
        where the call is recursive or the expansion too large (the error is reported)."""
        chain = [d.name for d, _ in self.expanding]
        if defn.name in chain:
            loop = " -> ".join(chain[chain.index(defn.name):] + [defn.name])
            self.error(
                RecursiveCallError,
                f"{defn.name} calls itself ({loop}): procedures and functions cannot be recursive",
                call_span or defn.name_span,
                ["write the repetition as a for or while loop"],
            )
            return None
        self.expansions += 1
        if self.expansions > MAX_EXPANSIONS:
            if self.expansions == MAX_EXPANSIONS + 1:
                self.error(ResourceLimitError, f"the calls of procedures and functions expand to more than "
                           f"{MAX_EXPANSIONS:,} bodies", call_span or defn.name_span,
                           ["a procedure that calls others several times each multiplies them"])
            return None
        first_error = len(self.errors)
        module = self.linked.module_of.get(id(defn), self.module)
        note = self.call_note(defn, call_span, module) if call_span is not None else ""
        saved = self.enter(module)
        root = Scope(None)
        slots = [self.declare(name, span, typ, "arg", root).slot for (name, span), typ in zip(defn.params, arg_types)]
        self.expanding.append((defn, call_span or defn.name_span))
        try:
            if defn.body is not None:
                fn, typ = self.block(defn.body, root), ANY
            else:
                fn, typ = self.expr(defn.value, root)
        finally:
            self.expanding.pop()
            self.leave(saved)
        # An error in the body is reported once, at its position in the body; where it
        # depends on this call's arguments, a note names the call site.
        new, kept = self.errors[first_error:], []
        for err in new:
            if not getattr(err, "_in_body", False):  # (not yet seen by an inner call)
                key = (type(err), err.message, err.span, err.source.name if err.source else None)
                if key in self.reported:
                    continue
                self.reported.add(key)
                err._in_body = True
            if call_span is not None:
                err.notes.append(note)
            kept.append(err)
        del self.errors[first_error:]
        self.errors += kept
        return fn, typ, slots

    def call_defined(self, defn: ast.Definition, node: ast.Call | ast.CallStmt, scope: Scope) -> tuple[Callable, str]:
        """A call of a `proc` (as a statement) or a `fn` (in an expression)."""
        arg_fns = [self.expr(a, scope) for a in node.args]
        if len(node.args) != len(defn.params):
            n = len(defn.params)
            self.error(
                ArityError,
                f"{defn.name}() takes {n} argument{'s' if n != 1 else ''}, got {len(node.args)}",
                node.func_span,
                [f"{defn.kind} {defn.name}({', '.join(p for p, _ in defn.params)}) is declared at line {defn.span.line}"],
            )
            return (lambda rt: 0), ANY
        expanded = self.expand(defn, node.func_span, [t for _, t in arg_fns])
        if expanded is None:
            return (lambda rt: 0), ANY
        body, typ, slots = expanded
        fns = [f for f, _ in arg_fns]
        module = self.linked.module_of.get(id(defn), self.module)
        where = self.call_note(defn, node.func_span, module)
        body_source = None if module is self.module else module.source  # another file: errors point into it
        return cg.defined_call_fn(fns, slots, body, node.span, where, body_source, module.note), typ

    def function_call(self, defn: ast.Definition, node: ast.Call, scope: Scope) -> tuple[Callable, str]:
        """``name(...)`` in an expression, `name` declared in the file: a `fn`'s value."""
        if defn.kind == "proc":
            self.error(SchemeTypeError, f"{defn.name} is a procedure: it emits stages and has no value",
                       node.func_span, [f"call it as a statement: {defn.name}(...)"])
            return (lambda rt: 0), ANY
        fn, typ = self.call_defined(defn, node, scope)
        self._weight = CALL_STEPS
        return fn, typ

    def stmt_CallStmt(self, node: ast.CallStmt, scope: Scope) -> Callable:
        """``name(...)`` as a statement: a call of a `proc`."""
        defn = self.definitions.get(node.func)
        if defn is None and node.func not in BUILTINS:
            for arg in node.args:  # (their own errors)
                self.expr(arg, scope)
            self.unknown_callable(node.func, node.func_span, "procedure")
            return lambda rt: None
        if defn is None or defn.kind != "proc":
            self.error(SchemeTypeError, f"{node.func} is a function: its value would be thrown away", node.func_span,
                       [f"use its value, e.g. let x = {node.func}(...)"])
            return lambda rt: None
        mark = self.mark()
        call, _ = self.call_defined(defn, node, scope)
        steps, ops = self.cost_since(mark)
        return cg.call_stmt_fn(call, steps, ops, node.span)

    def unknown_callable(self, name: str, span: Span, what: str) -> None:
        """``unknown function frist`` / ``unknown procedure stepp``, with the nearest name
        declared in the file or built in, and what there is."""
        declared = sorted(self.definitions)
        candidates = declared + ([] if what == "procedure" else sorted(BUILTINS))
        notes = []
        close = difflib.get_close_matches(name, candidates, n=1)
        if close:
            notes.append(f"did you mean {close[0]}?")
        if what == "procedure":
            procs = [d for d in declared if self.definitions[d].kind == "proc"]
            notes.append("procedures: " + ", ".join(procs) if procs else
                         "declare it before the scheme: proc NAME(a, b) { ... }, or import it")
        else:
            notes.append("functions: " + ", ".join(sorted(BUILTINS)))
            if declared:
                notes.append("declared: " + ", ".join(declared))
        self.error(UnknownNameError, f"unknown {what} {name}", span, notes)
