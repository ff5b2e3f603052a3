"""Alembic's entry for Castellan's schema: always run on the connection `residency.schema` hands over (online
only; the history is plain SQL through `op`, no models to autogenerate from)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise SystemExit("run migrations through `castellan db upgrade` (residency.schema), not the alembic command")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
