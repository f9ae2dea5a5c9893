"""PeakMemory: a job's peak RSS is caught even when the memory is freed before the job ends."""

from __future__ import annotations

import json
import mmap
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
    parent_mark = device.high_water_mark() or 0
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it reads, sent to the parent, which checks it
        seen: dict[str, object] = {}
        try:
            # NOTE: a child starts with its parent's mark (fork copies it): reset it, as a job does
            seen["reset"] = device.reset_high_water_mark()
            seen["after_reset"] = device.high_water_mark()
            block = mmap.mmap(-1, 64 * MB)  # fresh pages, whatever the allocator holds already
            for offset in range(0, len(block), 4096):
                block[offset] = 1
            seen["rss"] = psutil.Process().memory_info().rss
            block.close()
            seen["after_spike"] = device.high_water_mark()
            seen["files"] = {name: device._PROC_FILES[name][0] for name in ("clear_refs", "status")}
            seen["pid"] = os.getpid()
        finally:
            os.write(write_end, json.dumps(seen).encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        seen = json.loads(pipe.read() or b"{}")
    os.waitpid(pid, 0)
    assert seen["reset"] is True, seen
    assert seen["files"] == {"clear_refs": seen["pid"], "status": seen["pid"]}, seen  # its own files
    assert seen["after_reset"] < parent_mark - 50 * MB, (parent_mark, seen)  # not the parent's mark
    # its own spike (the kernel's counters are approximate by a few pages)
    assert seen["rss"] > seen["after_reset"] + 50 * MB, seen
    assert seen["after_spike"] > seen["rss"] - 4 * MB, seen
    assert {name: device._PROC_FILES[name] for name in parent} == parent  # the parent keeps its own
