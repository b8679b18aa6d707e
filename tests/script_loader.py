"""Load a repository script (experiments/, benchmarks/, docs/) as a module for tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str, name: str | None = None) -> ModuleType:
    """The script at ``REPO / relative``, run as module ``name`` (default: its stem).

    It is registered in ``sys.modules`` while it runs: dataclasses look their module up
    there. Tests that keep it there for a module's lifetime pop it when they are done."""
    path = REPO / relative
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
