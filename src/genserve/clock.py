"""Time as a parameter: leases, timeouts, ETAs and heartbeats read a :class:`Clock`.

Production code uses :data:`SYSTEM_CLOCK`; tests pass a :class:`ManualClock` and advance it, so a
lease expires or a timeout passes without waiting for it.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time, seconds since the epoch (what the store records: created_at, lease_until, ...)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back (durations, deadlines in one process)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()


class ManualClock:
    """A clock that moves only when told: ``advance(seconds)`` moves wall and monotonic time alike."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._lock = threading.Lock()
        self._wall = float(start)
        self._mono = 0.0

    def now(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock does not go back: advance({seconds})")
        with self._lock:
            self._wall += seconds
            self._mono += seconds
