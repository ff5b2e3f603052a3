"""Each tenant's transparency log: its audit chain (audit.py) read as the leaves of an RFC 9162 Merkle tree
(transparency.py), the heads signed over it (heads.py, by a key outside the database: logkey.py), and the
proofs and per-meeting evidence a tenant verifies offline (verify.py).

Leaf i (0-based) is the record of seq i + 1 of chain "tenant:<id>"; its leaf data is the record's canonical
JSON (hash included). So every record — placements, refusals, receipts, policy changes, admin actions — is a
leaf, and nothing is stored twice. Signed heads are kept (`transparency_heads`) so that the evidence for a
meeting can carry a consistency proof from every head ever signed for the log to the one it is checked
against: a tenant holding any of them can check it.

Cost: a head or proof reads the tenant's chain and hashes it (O(n)); ~1 s per ~300,000 records on one core.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from . import transparency
from .audit import AuditLog, AuditRecord, _ts, canonical, chain_of
from .heads import TreeHead, parse_head, sign_head
from .logkey import HeadSigner

EVIDENCE_FORMAT = "castellan-evidence-1"
POLICY_KINDS = ("tenant.created", "policy.changed")
MEETING_KINDS = ("placement.decided", "placement.replaced", "placement.participant", "placement.refused",
                 "receipt.signed", "room.ended")


def leaf_of(record: AuditRecord) -> bytes:
    return transparency.leaf_hash(canonical(record.to_dict()))


def meeting_of(record: AuditRecord) -> str | None:
    room = record.data.get("meeting") if record.kind == "receipt.signed" else record.data.get("room")
    return room if isinstance(room, str) else None


@dataclass
class TenantLog:
    audit: AuditLog
    signer: HeadSigner

    def _tree(self, tenant: str) -> tuple[list[AuditRecord], list[bytes]]:
        records = self.audit.tenant_records(tenant)
        return records, [leaf_of(r) for r in records]

    def head(self, tenant: str) -> TreeHead:
        """The signed head at the log's current size (signed now if no head covers that size yet)."""
        log = chain_of(tenant)
        _, leaves = self._tree(tenant)
        stored = self._stored(log, len(leaves))
        if stored is not None:
            return stored
        head = sign_head(self.signer, log, len(leaves), transparency.root(leaves), _ts(self.audit.clock()))
        with self.audit.db.transaction() as tx:  # a replica that signed the same size first wins: one head per size
            tx.execute("INSERT INTO transparency_heads (log, tree_size, root_hash, line) "
                       "VALUES (:log, :size, :root, :line) ON CONFLICT (log, tree_size) DO NOTHING",
                       {"log": log, "size": head.tree_size, "root": head.root_hash,
                        "line": json.dumps(head.to_line(), sort_keys=True)})
        return self._stored(log, len(leaves)) or head

    def _stored(self, log: str, size: int) -> TreeHead | None:
        rows = self.audit.db.query("SELECT line FROM transparency_heads WHERE log = :log AND tree_size = :size",
                                   {"log": log, "size": size})
        return parse_head(json.loads(str(rows[0][0])), self.signer.public_key()) if rows else None

    def heads(self, tenant: str) -> list[TreeHead]:
        rows = self.audit.db.query("SELECT line FROM transparency_heads WHERE log = :log ORDER BY tree_size",
                                   {"log": chain_of(tenant)})
        return [parse_head(json.loads(str(r[0])), self.signer.public_key()) for r in rows]

    def inclusion(self, tenant: str, index: int, size: int) -> list[bytes]:
        _, leaves = self._tree(tenant)
        if size > len(leaves):
            raise transparency.ProofError(f"the log has {len(leaves)} records, not {size}")
        return transparency.inclusion_proof(index, leaves[:size])

    def consistency(self, tenant: str, first: int, second: int) -> list[bytes]:
        _, leaves = self._tree(tenant)
        if not 0 <= first <= second <= len(leaves):
            raise transparency.ProofError(f"sizes {first}..{second} are not within a log of {len(leaves)} records")
        return transparency.consistency_proof(first, leaves[:second])

    def evidence(self, tenant: str, meeting: str, held: Sequence[int] = ()) -> dict[str, object]:
        """What `castellan residency verify` checks for one meeting: its records and the tenant's policy
        records, each with an inclusion proof, under one signed head, plus consistency proofs to that head from
        every smaller head signed for the log and from the sizes in `held` (the heads the asking tenant holds)."""
        head = self.head(tenant)
        records, leaves = self._tree(tenant)
        records, leaves = records[:head.tree_size], leaves[:head.tree_size]
        chosen = [(i, r) for i, r in enumerate(records)
                  if r.kind in POLICY_KINDS or (r.kind in MEETING_KINDS and meeting_of(r) == meeting)]
        tree = transparency.Tree(leaves)  # subtree roots shared by all the proofs below
        return {
            "format": EVIDENCE_FORMAT, "tenant": tenant, "meeting": meeting, "head": head.to_line(),
            "entries": [{"index": i, "record": r.to_dict(), "proof": _hex(tree.inclusion(i, len(leaves)))}
                        for i, r in chosen],
            "consistency": [{"tree_size": size, "proof": _hex(tree.consistency(size, len(leaves)))}
                            for size in sorted({h.tree_size for h in self.heads(tenant)} | set(held))
                            if 0 < size < head.tree_size],
        }

    # webhooks: where the tenant wants each new head delivered
    def set_webhook(self, tenant: str, url: str | None) -> None:
        with self.audit.db.transaction() as tx:
            tx.execute("DELETE FROM transparency_webhooks WHERE tenant = :t", {"t": tenant})
            if url:
                tx.execute("INSERT INTO transparency_webhooks (tenant, url, delivered_size) VALUES (:t, :u, 0)",
                           {"t": tenant, "u": url})

    def webhooks(self) -> list[tuple[str, str, int]]:
        rows = self.audit.db.query("SELECT tenant, url, delivered_size FROM transparency_webhooks ORDER BY tenant")
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def delivered(self, tenant: str, size: int) -> None:
        self.audit.db.execute("UPDATE transparency_webhooks SET delivered_size = :s WHERE tenant = :t",
                              {"s": size, "t": tenant})


def _hex(proof: Sequence[bytes]) -> list[str]:
    return [p.hex() for p in proof]
