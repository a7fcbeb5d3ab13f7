"""``bench.timing.settle``: the pause between targets lasts while the process burns CPU, and no longer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from edge_infer.bench.timing import settle


@contextmanager
def spinning_thread() -> Iterator[threading.Event]:
    """A thread that busy-waits (as ONNX Runtime's pool does after a run) until the yielded event is set."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5)


def test_settle_returns_at_once_when_the_process_is_idle() -> None:
    settle(2000)  # threads left spinning by earlier tests stop within about 100 ms
    assert settle(2000) < 1000


def test_settle_waits_while_a_thread_spins_up_to_its_limit() -> None:
    with spinning_thread():
        waited = settle(300)
    assert 300 <= waited < 3000


def test_settle_ends_soon_after_the_spinning_stops() -> None:
    with spinning_thread() as stop:
        timer = threading.Timer(0.2, stop.set)
        timer.start()
        t0 = time.perf_counter()
        waited = settle(5000)
        timer.join()
    assert waited >= 150  # it waited for the spinning thread...
    assert waited < 4000  # ...and not until its limit
    assert (time.perf_counter() - t0) * 1e3 >= waited
