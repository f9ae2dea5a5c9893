"""Job events and the clock are plain Python: a web process or a client reads them without SQLAlchemy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

from genserve.clock import SYSTEM_CLOCK, ManualClock
from genserve.jobs.events import Event, EventBus


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


def test_a_subscriber_woken_only_by_completion_still_gets_every_event_in_order() -> None:
    """Events from another thread: with ``wake=("completed",)`` the coroutine sleeps through the
    others (they wait, in order) and is woken once; a plain subscriber is woken by each."""
    bus = EventBus()

    async def scenario() -> tuple[list[str], list[str], bool]:
        with bus.subscribe_async("j", wake=("completed",)) as lazy, bus.subscribe_async("j") as eager:
            worker = threading.Thread(
                target=lambda: [bus.publish(Event(i, "j", t)) for i, t in enumerate(("queued", "started"))]
            )
            worker.start()
            worker.join()
            first = await asyncio.wait_for(eager.get(), 1)
            try:  # nothing woke the lazy one (the events wait for its next get)
                await asyncio.wait_for(lazy._ready.wait(), 0.2)
                woke = True
            except TimeoutError:
                woke = False
            threading.Thread(target=bus.publish, args=(Event(2, "j", "completed"),)).start()
            got = [(await asyncio.wait_for(lazy.get(), 1)).type for _ in range(3)]
            return [first.type], got, woke

    eager_first, lazy_all, woke = asyncio.run(scenario())
    assert eager_first == ["queued"]
    assert woke is False
    assert lazy_all == ["queued", "started", "completed"]
