"""Joining through the service: audited placement, stickiness, node death, fail closed, transparency."""

from __future__ import annotations

import pytest

from residency.errors import NotFound, PlacementRefused, PolicyViolation, ResidencyError
from residency.service import ResidencyService
from tests.residency.residency_world import FakeClock, make_node


def kinds(svc: ResidencyService, tenant: str = "acme") -> list[str]:
    return [r.kind for r in svc.audit.tenant_records(tenant)]


def test_a_room_is_placed_in_an_allowed_region_and_the_decision_is_audited(svc: ResidencyService) -> None:
    svc.node_registered(make_node("fra", "eu-1", 0.3))
    svc.node_registered(make_node("nyc", "us-1", 0.0))
    p = svc.place_room("acme", "board-meeting", actor="control-plane")
    assert (p.region, p.node) == ("eu-1", "fra")
    record = svc.audit.tenant_records("acme")[-1]
    assert record.kind == "placement.decided"
    assert record.data["room"] == "board-meeting" and record.data["region"] == "eu-1"


def test_the_participant_is_told_where_and_why(svc: ResidencyService) -> None:
    svc.node_registered(make_node("fra", "eu-1"))
    where = svc.describe(svc.place_room("acme", "r"))
    assert where["location"] == "Frankfurt, DE" and where["jurisdiction"] == "EU"
    assert where["jurisdiction_name"].startswith("European Union") and "own jurisdiction" in where["why"]


def test_placement_is_sticky_for_the_rooms_life(svc: ResidencyService, registry, clock: FakeClock) -> None:
    svc.node_registered(make_node("fra", "eu-1", 0.5))
    first = svc.place_room("acme", "r")
    svc.node_registered(make_node("par", "eu-2", 0.0))  # an emptier node appears ...
    assert svc.place_room("acme", "r", hint="eu-2") == first  # ... the room stays put
    assert kinds(svc).count("placement.decided") == 1  # re-reads are not new decisions
    svc.end_room("acme", "r", actor="control-plane")
    assert svc.place_room("acme", "r").node == "par"  # a new life of the room is placed afresh
    assert kinds(svc)[-2:] == ["room.ended", "placement.decided"]


def test_when_a_node_dies_its_rooms_move_only_within_allowed_regions(
        svc: ResidencyService, registry, clock: FakeClock) -> None:
    svc.node_registered(make_node("fra", "eu-1", 0.0))
    svc.node_registered(make_node("par", "eu-2", 0.5))
    svc.node_registered(make_node("nyc", "us-1", 0.0))
    assert svc.place_room("acme", "r").node == "fra"
    clock.advance(4)
    for n in ("par", "nyc"):
        svc.node_heartbeat(n, load=0.5 if n == "par" else 0.0)
    clock.advance(3)  # fra missed its heartbeats: 7 s > 6 s TTL
    outcomes = svc.sweep()
    assert [(o.old.node, o.new.node if o.new else None) for o in outcomes] == [("fra", "par")]
    p = svc.get_placement("acme", "r")
    assert p is not None and (p.node, p.region, p.generation) == ("par", "eu-2", 2)
    assert svc.place_room("acme", "r").node == "par"
    assert "placement.replaced" in kinds(svc)
    deployment = [r.kind for r in svc.audit.records("deployment")]
    assert deployment.count("node.joined") == 3 and deployment[-1] == "node.left"


def test_a_dead_homes_room_moves_to_the_node_still_carrying_the_meeting(
        svc: ResidencyService, registry, clock: FakeClock) -> None:
    """A cascaded meeting's home dies: its room goes to the node carrying the meeting's other participants (that
    node carries the MLS group on as the new home, sfu/cascade/witness.py), not to an idle node of the dead home's
    region, where no group would be and no one would be yet."""
    svc.node_registered(make_node("fra-a", "eu-1", 0.0))
    assert svc.place_room("acme", "r").node == "fra-a"
    svc.node_registered(make_node("fra-b", "eu-1", 0.0))
    svc.node_registered(make_node("par", "eu-2", 0.5))
    registry.note_meeting_node("acme", "r", "par", 60)
    registry.note_meeting_node("acme", "r", "nyc", 60)  # a forged entry: no such node, ignored
    clock.advance(4)
    for n in ("fra-b", "par"):
        svc.node_heartbeat(n, load=0.5 if n == "par" else 0.0)
    clock.advance(3)  # fra-a missed its heartbeats
    assert [(o.old.node, o.new.node if o.new else None) for o in svc.sweep()] == [("fra-a", "par")]
    p = svc.get_placement("acme", "r")
    assert p is not None and (p.node, p.region, p.generation) == ("par", "eu-2", 2)


def test_a_room_on_a_draining_node_moves_to_another_node_of_its_region(
        svc: ResidencyService, registry, clock: FakeClock) -> None:
    """A draining node tells its participants to ask the control plane again (`drain`); the answer must be
    another node, not the draining one, which refuses them (found by the soak, issue 18)."""
    svc.node_registered(make_node("fra-a", "eu-1", 0.0))
    assert svc.place_room("acme", "r").node == "fra-a"
    svc.node_registered(make_node("fra-b", "eu-1", 0.5))
    svc.node_registered(make_node("par", "eu-2", 0.0))
    svc.node_heartbeat("fra-a", load=0.05, draining=True)  # SIGTERM: the node says it drains
    p = svc.place_room("acme", "r")
    assert (p.node, p.region, p.generation) == ("fra-b", "eu-1", 2)  # same region first, though busier
    assert svc.place_room("acme", "r") == p  # and sticky there
    replaced = [r for r in svc.audit.tenant_records("acme") if r.kind == "placement.replaced"]
    assert len(replaced) == 1
    assert replaced[0].data["previous_node"] == "fra-a" and replaced[0].data["trigger"] == "node draining"


def test_a_draining_node_keeps_its_rooms_while_no_other_node_can_take_them(
        svc: ResidencyService, registry, clock: FakeClock) -> None:
    svc.node_registered(make_node("fra", "eu-1", 0.0))
    first = svc.place_room("acme", "r")
    svc.node_heartbeat("fra", load=0.05, draining=True)
    assert svc.place_room("acme", "r") == first  # nowhere to go: the meeting is not dropped
    assert svc.get_placement("acme", "r") == first
    assert "placement.refused" not in kinds(svc)
    svc.node_registered(make_node("fra-2", "eu-1", 0.0))  # the replacement node arrives
    assert svc.place_room("acme", "r").node == "fra-2"


def test_with_every_allowed_node_gone_the_room_fails_closed_never_spills(
        svc: ResidencyService, registry, clock: FakeClock) -> None:
    svc.node_registered(make_node("fra", "eu-1"))
    svc.node_registered(make_node("par", "eu-2"))
    svc.node_registered(make_node("nyc", "us-1"))
    svc.place_room("acme", "r")
    svc.node_left("fra", actor="operator", reason="maintenance")
    svc.node_left("par", actor="operator", reason="maintenance")
    assert svc.get_placement("acme", "r") is None  # dropped, not moved to nyc
    with pytest.raises(PlacementRefused) as err:
        svc.place_room("acme", "r")
    assert err.value.code == "no_node_in_allowed_regions" and "EU Central" in err.value.message
    with pytest.raises(PlacementRefused):
        svc.place_room("acme", "another-room", hint="us-1")
    refusals = [r for r in svc.audit.tenant_records("acme") if r.kind == "placement.refused"]
    assert len(refusals) == 3 and refusals[0].data["previous_node"] == "par"


def test_overloaded_allowed_nodes_refuse_rather_than_spill(svc: ResidencyService) -> None:
    svc.node_registered(make_node("fra", "eu-1", 1.0))
    svc.node_registered(make_node("nyc", "us-1", 0.0))
    with pytest.raises(PlacementRefused):
        svc.place_room("acme", "r")


def test_narrowing_the_policy_moves_a_live_room_on_its_next_lookup(svc: ResidencyService) -> None:
    svc.node_registered(make_node("fra", "eu-1", 0.0))
    svc.node_registered(make_node("par", "eu-2", 0.5))
    assert svc.place_room("acme", "r").region == "eu-1"
    svc.set_allowed_regions("acme", ["eu-2"], actor="admin:alice", reason="France only")
    p = svc.place_room("acme", "r")
    assert p.region == "eu-2"
    replaced = svc.audit.tenant_records("acme")[-1]
    assert replaced.kind == "placement.replaced" and "no longer allowed" in replaced.data["trigger"]


def test_nodes_of_undefined_regions_are_refused_and_audited(svc: ResidencyService) -> None:
    with pytest.raises(NotFound) as err:
        svc.node_registered(make_node("rogue", "mars-1"))
    assert err.value.code == "unknown_region"
    assert svc.registry.get_node("rogue") is None
    assert svc.audit.records("deployment")[-1].kind == "node.refused"


def test_a_node_cannot_claim_a_second_region_while_live(svc: ResidencyService) -> None:
    svc.node_registered(make_node("n1", "eu-1"))
    with pytest.raises(PolicyViolation) as err:
        svc.node_registered(make_node("n1", "us-1"))
    assert err.value.code == "node_region_mismatch"
    assert svc.registry.get_node("n1").region == "eu-1"  # type: ignore[union-attr]


def test_unknown_tenant_cannot_be_placed(svc: ResidencyService) -> None:
    svc.node_registered(make_node("fra", "eu-1"))
    with pytest.raises(NotFound):
        svc.place_room("nobody", "r")


def test_sweep_republishes_policy_after_the_registry_lost_its_state(svc: ResidencyService, clock: FakeClock) -> None:
    from residency.registry import MemoryRegistry

    svc.registry = MemoryRegistry(clock=clock)  # e.g. Redis restarted without persistence
    assert svc.registry.get_tenant_view("acme") is None
    svc.sweep()
    assert svc.registry.get_tenant_view("acme").allowed_regions == {"eu-1", "eu-2"}  # type: ignore[union-attr]
    assert set(svc.registry.list_regions()) == {"eu-1", "eu-2", "ch-1", "us-1", "au-1"}


def test_bad_room_ids_are_invalid_input(svc: ResidencyService) -> None:
    with pytest.raises(ResidencyError) as err:
        svc.place_room("acme", "")
    assert err.value.code == "invalid_room"


def test_with_real_redis_a_dead_node_is_noticed_within_seconds_and_rooms_stay_in_allowed_regions(
        tmp_path, redis_server) -> None:
    import time
    import uuid

    from residency.registry import RedisRegistry

    reg = RedisRegistry(redis_server.url, prefix=f"t-{uuid.uuid4().hex[:8]}", node_ttl=1.0)
    svc = ResidencyService(tmp_path / "cp.db", registry=reg)
    for rid, j in (("eu-1", "EU"), ("eu-2", "EU"), ("us-1", "US")):
        svc.define_region(rid, j, f"{rid} city", rid.upper(), actor="operator")
    svc.create_tenant("acme", "ACME", "EU", actor="operator")
    for node, region, load in (("fra", "eu-1", 0.0), ("par", "eu-2", 0.5), ("nyc", "us-1", 0.0)):
        svc.node_registered(make_node(node, region, load))  # signed, as every node's record is
    svc.sweep()
    assert svc.place_room("acme", "r").node == "fra"

    def keep_alive(*nodes: str, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for n in nodes:
                svc.node_heartbeat(n, load=0.5)
            time.sleep(0.2)

    keep_alive("par", "nyc", seconds=1.4)  # fra stops heartbeating and expires
    outcomes = svc.sweep()
    assert [(o.old.node, o.new.node if o.new else None) for o in outcomes] == [("fra", "par")]
    keep_alive("nyc", seconds=1.4)  # now par dies too; only the US node is alive
    outcomes = svc.sweep()
    assert outcomes[0].new is None and outcomes[0].refused is not None
    with pytest.raises(PlacementRefused):
        svc.place_room("acme", "r")
    assert [n.id for n in reg.list_nodes()] == ["nyc"]
    svc.db.close()


def test_participants_of_one_meeting_land_on_nodes_of_allowed_regions_only(
        svc: ResidencyService, clock: FakeClock) -> None:
    """Cascading (issue 14): the room keeps its node; a participant whose hint names another allowed region with a
    node goes there (its node relays with the room's); a hint naming a refused region — even with an idle node —
    lands on the room's node, never there; a participant without a hint joins where the meeting already is."""
    svc.node_registered(make_node("fra", "eu-1", 0.2))
    svc.node_registered(make_node("par", "eu-2", 0.0))
    svc.node_registered(make_node("nyc", "us-1", 0.0))
    home, first = svc.place_participant("acme", "r", hint="eu-1")
    assert (home.node, first.node) == ("fra", "fra")
    home2, second = svc.place_participant("acme", "r", hint="eu-2")
    assert home2 == home and (second.node, second.region) == ("par", "eu-2")
    assert svc.get_placement("acme", "r") == home  # the room's placement did not move
    # a refused hint lands on a node already carrying the meeting (par: the least loaded of them), never in us-1
    attacker = svc.place_participant("acme", "r", hint="us-1")[1]
    assert attacker.node == "par" and attacker.region == "eu-2"
    assert svc.place_participant("acme", "r")[1].node == "par"  # no hint: a node of the meeting, no new relay


def test_a_participant_is_never_spilled_when_only_the_rooms_draining_node_is_left(
        svc: ResidencyService, clock: FakeClock) -> None:
    """One node, draining, no other allowed node (the idle US node does not count): the participant is sent to
    the room's own node (which refuses it with node_draining, so it asks again), not elsewhere — the
    single-node behaviour the embedded product keeps."""
    svc.node_registered(make_node("fra", "eu-1", 0.0))
    svc.node_registered(make_node("nyc", "us-1", 0.0))
    home, _ = svc.place_participant("acme", "r")
    svc.node_heartbeat("fra", load=0.1, draining=True)
    assert svc.place_participant("acme", "r", hint="us-1") == (home, home)
