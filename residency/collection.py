"""Receipts arriving from nodes (`POST /v1/receipts`) into their tenant's log.

A receipt is accepted only if an enrolled key of the region it names signed it (receipts.verify) and its tenant
exists; it becomes one `receipt.signed` record of the tenant's chain, whose data is the receipt exactly as the
node signed it (so the tenant re-checks the node's signature, not ours). A resent receipt (same node, tenant,
meeting, seq) is logged once. A refused one is counted by the caller (a metric), not audited: the endpoint
takes no credentials, so auditing refusals would let anyone grow the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import receipts as rc
from .audit import AuditLog, AuditRecord
from .identity import EnrolledKey
from .store import PolicyStore

ACTOR = "node:{node}"


@dataclass(frozen=True)
class Collected:
    receipt: rc.Receipt
    record: AuditRecord | None  # None: already in the log


def collect(doc: object, store: PolicyStore, audit: AuditLog, keys: Mapping[str, EnrolledKey]) -> Collected:
    """`keys`: the enrolled node keys (NodeTrust.keys()). ReceiptRejected (code) for a malformed, unenrolled, wrongly signed or wrong-region receipt."""
    receipt = rc.parse(doc)
    jurisdictions = {r.id: r.jurisdiction for r in store.regions().values()}
    rc.verify(receipt, keys, jurisdictions)
    if store.get_tenant(receipt.tenant) is None:
        raise rc.ReceiptRejected("receipt_tenant_unknown", f"no tenant {receipt.tenant!r}")
    key = f"{receipt.node}/{receipt.tenant}/{receipt.meeting}/{receipt.seq}"
    with audit.db.transaction() as tx:  # the dedupe row and the record commit together
        taken = tx.execute("INSERT INTO residency_receipts (receipt, tenant) VALUES (:r, :t) "
                           "ON CONFLICT (receipt) DO NOTHING", {"r": key, "t": receipt.tenant}).rowcount
        if not taken:
            return Collected(receipt, None)
        data = receipt.to_dict()
        record = audit.append("receipt.signed", actor=ACTOR.format(node=receipt.node), tenant=receipt.tenant,
                              data=data)  # type: ignore[arg-type]
    return Collected(receipt, record)
