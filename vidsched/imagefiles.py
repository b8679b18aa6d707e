"""Which files in a folder are images, and in what order (standard library only).

A video can be a folder of frames and a mask can be a folder of mask images; both are
listed here, the same way, so that frame ``i`` of a video and frame ``i`` of its mask come
from files of the same rank. This is the bottom of the video/mask I/O stack:
:mod:`vidsched.videoio` and :mod:`vidsched.masks_io` both import it, and it imports
neither (it exists so that those two do not import each other both ways).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "list_images", "natural_key"]

#: Suffixes of the image files that make up a frame or mask folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key putting ``frame2.png`` before ``frame10.png`` (zero-padded names keep their
    plain order). Shared by mask folders and frame folders so their frames line up."""
    parts = tuple((1, int(part)) if part.isdigit() else (0, part.lower()) for part in _DIGITS.split(name))
    return parts, name


def list_images(folder: Path) -> list[Path]:
    """The image files in ``folder``, in natural name order (``2.png`` before ``10.png``).
    Hidden files (``.DS_Store``, ``._frame.png`` ...) are skipped."""
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith(".")), key=lambda p: natural_key(p.name))
