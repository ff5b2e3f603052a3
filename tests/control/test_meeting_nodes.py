"""Joins of a cascaded meeting through the control plane's API (docs/architecture.md "Cascading"): a joiner without a
hint goes to a node already carrying the meeting (no new relay), a participant placed off the room's home is in
the tenant's audit chain (who, which node and region, why) which the tenant verifies, and a forged list of the
meeting's nodes in the registry moves no one out of the allowed regions.

The deployment (cp_env.two_eu_regions): eu-1 (the home) and eu-2, both allowed for the EU tenant; us-1, refused,
with an idle node that would win on load alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from residency.audit import verify_export
from residency.errors import VerificationFailed
from residency.signing import parse_public_keys
from tests.control.cp_env import Clock, Env, make_env, two_eu_regions


@pytest.fixture
def eu(tmp_path: Any, clock: Clock) -> Iterator[Env]:
    e = make_env(tmp_path, clock)
    two_eu_regions(e)
    yield e
    e.control.close()


def join(env: Env, link: str, **body: Any) -> tuple[str, str, str]:
    """(participant, node, region) as the signed token says: what the node enforces."""
    r = env.join(link, **body)
    assert r.status_code == 200, r.text
    answer = r.json()
    claims = env.verifier(answer["node"]).verify(answer["token"])
    return answer["participant"], claims.node, claims.region


def loads(env: Env, **by_node: float) -> None:
    for node in ("node-eu-1", "node-eu-2", "node-us-1"):
        assert env.residency.node_heartbeat(node, load=by_node.get(node.replace("-", "_"), 0.0)), node


def placed_off_home(env: Env) -> list[dict[str, Any]]:
    r = env.client.get("/v1/tenants/acme/audit", headers=env.admin())
    assert r.status_code == 200
    verified = verify_export(r.text, parse_public_keys(env.client.get("/v1/audit/public-key").text))
    return [rec["data"] for rec in verified.records if rec["kind"] == "placement.participant"]


def test_a_joiner_without_a_hint_joins_a_node_already_in_the_meeting_and_the_tenant_can_verify_where(
        eu: Env) -> None:
    link = eu.link(no_password=True)["link"]
    room = eu.control.get_link("acme", link).room
    loads(eu, node_eu_1=0.5, node_eu_2=0.5)
    ada = join(eu, link, region_hint="eu-1")
    assert ada[1:] == ("node-eu-1", "eu-1")  # the home
    bea = join(eu, link, region_hint="eu-2")
    assert bea[1:] == ("node-eu-2", "eu-2")
    # the home is busy now: a hint-less joiner goes to eu-2's node, already in the meeting, not to a new one
    loads(eu, node_eu_1=0.9, node_eu_2=0.4)
    cem = join(eu, link)
    assert cem[1:] == ("node-eu-2", "eu-2")
    # eu-2's node is full: back to the home, as before; the idle US node is never an option
    loads(eu, node_eu_1=0.9, node_eu_2=1.0)
    assert join(eu, link)[1:] == ("node-eu-1", "eu-1")
    assert eu.residency.get_placement("acme", room).node == "node-eu-1"  # the room's home never moved

    records = placed_off_home(eu)
    assert [(d["participant"], d["node"], d["region"], d["rule"], d["home_node"]) for d in records] == [
        (bea[0], "node-eu-2", "eu-2", "hint", "node-eu-1"), (cem[0], "node-eu-2", "eu-2", "meeting_node", "node-eu-1")]
    assert all(d["room"] == room and d["node_key"] for d in records)


def test_an_edited_off_home_record_fails_the_tenants_verification(eu: Env) -> None:
    link = eu.link(no_password=True)["link"]
    join(eu, link, region_hint="eu-1")
    join(eu, link, region_hint="eu-2")
    assert len(placed_off_home(eu)) == 1
    export = eu.client.get("/v1/tenants/acme/audit", headers=eu.admin()).text
    keys = parse_public_keys(eu.client.get("/v1/audit/public-key").text)
    tampered = export.replace('"rule":"hint"', '"rule":"load"', 1)
    assert tampered != export
    with pytest.raises(VerificationFailed):
        verify_export(tampered, keys)


def test_attacker_listing_a_refused_regions_node_as_the_meetings_cannot_place_anyone_there(eu: Env) -> None:
    """Someone who can write the registry (Redis is not trusted for residency) names the idle US node and a node
    that does not exist as nodes of the meeting. Joiners with and without hints stay in eu-1/eu-2; each forged
    entry is ignored and counted once; no off-home record names them."""
    link = eu.link(no_password=True)["link"]
    room = eu.control.get_link("acme", link).room
    loads(eu, node_eu_1=0.5, node_eu_2=0.5)
    join(eu, link, region_hint="eu-1")
    for forged in ("node-us-1", "node-ghost"):
        eu.residency.registry.note_meeting_node("acme", room, forged, 600.0)
    loads(eu, node_eu_1=0.95, node_eu_2=0.9)
    for body in ({}, {"region_hint": "us-1"}, {}):
        assert join(eu, link, **body)[2] in ("eu-1", "eu-2")
    assert eu.residency.meeting_nodes_ignored["meeting_node_region_not_allowed"] == 1
    assert eu.residency.meeting_nodes_ignored["meeting_node_unknown"] == 1
    assert all(d["node"] not in ("node-us-1", "node-ghost") for d in placed_off_home(eu))


def test_the_ignored_entries_are_in_the_operators_rejected_records_metric(tmp_path: Any) -> None:
    """The control plane as deployed (open_residency) counts each ignored entry in
    castellan_registry_records_rejected_total by reason."""
    from prometheus_client import REGISTRY

    from residency.model import Node
    from residency.registry import MemoryRegistry
    from signalling.control.config import ControlConfig
    from signalling.control.residency_adapter import open_residency

    def count(reason: str) -> float:
        return REGISTRY.get_sample_value("castellan_registry_records_rejected_total", {"reason": reason}) or 0.0

    adapter = open_residency(ControlConfig(db=tmp_path / "cp.db"), registry=MemoryRegistry())
    svc = adapter.service
    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    svc.define_region("us-1", "US", "Ashburn, US", "US East", actor="operator")
    svc.create_tenant("acme", "ACME GmbH", "EU", actor="operator")
    for node, region in (("fra", "eu-1"), ("nyc", "us-1")):
        svc.node_registered(Node(id=node, region=region, public_ip="127.0.0.1", udp_port=40000,
                                 ws_url=f"ws://127.0.0.1/{node}", http_url="http://127.0.0.1:9"))
    svc.place_room("acme", "board")
    svc.registry.note_meeting_node("acme", "board", "nyc", 600.0)
    svc.registry.note_meeting_node("acme", "board", "ghost", 600.0)
    before = count("meeting_node_region_not_allowed"), count("meeting_node_unknown")
    for _ in range(3):  # each distinct entry once, however many joins read it
        assert adapter.place(tenant="acme", room="board", region_hint=None, participant="p").node == "fra"
    assert (count("meeting_node_region_not_allowed"), count("meeting_node_unknown")) == (before[0] + 1, before[1] + 1)
    svc.db.close()


def _nodes_left(env: Env) -> list[str]:
    audit = env.residency.audit
    return [r.data["node"] for chain in audit.chains() for r in audit.records(chain) if r.kind == "node.left"]


def test_a_participant_who_lost_its_far_node_is_not_sent_back_to_it(eu: Env) -> None:
    """Bea's node (eu-2, off the home) dies; her rejoin names it (`unreachable_node`). Its health check fails (its
    address answers nothing), so it is taken out now and she goes to the home — not back to the dead node until
    its registration expires (found by tests/cluster/test_cascade_regions.py: 28–35 joins answered with the
    dead node over 5 s). Naming a node that does not carry the meeting probes nothing and changes nothing."""
    link = eu.link(no_password=True)["link"]
    loads(eu, node_eu_1=0.5, node_eu_2=0.5)
    assert join(eu, link, region_hint="eu-1")[1] == "node-eu-1"  # the home
    assert join(eu, link, region_hint="eu-2")[1] == "node-eu-2"
    # a node outside the meeting, named by a participant: not probed, not removed
    join(eu, link, region_hint="eu-2", unreachable_node="node-us-1")
    assert _nodes_left(eu) == []
    # the far node, named after it died (port 9 answers nothing): removed, and the rejoin goes to the home
    bea = join(eu, link, region_hint="eu-2", unreachable_node="node-eu-2")
    assert bea[1:] == ("node-eu-1", "eu-1"), bea
    assert _nodes_left(eu) == ["node-eu-2"]
