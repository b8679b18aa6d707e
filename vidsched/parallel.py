"""Frame-level parallelism for the CPU work around the model (propagation, Telea).

Propagation fills each frame from other frames of the *input*, so frames are independent
tasks: run on several threads they give the same result, bit for bit, in less wall time.
OpenCV and most numpy operations release the GIL, so threads use several cores without
copying the video into other processes. OpenCV's own parallelism does not help here: its
calls work on crops of a few hundred pixels a side, too small to split (on this project's
2-core CPU, two OpenCV threads made propagation slower than one; two frames at a time made
it 1.6x faster: BENCHMARKS.md).

``VIDSCHED_THREADS`` (an environment variable) caps the threads; by default every core the
process may use.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from vidsched.errors import VidschedError

T = TypeVar("T")
THREADS_VARIABLE = "VIDSCHED_THREADS"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``VIDSCHED_THREADS`` if set (a positive integer), else :func:`usable_cores`."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return usable_cores()
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise VidschedError(f"{THREADS_VARIABLE} must be a positive integer, got {value!r}")
    return threads


def threads_for(threads: int | None, tasks: int) -> int:
    """How many threads to run ``tasks`` on: ``threads`` (None: :func:`default_threads`),
    no more than there are tasks, at least 1."""
    if threads is None:
        threads = default_threads()
    elif not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise VidschedError(f"threads must be a positive integer (or None), got {threads!r}")
    return max(1, min(threads, tasks))


def in_order(work: Callable[[T], object], items: Iterable[T], threads: int) -> Iterator[T]:
    """Run ``work(item)`` for every item on ``threads`` threads and yield the items in their
    order as their work finishes: when an item is yielded, it and every item before it
    are done. At most ``2 * threads`` items are started ahead of the earliest unfinished
    one, so a caller can drop what only finished items needed (memory stays bounded).
    An exception in ``work`` is raised here, at its item, after the items before it; the
    items not started yet are cancelled. With one thread the work runs in this thread."""
    if threads <= 1:
        for item in items:
            work(item)
            yield item
        return
    source = iter(items)
    pending: deque = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="vidsched") as pool:
        try:
            while True:
                while len(pending) < 2 * threads:
                    item = next(source, _END)
                    if item is _END:
                        break
                    pending.append((item, pool.submit(work, item)))
                if not pending:
                    return
                item, future = pending.popleft()
                future.result()
                yield item
        finally:
            for _, future in pending:
                future.cancel()


_END = object()
