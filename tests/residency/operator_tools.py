"""What a cheating operator can do with full control of the database: drop the append-only triggers, rewrite a
tenant's chain (records removed, edited, inserted) with every seq, prev and hash recomputed so that the chain
itself verifies, forget the heads signed before, and get the log's own code to sign the result."""

from __future__ import annotations

from collections.abc import Callable

from residency.audit import GENESIS, AuditRecord, canonical, chain_of, record_hash
from residency.db import Database

Rewrite = Callable[[list[AuditRecord]], list[AuditRecord]]


def drop_append_only_triggers(db: Database) -> None:
    with db.transaction() as tx:
        if db.dialect == "sqlite":
            tx.execute("DROP TRIGGER IF EXISTS audit_records_no_update")
            tx.execute("DROP TRIGGER IF EXISTS audit_records_no_delete")
        else:
            tx.execute("DROP TRIGGER IF EXISTS audit_records_no_change ON audit_records")
            tx.execute("DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records")


def rewrite_chain(db: Database, records: list[AuditRecord], tenant: str, rewrite: Rewrite) -> None:
    """Replace the tenant's chain by `rewrite(records)`, re-chained so it verifies, and forget its old heads."""
    drop_append_only_triggers(db)
    chain = chain_of(tenant)
    prev = GENESIS
    with db.transaction() as tx:
        tx.execute("DELETE FROM audit_records WHERE chain = :c", {"c": chain})
        tx.execute("DELETE FROM transparency_heads WHERE log = :c", {"c": chain})
        for seq, r in enumerate(rewrite(records), start=1):
            fields = {"chain": chain, "seq": seq, "ts": r.ts, "kind": r.kind, "actor": r.actor, "tenant": tenant,
                      "data": r.data, "prev": prev}
            digest = record_hash(fields)
            tx.execute("INSERT INTO audit_records (chain, seq, ts, kind, actor, tenant, data, prev, hash) "
                       "VALUES (:chain, :seq, :ts, :kind, :actor, :tenant, :data, :prev, :hash)",
                       {**fields, "data": canonical(r.data).decode(), "hash": digest})
            prev = digest
