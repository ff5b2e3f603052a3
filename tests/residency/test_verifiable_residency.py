"""Residency a tenant can verify without trusting the operator (issue 19): nodes sign receipts, every record is a
leaf of the tenant's transparency log, the tenant holds signed heads, and `verify_meeting` checks one meeting
offline. Then the operator cheats with its own tools (tests/residency/operator_tools.py) — drop a record and
re-sign, rewrite history and re-sign, fork the log, forge a receipt with an unenrolled key, a node enrolled in
eu-1 claiming us-1, a missing receipt — and the tenant's verifier, holding earlier heads, catches each.

Real SQLite file, real Ed25519 keys, the control plane's own code paths (ResidencyService, collect, TenantLog).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency import receipts as rc
from residency.audit import AuditRecord
from residency.collection import collect
from residency.errors import VerificationFailed
from residency.heads import HeadRejected, HeldHeads, TreeHead, sign_head
from residency.identity import public_text
from residency.lease import POLICY_BOUND
from residency.logkey import KeySigner
from residency.service import ResidencyService
from residency.tenantlog import TenantLog
from residency.verify import INSIDE, OUTSIDE, WITHIN_BOUND, MeetingReport, PinnedKeys, render, verify_meeting
from tests.residency.operator_tools import rewrite_chain
from tests.residency.residency_world import FakeClock, make_node

T0 = 1_800_000_000


@dataclass
class World:
    svc: ResidencyService
    log: TenantLog
    keys: dict[str, Ed25519PrivateKey]  # region -> the key enrolled for it
    held: HeldHeads
    clock: FakeClock

    def receipt(self, node: str, region: str, *, kind: str = "final", seq: int = 1, relays: tuple[str, ...] = (),
                key: Ed25519PrivateKey | None = None, jurisdiction: str | None = None,
                meeting: str = "board") -> rc.Receipt:
        j = jurisdiction or self.svc.regions()[region].jurisdiction
        r = rc.Receipt(meeting=meeting, tenant="acme", node=node, key_id="", region=region, jurisdiction=j,
                       first_packet=T0 + 10, last_packet=T0 + 3600, participants=100, packets=5_000_000,
                       bytes=4_000_000_000, relays=relays, kind=kind, seq=seq, issued_at=T0 + 3601)
        return rc.sign(r, key or self.keys[region])

    def place(self, room: str) -> None:
        self.svc.node_registered(make_node("fra", "eu-1"))  # fresh in the registry at the fake clock's time
        self.svc.place_room("acme", room)

    def send(self, receipt: rc.Receipt) -> None:
        collect(receipt.to_dict(), self.svc.store, self.svc.audit, self.svc.trust.keys())

    def fetch(self) -> TreeHead:
        """What `castellan audit fetch` does: the current head, accepted only with a consistency proof."""
        head = self.log.head("acme")
        last = self.held.latest()
        proof = [] if last is None else self.log.consistency("acme", min(last.tree_size, head.tree_size),
                                                             max(last.tree_size, head.tree_size))
        self.held.accept(head, proof)
        return head

    def evidence(self, meeting: str) -> dict[str, object]:
        """As `castellan audit fetch --meeting` asks for it: with proofs from the sizes the tenant holds."""
        return self.log.evidence("acme", meeting, [h.tree_size for h in self.held.heads])

    def pinned(self) -> PinnedKeys:
        return PinnedKeys(keys=dict(self.svc.trust.keys()), regions=self.svc.regions())

    def verify(self, meeting: str = "board") -> str:
        report = verify_meeting(self.evidence(meeting), meeting, self.held.heads,
                                self.log.signer.public_key(), self.pinned())
        return render(report)


@pytest.fixture
def world(svc: ResidencyService, clock: FakeClock, tmp_path: Path) -> World:
    keys = {r: Ed25519PrivateKey.generate() for r in ("eu-1", "eu-2", "us-1")}
    for region, key in keys.items():
        svc.enroll_node_key(region, public_text(key), actor="operator")
    svc.node_registered(make_node("fra", "eu-1"))
    w = World(svc=svc, log=TenantLog(svc.audit, KeySigner(Ed25519PrivateKey.generate())), keys=keys,
              held=HeldHeads(tmp_path / "heads.jsonl", []), clock=clock)
    w.held.keys = [w.log.signer.public_key()]
    w.fetch()  # the tenant's first head: before the meeting
    w.place("board")
    clock.advance(60)
    w.send(w.receipt("fra", "eu-1", kind="interim", relays=("par",)))
    w.send(w.receipt("par", "eu-2", kind="interim"))
    w.fetch()  # a head delivered while the meeting runs
    w.send(w.receipt("fra", "eu-1", seq=2, relays=("par",)))
    w.send(w.receipt("par", "eu-2", seq=2))
    svc.end_room("acme", "board", actor="control-plane")
    return w


def test_an_honest_meeting_verifies_with_every_node_and_region(world: World) -> None:
    world.fetch()
    out = world.verify()
    assert "fra: EU Central (Frankfurt, DE) region eu-1, EU" in out
    assert "par: EU West (Paris, FR) region eu-2, EU" in out
    assert "100 participants, 5000000 packets" in out and "relayed to par" in out
    assert out.endswith("This meeting was processed in: EU Central (Frankfurt, DE), EU West (Paris, FR) - verified")
    assert len(world.held.heads) == 3


def test_receipts_are_taken_once_and_forged_ones_never(world: World) -> None:
    before = len(world.svc.audit.tenant_records("acme"))
    world.send(world.receipt("fra", "eu-1", seq=2, relays=("par",)))  # resent: logged once
    assert len(world.svc.audit.tenant_records("acme")) == before
    forged = [world.receipt("nyc", "us-1", key=Ed25519PrivateKey.generate()),  # unenrolled key
              world.receipt("fra", "us-1", key=world.keys["eu-1"], jurisdiction="US"),  # eu-1 key claims us-1
              replace(world.receipt("fra", "eu-1", seq=3), packets=1)]  # figures changed after signing
    codes = []
    for r in forged:
        with pytest.raises(rc.ReceiptRejected) as e:
            world.send(r)
        codes.append(e.value.code)
    assert codes == ["receipt_key_unknown", "receipt_region_mismatch", "receipt_signature_invalid"]
    for bad in ({}, {"format": "x"}, [1], "text", {**world.receipt("fra", "eu-1").to_dict(), "packets": -1},
                {**world.receipt("fra", "eu-1").to_dict(), "relays": ["x" * 300]}):
        with pytest.raises(rc.ReceiptRejected) as e:
            collect(bad, world.svc.store, world.svc.audit, world.svc.trust.keys())
        assert e.value.code == "receipt_malformed"
    assert len(world.svc.audit.tenant_records("acme")) == before


def _operator_rewrites(world: World, rewrite: object) -> None:
    records = world.svc.audit.tenant_records("acme")
    rewrite_chain(world.svc.db, records, "acme", rewrite)  # type: ignore[arg-type]
    world.svc.audit.verify_stored("tenant:acme")  # the rewritten chain itself verifies


def _without_receipt_of(node: str) -> object:
    def rewrite(records: list[AuditRecord]) -> list[AuditRecord]:
        return [r for r in records if not (r.kind == "receipt.signed" and r.data.get("node") == node)]
    return rewrite


def test_dropping_a_record_and_re_signing_is_caught(world: World) -> None:
    world.fetch()
    # the operator removes every receipt of the Paris node and the placement naming it is not there either: a
    # chain that verifies on its own, re-signed by the log's own code
    _operator_rewrites(world, lambda rs: [r for r in rs if r.data.get("node") != "par"
                                          and "par" not in str(r.data.get("relays", ""))])
    with pytest.raises(VerificationFailed) as e:
        world.verify()
    assert e.value.code == "log_inconsistent"
    head = world.log.head("acme")
    last = world.held.latest()
    assert last is not None and head.tree_size < last.tree_size
    with pytest.raises(HeadRejected) as h:  # and `castellan audit fetch` refuses the new head outright
        world.held.accept(head, world.log.consistency("acme", head.tree_size, head.tree_size))
    assert h.value.code == "log_inconsistent"


def test_rewriting_history_and_re_signing_is_caught(world: World) -> None:
    world.fetch()

    def rewrite(records: list[AuditRecord]) -> list[AuditRecord]:  # the placement now says Frankfurt only,
        out = []  # and a policy change is slipped in before it; later records are re-chained
        for r in records:
            if r.kind == "placement.decided":
                out.append(replace(r, data={**r.data, "reason": "operator edit"}))
            else:
                out.append(r)
        return out
    _operator_rewrites(world, rewrite)
    with pytest.raises(VerificationFailed) as e:
        world.verify()
    assert e.value.code == "log_inconsistent"


def test_a_forked_log_is_caught(world: World, tmp_path: Path) -> None:
    world.fetch()  # the tenant holds the honest head
    honest = world.log.head("acme")
    # the operator forks: the verifier is shown a log of the same records without Paris' final receipt, plus
    # a later record so the sizes differ; the tenant keeps getting the honest one
    _operator_rewrites(world, lambda rs: [r for r in rs if not (r.kind == "receipt.signed"
                                                                and r.data.get("node") == "par"
                                                                and r.data.get("seq") == 2)])
    world.svc.audit.append("admin.login", actor="admin:eve", tenant="acme")
    world.svc.audit.append("admin.login", actor="admin:eve", tenant="acme")
    fork = world.log.head("acme")
    assert fork.tree_size > honest.tree_size
    with pytest.raises(VerificationFailed) as e:
        world.verify()
    assert e.value.code == "log_inconsistent"
    # the same size with another root (a fork at equal size) is refused too
    with pytest.raises(HeadRejected) as h:
        world.held.accept(replace(honest, root_hash=fork.root_hash), [])
    assert h.value.code == "log_inconsistent"


def test_a_receipt_forged_with_an_unenrolled_key_is_caught(world: World) -> None:
    # the operator writes it straight into the log (collect would refuse it); the log stays append-only, so
    # every held head is consistent — the receipt itself gives it away
    forged = world.receipt("nyc", "us-1", key=Ed25519PrivateKey.generate(), relays=())
    world.svc.audit.append("receipt.signed", actor="node:nyc", tenant="acme", data=forged.to_dict())  # type: ignore[arg-type]
    world.fetch()
    with pytest.raises(VerificationFailed) as e:
        world.verify()
    assert e.value.code == "receipt_key_unknown"


def test_a_node_enrolled_in_eu_1_claiming_us_1_is_caught(world: World) -> None:
    claim = world.receipt("fra", "us-1", key=world.keys["eu-1"], jurisdiction="US", seq=9)
    world.svc.audit.append("receipt.signed", actor="node:fra", tenant="acme", data=claim.to_dict())  # type: ignore[arg-type]
    world.fetch()
    with pytest.raises(VerificationFailed) as e:
        world.verify()
    assert e.value.code == "receipt_region_mismatch"


def test_a_missing_receipt_is_caught(world: World) -> None:
    # a meeting where the Paris node's receipts never reach the log (withheld, not deleted): the Frankfurt
    # node's own receipt names it as a relay
    world.place("standup")
    world.send(world.receipt("fra", "eu-1", meeting="standup", relays=("par",)))
    world.fetch()
    with pytest.raises(VerificationFailed) as e:
        world.verify("standup")
    assert e.value.code == "receipt_missing" and "par" in e.value.message
    # and a node the control plane placed the meeting on, with no receipt at all
    world.place("retro")
    world.fetch()
    with pytest.raises(VerificationFailed) as e:
        world.verify("retro")
    assert e.value.code == "receipt_missing" and "fra" in e.value.message


def test_a_node_outside_the_policy_at_the_time_is_reported(world: World) -> None:
    world.svc.set_allowed_regions("acme", ["eu-1"], actor="admin:alice", reason="Frankfurt only")
    world.place("late")
    world.clock.advance(60)
    late = rc.sign(replace(world.receipt("par", "eu-2", meeting="late"), first_packet=int(world.clock.now),
                           last_packet=int(world.clock.now) + 60), world.keys["eu-2"])
    world.svc.audit.append("receipt.signed", actor="node:par", tenant="acme", data=late.to_dict())  # type: ignore[arg-type]
    fra = rc.sign(replace(world.receipt("fra", "eu-1", meeting="late", relays=("par",)),
                          first_packet=int(world.clock.now), last_packet=int(world.clock.now) + 60),
                  world.keys["eu-1"])
    world.send(fra)
    world.fetch()
    report = verify_meeting(world.evidence("late"), "late", world.held.heads,
                            world.log.signer.public_key(), world.pinned())
    by_node = {c.node: c for c in report.carriages}
    assert by_node["fra"].inside_policy and not by_node["par"].inside_policy
    assert "OUTSIDE policy (v2: allowed eu-1)" in by_node["par"].policy
    assert not report.inside_policy


def test_a_policy_change_left_out_of_the_evidence_is_caught(world: World) -> None:
    world.svc.set_allowed_regions("acme", ["eu-1"], actor="admin:alice", reason="Frankfurt only")
    world.svc.set_allowed_regions("acme", None, actor="admin:alice", reason="back to the default")
    world.fetch()
    evidence = world.evidence("board")
    entries = evidence["entries"]
    assert isinstance(entries, list)
    evidence["entries"] = [e for e in entries if not (e["record"]["kind"] == "policy.changed"
                                                      and e["record"]["data"]["reason"] == "Frankfurt only")]
    with pytest.raises(VerificationFailed) as e:
        verify_meeting(evidence, "board", world.held.heads, world.log.signer.public_key(), world.pinned())
    assert e.value.code == "policy_history_incomplete"


def test_the_evidence_edited_after_export_or_signed_by_another_key_is_refused(world: World) -> None:
    world.fetch()
    evidence = world.evidence("board")
    entries = evidence["entries"]
    assert isinstance(entries, list)
    receipt = next(e for e in entries if e["record"]["kind"] == "receipt.signed")
    receipt["record"]["data"]["region"] = "us-1"
    with pytest.raises(VerificationFailed) as e:
        verify_meeting(evidence, "board", world.held.heads, world.log.signer.public_key(), world.pinned())
    assert e.value.code == "hash_mismatch"
    evidence = world.evidence("board")
    honest = world.log.head("acme")
    evidence["head"] = sign_head(KeySigner(Ed25519PrivateKey.generate()), honest.log, honest.tree_size,
                                 honest.root).to_line()
    with pytest.raises(VerificationFailed) as e:
        verify_meeting(evidence, "board", world.held.heads, world.log.signer.public_key(), world.pinned())
    assert e.value.code == "head_unknown_key"
    with pytest.raises(VerificationFailed) as e:  # a verifier that holds no head at all refuses to vouch
        verify_meeting(world.log.evidence("acme", "board"), "board", [], world.log.signer.public_key(),
                       world.pinned())
    assert e.value.code == "no_held_heads"


def _narrowed_mid_meeting(world: World, went_on: int) -> MeetingReport:
    """par (eu-2) carries meeting `mid` from 30 s before the admin narrows the policy to eu-1 until `went_on`
    seconds after."""
    world.place("mid")
    world.clock.advance(60)
    started = int(world.clock.now) - 30
    world.svc.set_allowed_regions("acme", ["eu-1"], actor="admin:alice", reason="Frankfurt only")
    narrowed = int(world.clock.now)
    par = rc.sign(replace(world.receipt("par", "eu-2", meeting="mid"), first_packet=started,
                          last_packet=narrowed + went_on), world.keys["eu-2"])
    world.svc.audit.append("receipt.signed", actor="node:par", tenant="acme", data=par.to_dict())  # type: ignore[arg-type]
    fra = rc.sign(replace(world.receipt("fra", "eu-1", meeting="mid", relays=("par",)), first_packet=started,
                          last_packet=narrowed + 600), world.keys["eu-1"])
    world.send(fra)
    world.fetch()
    return verify_meeting(world.evidence("mid"), "mid", world.held.heads, world.log.signer.public_key(),
                          world.pinned())


def test_a_node_that_stopped_within_the_bound_after_a_narrowing_says_how_long(world: World) -> None:
    report = _narrowed_mid_meeting(world, 4)
    by_node = {c.node: c for c in report.carriages}
    par = by_node["par"]
    assert par.standing == WITHIN_BOUND and par.after_change == 4 and par.inside_policy
    assert f"stopped 4 s after policy v2 (v2: allowed eu-1), within the published bound of {POLICY_BOUND:.0f} s" \
        in par.policy
    assert by_node["fra"].standing == INSIDE
    assert report.standing == WITHIN_BOUND
    assert render(report).endswith(f"verified; a node stopped within the published bound of {POLICY_BOUND:.0f} s "
                                   "after the policy narrowed")


@pytest.mark.parametrize(("went_on", "standing"), [(int(POLICY_BOUND), WITHIN_BOUND),
                                                    (int(POLICY_BOUND) + 1, OUTSIDE)])
def test_the_bound_itself_is_within_and_one_second_more_is_outside(world: World, went_on: int,
                                                                   standing: str) -> None:
    report = _narrowed_mid_meeting(world, went_on)
    par = {c.node: c for c in report.carriages}["par"]
    assert par.standing == standing == report.standing and par.inside_policy == (standing == WITHIN_BOUND)
    assert par.after_change == went_on


def test_a_node_that_went_on_long_after_a_narrowing_is_outside_with_its_seconds(world: World) -> None:
    report = _narrowed_mid_meeting(world, 600)
    par = {c.node: c for c in report.carriages}["par"]
    assert par.standing == OUTSIDE and par.after_change == 600
    assert f"stopped 600 s after policy v2, beyond the published bound of {POLICY_BOUND:.0f} s" in par.policy
    assert not report.inside_policy and render(report).endswith("verified, OUTSIDE the tenant's policy")


@pytest.mark.parametrize(("went_on", "code"), [(3, 4), (int(POLICY_BOUND) + 30, 2)])
def test_verify_exit_codes_say_within_the_bound_and_outside(world: World, tmp_path: Path, went_on: int,
                                                            code: int) -> None:
    import json

    from residency.signing import public_key_pem
    from signalling.cli.residency import main

    _narrowed_mid_meeting(world, went_on)
    log_key = tmp_path / "log.pem"
    log_key.write_text(public_key_pem(world.log.signer.public_key()))
    pinned = world.pinned()
    node_keys = tmp_path / "node-keys.json"
    node_keys.write_text(json.dumps({"keys": [k.to_dict() for k in pinned.keys.values()],
                                     "regions": [r.to_dict() for r in pinned.regions.values()]}))
    evidence = tmp_path / "mid.json"
    evidence.write_text(json.dumps(world.evidence("mid")))
    heads = tmp_path / "heads.jsonl"
    assert main(["verify", "mid", "--heads", str(heads), "--evidence", str(evidence), "--log-key", str(log_key),
                 "--node-keys", str(node_keys)]) == code
