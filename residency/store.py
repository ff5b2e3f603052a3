"""Durable storage of regions and tenants (SQLite), the source of truth behind the registry's published view.

Plain JSON blobs keyed by id: the shapes are defined once, in `model.py`. Writes happen inside the caller's
`Database.transaction()` together with the matching audit record.
"""

from __future__ import annotations

import json

from .db import Database
from .model import Region, Tenant

_SCHEMA = """
CREATE TABLE IF NOT EXISTS residency_regions (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS residency_tenants (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        with db.lock:
            db.conn.executescript(_SCHEMA)

    def put_region(self, region: Region) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO residency_regions (id, doc) VALUES (?, ?)",
                         (region.id, json.dumps(region.to_dict(), sort_keys=True)))

    def regions(self) -> dict[str, Region]:
        rows = self.db.query("SELECT doc FROM residency_regions ORDER BY id")
        return {r.id: r for r in (Region.from_dict(json.loads(str(row[0]))) for row in rows)}

    def put_tenant(self, tenant: Tenant) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO residency_tenants (id, doc) VALUES (?, ?)",
                         (tenant.id, json.dumps(tenant.to_dict(), sort_keys=True)))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        rows = self.db.query("SELECT doc FROM residency_tenants WHERE id = ?", (tenant_id,))
        return Tenant.from_dict(json.loads(str(rows[0][0]))) if rows else None

    def tenants(self) -> list[Tenant]:
        rows = self.db.query("SELECT doc FROM residency_tenants ORDER BY id")
        return [Tenant.from_dict(json.loads(str(row[0]))) for row in rows]
