"""The tenant's offline check of one meeting (`castellan residency verify`): which nodes and regions carried it,
whether each was inside the tenant's policy at the time, and that none of it was made up or left out.

Inputs, none of them trusted because of where they came from:
  * the evidence (tenantlog.py `evidence`): the meeting's records and the tenant's policy records, each with an
    inclusion proof under one signed head, and consistency proofs to that head from the log's earlier heads;
  * the heads the tenant holds (heads.py `HeldHeads`) and the log's public key it pinned;
  * the node keys and regions it pinned (`castellan audit fetch --node-keys`).

It fails (VerificationFailed, with a stable code) on: a head not signed by the log key; evidence not
consistent with a held head (`log_inconsistent`: a record dropped or rewritten and the log re-signed, or a
forked log); a record whose inclusion proof fails or whose content does not match its hash; a policy history
with a gap; a receipt signed by a key not enrolled (`receipt_key_unknown`), by a key enrolled for another
region (`receipt_region_mismatch`), or not verifying; a node the placements or a relay name without a receipt,
or without a final one after the meeting ended (`receipt_missing`). A node outside the tenant's policy is
reported (inside_policy False) and makes the CLI exit non-zero too; a node that stopped within the published
bound after a policy narrowed mid-meeting (residency/lease.py) is reported with the seconds it went on
(standing WITHIN_BOUND: its own exit code).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import receipts as rc
from . import transparency
from .audit import RECORD_FIELDS, canonical, chain_of, record_hash
from .errors import VerificationFailed
from .heads import HeadRejected, TreeHead, check_consistent, parse_head, proof_from_hex
from .identity import EnrolledKey
from .lease import POLICY_BOUND
from .model import Region
from .tenantlog import EVIDENCE_FORMAT, POLICY_KINDS

INSIDE = "inside"  # every policy in force while the node carried the meeting allowed its region
WITHIN_BOUND = "within_bound"  # a policy narrowed mid-meeting, and the node stopped within the published bound
OUTSIDE = "outside"  # it carried the meeting where no policy allowed it, or went on past the bound


@dataclass(frozen=True)
class Carriage:
    """One node that carried the meeting, from its latest receipt."""

    node: str
    region: str
    region_name: str
    location: str
    jurisdiction: str
    key_id: str
    first_packet: int
    last_packet: int
    participants: int
    packets: int
    bytes: int
    relays: tuple[str, ...]
    final: bool
    inside_policy: bool  # INSIDE or WITHIN_BOUND
    policy: str  # the rule that admitted it, or why not
    standing: str = INSIDE  # INSIDE, WITHIN_BOUND or OUTSIDE
    after_change: int | None = None  # seconds it went on after a policy stopped allowing its region


@dataclass
class MeetingReport:
    tenant: str
    meeting: str
    head: TreeHead
    held_checked: int
    carriages: list[Carriage] = field(default_factory=list)

    @property
    def inside_policy(self) -> bool:
        return all(c.inside_policy for c in self.carriages)

    @property
    def standing(self) -> str:
        """OUTSIDE if any node was; else WITHIN_BOUND if any node stopped within the bound after a narrowing."""
        found = {c.standing for c in self.carriages}
        return OUTSIDE if OUTSIDE in found else WITHIN_BOUND if WITHIN_BOUND in found else INSIDE

    def regions(self) -> list[str]:
        seen: dict[str, str] = {}
        for c in self.carriages:
            seen.setdefault(c.region, f"{c.region_name} ({c.location})")
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "meeting": self.meeting, "verified": True,
                "inside_policy": self.inside_policy, "standing": self.standing, "policy_bound": POLICY_BOUND,
                "tree_size": self.head.tree_size,
                "head_signed_at": self.head.timestamp, "held_heads_checked": self.held_checked,
                "regions": self.regions(),
                "nodes": [{**c.__dict__, "relays": list(c.relays)} for c in self.carriages]}


@dataclass(frozen=True)
class PinnedKeys:
    """Node keys and regions as the tenant pinned them."""

    keys: dict[str, EnrolledKey]
    regions: dict[str, Region]

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PinnedKeys:
        try:
            keys = [EnrolledKey.from_dict(k) for k in doc["keys"]]
            regions = [Region.from_dict(r) for r in doc["regions"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationFailed("node_keys_malformed", f"node keys document: {exc}") from None
        return cls(keys={k.key_id: k for k in keys}, regions={r.id: r for r in regions})


def _fail(code: str, message: str) -> VerificationFailed:
    return VerificationFailed(code, message)


def _ts(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _when(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_heads(head: TreeHead, held: Sequence[TreeHead], evidence: Mapping[str, Any]) -> int:
    proofs: dict[int, list[bytes]] = {}
    for item in evidence.get("consistency", []):
        if not isinstance(item, dict) or not isinstance(item.get("tree_size"), int):
            raise _fail("malformed", "consistency entries are {tree_size, proof}")
        proofs[item["tree_size"]] = proof_from_hex(item.get("proof"))
    checked = 0
    for h in sorted(held, key=lambda x: -x.tree_size):  # a larger held head first: a shrunk log says the most
        if h.log != head.log:
            continue
        if h.tree_size > head.tree_size:  # an append-only log never shrinks
            if head.timestamp >= h.timestamp:
                raise _fail("log_inconsistent", f"you hold a head of size {h.tree_size} (signed {h.timestamp}); "
                                                f"the log signed later ({head.timestamp}) has only {head.tree_size} "
                                                "records: records were removed and the log re-signed")
            raise _fail("evidence_stale", f"you hold a head of size {h.tree_size} (signed {h.timestamp}); this "
                                          f"evidence is at size {head.tree_size}: fetch the evidence again")
        proof = [] if h.tree_size == head.tree_size else proofs.get(h.tree_size)
        if proof is None:
            raise _fail("consistency_missing", f"the evidence has no consistency proof from your held head of "
                                               f"size {h.tree_size} (signed {h.timestamp})")
        try:
            check_consistent(h, head, proof)
        except HeadRejected as e:
            raise _fail(e.code, e.message) from None
        checked += 1
    return checked


def _entries(head: TreeHead, evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for n, e in enumerate(evidence.get("entries", [])):
        if not isinstance(e, dict) or not isinstance(e.get("index"), int) or not isinstance(e.get("record"), dict):
            raise _fail("malformed", f"entry {n}: expected {{index, record, proof}}")
        rec, index = e["record"], e["index"]
        if set(rec) != set(RECORD_FIELDS) or rec["chain"] != head.log or rec["seq"] != index + 1 or index in seen:
            raise _fail("malformed", f"entry {n}: not a record of {head.log} at its index (or a duplicate)")
        seen.add(index)
        if record_hash(rec) != rec["hash"]:
            raise _fail("hash_mismatch", f"record {rec['seq']} ({rec['kind']}): content does not match its hash")
        try:
            proof = proof_from_hex(e.get("proof"))
        except HeadRejected as err:
            raise _fail(err.code, err.message) from None
        if not transparency.verify_inclusion(index, head.tree_size, transparency.leaf_hash(canonical(rec)), proof,
                                             head.root):
            raise _fail("inclusion_failed", f"record {rec['seq']} ({rec['kind']}) is not in the log the head "
                                            "signs (changed, or added after signing)")
        out.append(rec)
    return sorted(out, key=lambda r: int(r["seq"]))


def _policies(records: Sequence[Mapping[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(since, policy) in force over time; a policy history with a gap is refused."""
    timeline: list[tuple[int, dict[str, Any]]] = []
    for r in records:
        if r["kind"] not in POLICY_KINDS:
            continue
        doc = r["data"].get("policy") if r["kind"] == "tenant.created" else r["data"].get("after")
        before = r["data"].get("before")
        if r["kind"] == "policy.changed" and (not timeline or before != timeline[-1][1]):
            raise _fail("policy_history_incomplete", f"policy change at record {r['seq']} does not follow the "
                                                     "previous policy in the evidence (a change was left out)")
        if r["kind"] == "tenant.created" and timeline:
            raise _fail("malformed", "two tenant.created records")
        if not isinstance(doc, dict):
            raise _fail("malformed", f"record {r['seq']}: policy document missing")
        timeline.append((_ts(r["ts"]), doc))
    if not timeline:
        raise _fail("policy_history_incomplete", "the evidence holds no policy record (tenant.created)")
    return timeline


def _allows(region: Region, p: Mapping[str, Any]) -> bool:
    allowed = p.get("allowed_regions")
    return region.jurisdiction == p.get("jurisdiction") if allowed is None else region.id in allowed


def _refusal(p: Mapping[str, Any]) -> str:
    allowed = p.get("allowed_regions")
    if allowed is None:
        return f"v{p.get('version')}: only {p.get('jurisdiction')} regions"
    return f"v{p.get('version')}: allowed {', '.join(allowed) or 'none'}"


def _judge(region: Region | None, first: int, last: int, timeline: Sequence[tuple[int, dict[str, Any]]],
           bound: float = POLICY_BOUND) -> tuple[str, str, int | None]:
    """How `region`'s carriage from first to last packet stands against every policy in force meanwhile:
    (INSIDE / WITHIN_BOUND / OUTSIDE, the words, seconds it went on after a narrowing or None).

    A node already carrying the meeting when a policy stopped allowing its region had `bound` seconds to stop
    (residency/lease.py): stopping within it is WITHIN_BOUND, with the seconds it went on; later is OUTSIDE, as is
    carrying anything that started while its region was not allowed. The seconds are whole (receipts count in
    seconds) and measured between the policy record's time and the node's last packet, two clocks."""
    if region is None:
        return OUTSIDE, "region unknown to your pinned regions", None
    ends: list[int | None] = [since for since, _ in timeline[1:]]
    ends.append(None)
    in_force = [i for i, (since, _) in enumerate(timeline)
                if since <= last and (ends[i] is None or (ends[i] or 0) > first)] or [0]
    late: list[tuple[int, Mapping[str, Any]]] = []
    for i in in_force:
        since, doc = timeline[i]
        p: Mapping[str, Any] = doc
        if _allows(region, p):
            continue
        if first >= since or i == 0 or not _allows(region, timeline[i - 1][1]):
            return OUTSIDE, f"OUTSIDE policy ({_refusal(p)})", None  # it began where the policy refused it
        until = ends[i]
        after = (last if until is None else min(last, until)) - since
        if after > bound:
            return OUTSIDE, (f"OUTSIDE policy ({_refusal(p)}): stopped {after} s after policy v{p.get('version')}, "
                             f"beyond the published bound of {bound:.0f} s"), after
        late.append((after, p))
    if late:
        after, p = max(late, key=lambda x: x[0])
        return WITHIN_BOUND, (f"stopped {after} s after policy v{p.get('version')} ({_refusal(p)}), within the "
                              f"published bound of {bound:.0f} s"), after
    versions = ", ".join(f"v{timeline[i][1].get('version')}" for i in in_force)
    return INSIDE, f"inside policy ({versions})", None


def verify_meeting(evidence: Mapping[str, Any], meeting: str, held: Sequence[TreeHead], log_keys: Any,
                   pinned: PinnedKeys) -> MeetingReport:
    if not isinstance(evidence, Mapping) or evidence.get("format") != EVIDENCE_FORMAT:
        raise _fail("malformed", f"not a {EVIDENCE_FORMAT} document")
    tenant = str(evidence.get("tenant"))
    if evidence.get("meeting") != meeting:
        raise _fail("wrong_meeting", f"the evidence is for meeting {evidence.get('meeting')!r}, not {meeting!r}")
    try:
        head = parse_head(evidence.get("head"), log_keys)
    except HeadRejected as e:
        raise _fail(e.code, e.message) from None
    if head.log != chain_of(tenant):
        raise _fail("wrong_log", f"the head is of log {head.log!r}, not tenant {tenant!r}'s")
    if not any(h.log == head.log for h in held):
        raise _fail("no_held_heads", "you hold no head of this log: run `castellan audit fetch` first (without one, "
                                     "a rewritten log cannot be told from the real one)")
    checked = _check_heads(head, held, evidence)
    records = _entries(head, evidence)
    timeline = _policies(records)
    jurisdictions = {r.id: r.jurisdiction for r in pinned.regions.values()}
    latest: dict[str, rc.Receipt] = {}
    expected: dict[str, str] = {}  # node -> why a receipt is due
    ended = False
    for r in records:
        data = r["data"]
        if r["kind"] == "receipt.signed":
            try:
                receipt = rc.parse(data)
                rc.verify(receipt, pinned.keys, jurisdictions)
            except rc.ReceiptRejected as e:
                raise _fail(e.code, f"record {r['seq']}: {e.message}") from None
            if receipt.meeting != meeting or receipt.tenant != tenant:
                raise _fail("malformed", f"record {r['seq']}: a receipt for another meeting")
            if receipt.node not in latest or receipt.seq > latest[receipt.node].seq:
                latest[receipt.node] = receipt
        elif r["kind"] in ("placement.decided", "placement.replaced") and isinstance(data.get("node"), str):
            expected.setdefault(data["node"], f"placed there (record {r['seq']})")
        elif r["kind"] == "room.ended":
            ended = True
    for receipt in latest.values():
        for relay in receipt.relays:
            expected.setdefault(relay, f"named as a relay by node {receipt.node}")
    for node, why in sorted(expected.items()):
        if node not in latest:
            raise _fail("receipt_missing", f"node {node} carried no signed receipt into the log, but was {why}")
    if ended:
        for node, receipt in sorted(latest.items()):
            if receipt.kind != "final":
                raise _fail("receipt_missing", f"the meeting ended, but node {node}'s final receipt is not in the log")
    report = MeetingReport(tenant=tenant, meeting=meeting, head=head, held_checked=checked)
    for node, receipt in sorted(latest.items(), key=lambda kv: (kv[1].first_packet, kv[0])):
        region = pinned.regions.get(receipt.region)
        standing, why, after = _judge(region, receipt.first_packet, receipt.last_packet, timeline)
        report.carriages.append(Carriage(
            node=node, region=receipt.region, region_name=region.display_name if region else receipt.region,
            location=region.location if region else "?", jurisdiction=receipt.jurisdiction, key_id=receipt.key_id,
            first_packet=receipt.first_packet, last_packet=receipt.last_packet, participants=receipt.participants,
            packets=receipt.packets, bytes=receipt.bytes, relays=receipt.relays, final=receipt.kind == "final",
            inside_policy=standing != OUTSIDE, policy=why, standing=standing, after_change=after))
    return report


def summary_line(report: MeetingReport) -> str:
    """The report's last line, as the admin console shows it too."""
    verdict = {INSIDE: "verified", OUTSIDE: "verified, OUTSIDE the tenant's policy",
               WITHIN_BOUND: f"verified; a node stopped within the published bound of {POLICY_BOUND:.0f} s after "
                             "the policy narrowed"}[report.standing]
    return f"This meeting was processed in: {', '.join(report.regions()) or 'nowhere'} - {verdict}"


def render(report: MeetingReport) -> str:
    lines = [f"meeting {report.meeting} (tenant {report.tenant}): log at {report.head.tree_size} records, head "
             f"signed {report.head.timestamp}, consistent with {report.held_checked} head(s) you hold"]
    for c in report.carriages:
        lines.append(f"  {c.node}: {c.region_name} ({c.location}) region {c.region}, {c.jurisdiction}, key "
                     f"{c.key_id}; {_when(c.first_packet)} .. {_when(c.last_packet)}; {c.participants} "
                     f"participants, {c.packets} packets, {c.bytes} bytes"
                     + (f", relayed to {', '.join(c.relays)}" if c.relays else "")
                     + ("" if c.final else " (interim receipt)") + f" - {c.policy}")
    if not report.carriages:
        lines.append("  no node carried media for this meeting")
    lines.append(summary_line(report))
    return "\n".join(lines)
