"""Saving and resuming a run's progress.

After every batch the video buffer and the index of the next batch are written to a
folder beside the output (``OUT.vidsched-partial/``), atomically: each file is written
under a temporary name and renamed into place, and ``state.json`` (written last) names
the buffer file it belongs to, so a crash, Ctrl-C or ``kill -9`` at any moment leaves
either the previous state or the new one, never a mixture. ``--resume`` reloads it and
continues with the next batch; every stage draws its noise from a stream seeded by
(seed, stage index), so the result is identical to an uninterrupted run. A finished run
removes the folder. A run in chunks of frames (``vidsched.runtime.chunks``) keeps each
finished chunk's hole pixels there too (``chunk-I-KEY.npy``, KEY the fingerprint of the
chunk's inputs and settings), so ``--resume`` rebuilds the finished chunks without
sampling them again and continues inside the chunk that was interrupted.

A saved state is only reused for the same run: the plan, the input, the seed and the
sampler settings are fingerprinted, and a mismatch is an error rather than a silent
mix of two runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsched.atomic import atomic_write
from vidsched.errors import VidschedError

STATE_FILE = "state.json"
FORMAT = "vidsched.resume/2"  # 2: a state holds the buffers of every region of a wave, stacked


class ResumeError(VidschedError):
    pass


def partial_dir(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".vidsched-partial")


def fingerprint(*parts: object) -> str:
    """A stable hash of JSON-able parts and numpy arrays."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.shape).encode())
            h.update(str(part.dtype).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # np.save(path) would append ".npy" to the temporary name
        np.save(f, array, allow_pickle=False)


@dataclass
class RunState:
    next_batch: int
    buffer: np.ndarray


class ProgressStore:
    """The partial-results folder of one run."""

    def __init__(self, output: str | Path, run_fingerprint: str) -> None:
        self.dir = partial_dir(output)
        self.run_fingerprint = run_fingerprint

    def exists(self) -> bool:
        return (self.dir / STATE_FILE).is_file()

    def save(self, next_batch: int, buffer: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # Alternate between two buffer files so the one state.json names stays intact
        # until the new state.json replaces it.
        name = f"buffer-{next_batch % 2}.npy"
        atomic_write(self.dir / name, lambda tmp: _save_npy(tmp, buffer), fsync=True)
        state = {"format": FORMAT, "fingerprint": self.run_fingerprint, "next_batch": next_batch, "buffer": name}
        atomic_write(self.dir / STATE_FILE, lambda tmp: Path(tmp).write_text(json.dumps(state)), fsync=True)

    def save_array(self, name: str, array: np.ndarray) -> None:
        """Keep a finished piece of the run (e.g. a region's final buffer) as ``name.npy``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / f"{name}.npy", lambda tmp: _save_npy(tmp, array), fsync=True)

    def load_array(self, name: str) -> np.ndarray:
        try:
            return np.load(self.dir / f"{name}.npy", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ResumeError(f"the saved progress in {self.dir} lacks {name}.npy ({e}); delete it to start over") from None

    def load(self) -> RunState:
        path = self.dir / STATE_FILE
        try:
            state = json.loads(path.read_text())
            if state.get("format") != FORMAT:
                raise ValueError(f"unknown format {state.get('format')!r}")
            buffer = np.load(self.dir / state["buffer"], allow_pickle=False)
        except FileNotFoundError:
            raise ResumeError(f"nothing to resume: {path} does not exist") from None
        except (ValueError, KeyError, OSError) as e:
            raise ResumeError(f"the saved progress in {self.dir} is unreadable ({e}); delete it to start over") from None
        if state["fingerprint"] != self.run_fingerprint:
            raise ResumeError(
                f"the saved progress in {self.dir} belongs to a different run (other input, mask, scheme, chunks, "
                "checkpoint, seed, sampler settings or --batch-stages choice); rerun with the same arguments, "
                "or delete the folder to start over"
            )
        return RunState(int(state["next_batch"]), buffer)

    def has_array(self, name: str) -> bool:
        return (self.dir / f"{name}.npy").is_file()

    def has_progress(self) -> bool:
        """Whether the folder holds anything of a run: a batch state or finished pieces."""
        return self.exists() or (self.dir.is_dir() and any(self.dir.glob("*.npy")))

    def clear_batches(self) -> None:
        """Forget the batch state and its region buffers (a chunk of a long run finished
        and saved its frames; the next chunk starts its batches afresh), keep the rest."""
        for path in [self.dir / STATE_FILE, *self.dir.glob("buffer-*.npy"), *self.dir.glob("region-*.npy")]:
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
