"""Run a checked program: :func:`evaluate` binds the parameters (defaults and
``--set`` overrides, checked), runs the compiled closures on a fresh
:class:`~vidsched.lang.machine.Runtime` and returns the :class:`StageList` the scheme
emitted, in program order. It does not judge the stages; :mod:`vidsched.lang.validate`
does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from fractions import Fraction

from vidsched.errors import ParameterError, ResourceLimitError, SchemeError, SchemeErrors
from vidsched.lang.builtins import ANY, BOOL, INT
from vidsched.lang.check import REQUIRED_PARAMS, Program
from vidsched.lang.holes import HoleMap
from vidsched.lang.limits import Limits
from vidsched.lang.machine import Runtime, Stop, num_text, too_many_bits
from vidsched.lang.stages import StageList


def parse_override(text: str) -> tuple[str, int | bool | str]:
    """``NAME=VALUE`` from the command line; VALUE is an integer or true/false.

    Any other VALUE is returned as text: :func:`evaluate` reports it at the parameter's
    declaration, next to the other parameter errors.
    """
    if "=" not in text:
        raise ParameterError(f"--set {text}: expected NAME=VALUE, e.g. --set T=400")
    name, _, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if value in ("true", "false"):
        return name, value == "true"
    try:
        return name, int(value)
    except ValueError:
        return name, value


def evaluate(program: Program, overrides: Mapping[str, int | bool] | None = None, limits: Limits = Limits(),
             holes: HoleMap | None = None) -> StageList:
    """Run a checked program with its parameters; return the stages it emits in order.

    ``holes``: the mask, for the built-ins that read it (hole_fraction, coverage,
    informative); its number of frames must be the value of T.
    """
    overrides = dict(overrides or {})
    source = program.source
    scheme = program.scheme
    errors: list[SchemeError] = []
    for name, value in overrides.items():
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > limits.max_int_bits:
            errors.append(
                ParameterError(
                    f"--set {name}={num_text(value)}: " + too_many_bits("the value", limits.max_int_bits),
                    program.param_spans.get(name, scheme.name_span),
                    source,
                )
            )
        elif name not in program.param_spans:
            close = difflib.get_close_matches(name, program.param_names, n=1)
            notes = [f"did you mean {close[0]}?"] if close else []
            notes.append("parameters: " + ", ".join(program.param_names))
            errors.append(
                ParameterError(f"--set {name}={value}: the scheme has no parameter {name}", scheme.name_span, source, notes)
            )
        elif not isinstance(value, int):
            errors.append(
                ParameterError(
                    f"--set {name}={value}: the value must be a whole number (or true/false)",
                    program.param_spans[name],
                    source,
                )
            )
        elif isinstance(value, bool) and program.param_types.get(name, INT) not in (BOOL, ANY):
            errors.append(
                ParameterError(
                    f"--set {name}={str(value).lower()}: {name} is a whole number, not true/false",
                    program.param_spans[name],
                    source,
                )
            )
        elif not isinstance(value, bool) and program.param_types.get(name, INT) == BOOL:
            errors.append(
                ParameterError(f"--set {name}={value}: {name} is true or false", program.param_spans[name], source)
            )
    if errors:
        raise SchemeErrors(errors)

    rt = Runtime(T=1, K=1, limits=limits, source=source, slots=[None] * program.num_slots, scheme_name=scheme.name,
                 holes=holes)
    params: dict[str, int] = {}
    try:
        for slot, (name, fn) in enumerate(zip(program.param_names, program.param_fns)):
            if name in overrides:
                value = overrides[name]
            else:
                rt.burn(1, program.param_spans[name])
                value = fn(rt)
            if isinstance(value, Fraction):
                rt.fail(ParameterError, f"parameter {name} must be a whole number, not {value}", program.param_spans[name])
            if name in REQUIRED_PARAMS and (isinstance(value, bool) or value < 1):
                rt.fail(ParameterError, f"parameter {name} must be at least 1, got {value}", program.param_spans[name])
            if name == "T" and value > limits.max_frames:
                rt.fail(ParameterError, f"T = {value} is more than the limit of {limits.max_frames:,} frames", program.param_spans[name])
            rt.slots[slot] = value
            params[name] = value
            if name == "T":
                if holes is not None and value != holes.num_frames:
                    rt.fail(ParameterError, f"T = {value}, but the mask has {holes.num_frames:,} frames",
                            program.param_spans[name])
                rt.set_frames(value)
            elif name == "K":
                rt.K = value
        rt.context = []
        rt.in_params = False
        program.body(rt)
    except Stop as stop:
        raise SchemeErrors([stop.error]) from None
    except RecursionError:
        raise SchemeErrors([ResourceLimitError("the scheme is nested too deeply", scheme.span, source)]) from None
    return StageList(
        scheme=scheme.name,
        source=source,
        name_span=scheme.name_span,
        params=params,
        num_frames=rt.T,
        max_frames=rt.K,
        given=rt.given,
        stages=tuple(rt.stages),
        fuel_used=rt.fuel,
    )
