"""Frame-level threads (vidsched.parallel): order, bounded look-ahead, errors, the
VIDSCHED_THREADS cap; propagation and Telea give the same result on any number of threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vidsched.errors import VidschedError
from vidsched.parallel import THREADS_VARIABLE, default_threads, in_order, threads_for, usable_cores


def test_in_order_yields_every_item_in_order_once_its_work_and_all_before_are_done():
    done, lock = set(), threading.Lock()

    def work(i):
        time.sleep(0.002 * ((7 * i) % 5))  # finish out of order
        with lock:
            done.add(i)

    seen = []
    for item in in_order(work, range(20), threads=3):
        with lock:
            assert set(range(item + 1)) <= done
        seen.append(item)
    assert seen == list(range(20))


def test_in_order_starts_at_most_twice_the_threads_ahead_of_what_it_yielded():
    started, lock = [], threading.Lock()

    def work(i):
        with lock:
            started.append(i)

    for item in in_order(work, range(50), threads=2):
        time.sleep(0.001)
        with lock:
            assert max(started) <= item + 2 * 2


def test_in_order_raises_a_failure_at_its_item_and_cancels_the_rest():
    ran = []

    def work(i):
        if i == 3:
            raise ValueError("frame 3 failed")
        ran.append(i)

    seen = []
    with pytest.raises(ValueError, match="frame 3"):
        for item in in_order(work, range(100), threads=2):
            seen.append(item)
    assert seen == [0, 1, 2] and max(ran) < 3 + 2 * 2 + 1


def test_threads_respect_the_environment_variable_and_the_number_of_tasks(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert default_threads() == usable_cores() >= 1
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    assert default_threads() == 3 and threads_for(None, 2) == 2 and threads_for(None, 10) == 3
    assert threads_for(5, 10) == 5 and threads_for(5, 0) == 1
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv(THREADS_VARIABLE, bad)
        with pytest.raises(VidschedError, match=THREADS_VARIABLE):
            default_threads()
    with pytest.raises(VidschedError, match="threads"):
        threads_for(0, 3)


def moving_square_video(T=12, H=48, W=64):
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (H, W + 3 * T, 3), dtype=np.uint8)
    scene = (scene // 2 + np.roll(scene, 1, axis=1) // 2).astype(np.uint8)  # some texture DIS can follow
    frames = np.stack([scene[:, 2 * t:2 * t + W] for t in range(T)])
    hole = np.zeros((T, H, W), bool)
    for t in range(T):
        hole[t, 14:30, 6 + 3 * t:22 + 3 * t] = True
    return frames, hole


def test_propagation_is_the_same_on_one_thread_and_on_several():
    from vidsched.propagation import propagate

    frames, hole = moving_square_video()
    one = propagate(frames, hole, threads=1)
    assert one.filled.any()
    for threads in (2, 3):
        many = propagate(frames, hole, threads=threads)
        for a, b in zip((one.frames, one.filled, one.confidence, one.source),
                        (many.frames, many.filled, many.confidence, many.source)):
            assert np.array_equal(a, b)


def test_telea_is_the_same_on_one_thread_and_on_several(monkeypatch):
    from vidsched.baselines import telea

    frames, hole = moving_square_video()
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    one = telea(frames, hole)
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    assert np.array_equal(telea(frames, hole), one) and not np.array_equal(one, frames)


def test_propagation_reports_its_progress_frame_by_frame_in_order():
    from vidsched.propagation import propagate

    frames, hole = moving_square_video()
    hole[5] = False  # a frame without a hole is not counted
    calls = []
    propagate(frames, hole, threads=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 11) for i in range(12)]

