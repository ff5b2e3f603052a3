"""Both registries honour one contract; the Redis one is exercised against a real redis-server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from residency.errors import RegistryError
from residency.model import Placement, Region, TenantView
from residency.registry import MAX_MEETING_NODES, MemoryRegistry, RedisRegistry, Registry
from tests.fixtures.redis import RedisServer
from tests.residency.residency_world import FakeClock, make_node

TTL = 1.0


@pytest.fixture(params=["memory", "redis"])
def reg_and_wait(request: pytest.FixtureRequest) -> tuple[Registry, Callable[[float], None]]:
    """A registry with a short node TTL and a way to let time pass (fake clock / real sleep)."""
    if request.param == "memory":
        clock = FakeClock()
        return MemoryRegistry(node_ttl=TTL, clock=clock), clock.advance
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisRegistry(server.url, prefix=f"t-{uuid.uuid4().hex[:8]}", node_ttl=TTL), time.sleep


def test_nodes_register_list_by_region_and_expire_without_heartbeats(reg_and_wait) -> None:
    reg, wait = reg_and_wait
    reg.register_node(make_node("fra", "eu-1", 0.2))
    reg.register_node(make_node("par", "eu-2"))
    assert [n.id for n in reg.list_nodes()] == ["fra", "par"]
    assert [n.id for n in reg.list_nodes("eu-1")] == ["fra"]
    wait(TTL * 0.7)
    assert reg.heartbeat("par", load=0.4, draining=True)
    wait(TTL * 0.5)  # fra: 1.2 TTL since its last heartbeat -> gone; par: 0.5 TTL -> alive
    assert reg.get_node("fra") is None
    par = reg.get_node("par")
    assert par is not None and par.load == 0.4 and par.draining
    assert reg.usable_nodes() == []  # par is draining
    assert reg.heartbeat("fra", load=0.0) is False  # expired nodes must re-register, not be resurrected
    reg.deregister_node("par")
    assert reg.list_nodes() == []


def test_placements_are_sticky_and_replaced_only_by_compare_and_set(reg_and_wait) -> None:
    reg, _ = reg_and_wait
    first = Placement("acme", "room:1", "eu-1", "fra", 1.0, "why")
    other = Placement("acme", "room:1", "eu-2", "par", 2.0, "why")
    assert reg.claim_placement(first) == first
    assert reg.claim_placement(other) == first  # the first decision sticks
    assert reg.placements_on("fra") == [first] and reg.placements_on("par") == []
    moved = Placement("acme", "room:1", "eu-2", "par", 3.0, "why", generation=2)
    assert reg.replace_placement(first, moved) == moved
    assert reg.placements_on("fra") == [] and reg.placements_on("par") == [moved]
    # A second, late re-placement based on the stale `first` must not win.
    late = Placement("acme", "room:1", "eu-1", "fra2", 4.0, "why", generation=2)
    assert reg.replace_placement(first, late) == moved
    reg.drop_placement("acme", "room:1", expected=first)  # stale: a newer placement stands, keep it
    assert reg.get_placement("acme", "room:1") == moved
    reg.drop_placement("acme", "room:1")
    assert reg.get_placement("acme", "room:1") is None and reg.placements_on("par") == []
    assert reg.replace_placement(moved, late) is None  # an ended room is not resurrected


def test_policy_views_are_readable_by_other_processes(reg_and_wait) -> None:
    reg, _ = reg_and_wait
    reg.put_region(Region("eu-1", "EU", "Frankfurt", "EU Central"))
    reg.put_tenant_view(TenantView("acme", "EU", frozenset({"eu-1"}), 3))
    assert reg.get_region("eu-1") == Region("eu-1", "EU", "Frankfurt", "EU Central")
    assert list(reg.list_regions()) == ["eu-1"]
    assert reg.get_tenant_view("acme") == TenantView("acme", "EU", frozenset({"eu-1"}), 3)
    assert reg.get_tenant_view("nobody") is None and reg.get_region("nowhere") is None


def test_a_second_process_sees_the_same_redis_state(redis_server: RedisServer) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    control_plane = RedisRegistry(redis_server.url, prefix=prefix)
    node_process = RedisRegistry(redis_server.url, prefix=prefix)
    control_plane.put_tenant_view(TenantView("acme", "EU", frozenset({"eu-1", "eu-2"}), 1))
    node_process.register_node(make_node("fra", "eu-1"))
    assert node_process.get_tenant_view("acme").allowed_regions == {"eu-1", "eu-2"}  # type: ignore[union-attr]
    assert [n.id for n in control_plane.list_nodes("eu-1")] == ["fra"]


def test_concurrent_claims_agree_on_one_placement(redis_server: RedisServer) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    results: list[Placement] = []
    lock = threading.Lock()

    def claim(i: int) -> None:
        reg = RedisRegistry(redis_server.url, prefix=prefix)
        p = reg.claim_placement(Placement("acme", "race", "eu-1", f"node-{i}", float(i), "why"))
        with lock:
            results.append(p)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and len(set(results)) == 1


def test_an_unreachable_redis_is_a_clear_registry_error() -> None:
    reg = RedisRegistry("redis://127.0.0.1:1/0", prefix="x")
    assert reg.ping() is False
    with pytest.raises(RegistryError) as err:
        reg.list_nodes()
    assert err.value.code == "registry_unavailable"


def test_documents_expire_claims_agree_and_a_malformed_one_is_a_counted_drop(reg_and_wait) -> None:
    """The short-lived documents recorder pools and jobs live in (recording/launch.py)."""
    reg, wait = reg_and_wait
    reg.put_doc("pool", "eu-a", {"region": "eu-1"}, ttl=TTL)
    reg.put_doc("job", "acme:r1", {"id": "j1"})
    assert reg.claim_doc("job", "acme:r1", {"id": "j2"}) is False  # a second launcher does not replace it
    assert reg.claim_doc("job", "acme:r2", {"id": "j3"}) is True
    assert reg.get_doc("job", "acme:r1") == {"id": "j1"}
    assert reg.swap_doc("job", "acme:r1", {"id": "j0"}, {"id": "j9"}) is False  # it no longer holds what was read
    assert reg.swap_doc("job", "acme:r1", {"id": "j1"}, {"id": "j4"}) is True  # a move, from what was read
    assert reg.swap_doc("job", "acme:r1", {"id": "j1"}, {"id": "j5"}) is False  # a second move from that state
    assert reg.swap_doc("job", "acme:none", {"id": "j1"}, {"id": "j6"}) is False  # nothing to move: none made
    assert reg.get_doc("job", "acme:none") is None
    reg.put_doc("job", "acme:r1", {"id": "j1"})
    assert reg.list_docs("job") == {"acme:r1": {"id": "j1"}, "acme:r2": {"id": "j3"}}
    assert reg.list_docs("pool") == {"eu-a": {"region": "eu-1"}}
    wait(TTL * 1.3)
    assert reg.list_docs("pool") == {} and reg.get_doc("pool", "eu-a") is None  # gone with its TTL
    reg.drop_doc("job", "acme:r1")
    assert list(reg.list_docs("job")) == ["acme:r2"]
    if isinstance(reg, RedisRegistry):
        reg.r.set(reg._dkey("job", "acme:bad"), "[not an object")
        assert list(reg.list_docs("job")) == ["acme:r2"] and reg.malformed_docs == 1


def test_the_nodes_of_a_meeting_expire_each_on_its_own_and_a_flood_is_capped(reg_and_wait) -> None:
    """Cascading: each node's entry lives `ttl` unless written again; a node that left is dropped at once; what
    anyone floods into one meeting's entry costs a reader at most MAX_MEETING_NODES ids."""
    reg, wait = reg_and_wait
    assert reg.meeting_nodes("acme", "board") == []
    reg.note_meeting_node("acme", "board", "fra", TTL)
    reg.note_meeting_node("acme", "board", "par", TTL * 3)
    reg.note_meeting_node("acme", "other", "lis", TTL * 3)
    assert reg.meeting_nodes("acme", "board") == ["fra", "par"]
    wait(TTL * 1.3)  # fra was not written again: gone; par's longer entry is not shortened by fra's
    assert reg.meeting_nodes("acme", "board") == ["par"]
    reg.note_meeting_node("acme", "board", "fra", TTL)  # written again while it carries the meeting
    reg.drop_meeting_node("acme", "board", "par")  # par's last participant left
    assert reg.meeting_nodes("acme", "board") == ["fra"] and reg.meeting_nodes("acme", "other") == ["lis"]
    for i in range(MAX_MEETING_NODES + 20):
        reg.note_meeting_node("acme", "flooded", f"forged-{i:03d}", TTL * 3)
    assert len(reg.meeting_nodes("acme", "flooded")) == MAX_MEETING_NODES
    reg.drop_meeting_node("acme", "nothing", "fra")  # dropping what is not there is harmless
