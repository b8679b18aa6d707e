"""Independent test oracle for the FDM sampling schemes.

Re-implements, from a reading of the algorithms (not a copy of the code), the three
non-adaptive sampling schemes of Harvey et al. (2022), "Flexible Diffusion Modeling of
Long Videos" (repository plai-group/flexible-video-diffusion-modeling, file
improved_diffusion/sampling_schemes.py): ``autoreg`` (class Autoregressive),
``long-range`` (LongRangeAutoregressive) and ``hierarchy-N`` (HierarchyNLevel).

It is used only by the tests, to check vidsched's own scheme files against FDM on many
parameter sets beyond the examples in ``shared/reference/fdm_schemes.json``.

Conventions
-----------
* ``T`` video length, ``K`` max frames per stage (observed + generated), ``n_obs`` the
  number of given leading frames 0..n_obs-1, ``step`` frames generated per stage,
  ``levels`` the N of hierarchy-N.
* A stage is ``(observed, generated)``, both ``frozenset[int]``. FDM returns ordered
  lists that may contain duplicates; the comparison is deliberately as sets.
* "done" = given frames plus every frame generated so far. The schemes stop as soon as
  every frame 0..T-1 is done.

Parameter sets on which FDM does not behave as intended raise :class:`FDMUnsupported`
(see :class:`FDMRetry` and :class:`FDMFailure`); :func:`hits_fdm_retry`,
:func:`fdm_supported` and :func:`hits_fdm_quirk` answer the same questions as booleans.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np

Stage = tuple[frozenset[int], frozenset[int]]

SCHEMES = ("autoreg", "long_range", "hierarchy")

__all__ = [
    "SCHEMES",
    "Stage",
    "FDMUnsupported",
    "FDMRetry",
    "FDMFailure",
    "fdm_stages",
    "hits_fdm_retry",
    "hits_fdm_quirk",
    "fdm_supported",
    "hierarchy_spacings",
    "normalize_scheme_name",
    "reference_path",
    "load_reference_examples",
    "extra_parameter_sets",
]


# --------------------------------------------------------------------------- errors


class FDMUnsupported(Exception):
    """The parameter set leaves the part of FDM's behaviour this oracle reproduces."""


class FDMRetry(FDMUnsupported):
    """hierarchy-N: a stage would leave fewer than 2 conditioning slots for frames
    before/after the generated ones. FDM then re-plans that stage with ``step - 1``
    (recursively, and re-running its level/reset bookkeeping, which can skip levels);
    such parameter sets are not checked."""


class FDMFailure(FDMUnsupported):
    """FDM crashes, asserts, or degenerates on this parameter set (division by zero for
    hierarchy with step == 1, a level walk with spacing 0 producing the same index over
    and over, an empty generated list, generated frames >= T, ...)."""


# --------------------------------------------------------------------------- helpers


def _linspace_int(start: float, stop: float, num: int) -> list[int]:
    """``[int(v) for v in np.linspace(start, stop, num)]``.

    numpy (>= 1.16, including the 2022 versions FDM ran on and 2.x) computes, in
    float64, ``v_i = i * ((stop - start) / (num - 1)) + start`` for i < num - 1 and sets
    the last value to exactly ``stop``; ``num == 1`` gives ``[start]`` and ``num == 0``
    gives ``[]``. ``int`` / ``astype(np.int32)`` truncate toward zero (all values here
    are >= 0, so this is floor).
    """
    return [int(v) for v in np.linspace(start, stop, num)]


def _validate(scheme: str, T: int, K: int, n_obs: int, step: int, levels: int) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")
    for name, value in (("T", T), ("K", K), ("n_obs", n_obs), ("step", step), ("levels", levels)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if T < 1 or K < 1:
        raise ValueError("T and K must be >= 1")
    if not 0 <= n_obs <= T:
        raise ValueError("need 0 <= n_obs <= T")
    if not 1 <= step <= K:
        raise ValueError("need 1 <= step <= K")
    if scheme == "hierarchy" and levels < 2:
        raise ValueError("hierarchy needs levels >= 2")


# --------------------------------------------------------------------------- schemes


def _autoreg(T: int, K: int, n_obs: int, step: int, literal: bool) -> list[Stage]:
    done: set[int] = set(range(n_obs))
    stages: list[Stage] = []
    if n_obs == 0:
        # Unconditional first stage: generate frames 0..K-1 with no conditioning.
        if K > T:
            raise FDMFailure("n_obs == 0 and K > T: FDM generates frames >= T and asserts")
        first = frozenset(range(K))
        stages.append((frozenset(), first))
        done |= first
    n_cond = K - step
    while len(done) < T:
        ordered = sorted(done)  # done is always a prefix 0..m here
        if n_cond > 0:
            obs = ordered[-n_cond:]
        else:
            # QUIRK (step == K): FDM slices ``[-0:]``, i.e. observes *every* done frame.
            # Intent: no conditioning slot, observe nothing.
            obs = ordered if literal else []
        first_idx = ordered[-1] + 1  # the frame after the last done one
        latent = range(first_idx, min(first_idx + step, T))
        stages.append((frozenset(obs), frozenset(latent)))
        done.update(latent)
    return stages


def _long_range(T: int, K: int, n_obs: int, step: int, literal: bool) -> list[Stage]:
    done: set[int] = set(range(n_obs))
    given: list[int] = list(range(n_obs))
    stages: list[Stage] = []
    if n_obs == 0:
        # Unconditional first stage 0..K-1; those frames then act as the given frames.
        if K > T:
            raise FDMFailure("n_obs == 0 and K > T: FDM generates frames >= T and asserts")
        given = list(range(K))
        stages.append((frozenset(), frozenset(given)))
        done |= set(given)
    n_cond = K - step
    n_recent = n_cond // 2
    while len(done) < T:
        ordered = sorted(done)
        if n_recent > 0:
            chosen = set(ordered[-n_recent:])
        else:
            # QUIRK (K - step == 1, so n_recent == 0): FDM slices ``[-0:]`` and starts
            # from *all* done frames; its "stop when exactly n_cond are held" test then
            # never fires, so it observes every done frame (unbounded, can exceed K).
            # Intent: no recent frames; only the newest given frame (below).
            chosen = set(ordered) if literal else set()
        # Add given frames, newest first, until n_cond are held (a given frame already
        # among the recent ones does not count twice). Stops early if given run out.
        for g in sorted(given, reverse=True):
            if len(chosen) >= n_cond and not literal:
                break
            chosen.add(g)
            if len(chosen) == n_cond:
                break
        first_idx = ordered[-1] + 1
        latent = range(first_idx, min(first_idx + step, T))
        stages.append((frozenset(chosen), frozenset(latent)))
        done.update(latent)
    return stages


def hierarchy_spacings(T: int, n_given: int, step: int, levels: int) -> dict[int, int]:
    """Spacing per level L = 1..levels, exactly as FDM computes it (Python floats):

    ``int(((T - n_given) / (step - 1)) ** ((levels - L) / (levels - 1)))``

    (``n_given`` = number of given frames: n_obs, or K when n_obs == 0). Level ``levels``
    always gets ``int(x ** 0.0) == 1``. ``step == 1`` divides by zero in FDM.
    """
    if step < 2:
        raise FDMFailure("hierarchy with step == 1: FDM divides by (step - 1) == 0")
    base = (T - n_given) / (step - 1)
    return {L: int(base ** ((levels - L) / (levels - 1))) for L in range(1, levels + 1)}


def _hierarchy(T: int, K: int, n_obs: int, step: int, N: int) -> list[Stage]:
    done: set[int] = set(range(n_obs))
    stages: list[Stage] = []
    if n_obs == 0:
        # Unconditional first stage: int(linspace(0, T-1, K)), no conditioning; these
        # frames then act as the given frames (FDM keeps the list, so len(given) == K).
        given = _linspace_int(0, T - 1, K)
        stages.append((frozenset(), frozenset(given)))
        done |= set(given)
    else:
        given = list(range(n_obs))
    if len(done) >= T:
        return stages

    spacing = hierarchy_spacings(T, len(given), step, N)
    n_cond = K - step  # NB: always K - step, even when fewer than `step` are generated
    level = 1
    last = max(given)  # FDM: reset at the first conditional stage (done == given)

    while len(done) < T:
        s = spacing[level]
        idx = last + s
        if not any(i not in done for i in range(idx, T)):
            # Nothing left to do at or after idx: move to the next level and restart the
            # walk from just before the first undone frame.
            level += 1
            if level > N:  # cannot happen (level N has spacing 1 and walks in order)
                raise FDMFailure("level exceeded N")
            s = spacing[level]
            idx = min(i for i in range(T) if i not in done) - 1 + s

        if level == 1:
            # Only ever the first conditional stage when n_obs > 0 (afterwards last ==
            # T-1 and the next stage resets to level 2). With n_obs == 0, max(given) is
            # T-1 and this branch is never reached. Latent may contain duplicates (when
            # step > T - n_obs); the set is what counts.
            latent = _linspace_int(max(given) + 1, T - 0.001, step)
        else:
            if s < 1:
                # QUIRK: spacing 0 (T - n_given < step - 1 for an intermediate level):
                # FDM appends the same undone idx `step` times.
                raise FDMFailure("level walk with spacing 0")
            latent = []
            while len(latent) < step and idx < T:
                if idx in done:
                    idx += 1
                else:
                    latent.append(idx)
                    idx += s
            if not latent:
                # After a reset the first undone frame may lie below idx with nothing
                # undone at/after idx: FDM calls min([]) and crashes.
                raise FDMFailure("empty generated list after level reset")

        lo, hi = min(latent), max(latent)
        # (a) every done frame strictly between the first and last generated frame
        between = [i for i in range(lo, hi) if i in done]
        room = n_cond - len(between)
        if room < 2:
            raise FDMRetry(
                f"stage {len(stages)}: only {room} slot(s) left for before/after frames"
            )
        # (b) up to room // 2 nearest done frames after the generated ones (ascending)
        after = [i for i in range(hi + 1, T) if i in done][: room // 2]
        n_before = n_cond - len(between) - len(after)
        # (c) fill the rest with frames before them
        if level == 1:
            # spread over the given frames: int32(linspace(0, max(given) + 0.999, n));
            # may repeat indices when n_before > n_obs (sets collapse them); with
            # n_before == 1 this is just frame 0.
            before = _linspace_int(0, max(given) + 0.999, n_before)
        else:
            # nearest done frames below the first generated one, newest first
            before = [i for i in range(lo - 1, -1, -1) if i in done][:n_before]

        stages.append((frozenset(between + after + before), frozenset(latent)))
        done.update(latent)
        last = hi
    return stages


# --------------------------------------------------------------------------- public API


def fdm_stages(
    scheme: str,
    T: int,
    K: int,
    n_obs: int,
    step: int,
    levels: int = 2,
    *,
    literal: bool = False,
) -> list[Stage]:
    """Stages ``(observed, generated)`` of FDM's scheme, as sets, in order.

    ``scheme`` is ``"autoreg"``, ``"long_range"`` or ``"hierarchy"`` (``levels`` = N of
    hierarchy-N; ignored otherwise). FDM's names ("long-range", "hierarchy-3") are
    accepted too.

    ``literal=False`` (default) gives the algorithm's intent where FDM's ``[-0:]`` slice
    differs from it (long-range with K - step == 1; autoreg/long-range with step == K);
    ``literal=True`` reproduces FDM's actual sets there. Elsewhere both agree with FDM.

    Raises :class:`FDMRetry` if a hierarchy stage hits FDM's "fewer than 2 conditioning
    slots -> retry with step - 1" path, :class:`FDMFailure` where FDM crashes or
    degenerates, ``ValueError``/``TypeError`` for nonsensical arguments.
    """
    if scheme not in SCHEMES:
        scheme, levels = normalize_scheme_name(scheme, levels)
    _validate(scheme, T, K, n_obs, step, levels)
    T, K, n_obs, step, levels = int(T), int(K), int(n_obs), int(step), int(levels)
    if scheme == "autoreg":
        return _autoreg(T, K, n_obs, step, literal)
    if scheme == "long_range":
        return _long_range(T, K, n_obs, step, literal)
    return _hierarchy(T, K, n_obs, step, levels)


def hits_fdm_retry(scheme: str, T: int, K: int, n_obs: int, step: int, levels: int = 2) -> bool:
    """True iff the parameter set reaches FDM's hierarchy retry-with-``step - 1`` path
    (only hierarchy has it). Other unsupported cases (see :func:`fdm_supported`) give
    False here."""
    try:
        fdm_stages(scheme, T, K, n_obs, step, levels)
    except FDMRetry:
        return True
    except FDMFailure:
        return False
    return False


def fdm_supported(scheme: str, T: int, K: int, n_obs: int, step: int, levels: int = 2) -> bool:
    """True iff :func:`fdm_stages` returns (no retry path, no FDM crash/degeneracy)."""
    try:
        fdm_stages(scheme, T, K, n_obs, step, levels)
    except FDMUnsupported:
        return False
    return True


def hits_fdm_quirk(scheme: str, T: int, K: int, n_obs: int, step: int, levels: int = 2) -> bool:
    """True iff FDM's literal sets differ from the intended ones (the ``[-0:]`` slices).
    Raises FDMUnsupported like :func:`fdm_stages`."""
    return fdm_stages(scheme, T, K, n_obs, step, levels) != fdm_stages(
        scheme, T, K, n_obs, step, levels, literal=True
    )


def normalize_scheme_name(name: str, levels: int = 2) -> tuple[str, int]:
    """Map FDM / JSON names to ``(scheme, levels)``: "autoreg" -> ("autoreg", levels),
    "long-range"/"long_range" -> ("long_range", levels), "hierarchy-N" -> ("hierarchy", N),
    "hierarchy" -> ("hierarchy", levels)."""
    key = name.strip().lower().replace("_", "-")
    if key in ("autoreg", "autoregressive"):
        return "autoreg", levels
    if key in ("long-range", "longrange", "long-range-autoreg"):
        return "long_range", levels
    if key == "hierarchy":
        return "hierarchy", levels
    if key.startswith("hierarchy-"):
        return "hierarchy", int(key.split("-", 1)[1])
    raise ValueError(f"unknown FDM scheme name {name!r}")


def reference_path() -> Path:
    """``<repo>/../shared/reference/fdm_schemes.json`` (repo = parent of tests/);
    overridable with the environment variable ``VIDSCHED_FDM_REFERENCE``."""
    override = os.environ.get("VIDSCHED_FDM_REFERENCE")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parent.parent
    shared = repo.parent / "shared" / "reference" / "fdm_schemes.json"
    # A copy ships with the tests, for checkouts without shared/ beside them.
    return shared if shared.is_file() else repo / "tests" / "data" / "fdm_schemes.json"


def load_reference_examples(path: str | os.PathLike | None = None) -> list[dict]:
    """The examples of fdm_schemes.json, each a dict with the JSON's own keys
    (``scheme`` as in the file, ``T``, ``K``, ``n_obs``, ``step``, ``stages`` with
    ``obs``/``latent`` lists) plus:

    * ``fdm_scheme``: the name as written in the file (e.g. "hierarchy-2"),
    * ``oracle_scheme`` / ``levels``: the normalized name and N for :func:`fdm_stages`,
    * ``expected``: the stages as a list of ``(frozenset(obs), frozenset(latent))``.
    """
    p = Path(path) if path is not None else reference_path()
    with open(p, encoding="utf-8") as fh:
        data = json.load(fh)
    raw = data["examples"] if isinstance(data, dict) else data
    out = []
    for ex in raw:
        scheme, levels = normalize_scheme_name(ex["scheme"])
        if "levels" in ex and scheme == "hierarchy" and not ex["scheme"][-1:].isdigit():
            levels = int(ex["levels"])
        item = dict(ex)
        item["fdm_scheme"] = ex["scheme"]
        item["oracle_scheme"] = scheme
        item["levels"] = levels
        item["expected"] = [
            (frozenset(int(i) for i in st["obs"]), frozenset(int(i) for i in st["latent"]))
            for st in ex["stages"]
        ]
        out.append(item)
    return out


def extra_parameter_sets(scheme: str, count: int = 40, seed: int = 2022) -> list[dict]:
    """``count`` deterministic parameter sets for ``scheme`` (autoreg / long_range /
    hierarchy, FDM names accepted) with T in 10..300, K in 4..20 (K < T), n_obs in
    0..K, step in 1..K-1 (2..K-1 for hierarchy, which divides by step - 1) and, for
    hierarchy, levels in {2, 3}. Every set is supported (no retry path, no FDM crash)
    and free of ``[-0:]`` quirks, so FDM's literal output equals :func:`fdm_stages`;
    hierarchy sets also avoid duplicate indices in FDM's generated lists (observed
    lists may still repeat frames, e.g. level-1 linspace over few given frames).

    Each dict holds T, K, n_obs, step (and levels for hierarchy): call
    ``fdm_stages(scheme, **params)``.
    """
    if scheme not in SCHEMES:
        scheme, _ = normalize_scheme_name(scheme)
    rng = random.Random(f"vidsched-fdm-oracle/{scheme}/{seed}")
    out: list[dict] = []
    seen: set[tuple] = set()
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 200_000:
            raise RuntimeError("could not find enough valid parameter sets")
        # mix of short and long videos
        T = rng.randint(10, 60) if rng.random() < 0.5 else rng.randint(10, 300)
        K = rng.randint(4, min(20, T - 1))
        n_obs = 0 if rng.random() < 0.15 else rng.randint(0, K)
        lo_step = 2 if scheme == "hierarchy" else 1
        step = rng.randint(lo_step, K - 1)
        params = {"T": T, "K": K, "n_obs": n_obs, "step": step}
        if scheme == "hierarchy":
            params["levels"] = rng.choice((2, 3))
        key = tuple(sorted(params.items()))
        if key in seen:
            continue
        if scheme == "hierarchy" and n_obs > 0:
            # avoid FDM's duplicate indices in the level-1 generated list (step larger
            # than the number of frames left); fine as sets, but degenerate
            first = _linspace_int(n_obs, T - 0.001, step)
            if len(set(first)) != len(first):
                continue
        try:
            if hits_fdm_quirk(scheme, **params):
                continue
        except FDMUnsupported:
            continue
        seen.add(key)
        out.append(params)
    return out
