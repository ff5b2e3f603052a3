"""The control plane's own SQLite store: admin API keys (hashed), meeting links, and a few secrets.

Tenants themselves live in residency (its store and audit log); this store only refers to them by id.
One connection, serialised by a lock (SQLite in WAL mode); every statement is short.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .jsontypes import JSONObject

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS admin_keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,            -- '*' for operator keys
    hash TEXT NOT NULL,              -- sha256 hex of the secret part (keys are 256-bit random)
    label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS links (
    link TEXT PRIMARY KEY,           -- signed id (see linkids.py)
    tenant TEXT NOT NULL,
    title TEXT NOT NULL,
    room TEXT NOT NULL,
    password_hash TEXT,              -- NULL when created with no password (explicit opt-out)
    host_key_hash TEXT NOT NULL,
    expires_at REAL,
    max_participants INTEGER,
    lobby INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS links_tenant ON links (tenant);
"""


@dataclass(frozen=True)
class AdminKey:
    key_id: str
    tenant: str
    hash: str
    label: str
    created: float
    revoked_at: float | None

    def public(self) -> JSONObject:
        return {
            "key_id": self.key_id,
            "tenant": self.tenant,
            "label": self.label,
            "created": self.created,
            "revoked": self.revoked_at is not None,
        }


@dataclass(frozen=True)
class Link:
    link: str
    tenant: str
    title: str
    room: str
    password_hash: str | None
    host_key_hash: str
    expires_at: float | None
    max_participants: int | None
    lobby: bool
    created: float
    created_by: str
    revoked_at: float | None

    def public(self) -> JSONObject:
        """What an admin sees (never the hashes)."""
        return {
            "link": self.link,
            "tenant": self.tenant,
            "title": self.title,
            "room": self.room,
            "password_required": self.password_hash is not None,
            "expires_at": self.expires_at,
            "max_participants": self.max_participants,
            "lobby": self.lobby,
            "created": self.created,
            "created_by": self.created_by,
            "revoked": self.revoked_at is not None,
        }


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ping(self) -> bool:
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def _exec(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def _all(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- secrets -------------------------------------------------------------------------------------------
    def secret(self, name: str, nbytes: int = 32) -> bytes:
        """A persistent random secret (created on first use), e.g. the link-signing key."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (name, secrets.token_bytes(nbytes))
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        return bytes(row["value"])

    # -- admin keys ----------------------------------------------------------------------------------------
    def add_admin_key(self, key_id: str, tenant: str, hash_hex: str, label: str) -> AdminKey:
        now = time.time()
        self._exec(
            "INSERT INTO admin_keys (key_id, tenant, hash, label, created) VALUES (?, ?, ?, ?, ?)",
            (key_id, tenant, hash_hex, label, now),
        )
        return AdminKey(key_id, tenant, hash_hex, label, now, None)

    def admin_key(self, key_id: str) -> AdminKey | None:
        rows = self._all("SELECT * FROM admin_keys WHERE key_id = ?", (key_id,))
        return AdminKey(**dict(rows[0])) if rows else None

    def admin_keys(self, tenant: str) -> list[AdminKey]:
        return [AdminKey(**dict(r)) for r in self._all("SELECT * FROM admin_keys WHERE tenant = ? ORDER BY created", (tenant,))]

    def revoke_admin_key(self, key_id: str) -> bool:
        cur = self._exec(
            "UPDATE admin_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (time.time(), key_id)
        )
        return cur.rowcount == 1

    # -- links ---------------------------------------------------------------------------------------------
    def add_link(self, link: Link) -> None:
        self._exec(
            "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                link.link, link.tenant, link.title, link.room, link.password_hash, link.host_key_hash,
                link.expires_at, link.max_participants, int(link.lobby), link.created, link.created_by,
                link.revoked_at,
            ),
        )

    @staticmethod
    def _link(row: sqlite3.Row) -> Link:
        d = dict(row)
        d["lobby"] = bool(d["lobby"])
        return Link(**d)

    def link(self, link: str) -> Link | None:
        rows = self._all("SELECT * FROM links WHERE link = ?", (link,))
        return self._link(rows[0]) if rows else None

    def links(self, tenant: str) -> list[Link]:
        return [self._link(r) for r in self._all("SELECT * FROM links WHERE tenant = ? ORDER BY created", (tenant,))]

    def set_password_hash(self, link: str, password_hash: str) -> None:
        self._exec("UPDATE links SET password_hash = ? WHERE link = ?", (password_hash, link))

    def revoke_link(self, link: str) -> bool:
        cur = self._exec("UPDATE links SET revoked_at = ? WHERE link = ? AND revoked_at IS NULL", (time.time(), link))
        return cur.rowcount == 1

    def revoked_links(self, since: float | None = None) -> list[str]:
        """Revoked links (only those revoked after `since`, if given)."""
        rows = self._all("SELECT link FROM links WHERE revoked_at IS NOT NULL AND revoked_at >= ? ORDER BY revoked_at",
                         (since if since is not None else 0.0,))
        return [r["link"] for r in rows]

    def dump(self) -> bytes:
        """Every byte the store holds (tests use it to prove a secret was never stored)."""
        with self._lock:
            return "\n".join(self._db.iterdump()).encode()
