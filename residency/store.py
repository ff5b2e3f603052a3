"""Durable storage of regions and tenants (SQLite or PostgreSQL, `db.py`), the source of truth behind the registry's published view.

Plain JSON blobs keyed by id: the shapes are defined once, in `model.py`. Writes happen inside the caller's
`Database.transaction()` together with the matching audit record.
"""

from __future__ import annotations

import json

from .db import Database
from .identity import EnrolledKey
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

    # node keys the operator enrolled, per region (residency/identity.py)
    def put_node_key(self, key: EnrolledKey) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO residency_node_keys (key_id, doc) VALUES (:id, :doc) "
                       "ON CONFLICT (key_id) DO UPDATE SET doc = excluded.doc",
                       {"id": key.key_id, "doc": json.dumps(key.to_dict(), sort_keys=True)})

    def delete_node_key(self, key_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM residency_node_keys WHERE key_id = :id", {"id": key_id})

    def node_keys(self) -> dict[str, EnrolledKey]:
        rows = self.db.query("SELECT doc FROM residency_node_keys ORDER BY key_id")
        return {k.key_id: k for k in (EnrolledKey.from_dict(json.loads(str(row[0]))) for row in rows)}
