"""A registry no one can forge (issue 13): the control plane places rooms only on nodes whose registry record is
signed by a key the operator enrolled for the record's region, fresh and in sequence, and which answered the
signed health check at the address the record names. Each attack below is a record someone with write access
to the registry could write; each is ignored for placement, counted once, and audited.

Nodes here are real HTTP servers on 127.0.0.1 answering `/identity` (tests/support/node_identity.py), probed by
the control plane's real HttpProber; the registry is the in-memory one with a fake clock, or a real Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.enforcement import NodeGuard
from residency.errors import Conflict, InvalidInput, NotFound, PlacementRefused
from residency.identity import NodeSigner, public_text
from residency.model import Node
from residency.registry import MemoryRegistry, RedisRegistry
from residency.service import ResidencyService
from tests.residency.residency_world import REGIONS, FakeClock, make_node
from tests.support.node_identity import IdentityServer


class World:
    def __init__(self, svc: ResidencyService, registry: MemoryRegistry | RedisRegistry, clock: FakeClock) -> None:
        self.svc = svc
        self.registry = registry
        self.clock = clock
        self.servers: list[IdentityServer] = []
        self.counted: list[str] = []

    def node(self, node_id: str, region: str, enroll: str | None = None) -> tuple[NodeGuard, IdentityServer]:
        """A genuine node: its key (enrolled for `enroll`, default its region), a guard that signs its records,
        and its /identity server."""
        server = IdentityServer(node_id)
        self.servers.append(server)
        self.svc.enroll_node_key(enroll or region, server.public_key, actor="operator")
        guard = NodeGuard(node_id, region, self.registry, self.svc.audit, signer=server.signer, clock=self.clock)
        guard.register(make_node(node_id, region, http_url=server.url))
        return guard, server

    def placeable(self) -> list[str]:
        self.svc.sweep()
        return [n.id for n in self.svc.trusted_nodes()]

    def rejected_audit(self) -> list[dict[str, object]]:
        return [dict(r.data) for r in self.svc.audit.records("deployment") if r.kind == "node.rejected"]


@pytest.fixture
def world(tmp_path: Path, registry: MemoryRegistry, clock: FakeClock) -> Iterator[World]:
    counted: list[str] = []
    svc = ResidencyService(tmp_path / "cp.db", registry=registry, clock=clock, on_node_rejected=counted.append)
    for r in REGIONS.values():
        svc.define_region(r.id, r.jurisdiction, r.location, r.display_name, actor="operator")
    svc.create_tenant("acme", "ACME GmbH", "EU", actor="operator")  # EU only: eu-1, eu-2
    w = World(svc, registry, clock)
    w.counted = counted
    yield w
    for s in w.servers:
        s.close()
    svc.db.close()


def forged(node_id: str = "eu-1-evil", region: str = "eu-1") -> Node:
    """The issue's attack: a record claiming eu-1 at an address of the attacker's choice."""
    return Node(id=node_id, region=region, public_ip="203.0.113.66", udp_port=40000,
                ws_url="ws://203.0.113.66:7880/ws", http_url="http://127.0.0.1:9")


def test_a_record_written_straight_into_the_registry_gets_no_join_and_is_counted(world: World) -> None:
    world.registry.register_node(forged())  # what anyone with Redis access can do
    with pytest.raises(PlacementRefused):
        world.svc.place_room("acme", "board")  # the next EU-only tenant's join: refused, never sent there
    for _ in range(5):  # read again and again (every join reads the registry): counted once
        assert world.placeable() == []
    assert world.counted == ["node_unsigned"]
    assert [d["code"] for d in world.rejected_audit()] == ["node_unsigned"]
    assert world.rejected_audit()[0]["public_ip"] == "203.0.113.66"

    guard, server = world.node("eu-1-a", "eu-1")  # a genuine node joins: the room goes there, never to the forgery
    assert world.placeable() == ["eu-1-a"]  # once it answered the health check (the maintenance round)
    placement = world.svc.place_room("acme", "board")
    assert placement.node == "eu-1-a"
    decided = [r for r in world.svc.audit.tenant_records("acme") if r.kind == "placement.decided"][-1]
    assert decided.data["node_key"] == server.signer.key_id  # the audit record names the node's key


def test_a_genuine_record_copied_to_another_address_or_id_does_not_verify(world: World) -> None:
    guard, server = world.node("eu-1-a", "eu-1")
    genuine = world.registry.get_node("eu-1-a")
    assert genuine is not None
    world.registry.register_node(replace(genuine, id="eu-1-copy"))  # same signature, another id
    world.registry.register_node(replace(genuine, ws_url="ws://203.0.113.66:7880/ws", public_ip="203.0.113.66"))
    assert world.placeable() == []  # the genuine id now holds the tampered record
    assert sorted(world.counted) == ["node_signature_invalid", "node_signature_invalid"]
    guard.heartbeat(load=0.0)  # the node's next heartbeat overwrites it
    assert world.placeable() == ["eu-1-a"]


def test_a_node_whose_key_is_not_enrolled_gets_no_room(world: World) -> None:
    stranger = NodeSigner(Ed25519PrivateKey.generate())
    server = IdentityServer("eu-1-x", stranger)  # it even answers the health check, with its own key
    world.servers.append(server)
    world.registry.register_node(stranger.sign(make_node("eu-1-x", "eu-1", http_url=server.url), world.clock()))
    with pytest.raises(PlacementRefused):
        world.svc.place_room("acme", "r")
    assert world.counted == ["node_key_unknown"]
    assert server.answered == 0  # an unknown record's address is never even contacted


def test_a_node_enrolled_for_one_region_cannot_claim_another(world: World) -> None:
    # the key is enrolled for us-1; the node claims eu-1 (an EU tenant's meetings would go there)
    guard, server = world.node("us-1-a", "eu-1", enroll="us-1")
    assert world.placeable() == []
    assert world.counted == ["node_key_region_mismatch"]
    with pytest.raises(PlacementRefused):
        world.svc.place_room("acme", "r")


def test_a_replayed_heartbeat_is_refused(world: World) -> None:
    guard, _ = world.node("eu-1-a", "eu-1")
    old = world.registry.get_node("eu-1-a")
    assert old is not None
    world.clock.advance(2)
    guard.heartbeat(load=0.9, draining=True)  # the node drains
    assert world.placeable() == ["eu-1-a"]  # seen: seq advanced
    world.registry.update_node(old)  # an attacker puts back the older, "not draining" heartbeat
    assert world.placeable() == []
    assert world.counted == ["node_record_replayed"]
    world.clock.advance(2)
    guard.heartbeat(load=0.9, draining=True)
    assert world.placeable() == ["eu-1-a"]


def test_an_old_record_replayed_after_its_ttl_is_stale(world: World, tmp_path: Path) -> None:
    guard, server = world.node("eu-1-a", "eu-1")
    old = world.registry.get_node("eu-1-a")
    assert old is not None
    world.clock.advance(60)  # the node died long ago; someone writes its last record back
    world.registry.register_node(old)
    assert world.placeable() == []
    assert world.counted == ["node_record_stale"]


def test_a_signed_node_that_does_not_answer_its_health_check_gets_no_room(world: World) -> None:
    guard, server = world.node("eu-1-a", "eu-1")
    server.close()  # the node's address answers nothing
    assert world.placeable() == []
    with pytest.raises(PlacementRefused):
        world.svc.place_room("acme", "r")


def test_an_impostor_at_the_address_cannot_answer_the_challenge(world: World) -> None:
    genuine = NodeSigner(Ed25519PrivateKey.generate())
    world.svc.enroll_node_key("eu-1", public_text(genuine.key), actor="operator")
    impostor = IdentityServer("eu-1-a")  # answers for the node's id, with another key
    world.servers.append(impostor)
    record = genuine.sign(make_node("eu-1-a", "eu-1", http_url=impostor.url), world.clock())
    world.registry.register_node(record)  # a genuine record (e.g. replayed) pointing at the impostor
    assert world.placeable() == []
    assert world.counted == ["node_challenge_failed"]


def test_a_revoked_key_takes_its_nodes_out_of_placement(world: World) -> None:
    guard, server = world.node("eu-1-a", "eu-1")
    assert world.placeable() == ["eu-1-a"]
    world.svc.revoke_node_key(server.signer.key_id, actor="operator", reason="host decommissioned")
    assert world.placeable() == []
    kinds = [r.kind for r in world.svc.audit.records("deployment")]
    assert "node_key.enrolled" in kinds and "node_key.revoked" in kinds


def test_enrollment_refuses_bad_keys_unknown_regions_and_a_second_region(world: World) -> None:
    with pytest.raises(InvalidInput):
        world.svc.enroll_node_key("eu-1", "not-a-key", actor="operator")
    key = public_text(Ed25519PrivateKey.generate())
    with pytest.raises(NotFound):
        world.svc.enroll_node_key("mars-1", key, actor="operator")
    world.svc.enroll_node_key("eu-1", key, actor="operator")
    world.svc.enroll_node_key("eu-1", key, actor="operator")  # idempotent
    with pytest.raises(Conflict):
        world.svc.enroll_node_key("us-1", key, actor="operator")  # one key, one region
    refused = [r.data["code"] for r in world.svc.audit.records("deployment") if r.kind == "node_key.refused"]
    assert refused == ["invalid_node_key", "unknown_region", "node_key_exists"]


def test_garbage_in_redis_is_counted_never_a_crash(tmp_path: Path, redis_registry: RedisRegistry) -> None:
    counted: list[str] = []
    svc = ResidencyService(tmp_path / "cp.db", registry=redis_registry, on_node_rejected=counted.append)
    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    svc.create_tenant("acme", "ACME", "EU", actor="operator")
    p = redis_registry.p
    for i, raw in enumerate(["not json", json.dumps([1, 2]), json.dumps({"id": "x"}),
                             json.dumps({**forged().to_dict(), "seq": "NaN-ish"})]):
        redis_registry.r.set(f"{p}:node:bad{i}", raw)
        redis_registry.r.sadd(f"{p}:nodes", f"bad{i}")
    redis_registry.r.set(f"{p}:node:evil", json.dumps(forged().to_dict()))  # no TTL, even
    redis_registry.r.sadd(f"{p}:nodes", "evil")
    svc.sweep()
    with pytest.raises(PlacementRefused):
        svc.place_room("acme", "r")
    assert counted.count("node_record_malformed") >= 4 and "node_unsigned" in counted
    svc.db.close()


def test_regions_from_configuration_are_defined_once_and_never_silently_changed(world: World) -> None:
    from residency.model import Region

    configured = [REGIONS["eu-1"], Region("de-2", "EU", "Berlin, DE", "EU North")]
    world.svc.configure_regions(configured, actor="operator:configuration")
    world.svc.configure_regions(configured, actor="operator:configuration")  # every restart: no change
    defined = [r for r in world.svc.audit.records("deployment") if r.kind == "region.defined"]
    assert [r.data["id"] for r in defined].count("de-2") == 1
    moved = [Region("de-2", "CH", "Zurich, CH", "EU North")]  # the chart's values now say otherwise
    with pytest.raises(Conflict) as err:
        world.svc.configure_regions(moved, actor="operator:configuration")
    assert err.value.code == "region_changed" and "de-2" in err.value.message
    assert world.svc.regions()["de-2"].jurisdiction == "EU"  # unchanged


def test_an_overwrite_after_placement_cannot_redirect_the_join_answer(world: World) -> None:
    from signalling.control.residency_adapter import ResidencyAdapter

    guard, server = world.node("eu-1-a", "eu-1")
    assert world.placeable() == ["eu-1-a"]
    adapter = ResidencyAdapter(world.svc)
    assert adapter.place(tenant="acme", room="r", region_hint=None).ws_url == "ws://127.0.0.1/eu-1-a/ws"
    genuine = world.registry.get_node("eu-1-a")
    assert genuine is not None
    # the room stays placed on eu-1-a; its record now points at the attacker (signature no longer verifies)
    world.registry.update_node(replace(genuine, ws_url="ws://203.0.113.66:7880/ws", http_url="http://203.0.113.66"))
    with pytest.raises(PlacementRefused):
        adapter.place(tenant="acme", room="r", region_hint=None)
    assert adapter.node_http_url("eu-1-a") is None  # no admin token or probe goes to the attacker either
