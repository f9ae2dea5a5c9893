"""Device choice (CUDA when usable, else CPU) and peak-memory measurement; torch only if present."""

from __future__ import annotations

import importlib.util
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
    """Samples this process's RSS in a thread while a job runs; reads torch's CUDA peak when in use."""

    def __init__(self, device: str, interval: float = 0.02) -> None:
        self.device = device
        self.interval = interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="genserve-mem")
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
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, psutil.Process().memory_info().rss)
        cuda = self._torch_cuda()
        if cuda is not None:
            self.gpu_mb = cuda.max_memory_allocated() / 2**20

    @property
    def cpu_rss_mb(self) -> float:
        return self.peak_rss / 2**20
