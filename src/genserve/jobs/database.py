"""The store's database: its URL (SQLite WAL under the data dir, or ``database_url``), the engine,
and the Alembic migrations that bring it to the schema of :mod:`genserve.jobs.schema`."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genserve.config import Settings


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.data_dir).resolve() / 'jobs.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # NOTE: WAL lets readers run while one writer writes; busy_timeout makes writers queue, not fail
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# NOTE: SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps
# (1, 2, 5, ... up to 100 ms) between tries. Writers of one process queue on a lock here instead.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def begin(engine: Engine) -> AbstractContextManager[sa.Connection]:
    """A write transaction (``engine.begin()``); on SQLite, one at a time in this process."""
    lock = _SQLITE_WRITERS.get(engine)
    return engine.begin() if lock is None else _one_writer(engine, lock)


@contextmanager
def _one_writer(engine: Engine, lock: threading.RLock) -> Iterator[sa.Connection]:
    with lock, engine.begin() as conn:
        yield conn


def create_engine(url: str) -> Engine:
    # NOTE: the most recently used connection is handed out first: on SQLite its page cache is still
    # valid (another connection re-reads every page changed since its last use: 34 reads a job)
    kwargs: dict[str, Any] = {"future": True, "pool_use_lifo": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        _SQLITE_WRITERS[engine] = threading.RLock()
    else:
        sa.event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


IDLE_PING_S = 5.0  # a pooled connection unused this long is pinged before it is handed out


def _ping_if_idle(dialect: Any, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection idle for ``IDLE_PING_S`` is checked first (a database restarted since is
    then met with a fresh connection, not an error); one in steady use is not pinged at every
    checkout, which cost a round trip per transaction (``pool_pre_ping``). A connection that breaks
    between two uses is invalidated by its first error, with the rest of the pool."""
    now = time.monotonic()
    idle = now - record.info.get("checked_out_at", now - IDLE_PING_S - 1)
    record.info["checked_out_at"] = now
    if idle > IDLE_PING_S:
        try:
            alive = dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"pooled connection is gone: {exc}") from exc
        if not alive:
            raise sa.exc.DisconnectionError("pooled connection is gone")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[1] / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
