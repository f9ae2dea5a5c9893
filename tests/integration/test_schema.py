"""The migrations build exactly the schema the store declares (genserve.jobs.schema), on SQLite and
on PostgreSQL (a database of its own per run, dropped after): a column, index, type, nullability or
server default changed on one side only fails here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from genserve.jobs.database import migrate
from genserve.jobs.schema import META

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2})
    try:
        with admin.connect():
            pass
    except Exception:
        admin.dispose()
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    name = f"gs_schema_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(admin.url.set(database=name))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, META))


def test_migrations_build_the_declared_schema(migrated: sa.Engine) -> None:
    assert _differences(migrated) == []


def test_a_difference_is_found(migrated: sa.Engine) -> None:
    """The comparison sees drift: a column the migrations never made, an index they did."""
    with migrated.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_jobs_owner"))
        conn.execute(sa.text("ALTER TABLE workers ADD COLUMN extra INTEGER"))
    found = {str(d) for d in _differences(migrated)}
    assert any("ix_jobs_owner" in d and "add_index" in d for d in found), found
    assert any("extra" in d and "remove_column" in d for d in found), found
