"""Device choice (CUDA when usable, else CPU) and peak-memory measurement; torch only if present."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
from types import TracebackType
from typing import Any

import psutil

from genserve.errors import BackendUnavailable


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def select_device(requested: str, supported: tuple[str, ...]) -> tuple[str, list[str]]:
    """(device, warnings). ``requested`` is auto | cpu | cuda | cuda:N; falls back to CPU with a warning."""
    warnings: list[str] = []
    kind = requested.split(":")[0]
    if requested == "auto":
        if "cuda" in supported and cuda_available():
            return "cuda", warnings
        if "cpu" in supported:
            return "cpu", warnings
        raise BackendUnavailable(
            "this backend needs a CUDA GPU and none is usable here",
            argument="device",
            value=requested,
            fix="run it on a machine with an NVIDIA GPU, or pick a CPU backend (`genserve backends`)",
        )
    if kind not in ("cpu", "cuda"):
        raise BackendUnavailable(
            "unknown device", argument="device", value=requested, fix="use auto, cpu, cuda or cuda:N"
        )
    if kind == "cuda" and not cuda_available():
        if "cpu" in supported:
            warnings.append(f"device {requested} is not usable here (no CUDA); fell back to CPU")
            return "cpu", warnings
        raise BackendUnavailable(
            "no usable CUDA GPU", argument="device", value=requested, fix="run on a GPU machine"
        )
    if kind not in supported:
        warnings.append(f"this backend does not run on {kind}; using {supported[0]}")
        return supported[0], warnings
    return requested, warnings


class PeakMemory:
    """This process's peak RSS while a job runs, and torch's CUDA peak when in use.

    On Linux the kernel keeps the high-water mark itself: it is reset at the start
    (``/proc/self/clear_refs``) and read at the end (``VmHWM``), so nothing runs beside the job.
    Elsewhere a thread samples the RSS every ``interval`` seconds. Jobs running side by side in
    one process share one RSS: each reports the process's peak since the latest job started.
    """

    def __init__(self, device: str, interval: float = 0.02) -> None:
        self.device = device
        self.interval = interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.gpu_mb: float | None = None

    def _sample(self) -> None:
        proc = psutil.Process()
        while True:
            self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            if self._stop.wait(self.interval):
                return

    def _torch_cuda(self) -> Any:
        if self.device.startswith("cuda") and "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.cuda.is_available():
                return torch.cuda
        return None

    def __enter__(self) -> PeakMemory:
        cuda = self._torch_cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats()
        if not reset_high_water_mark():
            self._thread = threading.Thread(target=self._sample, daemon=True, name="genserve-mem")
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_rss = max(self.peak_rss, psutil.Process().memory_info().rss)
        else:  # the kernel's figure is at least the RSS now: one read of /proc/self/status
            self.peak_rss = high_water_mark() or 0
        cuda = self._torch_cuda()
        if cuda is not None:
            self.gpu_mb = cuda.max_memory_allocated() / 2**20

    @property
    def cpu_rss_mb(self) -> float:
        return self.peak_rss / 2**20


_KERNEL_HWM: bool | None = None  # whether this kernel keeps a resettable high-water mark (found once)
# NOTE: the two /proc files stay open (per process: a forked child opens its own), so a job's
# reset and read are one system call each
_PROC_FILES: dict[str, tuple[int, int]] = {}  # name -> (pid, fd)
_VMHWM = re.compile(rb"^VmHWM:\s+(\d+) kB", re.MULTILINE)


def _proc_fd(name: str, flags: int) -> int:
    pid = os.getpid()
    opened = _PROC_FILES.get(name)
    if opened is None or opened[0] != pid:
        _PROC_FILES[name] = opened = (pid, os.open(f"/proc/self/{name}", flags | os.O_CLOEXEC))
    return opened[1]


def reset_high_water_mark() -> bool:
    """Reset the kernel's peak RSS of this process to its current RSS (Linux 4.0+); False elsewhere."""
    global _KERNEL_HWM
    if _KERNEL_HWM is False:
        return False
    try:
        os.write(_proc_fd("clear_refs", os.O_WRONLY), b"5")
    except OSError:
        _KERNEL_HWM = False
        return False
    if _KERNEL_HWM is None:
        _KERNEL_HWM = high_water_mark() is not None
    return _KERNEL_HWM


def high_water_mark() -> int | None:
    """The kernel's peak RSS of this process in bytes (``VmHWM``), or None where there is none."""
    try:
        found = _VMHWM.search(os.pread(_proc_fd("status", os.O_RDONLY), 1 << 16, 0))
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None
