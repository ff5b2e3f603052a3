"""The control plane's own tables: admin API keys (hashed), meeting links, and a few secrets.

Tenants themselves live in residency (its store and audit log); this store only refers to them by id. The
database is residency's `Database` (SQLite file, or PostgreSQL for several replicas; tables from the schema
history, `residency/schema.py`); every statement is short.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from residency.db import Database, Params

from .jsontypes import JSONObject


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
class PoolKey:
    """A recorder pool key (docs/recording.md, "Launching recorders"): one region, one power."""

    key_id: str
    region: str
    hash: str
    label: str
    created: float
    revoked_at: float | None

    def public(self) -> JSONObject:
        return {"key_id": self.key_id, "region": self.region, "label": self.label, "created": self.created,
                "revoked": self.revoked_at is not None}


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
    def __init__(self, db: str | Path | Database, *, upgrade: bool = True) -> None:
        self.db = db if isinstance(db, Database) else Database(db, upgrade=upgrade)
        self.path = self.db.url

    def close(self) -> None:
        self.db.close()

    def ping(self) -> bool:
        return self.db.ping()

    def _exec(self, sql: str, args: Params | None = None) -> int:
        return self.db.execute(sql, args)

    def _all(self, sql: str, args: Params | None = None) -> list[Mapping[str, Any]]:
        return [r._mapping for r in self.db.query(sql, args)]

    # -- secrets -------------------------------------------------------------------------------------------
    def secret(self, name: str, nbytes: int = 32) -> bytes:
        """A persistent random secret (created on first use), e.g. the link-signing key."""
        self._exec("INSERT INTO meta (key, value) VALUES (:k, :v) ON CONFLICT (key) DO NOTHING",
                   {"k": name, "v": secrets.token_bytes(nbytes)})  # the first replica's wins
        return bytes(self._all("SELECT value FROM meta WHERE key = :k", {"k": name})[0]["value"])

    # -- admin keys ----------------------------------------------------------------------------------------
    def add_admin_key(self, key_id: str, tenant: str, hash_hex: str, label: str) -> AdminKey:
        now = time.time()
        self._exec(
            "INSERT INTO admin_keys (key_id, tenant, hash, label, created) VALUES (:id, :t, :h, :l, :c)",
            {"id": key_id, "t": tenant, "h": hash_hex, "l": label, "c": now},
        )
        return AdminKey(key_id, tenant, hash_hex, label, now, None)

    def add_admin_key_if_absent(self, key_id: str, tenant: str, hash_hex: str, label: str) -> bool:
        """True when this call created it. Replicas starting at once with the same key (a deployment secret)
        both try: one wins, the other finds it there, neither fails."""
        return self._exec(
            "INSERT INTO admin_keys (key_id, tenant, hash, label, created) VALUES (:id, :t, :h, :l, :c) "
            "ON CONFLICT (key_id) DO NOTHING",
            {"id": key_id, "t": tenant, "h": hash_hex, "l": label, "c": time.time()},
        ) == 1

    def admin_key(self, key_id: str) -> AdminKey | None:
        rows = self._all("SELECT * FROM admin_keys WHERE key_id = :id", {"id": key_id})
        return AdminKey(**dict(rows[0])) if rows else None

    def admin_keys(self, tenant: str) -> list[AdminKey]:
        return [AdminKey(**dict(r)) for r in self._all("SELECT * FROM admin_keys WHERE tenant = :t ORDER BY created",
                                                          {"t": tenant})]

    def revoke_admin_key(self, key_id: str) -> bool:
        return self._exec("UPDATE admin_keys SET revoked_at = :now WHERE key_id = :id AND revoked_at IS NULL",
                          {"now": time.time(), "id": key_id}) == 1

    # -- recorder pool keys --------------------------------------------------------------------------------
    def add_pool_key(self, key_id: str, region: str, hash_hex: str, label: str) -> PoolKey:
        now = time.time()
        self._exec("INSERT INTO recorder_pool_keys (key_id, region, hash, label, created) "
                   "VALUES (:id, :r, :h, :l, :c)", {"id": key_id, "r": region, "h": hash_hex, "l": label, "c": now})
        return PoolKey(key_id, region, hash_hex, label, now, None)

    def add_pool_key_if_absent(self, key_id: str, region: str, hash_hex: str, label: str) -> bool:
        """Stores a configured key unless its id is taken (several replicas enroll the same key at start)."""
        return self._exec("INSERT INTO recorder_pool_keys (key_id, region, hash, label, created) "
                          "VALUES (:id, :r, :h, :l, :c) ON CONFLICT (key_id) DO NOTHING",
                          {"id": key_id, "r": region, "h": hash_hex, "l": label, "c": time.time()}) == 1

    def pool_key(self, key_id: str) -> PoolKey | None:
        rows = self._all("SELECT * FROM recorder_pool_keys WHERE key_id = :id", {"id": key_id})
        return PoolKey(**dict(rows[0])) if rows else None

    def pool_keys(self) -> list[PoolKey]:
        return [PoolKey(**dict(r)) for r in self._all("SELECT * FROM recorder_pool_keys ORDER BY created")]

    def revoke_pool_key(self, key_id: str) -> bool:
        return self._exec("UPDATE recorder_pool_keys SET revoked_at = :now WHERE key_id = :id AND revoked_at IS NULL",
                          {"now": time.time(), "id": key_id}) == 1

    # -- links ---------------------------------------------------------------------------------------------
    def add_link(self, link: Link) -> None:
        self._exec(
            "INSERT INTO links (link, tenant, title, room, password_hash, host_key_hash, expires_at, "
            "max_participants, lobby, created, created_by, revoked_at) VALUES (:link, :tenant, :title, :room, "
            ":password_hash, :host_key_hash, :expires_at, :max_participants, :lobby, :created, :created_by, "
            ":revoked_at)",
            {**link.__dict__, "lobby": int(link.lobby)},
        )

    @staticmethod
    def _link(row: Mapping[str, Any]) -> Link:
        d = dict(row)
        d["lobby"] = bool(d["lobby"])
        return Link(**d)

    def link(self, link: str) -> Link | None:
        rows = self._all("SELECT * FROM links WHERE link = :link", {"link": link})
        return self._link(rows[0]) if rows else None

    def links(self, tenant: str) -> list[Link]:
        return [self._link(r) for r in self._all("SELECT * FROM links WHERE tenant = :t ORDER BY created",
                                                   {"t": tenant})]

    def set_password_hash(self, link: str, password_hash: str) -> None:
        self._exec("UPDATE links SET password_hash = :h WHERE link = :link", {"h": password_hash, "link": link})

    def revoke_link(self, link: str) -> bool:
        return self._exec("UPDATE links SET revoked_at = :now WHERE link = :link AND revoked_at IS NULL",
                          {"now": time.time(), "link": link}) == 1

    def revoked_links(self, since: float | None = None) -> list[str]:
        """Revoked links (only those revoked after `since`, if given)."""
        rows = self._all("SELECT link FROM links WHERE revoked_at IS NOT NULL AND revoked_at >= :since "
                         "ORDER BY revoked_at", {"since": since if since is not None else 0.0})
        return [r["link"] for r in rows]

    def dump(self) -> bytes:
        """Every value the store's tables hold (tests use it to prove a secret was never stored)."""
        out = []
        for table in ("meta", "admin_keys", "links", "lobby_tickets", "room_seats"):
            for row in self.db.query(f"SELECT * FROM {table}"):  # noqa: S608 - fixed table names
                out.append(repr(tuple(row)))
        return "\n".join(out).encode()
