"""A batch's board: every row's state, the counts by state and the pace; a reporter hears of each
change (see genserve.batch.progress)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from genserve.batch.rows import BatchRow

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "canceled")
# every state a row can be in; pending: waiting for a slot to be submitted in this run
STATES = ("pending", "queued", "running", "succeeded", "failed", "canceled", "not_submitted")


@dataclass
class RowState:
    row: BatchRow
    status: str = "pending"
    job_id: str | None = None  # the current attempt's job, once it exists
    attempt: int = 0
    job: dict[str, Any] | None = None  # its last view
    error: str | None = None
    message: str | None = None
    step: int | None = None
    total: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)  # the local copies (path relative to out)
    earlier: bool = False  # finished before this run: found, not run again
    since: float = 0.0  # when it entered its status (clock seconds)

    @property
    def result(self) -> dict[str, Any]:
        return dict((self.job or {}).get("result") or {})

    @property
    def duration_sec(self) -> float | None:
        value = self.result.get("duration_sec")
        return float(value) if isinstance(value, int | float) else None


class Reporter(Protocol):
    def start(self, board: Board) -> None: ...

    def changed(self, board: Board, state: RowState) -> None:
        """A row's status changed."""
        ...

    def progressed(self, board: Board, state: RowState) -> None:
        """A running row reported a step."""
        ...

    def stop(self, board: Board) -> None: ...


class Board:
    """Every row's state, the counts and the pace; the reporter hears of each change."""

    def __init__(
        self,
        batch_id: str,
        rows: list[BatchRow],
        reporter: Reporter | None = None,
        where: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.batch_id = batch_id
        self.where = where
        self.states = [RowState(row) for row in rows]
        self.reporter = reporter
        self.clock = clock
        self.lock = threading.RLock()
        self.started = clock()
        self.finished_here = 0  # rows that finished in this run (for the pace)
        self.plan: dict[str, int] = {}

    def set(self, state: RowState, **changes: Any) -> None:
        with self.lock:
            before = state.status
            for key, value in changes.items():
                setattr(state, key, value)
            if state.status != before:
                state.since = self.clock()
                if state.status in FINISHED and not state.earlier:
                    self.finished_here += 1
                if state.status not in ACTIVE:
                    state.step = state.total = None
                if self.reporter is not None:
                    self.reporter.changed(self, state)

    def progress(self, state: RowState, step: int | None, total: int | None) -> None:
        with self.lock:
            state.step, state.total = step, total
            if self.reporter is not None:
                self.reporter.progressed(self, state)

    def counts(self) -> dict[str, int]:
        with self.lock:
            found = {s: 0 for s in STATES}
            for state in self.states:
                found[state.status] += 1
            return {k: v for k, v in found.items() if v}

    @property
    def total(self) -> int:
        return len(self.states)

    def done(self) -> int:
        with self.lock:
            return sum(s.status in (*FINISHED, "not_submitted") for s in self.states)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def rate(self) -> float | None:
        """Rows finished per second in this run."""
        elapsed = self.elapsed()
        return self.finished_here / elapsed if self.finished_here and elapsed > 0 else None

    def eta(self) -> float | None:
        rate = self.rate()
        left = sum(s.status in (*ACTIVE, "pending") for s in self.states)
        return left / rate if rate else None
