"""The compiler's front door: scheme name or path -> checked, lowered :class:`Plan`.

    source text --parse--> AST [--link imports: vidsched.lang.imports] --check--> Program --evaluate--> StageList
        --validate--> ValidatedStages [--specialise to a mask, validate again]
        --lower--> Plan (JSON contract "vidsched.plan/1")

Each pass is importable on its own (``vidsched.lang.parser.parse``,
``vidsched.lang.check.check``, ``vidsched.lang.evaluate.evaluate``, ``vidsched.lang.validate.validate``,
``vidsched.lang.lower.lower``); :func:`compile_scheme` chains them. The passes know no
sampler: this driver looks the evaluation count of ``sampler`` up in the runtime's table
(:mod:`vidsched.diffusion.registry`, which loads no torch) and hands it to ``lower``.
Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vidsched.diffusion.registry import DEFAULT_SAMPLER, evaluations
from vidsched.errors import SchemeError, SchemeErrors, SourceFile, VidschedError
from vidsched.frames import FrameSet
from vidsched.lang.check import check
from vidsched.lang.evaluate import evaluate, parse_override
from vidsched.lang.holes import HoleMap
from vidsched.lang.imports import link
from vidsched.lang.limits import Limits
from vidsched.lang.lower import lower
from vidsched.lang.parser import parse
from vidsched.lang.stages import StageList
from vidsched.lang.validate import specialise, validate
from vidsched.plan import Plan

SCHEME_SUFFIX = ".sched"


class SchemeNotFoundError(VidschedError):
    pass


def _schemes_root():
    """Built-in schemes: installed package data, or ``schemes/`` in a checkout."""
    try:
        root = resources.files("vidsched.schemes")
        if root.is_dir():
            return root
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[1] / "schemes"


@dataclass(frozen=True)
class BuiltinScheme:
    name: str  # e.g. "improved_ar" or "fdm/autoreg"
    text: str

    @property
    def summary(self) -> str:
        """The first line of the header comment."""
        for line in self.text.splitlines():
            line = line.strip()
            if line.startswith("#"):
                body = line.lstrip("#").strip()
                if body:
                    return body
            elif line:
                break
        return ""


def builtin_schemes() -> list[BuiltinScheme]:
    """Every ``.sched`` file shipped in ``schemes/`` (sub-folders give ``dir/name``)."""
    found: list[BuiltinScheme] = []

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(SCHEME_SUFFIX):
                found.append(BuiltinScheme(prefix + child.name[: -len(SCHEME_SUFFIX)], child.read_text(encoding="utf-8")))

    walk(_schemes_root(), "")
    return found


def load_scheme_source(scheme: str | Path) -> SourceFile:
    """A path to a ``.sched`` file, or the name of a built-in scheme (``fdm/autoreg``)."""
    path = Path(scheme)
    if path.suffix == SCHEME_SUFFIX or path.exists():
        if not path.is_file():
            raise SchemeNotFoundError(f"scheme file not found: {path}")
        try:
            return SourceFile(str(path), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise SchemeNotFoundError(f"cannot read scheme file {path}: {e}") from None
    name = str(scheme).removeprefix("builtin:")
    for b in builtin_schemes():
        if b.name == name:
            return SourceFile(f"schemes/{name}{SCHEME_SUFFIX}", b.text)
    names = ", ".join(b.name for b in builtin_schemes())
    raise SchemeNotFoundError(f"no scheme file or built-in scheme named {scheme!r}; built-in schemes: {names}")


def _import_base(scheme: str | Path | SourceFile) -> Path | None:
    """The folder a built-in scheme's relative imports start from (None: not a built-in;
    a file's imports start from its own folder, see :func:`vidsched.lang.imports.link`)."""
    if isinstance(scheme, SourceFile):
        return None
    path = Path(scheme)
    if path.suffix == SCHEME_SUFFIX or path.exists():
        return None
    name = str(scheme).removeprefix("builtin:")
    return (Path(str(_schemes_root())) / name).parent


def parse_overrides(items: Sequence[str] | Mapping[str, int | bool] | None) -> dict[str, int | bool | str]:
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, int | bool | str] = {}
    for item in items:
        name, value = parse_override(item)
        out[name] = value
    return out


def stage_list_for(
    scheme: str | Path | SourceFile,
    overrides: Sequence[str] | Mapping[str, int | bool] | None = None,
    limits: Limits = Limits(),
    holes: HoleMap | None = None,
    import_base: Path | None = None,
) -> StageList:
    """Parse, check and evaluate a scheme (no validation); ``holes`` as for
    :func:`compile_scheme`; ``import_base``: the folder its relative imports start from
    (default: the scheme file's own folder, or the built-in schemes' folder)."""
    source = scheme if isinstance(scheme, SourceFile) else load_scheme_source(scheme)
    import_base = import_base or _import_base(scheme)
    try:
        tree = parse(source.text, source.name, limits)
    except SchemeErrors:
        raise
    except SchemeError as e:  # one shape for every compile error: SchemeErrors
        raise SchemeErrors([e]) from None
    program = check(tree, source, link(tree.definitions, tree.imports, source, limits, import_base))
    overrides = parse_overrides(overrides)
    if holes is not None:
        overrides.setdefault("T", holes.num_frames)  # a different --set T is an error at T
    return evaluate(program, overrides, limits, holes)


def compile_scheme(
    scheme: str | Path | SourceFile,
    overrides: Sequence[str] | Mapping[str, int | bool] | None = None,
    *,
    complete_frames: Sequence[int] | FrameSet | None = None,
    steps: int = 100,
    sampler: str = DEFAULT_SAMPLER,
    limits: Limits = Limits(),
    holes: HoleMap | None = None,
) -> Plan:
    """Compile a scheme to a plan.

    ``complete_frames``: frames the mask leaves without a hole (mask-aware
    specialisation): they are complete from the start, leave the generate sets, and
    stages left with nothing to generate are dropped; the saving is in ``plan.mask``.
    ``holes``: the mask on a coarse grid (:class:`~vidsched.lang.holes.HoleMap`), for the
    built-ins that read it; T defaults to its number of frames, and without
    ``complete_frames`` its frames without a hole are the complete ones.
    """
    sampling = dict(sampler=sampler, steps=steps, evaluations_per_stage=evaluations(sampler, steps))
    source = scheme if isinstance(scheme, SourceFile) else load_scheme_source(scheme)
    stage_list = stage_list_for(source, overrides, limits, holes, _import_base(scheme))
    if holes is not None and complete_frames is None:
        complete_frames = holes.complete_frames()
    validated = validate(stage_list)  # the user's scheme must be valid as written
    if complete_frames is None:
        return lower(validated, source_file=source.name, **sampling)
    complete = complete_frames if isinstance(complete_frames, FrameSet) else FrameSet.of(complete_frames)
    specialised, report = specialise(stage_list, complete)
    return lower(validate(specialised), source_file=source.name, specialisation=report, **sampling)
