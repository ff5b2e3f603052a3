"""Durable storage of regions and tenants (SQLite or PostgreSQL, `db.py`), the source of truth behind the registry's published view.

Plain JSON blobs keyed by id: the shapes are defined once, in `model.py`. Writes happen inside the caller's
`Database.transaction()` together with the matching audit record.
"""

from __future__ import annotations

import json

from .db import Database
from .model import Region, Tenant


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self.db = db  # its tables come from the schema history (schema.py)

    def put_region(self, region: Region) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO residency_regions (id, doc) VALUES (:id, :doc) "
                       "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                       {"id": region.id, "doc": json.dumps(region.to_dict(), sort_keys=True)})

    def regions(self) -> dict[str, Region]:
        rows = self.db.query("SELECT doc FROM residency_regions ORDER BY id")
        return {r.id: r for r in (Region.from_dict(json.loads(str(row[0]))) for row in rows)}

    def put_tenant(self, tenant: Tenant) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO residency_tenants (id, doc) VALUES (:id, :doc) "
                       "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                       {"id": tenant.id, "doc": json.dumps(tenant.to_dict(), sort_keys=True)})

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        rows = self.db.query("SELECT doc FROM residency_tenants WHERE id = :id", {"id": tenant_id})
        return Tenant.from_dict(json.loads(str(rows[0][0]))) if rows else None

    def tenants(self) -> list[Tenant]:
        rows = self.db.query("SELECT doc FROM residency_tenants ORDER BY id")
        return [Tenant.from_dict(json.loads(str(row[0]))) for row in rows]
