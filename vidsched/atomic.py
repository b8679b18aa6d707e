"""Atomic writes: build the output beside the target under a temporary name, then rename.

A crash, Ctrl-C or ``kill -9`` leaves either the old output or the new one, never a
half-written one under the final name. :func:`atomic_write` does it for a file,
:func:`atomic_write_dir` for a folder (of video frames, say); :func:`atomic_file` and
:func:`atomic_dir` are their ``with`` forms, for outputs written piece by piece. Outputs get the mode a
plain ``open()`` or ``mkdir()`` would give them (the umask's), not the owner-only mode
of :mod:`tempfile`'s files and folders.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vidsched.errors import VidschedError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(target: str | Path, fsync: bool = False, *, prefix: str | None = None,
                suffix: str = ".tmp") -> Iterator[str]:
    """The path of a temporary file beside `target`, to write in the ``with`` block; when
    the block ends normally the file is moved into place, when it raises the file is
    deleted and `target` is left as it was. For outputs written piece by piece (a video
    written as its chunks of frames are done); :func:`atomic_write` is the one-call form.

    The temporary file is named ``prefix + RANDOM + suffix`` (default ``.NAME.RANDOM.tmp``,
    a hidden name); pass ``suffix=target.suffix`` for writers that choose the format by
    the file name (OpenCV's video writer).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}." if prefix is None else prefix, suffix=suffix,
                               dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        # mkstemp makes the file owner-only (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(target: str | Path, write: Callable[[str], object], fsync: bool = False, *,
                 prefix: str | None = None, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside `target`, then move it into place
    (:func:`atomic_file`'s naming and guarantees)."""
    with atomic_file(target, fsync, prefix=prefix, suffix=suffix) as tmp:
        write(tmp)
    return Path(target)


def atomic_write_text(target: str | Path, text: str) -> Path:
    return atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """A new empty folder beside `target`, to fill in the ``with`` block; when the block
    ends normally the folder is moved into place, when it raises it is deleted and `target`
    is left as it was.

    The folder is built as ``.NAME.partial-RANDOM``. An existing folder `target` is
    replaced (whatever it holds: the caller decides whether that is safe) in two renames,
    since no system call swaps two non-empty folders: the old folder moves aside to
    ``.NAME.old-RANDOM``, the new one takes the name (if that fails, the old one is put
    back), then the old one is deleted. Only a hard kill between the two renames can leave
    the name empty, with the old folder under its ``.old-`` name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-"
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    old = target.with_name(f".{target.name}.old-{tmp.name[len(prefix):]}")
    try:
        # mkdtemp makes the folder owner-only (0700); give it the mode a plain mkdir() would.
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if target.is_dir():
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)
                raise
            _remove(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_dir(target: str | Path, fill: Callable[[Path], object]) -> Path:
    """Call ``fill(tmp_dir)`` on a new empty folder beside `target`, then move it into place
    (:func:`atomic_dir`'s naming and guarantees)."""
    with atomic_dir(target) as tmp:
        fill(tmp)
    return Path(target)


def _remove(path: str | Path) -> None:
    """Delete a file, a link or a folder (with its contents) if it exists; best effort,
    errors are ignored (for cleaning up temporary outputs)."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:  # pragma: no cover - best effort cleanup
        pass


class OutputError(VidschedError):
    """An output location that cannot be written (checked before any work starts)."""


def check_writable(target: str | Path, *, folder: bool = False, what: str = "") -> Path:
    """Check, before any work, that ``target`` can be written; :class:`OutputError` if not.

    ``folder=False``: ``target`` is a file, so it must not be an existing folder;
    ``folder=True``: a folder of files, so it must not be an existing file. Either way the
    nearest existing folder on the way to it (its parent, or the first of the missing
    parents that the writers create) must be a folder, not a file, and must accept new
    files: a temporary file is created there and removed, which catches read-only file
    systems, immutable folders, permissions and pseudo file systems such as ``/proc``.
    Nothing else is written. ``what`` names the option in the message (``"--compare"``).
    Returns ``target`` as a Path.
    """
    target = Path(target)
    head = f"cannot write {target}" + (f" ({what})" if what else "")
    if target.is_dir() and not folder:
        raise OutputError(f"{head}: it is an existing folder (a file is expected here)")
    if folder and target.exists() and not target.is_dir():
        raise OutputError(f"{head}: a file of that name exists (a folder is expected here)")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{head}: {os.strerror(errno.ENOTDIR)} ({parent} is a file, not a folder)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".vidsched-write-check-", dir=parent)
    except OSError as e:
        raise OutputError(f"{head}: {e.strerror or e} (cannot create a file in {parent})") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:  # pragma: no cover - we just created it
        pass
    return target
