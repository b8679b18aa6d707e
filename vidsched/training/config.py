"""Training configuration: one dataclass, loaded from a YAML file in ``model/configs/``.

A config file holds only what differs from the defaults below; ``--set key=value``
(dotted keys for the nested sections, values parsed as YAML) overrides it on the
command line. Every key is checked: a misspelt key is an error that names the closest
valid one, so a typo never silently trains with a default. The resolved config (every
field, the model preset expanded) is written to the run folder as ``config.yaml``.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidsched.errors import VidschedError
from vidsched.model.unet import VideoUNetConfig

PRESETS = {"tiny": VideoUNetConfig.tiny, "paper": VideoUNetConfig.paper}
SCHEDULES = ("linear", "cosine", "sigmoid")
CROPS = ("none", "center", "random", "multiscale")


class ConfigError(VidschedError):
    """A training config that cannot be used (unknown key, bad value, unreadable file)."""


@dataclass(frozen=True)
class DataConfig:
    # "corpus": the clips and photographs of OpenCV's source archive (python model/train.py
    # fetch-data; vidsched/training/corpus.py); "vtest": OpenCV's vtest.avi alone; otherwise
    # a video file, a .npy array, a PNG folder, or a folder of any of these.
    source: str = "vtest"
    fps: float | None = None  # resample every clip to this frame rate (None: keep it)
    # "none" stretches to a square (the first recipe); "center" / "random" crop a square once;
    # "multiscale" keeps the clips at their own resolution and draws a square crop at a random
    # zoom for every window (training matched to inference on regions; training/augment.py).
    crop: str = "none"
    train_fraction: float = 0.8  # the first 80 % of each clip's frames train, the rest are held out
    min_frames: int = 16  # shorter clips are skipped (they cannot hold a long-range window)
    # With crop: multiscale only (see augment()):
    min_zoom: float = 1.0  # the closest crop is min_zoom x the model's size in source pixels
    flip: bool = True  # random horizontal flips
    color_jitter: float = 0.1  # brightness / contrast / saturation change of up to this fraction
    max_stride: int = 3  # frame-rate jitter: every 1st .. max_stride-th frame
    still_share: float = 0.0  # share of examples from photographs put in motion (source: corpus)
    mask_mix: dict | None = None  # weights of mask groups (appendix_d, object, logo); None: appendix D only

    def augment(self):
        """The :class:`~vidsched.training.augment.Augment` of ``crop: multiscale`` (None otherwise)."""
        if self.crop != "multiscale":
            return None
        from vidsched.training.augment import Augment

        return Augment(min_zoom=self.min_zoom, flip=self.flip, color_jitter=self.color_jitter,
                       max_stride=self.max_stride)


@dataclass(frozen=True)
class TrainConfig:
    run_dir: str = "runs/tiny"
    data: DataConfig = field(default_factory=DataConfig)
    # The network: a preset name (tiny, paper) and any VideoUNetConfig field to override.
    model: dict = field(default_factory=lambda: {"preset": "tiny"})
    steps: int = 2000
    batch_size: int = 2  # per process: under torchrun the global batch is batch_size x processes
    lr: float = 2e-4
    warmup_steps: int = 200  # linear warmup from 0
    decay_start: int = 0  # from this step a cosine takes the lr to min_lr_ratio * lr at `steps` (0: constant)
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    ema_decay: float = 0.999  # the paper's EMA rate (appendix E)
    grad_clip: float = 1.0  # max global gradient norm
    schedule: str = "cosine"  # Chen 2023 noise schedule: linear, cosine or sigmoid
    prediction: str = "eps"  # what the network predicts: eps (the paper's) or v (sound at high noise)
    p_consecutive: float = 0.5  # mixture weight of runs of consecutive frames (sec. 4.3)
    seed: int = 0
    save_every: int = 250
    log_every: int = 25
    sample_every: int = 1000  # a PNG of held-out inpaintings every N steps (0: never)
    sample_steps: int = 12  # sampler steps for those previews (the runtime's default sampler)
    threads: int = 0  # torch CPU threads (0: torch's default)
    # Processes drawing training batches beside the loop (vidsched/training/loader.py); 0: the
    # loop draws them itself (resume then bit-identical). On a GPU host, most of its cores.
    data_workers: int = 0
    device: str = "auto"  # auto (CUDA if present), cpu, cuda
    bf16: bool = True  # bfloat16 autocast on CUDA (ignored on the CPU)
    # A checkpoint (.json) whose weights a new run starts from (raw and EMA alike), e.g. a
    # GPU burst continuing a CPU run; the network's config must match. Not used on --resume.
    init_from: str | None = None

    def model_config(self) -> VideoUNetConfig:
        return resolve_model(self.model)

    def resolved(self) -> dict:
        """Every field, with the model preset expanded to its full set of fields."""
        d = asdict(self)
        d["model"] = self.model_config().to_dict()
        return d


def resolve_model(spec: dict) -> VideoUNetConfig:
    spec = dict(spec)
    preset = spec.pop("preset", None)
    if preset is None:
        base = VideoUNetConfig().to_dict()
    elif preset in PRESETS:
        base = PRESETS[preset]().to_dict()
    else:
        raise ConfigError(f"model.preset: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    unknown = [k for k in spec if k not in base]
    if unknown:
        raise ConfigError(_unknown_all([("model", k, base) for k in unknown]))
    try:
        return VideoUNetConfig.from_dict({**base, **spec})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model: {e}") from None


def _unknown(section: str, key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (valid keys: {', '.join(sorted(valid))})"
    where = f"{section}.{key}" if section else key
    return f"unknown config key {where!r}{hint}"


def _unknown_all(found: list[tuple[str, str, Any]]) -> str:
    """One message for every unknown key, ``(section, key, valid keys)`` each, so that a
    config with several typos is fixed in one go."""
    if len(found) == 1:
        return _unknown(*found[0])
    parts = []
    for section, key, valid in found:
        close = difflib.get_close_matches(key, list(valid), n=1)
        where = f"{section}.{key}" if section else key
        parts.append(f"{where!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown config keys {', '.join(parts)}"


def _model_unknown(spec: Any) -> list[tuple[str, str, Any]]:
    """Unknown keys of a ``model`` section (none when its preset is unknown: that error comes later)."""
    if not isinstance(spec, dict):
        return []
    preset = spec.get("preset")
    if preset is not None and preset not in PRESETS:
        return []
    base = (PRESETS[preset]() if preset is not None else VideoUNetConfig()).to_dict()
    return [("model", k, base) for k in spec if k != "preset" and k not in base]


def _check_type(where: str, value: Any, hint: Any) -> Any:
    """Check a YAML value against the field's type hint (ints may be given for floats;
    ``X | None`` fields also take null)."""
    if value is None and type(None) in typing.get_args(hint):
        return None
    kind = next((t for t in (typing.get_args(hint) or (hint,)) if t is not type(None)), hint)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, str):  # YAML 1.1 reads 5e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if kind in (dict, DataConfig) and not isinstance(value, dict):
        detail = " (preset and overrides)" if kind is dict else ""
        raise ConfigError(f"{where} must be a mapping{detail}, got {value!r}")
    return value


def _build(cls, values: dict, section: str = ""):
    unknown = _unknown_keys(cls, values, section)
    if unknown:  # every misspelt key at once, before any value is checked
        raise ConfigError(_unknown_all(unknown))
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        where = f"{section}.{key}" if section else key
        value = _check_type(where, value, hints[key])
        kwargs[key] = _build(DataConfig, value, where) if hints[key] is DataConfig else value
    return cls(**kwargs)


def _unknown_keys(cls, values: dict, section: str = "") -> list[tuple[str, str, Any]]:
    """``(section, key, valid keys)`` for every key of ``values`` (and its sections) that
    ``cls`` does not have."""
    hints = typing.get_type_hints(cls)
    found = []
    for key, value in values.items():
        if key not in hints:
            found.append((section, key, hints))
        elif hints[key] is DataConfig and isinstance(value, dict):
            found += _unknown_keys(DataConfig, value, f"{section}.{key}" if section else key)
        elif cls is TrainConfig and key == "model":
            found += _model_unknown(value)
    return found


def validate(cfg: TrainConfig) -> TrainConfig:
    problems = []
    positive = ("steps", "batch_size", "save_every", "log_every", "sample_steps")
    problems += [f"{k} must be at least 1, got {getattr(cfg, k)}" for k in positive if getattr(cfg, k) < 1]
    nonneg = ("warmup_steps", "decay_start", "sample_every", "threads", "seed", "data_workers")
    problems += [f"{k} must be >= 0, got {getattr(cfg, k)}" for k in nonneg if getattr(cfg, k) < 0]
    if not cfg.lr > 0:
        problems.append(f"lr must be positive, got {cfg.lr}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        problems.append(f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
    if not 0.0 <= cfg.p_consecutive <= 1.0:
        problems.append(f"p_consecutive must be in [0, 1], got {cfg.p_consecutive}")
    if not 0.0 <= cfg.min_lr_ratio <= 1.0:
        problems.append(f"min_lr_ratio must be in [0, 1], got {cfg.min_lr_ratio}")
    if cfg.schedule not in SCHEDULES:
        problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg.schedule!r}")
    if cfg.prediction not in ("eps", "v"):
        problems.append(f"prediction must be eps or v, got {cfg.prediction!r}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        problems.append(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    if cfg.data.crop not in CROPS:
        problems.append(f"data.crop must be one of {', '.join(CROPS)}, got {cfg.data.crop!r}")
    if not 0.0 < cfg.data.train_fraction <= 1.0:
        problems.append(f"data.train_fraction must be in (0, 1], got {cfg.data.train_fraction}")
    if cfg.data.crop == "multiscale" or cfg.data.source == "corpus":
        if cfg.data.crop != "multiscale":
            problems.append("data.source: corpus needs data.crop: multiscale (its clips have different sizes)")
        try:
            cfg.data.augment()
        except ValueError as e:
            problems.append(f"data: {e}")
    if not 0.0 <= cfg.data.still_share <= 1.0:
        problems.append(f"data.still_share must be in [0, 1], got {cfg.data.still_share}")
    if cfg.data.mask_mix is not None:
        import numpy as np

        from vidsched.training.masks import random_mask

        try:
            random_mask(2, 16, np.random.default_rng(0), mix=cfg.data.mask_mix)
        except ValueError as e:
            problems.append(f"data.mask_mix: {e}")
    if cfg.data.fps is not None and not cfg.data.fps > 0:
        problems.append(f"data.fps must be positive, got {cfg.data.fps}")
    if problems:
        raise ConfigError("invalid training config: " + "; ".join(problems))
    cfg.model_config()  # raises ConfigError for a bad model section
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """``data.fps=10`` -> (["data", "fps"], 10); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (e.g. steps=500 or data.fps=10), got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({e})") from None
    return key.strip().split("."), parsed


def load_config(path: Path | None = None, overrides: list[str] = (), **fixed: Any) -> TrainConfig:
    """The config of a YAML file (or the defaults), with ``--set`` overrides and ``fixed`` fields."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys, got {type(loaded).__name__}")
        values = loaded or {}
    for text in overrides:
        keys, value = parse_override(text)
        target = values
        for k in keys[:-1]:
            target = target.setdefault(k, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {text!r}: {k} is not a section")
        target[keys[-1]] = value
    values.update({k: v for k, v in fixed.items() if v is not None})
    return validate(_build(TrainConfig, values))


def to_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.resolved(), sort_keys=False, default_flow_style=None)
