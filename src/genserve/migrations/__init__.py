"""Alembic migrations of the job store; run programmatically by ``JobStore.open()``."""
