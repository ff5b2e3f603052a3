"""The schema history (Alembic, residency/migrations/): one history for SQLite and PostgreSQL, upgraded at start
under a lock so replicas starting together do not race, adopting databases made before migrations existed, and
refusing an old schema when automatic upgrade is off."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import inspect

from residency.db import Database, database_url, redacted
from residency.errors import SchemaOutdated, StoreUnavailable
from residency.schema import head, revision_of
from residency.service import ResidencyService
from signalling.control.store import Store
from tests.support.processes import PYTHON, REPO

TABLES = {"meta", "admin_keys", "links", "residency_regions", "residency_tenants", "audit_records",
          "lobby_tickets", "room_seats", "residency_node_keys", "alembic_version",
          "recordings", "recording_holds", "recording_policies",
          "transparency_heads", "transparency_webhooks", "residency_receipts", "recorder_pool_keys"}

# what the releases before migrations created (control/store.py, residency/store.py, residency/audit.py)
LEGACY = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE admin_keys (key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '', created REAL NOT NULL, revoked_at REAL);
CREATE TABLE links (link TEXT PRIMARY KEY, tenant TEXT NOT NULL, title TEXT NOT NULL, room TEXT NOT NULL,
    password_hash TEXT, host_key_hash TEXT NOT NULL, expires_at REAL, max_participants INTEGER,
    lobby INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, created_by TEXT NOT NULL, revoked_at REAL);
CREATE INDEX links_tenant ON links (tenant);
CREATE TABLE residency_regions (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE residency_tenants (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE audit_records (chain TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, kind TEXT NOT NULL,
    actor TEXT NOT NULL, tenant TEXT, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (chain, seq));
INSERT INTO meta VALUES ('link-signing-key', x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(request.getfixturevalue("pg_url") if request.param == "postgresql" else tmp_path / "c.db")


def test_a_new_database_gets_every_table_at_the_newest_revision(target: str) -> None:
    db = Database(target)
    assert set(inspect(db.engine).get_table_names()) == TABLES
    assert revision_of(db) == head()
    db.close()


def test_a_database_from_before_migrations_is_adopted_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY)
    conn.close()
    store = Store(path)
    assert store.secret("link-signing-key") == bytes.fromhex("00112233445566778899aabbccddeeff" * 2)
    assert revision_of(store.db) == head()
    svc = ResidencyService(store.db)  # the append-only triggers came with the adoption
    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    with pytest.raises(Exception, match="append-only"):
        store.db.execute("DELETE FROM audit_records")


def test_an_old_schema_is_refused_when_automatic_upgrade_is_off(target: str) -> None:
    db = Database(target, check=False)  # empty: behind this release
    with pytest.raises(SchemaOutdated, match="castellan db upgrade"):
        Database(target, upgrade=False)
    db.close()


def test_replicas_starting_together_upgrade_once(pg_url: str) -> None:
    """Four processes open one empty PostgreSQL database at the same moment: one upgrades, the others wait for
    its lock and find the schema current; nobody fails on a half-made schema or a duplicate version row."""
    script = ("import sys; from residency.db import Database; from signalling.control.store import Store; "
              "s = Store(sys.argv[1]); print(s.secret('k').hex())")
    procs = [subprocess.Popen([PYTHON, "-c", script, pg_url], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    assert len({o.strip() for o, _ in outs}) == 1  # one secret: the first replica's won, everyone reads it
    db = Database(pg_url)
    assert db.query("SELECT COUNT(*) FROM alembic_version")[0][0] == 1
    db.close()


def test_castellan_db_current_and_upgrade(target: str) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        flag = ["--database-url", target] if "://" in target else ["--db", target]
        return subprocess.run([PYTHON, "-m", "signalling.cli", "db", *args, *flag], cwd=REPO, capture_output=True,
                              text=True, timeout=120)

    before = cli("current")
    assert before.returncode == 1 and "database: empty" in before.stdout
    up = cli("upgrade")
    assert up.returncode == 0 and f"empty -> {head()}" in up.stdout, up.stderr
    assert f"{head()} (up to date)" in cli("upgrade").stdout
    assert cli("current").returncode == 0


def test_an_unreachable_server_is_a_clear_error_without_its_password() -> None:
    url = "postgresql://castellan:hunter2-secret@127.0.0.1:1/castellan"
    with pytest.raises(StoreUnavailable) as err:
        Database(url)
    assert "hunter2" not in str(err.value) and "127.0.0.1:1" in err.value.message
    assert "hunter2" not in redacted(database_url(url))
    out = subprocess.run([PYTHON, "-m", "signalling.cli", "db", "upgrade", "--database-url", url], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "hunter2" not in out.stdout + out.stderr
    with pytest.raises(ValueError, match="mysql"):
        database_url("mysql://x@y/z")


def test_a_replica_frozen_inside_a_write_does_not_stall_the_others(pg_url: str) -> None:
    """A replica stopped (SIGSTOP, a hung VM) while holding the write lock: the server cuts its session off, and
    the other replicas' writes go through instead of waiting for it forever."""
    frozen = Database(pg_url)
    other = Database(pg_url)
    with pytest.raises(StoreUnavailable):
        with frozen.transaction() as tx:
            tx.execute("INSERT INTO meta (key, value) VALUES ('frozen', :v)", {"v": b"x"})
            assert other.execute("INSERT INTO meta (key, value) VALUES ('other', :v)", {"v": b"y"}) == 1
            tx.execute("SELECT 1")  # the frozen replica wakes up: its session is gone
    assert [r[0] for r in other.query("SELECT key FROM meta ORDER BY key")] == ["other"]
    frozen.close()
    other.close()
