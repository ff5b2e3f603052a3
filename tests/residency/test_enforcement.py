"""Node-side enforcement: a node re-checks every verified join token against its own configuration and the
tenant policy published in the registry, refusing (and auditing) anything that would put media in the wrong place.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from residency.audit import AuditLog
from residency.enforcement import NodeGuard
from residency.errors import AdmissionRefused
from residency.registry import MemoryRegistry, RedisRegistry
from residency.service import ResidencyService
from tests.fixtures.redis import RedisServer
from tests.residency.residency_world import FakeClock, make_node
from tests.support.node_identity import IdentityServer


@pytest.fixture
def node_audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "node-audit.db")


@pytest.fixture
def fra(svc: ResidencyService, node_audit: AuditLog) -> NodeGuard:
    guard = NodeGuard("fra", "eu-1", svc.registry, node_audit)
    guard.register(make_node("fra", "eu-1"))
    return guard


def refusal(guard: NodeGuard, tenant: str, room: str, region: str) -> str:
    with pytest.raises(AdmissionRefused) as err:
        guard.admit(tenant, room, region)
    return err.value.code


def test_a_correct_token_is_admitted(fra: NodeGuard, node_audit: AuditLog) -> None:
    fra.admit("acme", "standup", "eu-1")
    assert node_audit.chains() == []  # admissions are the control plane's placement records, not noise here


def test_a_token_for_another_region_is_refused_and_audited(fra: NodeGuard, node_audit: AuditLog) -> None:
    assert refusal(fra, "acme", "standup", "us-1") == "wrong_region"
    record = node_audit.tenant_records("acme")[-1]
    assert record.kind == "admission.refused" and record.actor == "node:fra"
    assert record.data["token_region"] == "us-1" and record.data["node_region"] == "eu-1"


def test_a_tenant_that_does_not_allow_this_region_is_refused(
        svc: ResidencyService, fra: NodeGuard, node_audit: AuditLog) -> None:
    svc.set_allowed_regions("acme", ["eu-2"], actor="admin:alice", reason="France only")
    assert refusal(fra, "acme", "standup", "eu-1") == "region_not_allowed"
    assert node_audit.tenant_records("acme")[-1].data["policy_version"] == 2


def test_a_foreign_tenant_is_refused_on_a_node_outside_its_policy(
        svc: ResidencyService, node_audit: AuditLog) -> None:
    svc.create_tenant("globex", "Globex", "US", actor="operator")
    guard = NodeGuard("fra", "eu-1", svc.registry, node_audit)
    guard.register(make_node("fra", "eu-1"))
    assert refusal(guard, "globex", "r", "eu-1") == "region_not_allowed"


def test_an_unknown_tenant_is_refused_without_creating_a_chain_for_it(
        fra: NodeGuard, node_audit: AuditLog) -> None:
    assert refusal(fra, "forged-tenant", "r", "eu-1") == "unknown_tenant"
    assert node_audit.chains() == ["deployment"]
    assert node_audit.records("deployment")[-1].data["tenant_claim"] == "forged-tenant"


def test_a_node_whose_registration_says_another_region_is_refused(
        svc: ResidencyService, node_audit: AuditLog) -> None:
    svc.registry.register_node(make_node("fra", "eu-2"))  # registry: fra lives in eu-2
    liar = NodeGuard("fra", "eu-1", svc.registry, node_audit)  # but this process was started with eu-1
    assert refusal(liar, "acme", "r", "eu-1") == "node_region_mismatch"
    with pytest.raises(AdmissionRefused) as err:
        liar.register(make_node("fra", "eu-1"))
    assert err.value.code == "node_region_mismatch"
    assert node_audit.records("deployment")[-1].kind == "node.refused"


def test_a_node_configured_for_an_undefined_region_cannot_register(
        svc: ResidencyService, node_audit: AuditLog) -> None:
    guard = NodeGuard("rogue", "mars-1", svc.registry, node_audit)
    with pytest.raises(AdmissionRefused) as err:
        guard.register(make_node("rogue", "mars-1"))
    assert err.value.code == "unknown_region"
    assert svc.registry.get_node("rogue") is None
    with pytest.raises(AdmissionRefused) as err:
        guard.register(make_node("rogue", "eu-1"))  # a record that disagrees with the node's own config
    assert err.value.code == "node_region_mismatch"


def test_an_expired_registration_refuses_joins_until_the_heartbeat_returns(
        svc: ResidencyService, fra: NodeGuard, clock: FakeClock) -> None:
    clock.advance(7)
    assert refusal(fra, "acme", "r", "eu-1") == "node_not_registered"
    fra.heartbeat(load=0.1)  # expired -> re-registers
    fra.admit("acme", "r", "eu-1")
    assert svc.registry.get_node("fra").load == 0.1  # type: ignore[union-attr]


def test_heartbeat_before_register_is_an_error(node_audit: AuditLog) -> None:
    guard = NodeGuard("x", "eu-1", MemoryRegistry(), node_audit)
    with pytest.raises(AdmissionRefused):
        guard.heartbeat(load=0.0)


def test_a_node_process_enforces_policy_published_through_redis(
        tmp_path: Path, redis_server: RedisServer, node_audit: AuditLog) -> None:
    """Multi-process shape: the control plane and the node share nothing but redis."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    control = ResidencyService(tmp_path / "cp.db", registry=RedisRegistry(redis_server.url, prefix=prefix))
    control.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    control.define_region("us-1", "US", "Ashburn, US", "US East", actor="operator")
    control.create_tenant("acme", "ACME", "EU", actor="operator")

    node_registry = RedisRegistry(redis_server.url, prefix=prefix)  # the node's own connection
    ids = {n: IdentityServer(n) for n in ("fra", "nyc")}  # each node's key and its health-check answer
    try:
        control.enroll_node_key("eu-1", ids["fra"].public_key, actor="operator")
        control.enroll_node_key("us-1", ids["nyc"].public_key, actor="operator")
        fra = NodeGuard("fra", "eu-1", node_registry, node_audit, signer=ids["fra"].signer)
        fra.register(make_node("fra", "eu-1", http_url=ids["fra"].url))
        nyc = NodeGuard("nyc", "us-1", node_registry, node_audit, signer=ids["nyc"].signer)
        nyc.register(make_node("nyc", "us-1", http_url=ids["nyc"].url))

        control.sweep()
        placement = control.place_room("acme", "board")
    finally:
        for server in ids.values():
            server.close()
    assert placement.node == "fra"
    assert ids["fra"].answered >= 1  # placed only after it answered the signed health check
    fra.admit("acme", "board", placement.region)
    # A stale or forged route to the US node is refused by the US node itself.
    assert refusal(nyc, "acme", "board", "us-1") == "region_not_allowed"
    # Policy changes reach nodes through the registry.
    control.set_allowed_regions("acme", ["eu-1"], actor="admin", reason="pin to Frankfurt")
    assert node_registry.get_tenant_view("acme").version == 2  # type: ignore[union-attr]
    control.db.close()


def test_the_plain_predicate_answers_from_the_published_policy(svc: ResidencyService) -> None:
    from residency.enforcement import tenant_allows

    allows = tenant_allows(svc.registry)
    assert allows("acme", "eu-1") and allows("acme", "eu-2")
    assert not allows("acme", "us-1") and not allows("nobody", "eu-1")


def test_claims_objects_and_dicts_are_accepted_as_the_nodes_admit_hook(fra: NodeGuard) -> None:
    from types import SimpleNamespace

    fra.admit_claims(SimpleNamespace(tenant="acme", room="r", region="eu-1"))
    fra.admit_claims({"tenant": "acme", "room": "r", "region": "eu-1"})
    with pytest.raises(AdmissionRefused) as err:
        fra.admit_claims({"tenant": "acme", "room": "r"})
    assert err.value.code == "malformed_claims"
    with pytest.raises(AdmissionRefused):
        fra.admit_claims(SimpleNamespace(tenant="acme", room="r", region="us-1"))
