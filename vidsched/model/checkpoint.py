"""Checkpoints without pickles: ``<name>.safetensors`` (the weights) + ``<name>.json``.

The JSON file is the checkpoint's entry point::

    {"format": "vidsched.checkpoint/1",
     "weights": "<name>.safetensors", "weights_format": "safetensors", "weights_bytes": N,
     "weights_sha256": "...",
     "config": {...VideoUNetConfig.to_dict()...},
     "meta": {...whatever the trainer records: step, schedule, ema, ...}}

Both files are written to a temporary name and moved into place with ``os.replace``
(weights first, then the JSON), so a crash never leaves a half-written file under the
final name. Loading never unpickles anything: the weights are read with safetensors (or,
where safetensors is not installed, with ``torch.load(weights_only=True)`` from
``<name>.pt``), the model is built from the JSON config and the weights are loaded with
``strict=True`` after a key-and-shape comparison that names what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from vidsched.atomic import atomic_write
from vidsched.errors import VidschedError
from vidsched.model.unet import VideoUNet, VideoUNetConfig

try:  # safetensors is a declared dependency; torch's weights-only loader is the fallback.
    import safetensors.torch as _st
except ImportError:  # pragma: no cover - exercised only without safetensors
    _st = None

FORMAT = "vidsched.checkpoint/1"
DEFAULT_NAME = "checkpoint"  # file stem used when a directory is given
_SUFFIXES = (".json", ".safetensors", ".pt")


class CheckpointError(VidschedError):
    """A checkpoint that is missing, unreadable, or does not fit the model it describes."""


# --------------------------------------------------------------------------------------
# Paths


def _stem(path: str | os.PathLike) -> Path:
    """An existing directory or a path ending in a separator (``dir/``) -> ``dir/checkpoint``;
    ``x.json``, ``x.safetensors``, ``x.pt`` or ``x`` -> ``x``."""
    p = Path(path)
    if p.is_dir() or str(path).endswith((os.sep, "/")):
        return p / DEFAULT_NAME
    return p.with_suffix("") if p.suffix in _SUFFIXES else p


def _resolve_json(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.is_dir():
        default = p / f"{DEFAULT_NAME}.json"
        if default.is_file():
            return default
        candidates = sorted(p.glob("*.json"))
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise CheckpointError(f"no checkpoint in directory {p} (expected {default.name} or one *.json file)")
        names = ", ".join(c.name for c in candidates)
        raise CheckpointError(f"directory {p} holds several checkpoints ({names}); name one of them")
    json_path = _stem(p).with_suffix(".json")
    if not json_path.is_file():
        if p.exists() and p.suffix != ".json":
            raise CheckpointError(
                f"checkpoint {p} has no {json_path.name} beside it (the config and metadata "
                f"live there; a weights file alone is not a checkpoint)"
            )
        raise CheckpointError(f"checkpoint not found: {json_path if p.suffix in _SUFFIXES else p}")
    return json_path


# --------------------------------------------------------------------------------------
# Save


def save_checkpoint(
    path: str | os.PathLike,
    model_state: dict[str, Tensor],
    config: VideoUNetConfig,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``<name>.safetensors`` and ``<name>.json``; return the JSON file's path.

    ``path`` is a directory (existing, or written with a trailing ``/``; the files are
    then named ``checkpoint.*``), a stem
    (``runs/step1000``), or either file name (``runs/step1000.json``). ``meta`` must be
    JSON-serialisable (step, noise schedule, EMA rate, ...).
    """
    if not isinstance(config, VideoUNetConfig):
        raise TypeError(f"config must be a VideoUNetConfig, got {type(config).__name__}")
    stem = _stem(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model_state.items()}

    if _st is not None:
        weights, weights_format = stem.with_suffix(".safetensors"), "safetensors"
        atomic_write(weights, lambda tmp: _st.save_file(tensors, tmp, metadata={"format": "pt"}))
    else:  # pragma: no cover
        weights, weights_format = stem.with_suffix(".pt"), "torch"
        atomic_write(weights, lambda tmp: torch.save(tensors, tmp))

    document = {
        "format": FORMAT,
        "weights": weights.name,
        "weights_format": weights_format,
        "weights_bytes": weights.stat().st_size,
        "weights_sha256": weights_sha256(weights),
        "num_parameters": sum(t.numel() for t in tensors.values()),
        "config": config.to_dict(),
        "meta": meta,
    }
    try:
        text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint metadata is not JSON-serialisable: {e}") from None
    json_path = stem.with_suffix(".json")
    atomic_write(json_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return json_path


# --------------------------------------------------------------------------------------
# Load

_DIGESTS: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weights file, cached per process by (path, size, mtime): what the
    checkpoint records, what loading verifies, and what keys a resumable run (retraining
    into the same file changes it, whatever the path)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def checkpoint_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a checkpoint's weights (recorded, or computed for old checkpoints)."""
    _, _, weights = read_checkpoint_info(path)
    return weights_sha256(weights)


def read_checkpoint_info(path: str | os.PathLike) -> tuple[VideoUNetConfig, dict[str, Any], Path]:
    """Read and check the JSON half only: (config, meta, weights path). Cheap."""
    json_path = _resolve_json(path)
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(
            f"checkpoint {json_path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
            f"the file is corrupt or truncated"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read checkpoint {json_path}: {e}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise CheckpointError(f"{json_path} is not a vidsched checkpoint (format {found!r}, expected {FORMAT!r})")
    for key in ("weights", "config"):
        if key not in document:
            raise CheckpointError(f"checkpoint {json_path} lacks the {key!r} entry")
    try:
        config = VideoUNetConfig.from_dict(document["config"])
    except ValueError as e:
        raise CheckpointError(f"checkpoint {json_path} has a model config this version cannot build: {e}") from None
    meta = document.get("meta") or {}
    weights = json_path.parent / str(document["weights"])
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {json_path} names weights file {weights.name}, which is missing")
    expected = document.get("weights_bytes")
    if isinstance(expected, int) and weights.stat().st_size != expected:
        raise CheckpointError(
            f"weights file {weights} is {weights.stat().st_size} bytes but the checkpoint recorded "
            f"{expected}: it is truncated, or belongs to another save"
        )
    return config, meta, weights


def prediction_of(meta: dict[str, Any]) -> str:
    """What the network predicts, from a checkpoint's metadata: "eps" or "v" (training
    records it; checkpoints from before v-prediction existed have none and are "eps")."""
    prediction = meta.get("prediction", "eps")
    if prediction not in ("eps", "v"):
        raise CheckpointError(f"checkpoint metadata names prediction type {prediction!r}; this version knows eps and v")
    return prediction


def schedule_of(meta: dict[str, Any]) -> str:
    """The noise schedule the network was trained with (Chen 2023's cosine if not recorded)."""
    schedule = meta.get("schedule", "cosine")
    if schedule not in ("linear", "cosine", "sigmoid"):
        raise CheckpointError(f"checkpoint metadata names noise schedule {schedule!r}; this version knows "
                              "linear, cosine and sigmoid")
    return schedule


def _read_weights(weights: Path) -> dict[str, Tensor]:
    try:
        if weights.suffix == ".safetensors":
            if _st is None:  # pragma: no cover
                raise CheckpointError(f"{weights} needs the safetensors package (pip install safetensors)")
            return _st.load_file(str(weights), device="cpu")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise CheckpointError(f"weights file {weights} does not hold a dict of tensors")
        return state
    except CheckpointError:
        raise
    except Exception as e:  # safetensors' SafetensorError, pickle/zip errors, OSError, ...
        raise CheckpointError(f"weights file {weights} is corrupt or truncated ({type(e).__name__}: {e})") from None


def _recorded_sha256(path: str | os.PathLike) -> str | None:
    document = json.loads(_resolve_json(path).read_text(encoding="utf-8"))
    digest = document.get("weights_sha256")
    return digest if isinstance(digest, str) else None


def state_dict_mismatch(state: Mapping[str, Tensor], expected: Mapping[str, Tensor], file: str = "checkpoint",
                        network: str = "model") -> list[str]:
    """What keeps ``state`` from loading strictly into a module whose state dict is
    ``expected``: counts and samples of missing and unexpected keys, shape mismatches.
    Empty when it fits. Shared by checkpoints and the metric networks' weight files."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: {file} {tuple(state[k].shape)} vs {network} {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]

    def listing(items: list[str], limit: int = 5) -> str:
        more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {listing(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {listing(unexpected)}")
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatch(es): {listing(mismatched, 3)}")
    return parts


def _compare(state: dict[str, Tensor], expected: dict[str, Tensor], source: Path) -> None:
    """Raise a CheckpointError naming missing/unexpected keys and shape mismatches."""
    parts = state_dict_mismatch(state, expected)
    if not parts:
        return
    raise CheckpointError(
        f"weights in {source} do not fit the architecture its config describes "
        f"(a checkpoint of another model?): " + "; ".join(parts)
    )


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], VideoUNetConfig, dict[str, Any]]:
    """(state dict on CPU, config, meta), checked against the architecture of the config
    and, when the checkpoint records one, against the weights' sha256."""
    config, meta, weights = read_checkpoint_info(path)
    recorded = _recorded_sha256(path)
    if recorded is not None and weights_sha256(weights) != recorded:
        raise CheckpointError(
            f"weights file {weights} does not match its checkpoint (sha256 {weights_sha256(weights)[:16]}..., "
            f"recorded {recorded[:16]}...): it was altered or belongs to another save"
        )
    state = _read_weights(weights)
    with torch.device("meta"):
        reference = VideoUNet(config).state_dict()
    _compare(state, reference, weights)
    return state, config, meta


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[VideoUNet, VideoUNetConfig, dict[str, Any]]:
    """Build the model from the checkpoint's config and load its weights (strict).

    Returns ``(model, config, meta)``; the model is on ``device`` in eval mode (call
    ``.train()`` to resume training).
    """
    state, config, meta = read_checkpoint(path)
    model = VideoUNet(config)
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return model, config, meta
