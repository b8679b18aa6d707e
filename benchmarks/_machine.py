"""What every benchmark records about the machine it ran on (shared by the scripts here).

    from _machine import machine, load_avg, cpu_model, torch_info, busy_note

The scripts in this folder are run as ``python benchmarks/NAME.py``, which puts this
folder on ``sys.path``, so a plain ``import _machine`` finds this file.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# The packages compile_speed.py has always reported (its JSON must not change).
COMPILER_PACKAGES = ("vidsched", "lark", "networkx", "pydantic", "numpy")
RUNTIME_PACKAGES = COMPILER_PACKAGES + ("torch", "einops")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(packages: tuple[str, ...] = COMPILER_PACKAGES) -> dict:
    """CPU, cores, OS, Python and the versions of ``packages`` (None if not installed)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    versions = {}
    for dist in packages:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": versions,
    }


def load_avg() -> float | None:
    """1-minute load average: other work on the machine makes wall times noisy."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def busy_note(load: float | None) -> str | None:
    """A warning line when the load average says another process competed for the CPU."""
    cores = os.cpu_count() or 1
    if load is not None and load > 0.5 * cores:
        return (f"note: the machine was busy (1-min load average {load:.2f} on {cores} cores): "
                "wall times are noisy; compare the CPU times, or re-run on an idle machine")
    return None


def torch_info() -> dict:
    """Torch build, intra-op threads, and the GPU if there is one."""
    import torch

    info = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
