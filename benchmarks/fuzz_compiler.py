#!/usr/bin/env python
"""Fuzz the scheme compiler: every program must compile or fail with the project's error, quickly.

    python benchmarks/fuzz_compiler.py              # 20,000 programs, seed 0
    python benchmarks/fuzz_compiler.py --quick      # 1,000 programs
    python benchmarks/fuzz_compiler.py --count 5000 --seed 7 --timeout 5
    python benchmarks/fuzz_compiler.py --save-failures /tmp/fuzz  # write crashing programs there
    python benchmarks/fuzz_compiler.py --strict     # exit status 1 on a crash or an over-time

Programs come from three seeded generators (``random.Random(seed)``, so a run is
reproducible):

* **random**: statements and expressions over the whole grammar, well-typed and not
  (names known and unknown, functions with any number of arguments), like
  tests/test_properties.py's generator;
* **stress**: deeply nested blocks and expressions (unary minus, ``if``, parentheses,
  set and list literals, calls), long operator chains, huge numbers and arithmetic
  bombs (powers, fractions, ``iroot``), long loops, built-ins over long videos, texts
  past the size limit;
* **mutated**: the shipped schemes (``schemes/*.sched``, ``schemes/fdm/*.sched``,
  ``docs/examples/*.sched``) with characters and tokens deleted, inserted or swapped,
  numbers changed (sometimes to huge ones), lines repeated, a statement wrapped in a
  long loop, an operand replaced by a deeply nested one.

Each program is compiled through the library API (``compile_scheme`` with the default
``Limits``) in this process, under two alarms: ``--timeout`` seconds (5) of the process's
CPU time (``ITIMER_PROF``: on a machine shared with other work the wall clock of a
compile depends on the neighbours, its CPU time does not), and a wall-clock backstop of
``--wall-factor`` (3) times that (``ITIMER_REAL``), in case a compile ever waited on
something. Outcomes: **compiled** (a plan), **project error** (a ``SchemeError``, whose
message must render), **crash** (any other exception, or a message that fails to render)
and **over time** (an alarm went off). The goal is zero crashes and zero over-time.

The last line of the output is one JSON object with the counts and the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py
from _machine import load_avg, machine  # noqa: E402

from vidsched.compiler import compile_scheme  # noqa: E402
from vidsched.errors import SchemeError, SchemeErrors, SourceFile  # noqa: E402
from vidsched.lang.builtins import BUILTINS  # noqa: E402
from vidsched.lang.limits import Limits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_GLOBS = ("schemes/*.sched", "schemes/fdm/*.sched", "docs/examples/*.sched")
DEFAULT_COUNT = 20_000
QUICK_COUNT = 1_000
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_WALL_FACTOR = 3.0
# Share of each generator in a run.
MIX = (("random", 0.45), ("stress", 0.10), ("mutated", 0.45))


class OverTime(BaseException):
    """Raised by an alarm: a BaseException, so that no `except Exception` swallows it."""


def _on_alarm(signum, frame):
    raise OverTime("CPU time" if signum == signal.SIGPROF else "wall-clock time")


# ---- random programs ---------------------------------------------------------------------------
NAMES = ["T", "K", "n", "i", "x", "s", "a", "b", "fs", "done", "todo", "given", "zz", "step"]
FUNCS = sorted(BUILTINS) + ["foo"]
BINOPS = ["+", "-", "*", "//", "%", "/", "**", "|", "&", "<", "<=", ">", ">=", "==", "!=", "in", "not in",
          "and", "or"]
INT_OPS = ["+", "-", "*", "//", "%"]
SET_FUNCS = ["first", "last", "spread", "spread_right", "after", "before"]
INT_LEAVES = ["T", "K", "n", "a", "b", "len(todo)", "0", "1", "2", "3", "7", "16", "-1"]
SET_LEAVES = ["todo", "done", "given", "{}", "{0}", "{1, 3}", "(0 ..< K)", "(0 ..< T by 3)", "fs"]
SENSIBLE = [
    "while todo { stage { generate first(todo, K // 2 + 1); observe last(done, K // 2) } }",
    "for c in chunks(todo, K) { stage { generate c } }",
    "stage { generate spread(todo, K) }",
    "stage { generate first(todo, K - 2); observe first(after(todo, K), 2) }",
    "while todo limit T { stage { generate last(todo, 3); observe nearest(done, K - 3, max(todo)) } }",
    "no marginals",
    "for r in runs(todo) { stage { generate first(r, K) } }",
]


class RandomPrograms:
    """Programs over the whole grammar, often well-typed, sometimes nonsense."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def small_int(self) -> str:
        r = self.r
        if r.random() < 0.85:
            return str(r.randint(-3, 40))
        return str(r.choice([0, 1, 2, 100, 1000, 10**6, 10**40, 2**255, 2**256]))

    def any_expr(self, depth: int) -> str:
        r = self.r
        if depth <= 0 or r.random() < 0.3:
            return r.choice([self.small_int(), r.choice(NAMES), r.choice(["true", "false", "{}", "[]"])])
        d = depth - 1
        k = r.randint(0, 6)
        if k == 0:
            return f"({self.any_expr(d)} {r.choice(BINOPS)} {self.any_expr(d)})"
        if k == 1:
            return f"{r.choice(['-', 'not '])}{self.any_expr(d)}"
        if k == 2:
            args = ", ".join(self.any_expr(d) for _ in range(r.randint(0, 3)))
            return f"{r.choice(FUNCS)}({args})"
        if k == 3:
            return "{" + ", ".join(self.any_expr(d) for _ in range(r.randint(0, 3))) + "}"
        if k == 4:
            return "[" + ", ".join(self.any_expr(d) for _ in range(r.randint(0, 3))) + "]"
        if k == 5:
            return f"({self.any_expr(d)} {r.choice(['..<', '..='])} {self.any_expr(d)})"
        return f"({self.any_expr(d)} ..< {self.any_expr(d)} by {self.any_expr(d)})"

    def int_expr(self, depth: int) -> str:
        r = self.r
        k = r.randint(0, 7 if depth > 0 else 0)
        d = depth - 1
        if k == 0 or k == 7:
            return r.choice(INT_LEAVES)
        if k == 1:
            return f"({self.int_expr(d)} {r.choice(INT_OPS)} {self.int_expr(d)})"
        if k == 2:
            return f"{r.choice(['len', 'min', 'max'])}({self.set_expr(d)})"
        if k == 3:
            return f"nth({self.set_expr(d)}, {self.int_expr(d)})"
        if k == 4:
            return f"{r.choice(['ceil_div', 'max', 'min'])}({self.int_expr(d)}, {self.int_expr(d)})"
        if k == 5:
            return f"iroot({self.int_expr(d)}, {r.randint(1, 4)})"
        return f"floor({self.int_expr(d)} / {self.int_expr(d)})"

    def set_expr(self, depth: int) -> str:
        r = self.r
        k = r.randint(0, 7 if depth > 0 else 0)
        d = depth - 1
        if k == 0 or k == 7:
            return r.choice(SET_LEAVES)
        if k == 1:
            return f"({self.set_expr(d)} {r.choice(['|', '&', '-'])} {self.set_expr(d)})"
        if k == 2:
            return f"({self.int_expr(d)} {r.choice(['..<', '..='])} {self.int_expr(d)})"
        if k == 3:
            return f"({self.int_expr(d)} ..< {self.int_expr(d)} by {self.int_expr(d)})"
        if k == 4:
            return f"{r.choice(SET_FUNCS)}({self.set_expr(d)}, {self.int_expr(d)})"
        if k == 5:
            return f"nearest({self.set_expr(d)}, {self.int_expr(d)}, {self.int_expr(d)})"
        return "{" + ", ".join(self.int_expr(d) for _ in range(r.randint(0, 3))) + "}"

    def cond(self, depth: int) -> str:
        r = self.r
        k = r.randint(0, 5)
        if k == 0:
            return f"{self.int_expr(depth)} {r.choice(['<', '<=', '>', '>=', '==', '!='])} {self.int_expr(depth)}"
        if k == 1:
            return f"{self.int_expr(depth)} < {self.int_expr(depth)} <= {self.int_expr(depth)}"
        if k == 2:
            return f"{self.int_expr(depth)} {r.choice(['in', 'not in'])} {self.set_expr(depth)}"
        if k == 3:
            return self.set_expr(depth)
        if k == 4:
            return f"not {self.set_expr(depth)}"
        return r.choice(["true", "false"])

    def stmt(self, depth: int, nonsense: bool) -> str:
        r = self.r
        if nonsense and r.random() < 0.25:
            e = self.any_expr(3)
            k = r.randint(0, 5)
            if k == 0:
                return f"let {r.choice(NAMES)} = {e}"
            if k == 1:
                return f"{r.choice(NAMES)} = {e}"
            if k == 2:
                return f"assert {e}"
            if k == 3:
                return f"stage {{ {r.choice(['generate', 'observe'])} {e} }}"
            if k == 4:
                return f"given {e}"
            return f"{r.choice(['for x in', 'while', 'if'])} {e} {self.block(depth - 1, nonsense)}"
        k = r.randint(0, 12 if depth > 0 else 7)
        if k <= 1:
            return r.choice(SENSIBLE)
        if k == 2:
            return f"{r.choice(['a', 'b'])} = {self.int_expr(2)}"
        if k == 3:
            return f"fs = {self.set_expr(2)}"
        if k == 4:
            return f"assert {self.cond(2)}" + (', "message"' if r.random() < 0.5 else "")
        if k == 5:
            return f"given {self.set_expr(2)}"
        if k <= 7:
            label = r.choice(["", "named ", '"a name" '])
            observe = f"; observe {self.set_expr(2)}" if r.random() < 0.5 else ""
            return f"stage {label}{{ generate {self.set_expr(2)}{observe} }}"
        if k == 8:
            orelse = f" else {self.block(depth - 1, nonsense)}" if r.random() < 0.5 else ""
            return f"if {self.cond(2)} {self.block(depth - 1, nonsense)}{orelse}"
        if k == 9:
            return f"for v in {self.set_expr(2)} {self.block(depth - 1, nonsense)}"
        if k == 10:
            return f"for c in chunks({self.set_expr(2)}, {r.randint(1, 5)}) {self.block(depth - 1, nonsense)}"
        if k == 11:
            limit = f" limit {self.int_expr(2)}" if r.random() < 0.5 else ""
            return f"while {self.cond(2)}{limit} {self.block(depth - 1, nonsense)}"
        return f"phase {r.choice(['p', chr(34) + 'phase two' + chr(34)])} {self.block(depth - 1, nonsense)}"

    def block(self, depth: int, nonsense: bool) -> str:
        return "{\n" + "\n".join(self.stmt(depth, nonsense) for _ in range(self.r.randint(0, 3))) + "\n}"

    def params(self) -> str:
        r = self.r
        k = r.randint(0, 4)
        if k <= 2:
            return f"T = {r.randint(1, 64)}, K = {r.randint(1, 20)}, n = {r.randint(0, 5)}, step = K // 2"
        if k == 3:
            return f"T = 30, K = {self.any_expr(2)}, n = 1"
        return r.choice(["", "T = 10", "T = 0, K = 0", "T = 10, K = 4, T = 3", "K = 4, x = true",
                         f"T = {r.choice([1000, 10**5, 10**6, 10**7, 10**8])}, K = 16, n = 0"])

    def program(self) -> str:
        r = self.r
        nonsense = r.random() < 0.5
        stmts = [self.stmt(2, nonsense) for _ in range(r.randint(0, 5))]
        tail = r.choice(["", "while todo { stage { generate first(todo, K) } }"])
        head = r.choice(["", "given 0 ..< n"])
        sep = r.choice(["\n", "; ", "\n\n  "])
        body = [head, "let a = 0", "let b = 1", "let fs = {}"] + stmts + [tail]
        return f"scheme gen({self.params()}) {{\n" + sep.join(body) + "\n}\n"


# ---- stress programs ---------------------------------------------------------------------------
def _scheme(body: str, params: str = "T = 16, K = 8") -> str:
    return f"scheme stress({params}) {{\n{body}\n    stage {{ generate todo }}\n}}\n"


class StressPrograms:
    """Deep nesting, long chains, huge numbers, long loops: the shapes that break compilers."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def depth(self) -> int:
        r = self.r
        return r.choice([r.randint(1, 120), r.randint(90, 110), r.randint(100, 3000), r.choice([250, 1000, 2000, 5000])])

    def length(self) -> int:
        r = self.r
        return r.choice([r.randint(1, 600), r.randint(500, 6000), r.choice([500, 5000, 10000])])

    def big_number(self) -> str:
        r = self.r
        return r.choice([
            str(r.randint(0, 10**6)),
            str(2 ** r.randint(1, 300)),
            str(10 ** r.randint(1, 100)),
            "9" * r.randint(70, 5000),
            f"{r.randint(2, 999)} ** {r.choice([r.randint(1, 300), 10**6, 9999998, 2**64])}",
            f"({r.randint(1, 999)} / {r.randint(1, 99)}) ** {r.choice(['-', ''])}{r.choice([3, 40, 300, 9999998])}",
        ])

    def program(self) -> str:
        r = self.r
        n, m = self.depth(), self.length()
        k = r.randint(0, 33)
        if k == 0:
            return _scheme(f"    let x = {'-' * n}1")
        if k == 1:
            return _scheme(f"    let b = {'not ' * n}true")
        if k == 2:
            return _scheme("    " + "if true { " * n + "let x = 1" + " }" * n)
        if k == 3:
            return _scheme("    let i = 0\n    " + "while i < 1 { " * n + "i = i + 1" + " }" * n)
        if k == 4:
            return _scheme("    " + "for a in [1] { " * n + "let z = 1" + " }" * n)
        if k == 5:
            return _scheme(f"    let x = {'(' * n}1{')' * n}")
        if k == 6:
            return _scheme(f"    let x = {'{' * n}1{'}' * n}")
        if k == 7:
            return _scheme(f"    let x = {'[' * n}1{']' * n}")
        if k == 8:
            f = r.choice(["abs(", "len(", "first(todo, ", "max(1, ", "floor("])
            inner = "todo" if f == "len(" else "1"
            return _scheme(f"    let x = {f * n}{inner}{')' * n}")
        if k == 9:
            return _scheme(f"    let x = {'1 + (' * n}1{')' * n}")
        if k == 10:
            return _scheme(f"    let x = {'2 ** ' * n}1")
        if k == 11:
            op = r.choice(["+", "-", "*", "//", "%", "/"])
            return _scheme(f"    let x = 1{f' {op} 1' * m}")
        if k == 12:
            return _scheme("    let x = 1\n" + "    + 1\n" * m if r.random() < 0.5 else f"    let x = 1{' + 1' * m}")
        if k == 13:
            return _scheme(f"    let s = todo{''.join(f' | {{{i % 16}}}' for i in range(m))}")
        if k == 14:
            return _scheme(f"    let b = true{' and true' * m}{' or false' * r.randint(0, m)}")
        if k == 15:
            return _scheme(f"    let b = 0{' < 1' * m}")
        if k == 16:
            return _scheme(f"    let x = {'(' * n}1{' + 1)' * n}")  # a left chain behind parentheses
        if k == 17:
            return _scheme(f"    let x = iroot({self.big_number()}, {r.choice([1, 2, 3, 100, 2**200, 2**255])})")
        if k == 18:
            return _scheme(f"    let x = {self.big_number()}\n    let y = x * x + x")
        if k == 19:
            op = r.choice(["x + x", "x * 2", "x * x", "x + 1", "x / 3 + 1 / 7", "-x * 3", "x ** 2"])
            limit = r.choice([10, 1000, 2_000_000, 10**9])
            return _scheme(f"    let x = 1\n    while true limit {limit} {{ x = {op} }}")
        if k == 20:
            T = r.choice([10**4, 10**5, 10**6, 10**7])
            return _scheme("    for a in 0 ..< T { for b in 0 ..< T { } }", f"T = {T}, K = 8")
        if k == 21:
            T = r.choice([10**4, 10**5, 10**6, 10**7])
            f = r.choice(["reversed(todo)", "chunks(todo, 1)", "chunks(todo, K)", "runs(0 ..< T by 2)",
                          "spread(todo, T // 2)", "spread_right(todo, T - 1)", "nearest(todo, T // 2, T // 3)",
                          "[todo, todo] == [todo, todo]", "7 in reversed(todo)"])
            return _scheme(f"    let s = {f}", f"T = {T}, K = 8")
        if k == 22:
            T = r.choice([10**4, 10**5, 10**6, 10**7])
            return _scheme("    while todo { stage { generate first(todo, K) } }", f"T = {T}, K = {r.choice([1, 16, 1000])}")
        if k == 23:
            T = r.choice([10**5, 10**6, 10**7])
            return _scheme("    for s in [0 ..< T by 2] { for i in 0 ..< 100000 { stage { generate i } } }",
                           f"T = {T}, K = 8")
        if k == 24:
            T = r.choice([10**5, 10**6, 10**7])
            return _scheme(f"    stage {{ generate 0 ..< T by {r.choice([1, 2, 3])} }}\n"
                           f"    stage {{ generate 0 ..< T by {r.choice([2, 5])} }}", f"T = {T}, K = {r.choice([8, T])}")
        if k == 25:
            size = r.choice([90_000, 99_990, 100_001, 150_000])
            line = "    let x = 1\n"
            return _scheme("# " + "x" * max(0, size - 200) + "\n" + line)
        if k == 26:
            return _scheme("\n".join(f"    let v{i} = {i} * (T + {i})" for i in range(m)))
        if k == 27:
            label = r.choice(['"\\N{nope}"', '"\\x4"', '"\\u12"', '"\\q"', '"é\\t"', '"\\\\"'])
            return _scheme(f"    stage {label} {{ generate 0 }}\n    assert true, {label}")
        if k == 28:
            return _scheme(f"    let x = 1\n    while x < {self.big_number()} {{ x = x * 3 }}")
        if k == 29:
            return _scheme("    let i = 0\n    while i < 100000000 { given {i}\n i = i + 1 }", "T = 10000000, K = 8")
        if k == 30:
            half = n // 2
            return _scheme("    " + "if true { " * half + f"let x = {'-' * half}1" + " }" * half)
        if k == 31:
            return _scheme(f"    let x = 1{' + 1' * m}", f"T = {self.big_number()}, K = {self.big_number()}")
        if k == 32:
            return _scheme("    " + "phase p { " * n + "stage { generate 1 }" + " }" * n)
        return _scheme(f"    let x = {'(' * n}{'-' * r.randint(0, 50)}{self.big_number()}{')' * n}")


# ---- mutated shipped schemes --------------------------------------------------------------------
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z_0-9]*|\d+|\.\.[<=]|//|\*\*|[<>=!]=|\"[^\"\n]*\"|#[^\n]*|.", re.S)
INSERTS = list("{}()[],;=<>+-*/%|&#\"\n ") + ["..<", "..=", "not in", "stage", "generate", "observe", "while",
                                                 "limit", "given", "no marginals", "let", "else", "0", "-1",
                                                 "999999", "todo", "done", "K", "T", "**", "iroot(", "\\"]


def shipped_sources() -> dict[str, str]:
    out = {}
    for pattern in SHIPPED_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            out[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return out


class Mutations:
    """Shipped schemes, changed a few times each."""

    def __init__(self, rng: random.Random, sources: dict[str, str]) -> None:
        self.r = rng
        self.sources = sources
        self.names = sorted(sources)

    def number(self) -> str:
        r = self.r
        if r.random() < 0.9:
            return str(r.choice([0, 1, 2, 3, 4, 5, 7, 8, 16, 40, r.randint(0, 100), 1000]))
        return str(r.choice([10**5, 10**6, 10**7, 10**9, 2**64, 2**300, 10**80, 9999998]))

    def mutate(self, text: str) -> str:
        r = self.r
        kind = r.choice(["del_char", "ins", "swap_chars", "del_token", "dup_token", "swap_tokens", "number",
                         "number", "number", "dup_line", "wrap_loop", "deepen", "op_chain"])
        tokens = TOKEN.findall(text)
        if kind == "number":
            spots = [i for i, t in enumerate(tokens) if t.isdigit()]
            if spots:
                tokens[r.choice(spots)] = self.number()
            return "".join(tokens)
        if kind in ("del_token", "dup_token", "swap_tokens"):
            i = r.randrange(len(tokens))
            if kind == "del_token":
                del tokens[i]
            elif kind == "dup_token":
                tokens.insert(i, tokens[i])
            else:
                j = r.randrange(len(tokens))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            return "".join(tokens)
        if kind == "deepen":  # an operand replaced by a deeply nested one
            spots = [i for i, t in enumerate(tokens) if t.isdigit() or t in ("todo", "done", "K", "T")]
            if spots:
                i = r.choice(spots)
                n = r.choice([r.randint(1, 60), r.randint(60, 1500)])
                wrap = r.choice([("(", ")"), ("-", ""), ("abs(", ")"), ("{", "}"), ("(0 + ", ")")])
                tokens[i] = wrap[0] * n + tokens[i] + wrap[1] * n
            return "".join(tokens)
        if kind == "op_chain":
            spots = [i for i, t in enumerate(tokens) if t.isdigit()]
            if spots:
                i = r.choice(spots)
                tokens[i] = tokens[i] + f" {r.choice(['+', '*', '-'])} 1" * r.choice([10, 500, 5000])
            return "".join(tokens)
        lines = text.split("\n")
        if kind == "dup_line":
            i = r.randrange(len(lines))
            lines[i:i + 1] = [lines[i]] * r.choice([2, 3, 50])
            return "\n".join(lines)
        if kind == "wrap_loop":
            i = r.randrange(len(lines))
            limit = r.choice([10, 1000, 100000, 10**7])
            lines[i] = f"let w{i} = 0\nwhile w{i} < {limit} limit {limit} {{ w{i} = w{i} + 1\n{lines[i]}\n}}"
            return "\n".join(lines)
        i = r.randrange(max(1, len(text)))
        if kind == "del_char":
            return text[:i] + text[i + 1:]
        if kind == "ins":
            return text[:i] + r.choice(INSERTS) + text[i:]
        return text[:i] + text[i + 1:i + 2] + text[i:i + 1] + text[i + 2:] if len(text) > i + 1 else text

    def program(self) -> tuple[str, str]:
        name = self.r.choice(self.names)
        text = self.sources[name]
        for _ in range(self.r.randint(1, 3)):
            text = self.mutate(text)
        return name, text


# ---- running -----------------------------------------------------------------------------------
def run_one(text: str, timeout_s: float, wall_s: float, limits: Limits) -> tuple[str, float, float, str]:
    """(outcome, CPU seconds, wall seconds, detail): outcome is compiled, error, crash or
    overtime."""
    signal.setitimer(signal.ITIMER_PROF, timeout_s)
    signal.setitimer(signal.ITIMER_REAL, wall_s)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        try:
            compile_scheme(SourceFile("fuzz.sched", text), limits=limits)
            outcome, detail = "compiled", ""
        except SchemeError as e:
            rendered = e.render()  # a message that fails to render is a crash
            errors = e.errors if isinstance(e, SchemeErrors) else [e]
            outcome, detail = "error", ",".join(sorted({err.kind for err in errors})) or "?"
            if not rendered:
                outcome, detail = "crash", "an error with an empty message"
        except Exception as e:  # noqa: BLE001 - anything else is what we are looking for
            outcome = "crash"
            detail = f"{type(e).__name__}: {e}"[:300] + "\n" + "".join(traceback.format_exc(limit=-6))
    except OverTime as e:
        limit = timeout_s if "CPU" in str(e) else wall_s
        outcome, detail = "overtime", f"over {limit:g} s of {e}"
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome, time.process_time() - c0, time.perf_counter() - t0, detail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"a short run ({QUICK_COUNT:,} programs)")
    ap.add_argument("--count", type=int, default=None, help=f"programs to compile (default {DEFAULT_COUNT:,})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="CPU seconds allowed per program")
    ap.add_argument("--wall-factor", type=float, default=DEFAULT_WALL_FACTOR,
                    help="wall-clock seconds allowed per program, as a multiple of --timeout")
    ap.add_argument("--save-failures", type=Path, default=None, help="write crashing / over-time programs here")
    ap.add_argument("--slow", type=float, default=None, metavar="S",
                    help="also report (and save, with --save-failures) programs that take more than S seconds")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 on a crash or an over-time")
    args = ap.parse_args(argv)
    count = args.count if args.count is not None else (QUICK_COUNT if args.quick else DEFAULT_COUNT)
    if not hasattr(signal, "SIGALRM"):
        print("this benchmark needs signal.SIGALRM (Linux, macOS)", file=sys.stderr)
        return 2

    rng = random.Random(args.seed)
    sources = shipped_sources()
    generators = {
        "random": RandomPrograms(random.Random(rng.random())),
        "stress": StressPrograms(random.Random(rng.random())),
        "mutated": Mutations(random.Random(rng.random()), sources),
    }
    limits = Limits()
    wall_s = args.timeout * args.wall_factor
    old_handlers = (signal.signal(signal.SIGALRM, _on_alarm), signal.signal(signal.SIGPROF, _on_alarm))
    load_before = load_avg()
    compile_scheme(SourceFile("warmup.sched", "scheme w(T = 4, K = 4) { stage { generate todo } }"))

    print(f"Fuzzing the compiler: {count:,} programs, seed {args.seed}, {args.timeout:g} s of CPU time "
          f"({wall_s:g} s of wall-clock time) allowed each, "
          f"{len(sources)} shipped schemes to mutate, default Limits (max_fuel {limits.max_fuel:,}, "
          f"max_nesting {limits.max_nesting}, max_int_bits {limits.max_int_bits})")
    outcomes: Counter = Counter()
    by_source: dict[str, Counter] = {name: Counter() for name, _ in MIX}
    error_kinds: Counter = Counter()
    failures: list[dict] = []
    slowest: list[tuple[float, str, str]] = []
    seconds_by_source: Counter = Counter()
    max_wall = 0.0
    t_start = time.perf_counter()
    weights = [w for _, w in MIX]
    for i in range(count):
        source = rng.choices([name for name, _ in MIX], weights)[0]
        origin = source
        if source == "mutated":
            origin, text = generators["mutated"].program()
            origin = f"mutated {origin}"
        else:
            text = generators[source].program()
        outcome, seconds, wall, detail = run_one(text, args.timeout, wall_s, limits)
        max_wall = max(max_wall, wall)
        outcomes[outcome] += 1
        by_source[source][outcome] += 1
        seconds_by_source[source] += seconds
        if outcome == "error":
            for kind in detail.split(","):
                error_kinds[kind] += 1
        slowest.append((seconds, origin, outcome))
        slowest = sorted(slowest, reverse=True)[:5]
        if outcome in ("crash", "overtime"):
            failures.append({"index": i, "source": origin, "outcome": outcome, "detail": detail, "text": text})
            print(f"  program {i} ({origin}): {outcome.upper()} after {seconds:.2f} s of CPU time "
                  f"({wall:.2f} s wall): {detail.splitlines()[0]}")
            if args.save_failures is not None:
                args.save_failures.mkdir(parents=True, exist_ok=True)
                (args.save_failures / f"{outcome}_{i}.sched").write_text(text, encoding="utf-8")
                (args.save_failures / f"{outcome}_{i}.txt").write_text(detail, encoding="utf-8")
        elif args.slow is not None and seconds > args.slow:
            print(f"  program {i} ({origin}): slow, {outcome} after {seconds:.2f} s of CPU time ({wall:.2f} s wall)")
            if args.save_failures is not None:
                args.save_failures.mkdir(parents=True, exist_ok=True)
                (args.save_failures / f"slow_{i}.sched").write_text(text, encoding="utf-8")
        if (i + 1) % max(1, count // 10) == 0:
            elapsed = time.perf_counter() - t_start
            print(f"  {i + 1:>7,} programs in {elapsed:7.1f} s: {outcomes['compiled']:,} compiled, "
                  f"{outcomes['error']:,} project errors, {outcomes['crash']:,} crashes, "
                  f"{outcomes['overtime']:,} over time", flush=True)
    total_s = time.perf_counter() - t_start
    signal.signal(signal.SIGALRM, old_handlers[0])
    signal.signal(signal.SIGPROF, old_handlers[1])

    print()
    print(f"{'source':<10} {'programs':>9} {'compiled':>9} {'errors':>9} {'crashes':>8} {'over time':>10} "
          f"{'CPU s':>9}")
    for name, _ in MIX:
        c = by_source[name]
        print(f"{name:<10} {sum(c.values()):>9,} {c['compiled']:>9,} {c['error']:>9,} {c['crash']:>8,} "
              f"{c['overtime']:>10,} {seconds_by_source[name]:>9.1f}")
    print(f"{'all':<10} {count:>9,} {outcomes['compiled']:>9,} {outcomes['error']:>9,} {outcomes['crash']:>8,} "
          f"{outcomes['overtime']:>10,} {sum(seconds_by_source.values()):>9.1f}")
    print(f"Wall-clock time of the run: {total_s:.1f} s")
    print("Project errors by kind: " + ", ".join(f"{k} {v:,}" for k, v in error_kinds.most_common()))
    print("Slowest programs (CPU time): " + "; ".join(f"{s:.2f} s ({origin}, {outcome})" for s, origin, outcome in slowest))
    print(f"Longest wall-clock time of a program: {max_wall:.2f} s")
    verdict = "PASS: no crash, nothing over time" if not failures else f"FAIL: {len(failures)} program(s) crashed or ran over time"
    print(verdict)
    cores = os.cpu_count() or 1
    if load_before is not None and load_before > 0.5 * cores:
        print(f"note: the machine was busy (1-min load average {load_before:.2f} on {cores} cores): "
              "times are noisy")

    summary = {
        "benchmark": "fuzz_compiler",
        "seed": args.seed,
        "programs": count,
        "timeout_cpu_s": args.timeout,
        "timeout_wall_s": wall_s,
        "compiled": outcomes["compiled"],
        "project_errors": outcomes["error"],
        "crashes": outcomes["crash"],
        "over_time": outcomes["overtime"],
        "seconds": round(total_s, 2),
        "cpu_seconds": round(sum(seconds_by_source.values()), 2),
        "by_source": {
            name: {
                "programs": sum(by_source[name].values()),
                "compiled": by_source[name]["compiled"],
                "project_errors": by_source[name]["error"],
                "crashes": by_source[name]["crash"],
                "over_time": by_source[name]["overtime"],
                "cpu_seconds": round(seconds_by_source[name], 2),
            }
            for name, _ in MIX
        },
        "error_kinds": dict(error_kinds.most_common()),
        "slowest_cpu_s": round(slowest[0][0], 3) if slowest else 0.0,
        "slowest_wall_s": round(max_wall, 3),
        "failures": [{k: f[k] for k in ("index", "source", "outcome")} | {"detail": f["detail"].splitlines()[0]}
                     for f in failures[:20]],
        "limits": {"max_fuel": limits.max_fuel, "max_nesting": limits.max_nesting,
                   "max_int_bits": limits.max_int_bits, "max_source_chars": limits.max_source_chars},
        "machine": {**machine(), "load_avg_1min_before": load_before, "load_avg_1min_after": load_avg()},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if (args.strict and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
