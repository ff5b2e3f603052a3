"""The database schema's version: one Alembic history (`migrations/versions/`) for SQLite and PostgreSQL.

`ensure_schema` runs when a `Database` opens (every control-plane start, every CLI command on the database):
a database at the newest revision is left alone (one query); an older one is upgraded, unless automatic
upgrade is off (`castellan control-plane --schema-upgrade never`), then it is refused with the command that
upgrades it (`castellan db upgrade`). Two replicas starting at once do not race: the upgrade runs under a
PostgreSQL session advisory lock (`MIGRATE_LOCK`), or an exclusive lock on `<file>.migrate.lock` for SQLite,
and each re-reads the revision once it holds the lock.

A database created before migrations existed (tables, no `alembic_version`) is adopted by the baseline revision,
which creates only what is missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from .errors import SchemaOutdated

if TYPE_CHECKING:
    from .db import Database

MIGRATE_LOCK = 0x43415355  # the advisory lock id held while a PostgreSQL schema is being upgraded
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


@functools.cache
def head() -> str:
    """The newest revision of the code's schema history."""
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None, "the schema history is empty"
    return rev


def current(conn: Connection) -> str | None:
    """The database's revision (None: never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _exclusive(db: Database, conn: Connection) -> Iterator[None]:
    """One upgrader at a time across processes (replicas starting together)."""
    if db.dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATE_LOCK})
            conn.commit()
        return
    path = db.url.removeprefix("sqlite:///")
    if db.url == "sqlite://":  # in memory: nobody else can see it
        yield
        return
    with open(f"{path}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade_schema(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrades the schema to `revision`; returns (revision before, revision after)."""
    with db.engine.connect() as conn, _exclusive(db, conn):
        before = current(conn)
        conn.commit()
        command.upgrade(_config(conn), revision)
        conn.commit()
        after = current(conn)
        conn.commit()
    return before, after


def ensure_schema(db: Database, *, upgrade: bool = True) -> None:
    with db.engine.connect() as conn:
        rev = current(conn)
    if rev == head():
        return
    if not upgrade:
        raise SchemaOutdated("schema_outdated", f"the database is at schema revision {rev or 'none'}, this code "
                             f"needs {head()}: run `castellan db upgrade` (or start with automatic upgrade)")
    upgrade_schema(db)


def revision_of(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return current(conn)
