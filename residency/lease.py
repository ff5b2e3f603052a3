"""How long a node may go on carrying a tenant's meetings after the tenant's policy stops allowing its region:
the node's lease on each hosted tenant's policy (pure; the node's duty that reads the registry and acts is
sfu/withdrawal.py).

Every node re-reads the tenant view of each tenant it hosts once per heartbeat (registry.HEARTBEAT_INTERVAL,
2 s): one registry read per tenant, never per packet or participant. A read that is trustworthy and allows the
node's region renews the tenant's lease; one that no longer allows it ends the lease at once (`NARROWED`: the node
withdraws the tenant's meetings). A read that fails, finds no view, or tries to take the node back to an older
policy (a lower version, or the same version with other regions: a replayed or rewritten record) renews nothing
and changes nothing — the node does not guess. A lease not renewed for POLICY_LEASE seconds has expired
(`UNCONFIRMED`): the node holds the tenant's media (forwards and relays nothing of it) until a read confirms the
policy again; it never ends a meeting on a read it cannot trust.

So a narrowing takes effect within POLICY_BOUND seconds of the registry holding it, whatever the registry does
after: seen at the next read (<= one heartbeat, typically 2-3 s), or — reads failing or lying — when the lease
runs out. The same idea as the revocation list's freshness bound (signalling/tokens/revocations.py), applied
to running meetings rather than to joins. `castellan residency verify` judges a node against this bound.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

from .model import TenantView

POLICY_LEASE = 12.0  # seconds a confirmed policy stays good without a fresh trustworthy read (six heartbeats)
POLICY_CHECK = 1.0  # the node's event loop re-judges every lease this often (sfu/withdrawal.py)
# the published bound: the lease, one check period, and two seconds for the withdrawal to reach the engine and
# the participants (sfu/withdrawal.py does it in one pass of the event loop)
POLICY_BOUND = POLICY_LEASE + POLICY_CHECK + 2.0


class Verdict(enum.Enum):
    ALLOWED = "allowed"  # the lease is current and the policy allows this node's region
    NARROWED = "narrowed"  # a trustworthy read says the policy no longer allows it: withdraw the meetings
    UNCONFIRMED = "unconfirmed"  # no trustworthy read for POLICY_LEASE seconds: hold the media, do not guess


@dataclass
class Lease:
    version: int  # the highest policy version read (0: none yet; the admission read it)
    allowed: frozenset[str] | None  # that version's regions (None: none read yet)
    confirmed: float  # when a read (or the admission) last confirmed this region (monotonic seconds)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    version: int
    age: float  # seconds since the policy last confirmed this region


class PolicyLeases:
    """The leases of one node (region `region`) on the policies of the tenants it hosts."""

    def __init__(self, region: str, lease: float = POLICY_LEASE) -> None:
        self.region = region
        self.lease = lease
        self._leases: dict[str, Lease] = {}
        self.untrusted: dict[str, int] = {}  # reads that renewed nothing, by reason (metrics, tests)

    def tenants(self) -> set[str]:
        return set(self._leases)

    def hosting(self, tenant: str, now: float) -> None:
        """The node hosts `tenant` (again): its admission or relay handshake read the policy just now."""
        self._leases.setdefault(tenant, Lease(version=0, allowed=None, confirmed=now))

    def forget(self, tenant: str) -> None:
        """The node hosts nothing of `tenant` any more."""
        self._leases.pop(tenant, None)

    def _untrusted(self, reason: str) -> None:
        self.untrusted[reason] = self.untrusted.get(reason, 0) + 1

    def observe(self, tenant: str, view: TenantView | None, now: float) -> None:
        """One read of `tenant`'s view: `view` None when the registry failed, had none, or sent a malformed one."""
        lease = self._leases.get(tenant)
        if lease is None:
            return
        if view is None or view.tenant != tenant:
            self._untrusted("unreadable")
            return
        if view.version < lease.version:
            self._untrusted("rollback")  # an older policy replayed: the newer one the node read still stands
            return
        if view.version == lease.version and lease.allowed is not None and view.allowed_regions != lease.allowed:
            self._untrusted("rewritten")  # the same version with other regions: one of the two is a lie
            return
        lease.version, lease.allowed = view.version, view.allowed_regions
        if self.region in view.allowed_regions:
            lease.confirmed = now

    def judge(self, tenant: str, now: float) -> Judgement:
        lease = self._leases.get(tenant)
        if lease is None:
            return Judgement(Verdict.UNCONFIRMED, 0, float("inf"))
        age = now - lease.confirmed
        if lease.allowed is not None and self.region not in lease.allowed:
            return Judgement(Verdict.NARROWED, lease.version, age)
        if age > self.lease:
            return Judgement(Verdict.UNCONFIRMED, lease.version, age)
        return Judgement(Verdict.ALLOWED, lease.version, age)

    def allows(self, tenant: str, region: str) -> bool | None:
        """Whether the last trustworthy read allows `region` for `tenant` (None: no read yet) — for a relay
        link's other end, judged on the same read, with no registry call of its own."""
        lease = self._leases.get(tenant)
        if lease is None or lease.allowed is None:
            return None
        return region in lease.allowed


def withdrawal_payload(tenant: str, data: Mapping[str, object]) -> bytes:
    """The bytes a node signs for its `residency.withdrawn` record: the record's data (without the signature
    itself) and the tenant, canonically encoded."""
    body = {k: v for k, v in data.items() if k not in ("signature", "key_id")}
    return json.dumps({"kind": "residency.withdrawn", "tenant": tenant, **body}, sort_keys=True,
                      separators=(",", ":")).encode()
