"""The one database behind residency and the control plane: SQLite (embedded default) or PostgreSQL (production,
several control-plane replicas), through SQLAlchemy Core so both run the same SQL (`:name` parameters,
`ON CONFLICT` upserts) and the same Alembic schema history (`schema.py`, `migrations/`).

A policy change and its audit record commit in ONE transaction (nothing half-applied), and writers are
serialised so two processes cannot fork an audit chain:

* SQLite: `BEGIN IMMEDIATE` on one connection (our lock across threads, SQLite's write lock across processes);
  WAL mode lets readers proceed meanwhile.
* PostgreSQL: every write transaction first takes one transaction-scoped advisory lock (`WRITE_LOCK`), the
  same serialisation across replicas; reads never wait for it. Connections come from a pool that tests each one
  before use (`pool_pre_ping`), so a restarted server costs the requests in flight at that moment, not later ones.

A lost connection surfaces as `StoreUnavailable` (HTTP 503 with Retry-After: retry), never as a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, exc, text
from sqlalchemy.pool import StaticPool

from .errors import StoreUnavailable

Params = Mapping[str, object]
WRITE_LOCK = 0x43415354  # "CAST": the advisory lock id every PostgreSQL write transaction takes
CONNECT_TIMEOUT = 3  # seconds; a server that does not answer fails the request instead of hanging it
# Every statement here is short. A statement stuck behind a lock fails (retryably) after 10 s, and a replica that
# froze inside a write transaction (holding WRITE_LOCK) is cut off after 5 s instead of stalling every writer.
SERVER_OPTIONS = "-c statement_timeout=10000 -c idle_in_transaction_session_timeout=5000"


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL for a file path, ":memory:", `sqlite:///…` or `postgresql://…` (psycopg 3 driver)."""
    s = str(target)
    if s.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + s.split("://", 1)[1]
    if s.startswith(("postgresql+psycopg://", "sqlite://")):
        return s
    if "://" in s:
        raise ValueError(f"unsupported database URL scheme in {s.split('://', 1)[0]!r}: use postgresql:// or a file")
    if s == ":memory:":
        return "sqlite://"
    return f"sqlite:///{Path(s).resolve()}"


def redacted(url: str) -> str:
    """The URL without its password (for logs and errors)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Tx:
    """The statements of one transaction (or one read)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params | None = None) -> CursorResult[Any]:
        return self._conn.execute(text(sql), dict(params or {}))


@contextmanager
def _unavailable_as_error(url: str) -> Iterator[None]:
    """Connection-level failures (server down, restarted, unreachable) become a retryable StoreUnavailable."""
    try:
        yield
    except exc.DBAPIError as e:
        if e.connection_invalidated or isinstance(e, exc.OperationalError | exc.InterfaceError):
            raise StoreUnavailable("store_unavailable",
                                   f"the database ({redacted(url)}) is unreachable: "
                                   f"{str(e.orig).strip().splitlines()[0][:160] if e.orig else e}") from e
        raise


class Database:
    def __init__(self, target: str | Path, *, upgrade: bool = True, check: bool = True) -> None:
        """Opens the database; brings its schema to the newest revision first unless `upgrade` is False (then a
        database behind the code is refused with the command that upgrades it). `check=False` opens it as it
        is (`castellan db`)."""
        from .schema import ensure_schema

        self.url = database_url(target)
        self.lock = threading.RLock()
        self._depth = 0
        self._tx: Tx | None = None
        if self.url.startswith("sqlite"):
            self.dialect = "sqlite"
            self.engine: Engine = create_engine(self.url, poolclass=StaticPool,
                                                connect_args={"check_same_thread": False, "timeout": 30.0})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if self.url != "sqlite://":
                with self.engine.connect() as c:
                    c.exec_driver_sql("PRAGMA journal_mode=WAL")
        else:
            self.dialect = "postgresql"
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=4, max_overflow=4,
                                        pool_recycle=1800, connect_args={"connect_timeout": CONNECT_TIMEOUT,
                                                      "options": SERVER_OPTIONS})
        if check:
            with _unavailable_as_error(self.url):
                ensure_schema(self, upgrade=upgrade)
        # SQLite: one connection in autocommit mode, transactions issued by us (BEGIN IMMEDIATE)
        self._sqlite: Connection | None = None
        if self.dialect == "sqlite":
            self._sqlite = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction; nested uses join the outermost one (all commit or none do)."""
        with self.lock:
            if self._depth > 0:
                assert self._tx is not None
                self._depth += 1
                try:
                    yield self._tx
                finally:
                    self._depth -= 1
                return
            with _unavailable_as_error(self.url):
                if self._sqlite is not None:
                    yield from self._sqlite_transaction(self._sqlite)
                else:
                    with self.engine.begin() as conn:
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
                        yield from self._enter(Tx(conn))

    def _sqlite_transaction(self, conn: Connection) -> Iterator[Tx]:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield from self._enter(Tx(conn))
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")

    def _enter(self, tx: Tx) -> Iterator[Tx]:
        self._tx, self._depth = tx, 1
        try:
            yield tx
        finally:
            self._tx, self._depth = None, 0

    def query(self, sql: str, params: Params | None = None) -> list[Any]:
        """Rows of one read (inside the current transaction when there is one)."""
        with self.lock:
            if self._tx is not None:
                return list(self._tx.execute(sql, params).fetchall())
            with _unavailable_as_error(self.url):
                if self._sqlite is not None:
                    return list(Tx(self._sqlite).execute(sql, params).fetchall())
                with self.engine.connect() as conn:
                    return list(Tx(conn).execute(sql, params).fetchall())

    def execute(self, sql: str, params: Params | None = None) -> int:
        """One write statement in its own transaction (or the current one); returns the rows it changed."""
        with self.transaction() as tx:
            return int(tx.execute(sql, params).rowcount)

    def ping(self) -> bool:
        try:
            self.query("SELECT 1")
            return True
        except (StoreUnavailable, exc.SQLAlchemyError):
            return False

    def close(self) -> None:
        with self.lock:
            if self._sqlite is not None:
                self._sqlite.close()
            self.engine.dispose()
