"""`castellan dev`'s building block: the control plane in-process next to a node, sharing registry, keys,
revocations and occupancy — a demo link joined end to end through the node-side checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from residency.enforcement import NodeGuard
from residency.model import Node
from residency.registry import MemoryRegistry
from sfu.admission import Admission, JoinRefused
from signalling.control.embedded import create_demo, embedded_control_plane
from signalling.tokens import TokenVerifier


def test_a_demo_meeting_joined_through_the_in_process_node_checks(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    cp = embedded_control_plane(db=tmp_path / "castellan.db", public_url="http://127.0.0.1:8000",
                                registry=registry, region=("local", "EU", "This machine", "Local"))
    cp.residency.service.node_registered(Node(id="dev-node", region="local", public_ip="127.0.0.1", udp_port=40000,
                                              ws_url="ws://127.0.0.1:7880/ws", http_url="http://127.0.0.1:7880"))
    demo = create_demo(cp.control)
    assert demo["join_url"].startswith("http://127.0.0.1:8000/j/") and "#k=" in demo["join_url"]
    client = TestClient(cp.app)
    r = client.post("/v1/join", json={"link": demo["link"], "name": "Ada", "password": demo["password"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ws_url"] == "ws://127.0.0.1:7880/ws"
    assert body["processing"]["location"] == "This machine"

    verifier = TokenVerifier(cp.control.keyring.jwks, "dev-node")
    guard = NodeGuard("dev-node", "local", registry, cp.residency.service.audit)
    admission = Admission("local", guard=guard, revocations=cp.control.revocations, occupancy=cp.control.occupancy)
    claims = verifier.verify(body["token"])
    assert claims.room == body["room"]
    admission.check(claims, draining=False, registry_ok=True)  # and counts the participant in
    assert cp.control.occupancy.count(claims.tenant, claims.room) == 1

    second = client.post("/v1/join", json={"link": demo["link"], "name": "Bo", "password": demo["password"]}).json()
    cp.control.revocations.add(demo["link"])  # what revoke does; the node sees it at once
    with pytest.raises(JoinRefused) as e:
        admission.check(verifier.verify(second["token"]), draining=False, registry_ok=True)
    assert e.value.code == "link_revoked"
    cp.control.close()
