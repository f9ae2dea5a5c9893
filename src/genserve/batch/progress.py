"""How a batch shows its progress: one Rich display on a terminal; one JSON line per change elsewhere.

The Rich display holds an overall bar with the counts by state, the pace and the time left, the
rows running now (with their steps) and the latest failures. Without a terminal (CI logs) every
change of a row's state is one JSON object on its own line, between a ``batch`` line (the plan)
and a ``done`` line (the counts).
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from genserve.batch.board import ACTIVE, Board, RowState

RUNNING_SHOWN = 8
FAILURES_SHOWN = 5


def _counts_text(counts: dict[str, int]) -> str:
    return " · ".join(f"{n} {state.replace('_', ' ')}" for state, n in counts.items())


def _eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "eta -"
    seconds = round(seconds)
    return f"eta {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class JsonLines:
    """One JSON object per line: ``batch`` (the plan), ``row`` (a state change), ``done``."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def _write(self, data: dict[str, Any]) -> None:
        self.stream.write(json.dumps(data, default=str) + "\n")
        self.stream.flush()

    def start(self, board: Board) -> None:
        self._write(
            {
                "event": "batch",
                "batch": board.batch_id,
                "rows": board.total,
                "where": board.where,
                "plan": board.plan,
            }
        )

    def changed(self, board: Board, state: RowState) -> None:
        self._write(
            {
                "event": "row",
                "batch": board.batch_id,
                "row": state.row.id,
                "line": state.row.line,
                "status": state.status,
                "job_id": state.job_id,
                "attempt": state.attempt,
                "error": state.error,
                "message": state.message,
                "done": board.done(),
                "total": board.total,
                "counts": board.counts(),
            }
        )

    def progressed(self, board: Board, state: RowState) -> None:
        return None  # steps are not state changes: kept out of CI logs

    def stop(self, board: Board) -> None:
        rate = board.rate()
        self._write(
            {
                "event": "done",
                "batch": board.batch_id,
                "counts": board.counts(),
                "wall_s": round(board.elapsed(), 3),
                "rows_per_min": None if rate is None else round(rate * 60, 2),
            }
        )


class Silent:
    def start(self, board: Board) -> None:
        return None

    def changed(self, board: Board, state: RowState) -> None:
        return None

    def progressed(self, board: Board, state: RowState) -> None:
        return None

    def stop(self, board: Board) -> None:
        return None


class LiveDisplay:
    """The terminal view, redrawn four times a second from the board."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.live: Any = None
        self.failures: list[RowState] = []

    def start(self, board: Board) -> None:
        from rich.live import Live

        self.live = Live(
            get_renderable=lambda: self.render(board),
            console=self.console,
            refresh_per_second=4,
            transient=False,
            redirect_stderr=False,
        )
        self.live.start()

    def changed(self, board: Board, state: RowState) -> None:
        if state.status in ("failed", "canceled") and not state.earlier:
            self.failures.append(state)

    def progressed(self, board: Board, state: RowState) -> None:
        return None  # read at the next redraw

    def stop(self, board: Board) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()

    def render(self, board: Board) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with board.lock:
            counts, done, total = board.counts(), board.done(), board.total
            running = [s for s in board.states if s.status in ACTIVE]
            failures = list(self.failures[-FAILURES_SHOWN:])
            rate, eta, now = board.rate(), board.eta(), board.clock()
        head = Table.grid(padding=(0, 1))
        for _ in range(5):
            head.add_column()
        pace = f"{rate * 60:.1f} rows/min" if rate else "- rows/min"
        head.add_row(
            Text(f"batch {board.batch_id}", style="bold"),
            ProgressBar(total=max(total, 1), completed=done, width=30),
            Text(f"{done}/{total}"),
            Text(pace),
            Text(_eta_text(eta)),
        )
        parts: list[Any] = [head, Text(_counts_text(counts), style="dim")]
        if running:
            table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
            for column in ("row", "task", "status", "steps", "for"):
                table.add_column(column)
            for state in sorted(running, key=lambda s: (s.status != "running", s.since))[:RUNNING_SHOWN]:
                steps = f"{state.step}/{state.total}" if state.step is not None and state.total else ""
                table.add_row(state.row.id, state.row.task, state.status, steps, f"{now - state.since:.0f}s")
            if len(running) > RUNNING_SHOWN:
                table.add_row(f"... {len(running) - RUNNING_SHOWN} more", "", "", "", "")
            parts.append(table)
        for state in failures:
            text = Text(f"{state.status} ", style="red")
            text.append(f"{state.row.id} (line {state.row.line}): {state.message or state.error or ''}")
            parts.append(text)
        return Group(*parts)
