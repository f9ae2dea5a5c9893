"""The one way a job changes in the store: a conditional ``UPDATE jobs ... WHERE id AND status [AND
attempt]``, its row count (or returned row) deciding whether it happened, and the event that records
it written in the same transaction. Claim, heartbeat, progress, finish, cancel and recovery are each
one call of :func:`transition` (see :class:`genserve.jobs.store.JobStore`). On PostgreSQL the update
and its event are one statement.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from genserve.jobs.event_log import EventLog
from genserve.jobs.events import Event
from genserve.jobs.record import JobRecord
from genserve.jobs.schema import EVENTS, JOBS


class RowData(dict[str, str]):
    """An event's data read from the job's row after the change: {key: column}. On PostgreSQL the
    update and the event's insert are then one statement (see :func:`_update_and_event`)."""

    def of(self, record: JobRecord) -> dict[str, Any]:
        return {key: _plain(getattr(record, column)) for key, column in self.items()}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, StrEnum) else value


EventData = dict[str, Any] | RowData | Callable[[JobRecord], dict[str, Any]]
PLUS_ONE: Any = object()  # a transition's value: the column's value plus one (the attempt of a claim)


# NOTE: the job a worker takes when it was told of none: the first queued one by priority, then age
# (PostgreSQL: one locked by another worker's claim is passed over, not waited for)
FIRST_QUEUED = (
    sa.select(JOBS.c.id)
    .where(JOBS.c.status == "queued")
    .order_by(JOBS.c.priority.desc(), JOBS.c.created_at, JOBS.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .correlate(None)  # NOTE: a query of its own, not of the row being updated
    .scalar_subquery()
)


@functools.lru_cache(maxsize=64)
def _update(
    keys: tuple[str, ...],
    bumped: tuple[str, ...],
    nulled: tuple[str, ...],
    fenced: bool,
    returning: bool,
    first: bool = False,
) -> Any:
    """``UPDATE jobs SET <keys>, <bumped> + 1, <nulled> = NULL WHERE id, status [, attempt]
    [RETURNING *]``, built once per shape; values are parameters ``v_<column>``, conditions ``w_*``;
    ``first``: the id is :data:`FIRST_QUEUED`'s."""
    job = FIRST_QUEUED if first else sa.bindparam("w_id")
    where = [JOBS.c.id == job, JOBS.c.status == sa.bindparam("w_status")]
    if fenced:
        where.append(JOBS.c.attempt == sa.bindparam("w_attempt"))
    values: dict[str, Any] = {k: sa.bindparam(f"v_{k}", type_=JOBS.c[k].type) for k in keys}
    values.update({k: JOBS.c[k] + 1 for k in bumped})
    values.update({k: sa.null() for k in nulled})
    statement = JOBS.update().where(*where).values(values)
    return statement.returning(*JOBS.c) if returning else statement


@functools.lru_cache(maxsize=64)
def _update_and_event(
    keys: tuple[str, ...],
    bumped: tuple[str, ...],
    nulled: tuple[str, ...],
    fenced: bool,
    first: bool,
    row_data: tuple[tuple[str, str], ...] | None,
) -> Any:
    """PostgreSQL: the update and its event's insert as one statement (a data-modifying CTE), which
    returns the job's row and the event's id: one round trip instead of two. The event's type, time
    and (unless read from the row, ``row_data``) data are parameters ``e_*``."""
    update = _update(keys, bumped, nulled, fenced, False, first)
    # the whole row when the event's data is read from it, else what the webhook's delivery needs
    returned = JOBS.c if row_data is not None else (JOBS.c.id, JOBS.c.webhook_url)
    moved = update.returning(*returned).cte("moved")
    if row_data is None:
        data: Any = sa.bindparam("e_data", type_=EVENTS.c.data.type)
    else:
        pairs = [part for key, column in row_data for part in (sa.literal(key), moved.c[column])]
        data = sa.func.json_build_object(*pairs)
    written = (
        EVENTS.insert()
        .from_select(
            ["job_id", "type", "data", "at"],
            sa.select(moved.c.id, sa.bindparam("e_type"), data, sa.bindparam("e_at", type_=EVENTS.c.at.type)),
        )
        .returning(EVENTS.c.id)
        .cte("written")
    )
    return sa.select(moved, written.c.id.label("event_id")).select_from(moved.join(written, sa.true()))


@dataclass(frozen=True)
class Moved:
    """A transition that happened: the job after it (when the event needed it) and its event."""

    record: JobRecord | None
    event: Event | None


def transition(
    conn: sa.Connection,
    log: EventLog,
    job_id: str | None,
    *,
    status: str,
    values: dict[str, Any],
    at: float,
    attempt: int | None = None,
    event: str | None = None,
    data: EventData | None = None,
    hooked: bool | None = None,
) -> Moved | None:
    """The one way a job changes: ``values`` are set only while the job is in ``status`` (and, for
    a worker's own job, at ``attempt``), and ``event`` is written (by ``log``) in the same transaction. None
    when the job was not there (another worker took it, it finished, it was canceled).

    ``data`` may be a function of the job after the change (the update returns the row for it).
    A value may be :data:`PLUS_ONE`: the column's value plus one. ``job_id`` None: the first queued
    job (:data:`FIRST_QUEUED`; ``data`` must then be a function, which names the job)."""
    shape: dict[str, list[str]] = {"plain": [], "bumped": [], "nulled": []}
    for key, value in values.items():
        kind = "bumped" if value is PLUS_ONE else "nulled" if value is None else "plain"
        shape[kind].append(key)  # NOTE: None is SQL NULL (a JSON column would store 'null')
    params = {f"v_{k}": values[k] for k in shape["plain"]}
    params["w_status"] = status
    if job_id is not None:
        params["w_id"] = job_id
    if attempt is not None:
        params["w_attempt"] = attempt
    shapes = [tuple(sorted(shape[k])) for k in shape]
    if event and conn.dialect.name == "postgresql" and not callable(data):
        return _moved_in_one(conn, log, shapes, params, job_id, attempt, event, data or {}, at, hooked)
    statement = _update(
        *shapes, attempt is not None, callable(data) or isinstance(data, RowData), job_id is None
    )
    result = conn.execute(statement, params)
    record = None
    if isinstance(data, RowData):
        data = data.of  # the row is read back like any function of the job's row
    if callable(data):
        row = result.first()
        if row is None:
            return None
        record = JobRecord.from_row(row)
        job_id = record.id
        data = data(record)
        hooked = record.webhook_url is not None if hooked is None else hooked
    elif result.rowcount != 1:
        return None
    assert job_id is not None, "the first queued job is named by the row the update returns"
    written = log.write(conn, job_id, event, data or {}, at, hooked) if event else None
    return Moved(record, written)


def _moved_in_one(
    conn: sa.Connection,
    log: EventLog,
    shapes: list[tuple[str, ...]],
    params: dict[str, Any],
    job_id: str | None,
    attempt: int | None,
    event: str,
    data: dict[str, Any] | RowData,
    at: float,
    hooked: bool | None,
) -> Moved | None:
    """:func:`transition` on PostgreSQL: the update and its event in one statement; the webhook's
    delivery, when the job has one, in the same transaction as usual."""
    row_data = tuple(data.items()) if isinstance(data, RowData) else None
    statement = _update_and_event(*shapes, attempt is not None, job_id is None, row_data)
    params = {**params, "e_type": event, "e_at": at}
    if row_data is None:
        params["e_data"] = data
    row = conn.execute(statement, params).first()
    if row is None:
        return None
    mapping = dict(row._mapping)
    event_id, job_id, webhook_url = mapping.pop("event_id"), mapping["id"], mapping["webhook_url"]
    record = None
    if isinstance(data, RowData):
        record = JobRecord.from_mapping(mapping)
        data = data.of(record)
    written = Event(id=int(event_id), job_id=job_id, type=event, data=dict(data), at=at)
    if (webhook_url is not None) if hooked is None else hooked:
        log.outbox.queue(conn, written)
    return Moved(record, written)
