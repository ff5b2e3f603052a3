"""The node's lease on a hosted tenant's policy (residency/lease.py), against a registry that lies or goes away:
a narrowing read ends the lease at once; nothing the registry does can keep it past POLICY_LEASE without a
trustworthy read that allows the region, and nothing short of such a narrowing read ends a meeting."""

from __future__ import annotations

from residency.lease import POLICY_BOUND, POLICY_LEASE, PolicyLeases, Verdict, withdrawal_payload
from residency.model import TenantView


def view(version: int, *regions: str, tenant: str = "acme") -> TenantView:
    return TenantView(tenant=tenant, jurisdiction="EU", allowed_regions=frozenset(regions), version=version)


def leases(now: float = 0.0) -> PolicyLeases:
    lease = PolicyLeases("eu-2")
    lease.hosting("acme", now)
    lease.observe("acme", view(1, "eu-1", "eu-2"), now)
    return lease


def test_a_narrowing_read_withdraws_at_once() -> None:
    lease = leases()
    lease.observe("acme", view(2, "eu-1"), 2.0)
    judged = lease.judge("acme", 2.0)
    assert judged.verdict is Verdict.NARROWED and judged.version == 2


def test_a_replayed_older_wider_policy_does_not_undo_a_narrowing() -> None:
    lease = leases()
    lease.observe("acme", view(2, "eu-1"), 2.0)
    lease.observe("acme", view(1, "eu-1", "eu-2"), 4.0)  # the registry serves the old record again
    assert lease.judge("acme", 4.0).verdict is Verdict.NARROWED
    assert lease.untrusted == {"rollback": 1}


def test_the_same_version_rewritten_to_allow_the_region_again_is_not_believed() -> None:
    lease = leases()
    lease.observe("acme", view(2, "eu-1"), 2.0)
    lease.observe("acme", view(2, "eu-1", "eu-2"), 4.0)
    assert lease.judge("acme", 4.0).verdict is Verdict.NARROWED
    assert lease.untrusted == {"rewritten": 1}


def test_a_rollback_that_stays_cannot_keep_the_meeting_past_the_lease() -> None:
    """A registry that keeps answering with an older (allowing) version once the node read a newer allowing one
    renews nothing: without a trustworthy read the lease runs out and the media is held."""
    lease = leases()
    lease.observe("acme", view(3, "eu-1", "eu-2"), 1.0)
    t = 1.0
    while t < 1.0 + POLICY_LEASE + 2:
        t += 2.0
        lease.observe("acme", view(2, "eu-1", "eu-2"), t)
    assert lease.judge("acme", t).verdict is Verdict.UNCONFIRMED


def test_an_unreachable_registry_holds_after_the_lease_and_never_withdraws() -> None:
    lease = leases()
    for t in (2.0, 4.0, 6.0, 8.0, 10.0, 12.0):
        lease.observe("acme", None, t)  # down, no view (a Redis restart), or malformed
        assert lease.judge("acme", t).verdict is Verdict.ALLOWED  # within the lease: the meeting goes on
    lease.observe("acme", None, 14.0)
    judged = lease.judge("acme", 14.0)
    assert judged.verdict is Verdict.UNCONFIRMED and judged.age == 14.0
    lease.observe("acme", view(1, "eu-1", "eu-2"), 16.0)  # back: the meeting is released, not ended
    assert lease.judge("acme", 16.0).verdict is Verdict.ALLOWED
    assert lease.untrusted == {"unreadable": 7}


def test_a_view_of_another_tenant_renews_nothing() -> None:
    lease = leases()
    lease.observe("acme", view(9, "eu-2", tenant="globex"), 13.0)
    assert lease.judge("acme", 13.0).verdict is Verdict.UNCONFIRMED


def test_a_policy_allowing_the_region_again_releases_it() -> None:
    lease = leases()
    lease.observe("acme", view(2, "eu-1"), 2.0)
    lease.observe("acme", view(3, "eu-2"), 4.0)
    assert lease.judge("acme", 4.0).verdict is Verdict.ALLOWED
    assert lease.allows("acme", "eu-1") is False and lease.allows("acme", "eu-2") is True


def test_a_new_lease_starts_at_the_admission_and_is_forgotten_with_the_tenant() -> None:
    lease = PolicyLeases("eu-2")
    lease.hosting("acme", 100.0)
    assert lease.judge("acme", 100.0 + POLICY_LEASE).verdict is Verdict.ALLOWED
    assert lease.allows("acme", "eu-1") is None  # no read yet: a relay peer is judged by the handshake alone
    lease.forget("acme")
    assert lease.judge("acme", 100.0).verdict is Verdict.UNCONFIRMED


def test_the_bound_covers_the_lease_and_the_check() -> None:
    assert POLICY_BOUND >= POLICY_LEASE + 1.0


def test_the_signed_payload_leaves_out_the_signature_and_names_the_tenant() -> None:
    data = {"room": "r", "policy_version": 2, "signature": "x", "key_id": "k"}
    assert withdrawal_payload("acme", data) == withdrawal_payload("acme", {"room": "r", "policy_version": 2})
    assert withdrawal_payload("acme", data) != withdrawal_payload("globex", data)
