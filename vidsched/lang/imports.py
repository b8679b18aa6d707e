"""Imports: the files a scheme's ``import`` statements name, loaded and linked.

    import "lib/steps.sched"            # a file, relative to the importing file
    import std.improved_ar              # a library shipped with vidsched (std/*.sched here)
    from std.improved_ar import fill    # only some of its names

An import brings the procedures and functions (``proc``, ``fn``) that the imported
file itself declares, nothing else: not its scheme block (which may be missing: such a
file is a library), not the names it imports in turn (those are visible inside it only).
Every file is one :class:`Module` with its own namespace, so a library's procedures call
its own helpers whatever the importing file declares. A file imported twice (by two
files) is loaded once. :func:`link` is the only place that reads files; the checker
(:mod:`vidsched.lang.check`) receives the linked modules and does no I/O.

Errors (kind ``import``, reported together with the rest): a file or library that does
not exist (at the import's target), an import cycle (at the import that closes it,
listing the cycle), a name imported twice or also declared locally, a name that the
imported file does not declare (``from ... import``). Syntax errors inside an imported
file are reported in that file, with a note naming the import.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from vidsched.errors import SchemeError, SchemeErrors, SourceFile, Span
from vidsched.lang import ast
from vidsched.lang.limits import Limits
from vidsched.lang.parser import parse_library

SUFFIX = ".sched"
STD = "std"  # `import std.NAME`: the file std/NAME.sched beside this module
MAX_MODULES = 100  # files one compile may load, the scheme's own included


class SchemeImportError(SchemeError):
    """A missing file, an import cycle or a clash between imported names."""

    kind = "import"


@dataclass(eq=False)
class Module:
    """One file: its source, the definitions it declares and the names visible in it
    (its own definitions and those it imports)."""

    source: SourceFile
    definitions: tuple[ast.Definition, ...]
    names: dict[str, ast.Definition] = field(default_factory=dict)
    # Where it was first imported ("line 3 of x.sched"), for notes; None: the scheme.
    imported_at: str | None = None

    @property
    def note(self) -> str | None:
        """The note an error inside this file carries: which import brought it in."""
        return f"{self.source.name} is imported at {self.imported_at}" if self.imported_at else None


@dataclass(eq=False)
class Linked:
    """The scheme's module and every module it imports, directly or not."""

    root: Module
    modules: list[Module]
    module_of: dict[int, Module]  # id(definition) -> the module that declares it


def std_root() -> Path:
    """The folder of the shipped library (package data ``vidsched/lang/std``)."""
    try:
        root = resources.files("vidsched.lang").joinpath(STD)
        return Path(str(root))
    except ModuleNotFoundError:  # pragma: no cover - the package is always importable
        return Path(__file__).resolve().parent / STD


def std_modules() -> list[str]:
    """The names of the shipped library modules, e.g. ``std.improved_ar``."""
    return sorted(f"{STD}.{p.name[: -len(SUFFIX)]}" for p in std_root().glob("*" + SUFFIX))


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str, name: str, limits: Limits) -> ast.Library:
    # The AST is frozen: a library imported by every compile is parsed once per process.
    return parse_library(text, name, limits)


def _where(span: Span, source: SourceFile) -> str:
    return f"line {span.line} of {source.name}"


class _Linker:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.errors: list[SchemeError] = []
        self.loaded: dict[str, Module] = {}  # resolved path -> module
        self.loading: list[tuple[str, str]] = []  # (resolved path, display name) being loaded
        self.modules: list[Module] = []

    def fail(self, message: str, span: Span, source: SourceFile, module: Module | None, notes=()) -> None:
        notes = list(notes)
        if module is not None and module.note:
            notes.append(module.note)
        self.errors.append(SchemeImportError(message, span, source, notes))

    def locate(self, imp: ast.Import, importer: Module, base: Path | None) -> tuple[Path, str] | None:
        """(the file, its name in messages) that `imp` names, or None (error reported)."""
        src = importer.source
        if not imp.path:
            parts = imp.target.split(".")
            if parts[0] != STD or len(parts) != 2:
                self.fail(f"no library named {imp.target}: a library is std.NAME, a file is a \"path.sched\"",
                          imp.target_span, src, importer, [f"libraries: {', '.join(std_modules())}"])
                return None
            path = std_root() / (parts[1] + SUFFIX)
            if not path.is_file():
                self.fail(f"no library named {imp.target}", imp.target_span, src, importer,
                          [f"libraries: {', '.join(std_modules())}"])
                return None
            return path, f"{STD}/{parts[1]}{SUFFIX}"
        target = imp.target
        if not target.endswith(SUFFIX):
            self.fail(f'an imported file must end in {SUFFIX}: "{target}"', imp.target_span, src, importer)
            return None
        if base is None:
            self.fail(f'cannot import "{target}" from {src.name}: it is not a file on disk, so a relative path '
                      "has nothing to be relative to", imp.target_span, src, importer)
            return None
        path = base / target
        name = os.path.normpath(os.path.join(os.path.dirname(src.name), target)) if src.name else target
        if not path.is_file():
            looked = f" (looked for {name})" if name != target else ""
            self.fail(f'file not found: "{target}"{looked}', imp.target_span, src, importer,
                      ["a path is relative to the folder of the file that imports it"])
            return None
        return path, name

    def load(self, imp: ast.Import, importer: Module, base: Path | None) -> Module | None:
        found = self.locate(imp, importer, base)
        if found is None:
            return None
        path, name = found
        key = str(path.resolve())
        keys = [k for k, _ in self.loading]
        if key in keys:
            cycle = [n for _, n in self.loading[keys.index(key):]] + [name]
            self.fail(f"import cycle: {' -> '.join(cycle)}", imp.span, importer.source, importer,
                      ["a file cannot import itself, directly or through others"])
            return None
        if key in self.loaded:
            return self.loaded[key]
        if len(self.loaded) + 1 >= MAX_MODULES:
            self.fail(f"the scheme imports more than {MAX_MODULES - 1} files", imp.span, importer.source, importer)
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.fail(f'cannot read "{imp.target}": {e}', imp.target_span, importer.source, importer)
            return None
        where = _where(imp.span, importer.source)
        try:
            library = _parse_cached(text, name, self.limits)
        except SchemeError as e:
            for err in e.errors if isinstance(e, SchemeErrors) else [e]:
                err.notes.append(f"{name} is imported at {where}")
                self.errors.append(err)
            return None
        module = Module(SourceFile(name, text), library.definitions, imported_at=where)
        self.loaded[key] = module
        self.loading.append((key, name))
        try:
            self.bind(module, library.imports, path.parent)
        finally:
            self.loading.pop()
        return module

    def bind(self, module: Module, imports: tuple[ast.Import, ...], base: Path | None) -> None:
        """Load `imports` and fill `module.names`: its imported names, then its own."""
        self.modules.append(module)
        origin: dict[str, str] = {}  # name -> where it came from, for clash messages
        src = module.source
        for imp in imports:
            other = self.load(imp, module, base)
            if other is None:
                continue
            declared = {d.name: d for d in other.definitions}
            if imp.names is None:
                chosen = [(d.name, imp.target_span) for d in other.definitions]
            else:
                chosen = []
                for name, span in imp.names:
                    if name in declared:
                        chosen.append((name, span))
                    else:
                        self.fail(f"{other.source.name} declares no procedure or function {name}", span, src, module,
                                  [f"it declares: {', '.join(sorted(declared)) or 'nothing'}"])
            for name, span in chosen:
                if name in module.names and module.names[name] is declared[name]:
                    continue  # the same definition twice (e.g. two imports of one file)
                if name in origin:
                    self.fail(f"{name} is imported twice: from {origin[name]} and from {imp.target}", span, src,
                              module, ["import only some names: from TARGET import a, b"])
                    continue
                origin[name] = imp.target
                module.names[name] = declared[name]
        for defn in module.definitions:
            if defn.name in origin:
                self.fail(f"{defn.name} is declared here and also imported from {origin[defn.name]}", defn.name_span,
                          src, module, ["rename it, or import only some names: from TARGET import a, b"])
            elif defn.name not in module.names:  # (declared twice: the checker reports it)
                module.names[defn.name] = defn


def link(
    definitions: tuple[ast.Definition, ...],
    imports: tuple[ast.Import, ...],
    source: SourceFile,
    limits: Limits | None = None,
    base: Path | None = None,
) -> Linked:
    """Load what a scheme imports and build every module's namespace; raise
    :class:`SchemeErrors` listing every import error. `base`: the folder relative
    imports start from (default: the folder of ``source.name`` when that file exists)."""
    if base is None and source.name and Path(source.name).is_file():
        base = Path(source.name).resolve().parent
    root = Module(source, definitions)
    if not imports:  # the common case: no file access at all
        root.names = {}
        for defn in definitions:
            root.names.setdefault(defn.name, defn)
        return Linked(root, [root], {id(d): root for d in definitions})
    linker = _Linker(limits if limits is not None else Limits())
    linker.loading.append((str(Path(source.name).resolve()) if base is not None else "", source.name))
    linker.bind(root, imports, base)
    if linker.errors:
        raise SchemeErrors(linker.errors)
    module_of = {id(d): m for m in linker.modules for d in m.definitions}
    return Linked(root, linker.modules, module_of)
