"""PeakMemory: a job's peak RSS is caught even when the memory is freed before the job ends."""

from __future__ import annotations

import os
import time

import numpy as np
import psutil
import pytest

from genserve import device
from genserve.device import PeakMemory

MB = 2**20


def _spike(megabytes: int, hold_s: float = 0.0) -> None:
    block = np.ones(megabytes * MB, dtype=np.uint8)  # touched: resident, not only reserved
    time.sleep(hold_s)
    del block


@pytest.mark.skipif(not device.reset_high_water_mark(), reason="needs Linux's /proc/self/clear_refs")
def test_kernel_high_water_mark_catches_a_short_spike_and_is_reset_per_job() -> None:
    before = psutil.Process().memory_info().rss
    with PeakMemory("cpu") as first:
        _spike(300)  # freed at once: no sampler could be sure to see it
    assert first.peak_rss - before >= 290 * MB
    assert first._thread is None  # nothing ran beside the job
    with PeakMemory("cpu") as second:
        _spike(20)
    # the first job's spike does not leak into the next job's figure
    assert second.peak_rss - before < 200 * MB


def test_sampling_thread_where_the_kernel_keeps_no_high_water_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "reset_high_water_mark", lambda: False)
    before = psutil.Process().memory_info().rss
    with PeakMemory("cpu", interval=0.005) as mem:
        _spike(300, hold_s=0.2)
    assert mem._thread is not None and not mem._thread.is_alive()
    assert mem.peak_rss - before >= 290 * MB


@pytest.mark.skipif(not device.reset_high_water_mark(), reason="needs Linux's /proc/self/clear_refs")
def test_a_forked_child_reads_its_own_high_water_mark_not_its_parents() -> None:
    """The /proc files stay open per process: a child forked after the parent opened them opens
    its own (/proc/self of the parent would otherwise be read, and reset, by the child)."""
    assert device.reset_high_water_mark() and device.high_water_mark() is not None
    parent = {name: device._PROC_FILES[name] for name in ("clear_refs", "status")}
    _spike(100)  # the parent's mark is now well above what the child holds
    pid = os.fork()
    if pid == 0:  # the child: a big allocation shows in its own mark only
        code = 1
        try:
            # NOTE: a child starts with its parent's mark (fork copies it): reset it, as a job does
            reset = device.reset_high_water_mark()
            before = device.high_water_mark() or 0
            block = bytearray(64 * 2**20)
            block[::4096] = b"x" * len(block[::4096])
            mine = {name: device._PROC_FILES[name][0] for name in ("clear_refs", "status")}
            grew = (device.high_water_mark() or 0) - before
            own = mine == {"clear_refs": os.getpid(), "status": os.getpid()}
            code = 0 if reset and own and grew > 60 * 2**20 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert {name: device._PROC_FILES[name] for name in parent} == parent  # the parent keeps its own
