"""Job events and the clock are plain Python: a web process or a client reads them without SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from genserve.clock import SYSTEM_CLOCK, ManualClock
from genserve.jobs.events import Event


def test_events_and_records_import_no_sqlalchemy() -> None:
    code = (
        "import sys, genserve.jobs.events, genserve.jobs.record, genserve.clock; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_event_to_dict_has_iso_time() -> None:
    event = Event(id=3, job_id="j", type="progress", data={"step": 1}, at=0.5)
    assert event.to_dict() == {
        "id": 3,
        "job_id": "j",
        "type": "progress",
        "at": "1970-01-01T00:00:00.500000+00:00",
        "step": 1,
    }


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=1000.0)
    assert (clock.now(), clock.monotonic()) == (1000.0, 0.0)
    clock.advance(2.5)
    assert (clock.now(), clock.monotonic()) == (1002.5, 2.5)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)
    assert abs(SYSTEM_CLOCK.now() - time.time()) < 5
