"""The nodes carrying a meeting (cascading, issue 14; docs/architecture.md "Cascading"): the registry records them,
a hint-less join goes to one of them (no new relay) while it has room, a participant placed off the room's home
is audited in the tenant's chain — and Redis, which is not trusted for residency, cannot steer a join out of the
allowed regions or onto a node that is not a live trusted one."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from redis import Redis

from residency import placement
from residency.audit import VerificationFailed
from residency.registry import MAX_MEETING_NODES, RedisRegistry
from residency.service import ResidencyService
from tests.fixtures.redis import RedisServer
from tests.residency.residency_world import REGIONS, FakeClock, make_node


def off_home(svc: ResidencyService, tenant: str = "acme") -> list[dict[str, object]]:
    return [dict(r.data) for r in svc.audit.tenant_records(tenant) if r.kind == "placement.participant"]


def test_a_hintless_join_goes_to_a_node_already_in_the_meeting_while_it_has_room(
        svc: ResidencyService, clock: FakeClock) -> None:
    """Alice opens the meeting on fra (eu-1); Bob's hint takes him to par (eu-2). Carol comes without a hint while
    fra is busy: she joins par, a node of the meeting, not lis (idle, but a new relay). Once par is full, Dan goes
    to fra, as before; once par is dead, its entry is not believed."""
    svc.node_registered(make_node("fra", "eu-1", 0.3))
    svc.node_registered(make_node("par", "eu-2", 0.5))
    home, alice = svc.place_participant("acme", "board", hint="eu-1", participant="alice")
    assert (home.node, alice.node) == ("fra", "fra")
    svc.node_registered(make_node("lis", "eu-1", 0.0))  # an idle node that is not in the meeting
    _, bob = svc.place_participant("acme", "board", hint="eu-2", participant="bob")
    assert bob.node == "par"
    assert svc.registry.meeting_nodes("acme", "board") == ["par"]  # recorded with the placement
    svc.node_heartbeat("fra", load=0.8)
    _, carol = svc.place_participant("acme", "board", participant="carol")
    assert (carol.node, carol.region) == ("par", "eu-2")
    svc.node_heartbeat("par", load=1.0)  # full: no room for Dan there
    assert svc.place_participant("acme", "board", participant="dan")[1].node == "fra"
    assert [(d["participant"], d["node"], d["region"], d["rule"]) for d in off_home(svc)] == [
        ("bob", "par", "eu-2", placement.HINT), ("carol", "par", "eu-2", placement.MEETING_NODE)]

    # par dies: its record expires while its entry (written by its last heartbeat) would still stand
    svc.node_heartbeat("par", load=0.0)
    svc.registry.note_meeting_node("acme", "board", "par", 60.0)
    clock.advance(4.0)
    svc.node_heartbeat("fra", load=0.8)
    svc.node_heartbeat("lis", load=0.0)
    clock.advance(4.0)
    assert svc.place_participant("acme", "board", participant="erin")[1].node == "fra"
    assert svc.meeting_nodes_ignored["meeting_node_unknown"] == 1


def test_when_the_meeting_has_no_node_with_room_the_least_loaded_allowed_node_is_chosen_and_audited(
        svc: ResidencyService) -> None:
    """The home is full and nothing else carries the meeting: the least-loaded allowed node (lis), never the idle
    US node. The record names who, where, the region, why (`load`), the home and the node's key."""
    svc.node_registered(make_node("fra", "eu-1", 0.2))
    svc.node_registered(make_node("nyc", "us-1", 0.0))
    svc.place_participant("acme", "board", participant="alice")
    svc.node_heartbeat("fra", load=1.0)
    svc.node_registered(make_node("lis", "eu-1", 0.4))
    svc.node_registered(make_node("par", "eu-2", 0.6))
    _, bob = svc.place_participant("acme", "board", participant="bob")
    assert (bob.node, bob.region) == ("lis", "eu-1")
    [record] = off_home(svc)
    assert record["participant"] == "bob" and record["node"] == "lis" and record["region"] == "eu-1"
    assert record["rule"] == placement.LOAD and record["home_node"] == "fra" and record["home_region"] == "eu-1"
    assert record["hint"] is None and record["room"] == "board" and "own jurisdiction" in str(record["reason"])
    assert isinstance(record["node_key"], str) and record["node_key"]
    assert svc.place_participant("acme", "board", hint="us-1")[1].node == "lis"  # a meeting node now: never nyc


def test_the_tenant_verifies_its_chain_with_the_off_home_placements_in_it(svc: ResidencyService) -> None:
    """The record is an ordinary entry of the tenant's signed chain: the existing verification accepts the export,
    and an edit of the record (claiming the participant was placed in eu-1) is caught."""
    svc.node_registered(make_node("fra", "eu-1", 0.1))
    svc.node_registered(make_node("par", "eu-2", 0.1))
    svc.place_participant("acme", "board", hint="eu-1", participant="alice")
    svc.place_participant("acme", "board", hint="eu-2", participant="bob")
    export = svc.export_tenant("acme")
    verified = svc.verify(export)
    assert [(r["data"]["participant"], r["data"]["node"]) for r in verified.records
            if r["kind"] == "placement.participant"] == [("bob", "par")]
    forged = export.replace('"region":"eu-2"', '"region":"eu-1"')
    assert forged != export
    with pytest.raises(VerificationFailed):
        svc.verify(forged)


def test_attacker_forging_the_meetings_nodes_in_redis_cannot_move_a_join_out_of_the_allowed_regions(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """Someone with write access to Redis lists the US node, a node that does not exist and a flood of made-up
    ids as the meeting's nodes. Hint-less joins still land on allowed nodes (the home), each forged entry is
    ignored and counted once by reason, and no off-home record is written for them."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    reg = RedisRegistry(redis_server.url, prefix=prefix, node_ttl=6.0)
    svc = ResidencyService(tmp_path / "cp.db", registry=reg)
    for r in REGIONS.values():
        svc.define_region(r.id, r.jurisdiction, r.location, r.display_name, actor="operator")
    svc.create_tenant("acme", "ACME GmbH", "EU", actor="operator")
    svc.node_registered(make_node("fra", "eu-1", 0.5))
    svc.node_registered(make_node("nyc", "us-1", 0.0))  # idle: the winner on load alone
    home = svc.place_room("acme", "board")
    attacker = Redis.from_url(redis_server.url, decode_responses=True)
    key = f"{prefix}:meeting-nodes:acme:board"
    soon = int(time.time() * 1000) + 60_000  # the flood expires later: read after these (earliest expiry first)
    attacker.zadd(key, {"nyc": soon, "ghost": soon})
    attacker.zadd(key, {f"forged-{i}": 9_999_999_999_999 for i in range(200)})
    try:
        for name in ("alice", "bob", "carol"):
            _, p = svc.place_participant("acme", "board", participant=name)
            assert (p.node, p.region) == (home.node, "eu-1")
        _, hinted = svc.place_participant("acme", "board", hint="us-1", participant="mallory")
        assert hinted.region == "eu-1"
        assert svc.meeting_nodes_ignored["meeting_node_region_not_allowed"] == 1  # nyc, counted once
        # ghost and the flood, as far as one read goes (MAX_MEETING_NODES), each once however many joins read it
        assert svc.meeting_nodes_ignored["meeting_node_unknown"] == MAX_MEETING_NODES - 1
        assert off_home(svc) == []
        # an entry that is not a sorted set at all: a counted drop, the join goes on (to the home)
        attacker.delete(key)
        attacker.set(key, "not a sorted set")
        assert svc.place_participant("acme", "board", participant="dave")[1].node == home.node
        assert svc.meeting_nodes_ignored["meeting_nodes_malformed"] == 1
    finally:
        attacker.delete(key)
        attacker.close()
        svc.db.close()
