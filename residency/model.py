"""The residency vocabulary as plain, immutable values (no I/O here).

Jurisdiction · Region · Node · Tenant (with its OptIns) · Placement. Every type round-trips through a plain
JSON-able dict (`to_dict` / `from_dict`) because the registry (Redis) and the audit log store them as JSON.
Times are POSIX seconds (float) in the model; the audit log renders its own timestamps as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from .errors import InvalidInput

# Identifiers of tenants, regions and nodes end up in Redis keys, URLs and log lines: keep them boring.
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def check_id(kind: str, value: object) -> str:
    """Return `value` if it is a valid identifier (lower-case, digits, `.`, `_`, `-`, max 63), else raise."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            f"invalid_{kind}_id",
            f"{kind} id {value!r} is invalid: use 1-63 characters a-z, 0-9, '.', '_' or '-', starting with a "
            "letter or digit",
        )
    return value


def check_reason(reason: object, what: str) -> str:
    """Reasons are the audit trail's "why": required and non-blank wherever the rules ask for one."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason_required", f"{what} needs a non-empty reason (it is recorded in the audit log)")
    return reason.strip()


# The JSON forms (`to_dict`). `from_dict` reads JSON back from Redis/SQLite, unvalidated: it takes a
# Mapping[str, Any] and converts field by field.
class NodeDict(TypedDict):
    id: str
    region: str
    public_ip: str
    udp_port: int
    ws_url: str
    http_url: str
    capacity: int
    load: float
    healthy: bool
    draining: bool
    last_heartbeat: float
    key_id: str
    seq: int
    signed_at: float
    signature: str


class OptInDict(TypedDict):
    region: str
    reason: str
    actor: str
    at: float


class TenantDict(TypedDict):
    id: str
    name: str
    jurisdiction: str
    allowed_regions: list[str] | None
    opt_ins: list[OptInDict]
    version: int


class TenantViewDict(TypedDict):
    tenant: str
    jurisdiction: str
    allowed_regions: list[str]
    version: int


class PlacementDict(TypedDict):
    tenant: str
    room: str
    region: str
    node: str
    decided_at: float
    reason: str
    generation: int


@dataclass(frozen=True)
class Adequacy:
    """`code` is recognised as adequate by the jurisdiction that lists it, within `scope`, per `source`."""

    code: str
    scope: str
    source: str


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    law: str
    regime: str
    source: str
    adequate: tuple[Adequacy, ...] = ()

    def recognises(self, other: str) -> Adequacy | None:
        """The adequacy entry by which this jurisdiction recognises `other`, if any (directional)."""
        return next((a for a in self.adequate if a.code == other), None)


@dataclass(frozen=True)
class Region:
    """An operator-defined place where nodes run, e.g. Region("eu-1", "EU", "Frankfurt, DE", "EU Central")."""

    id: str
    jurisdiction: str
    location: str
    display_name: str

    def to_dict(self) -> dict[str, str]:  # all text: audit-safe as it is
        return {"id": self.id, "jurisdiction": self.jurisdiction, "location": self.location,
                "display_name": self.display_name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Region:
        return cls(id=d["id"], jurisdiction=d["jurisdiction"], location=d["location"],
                   display_name=d["display_name"])


@dataclass(frozen=True)
class Node:
    """A media node as last reported. `load` is 0..1 (1 = full: never placed on); `capacity` is advisory."""

    id: str
    region: str
    public_ip: str
    udp_port: int
    ws_url: str
    http_url: str
    capacity: int = 100
    load: float = 0.0
    healthy: bool = True
    draining: bool = False
    last_heartbeat: float = 0.0
    # the node's proof (residency/identity.py): which enrolled key signed this record, its sequence number and
    # time, and the signature; a record without a valid one is ignored by the control plane
    key_id: str = ""
    seq: int = 0
    signed_at: float = 0.0
    signature: str = ""

    def usable(self) -> bool:
        """May new rooms go here? Healthy, not draining, not full."""
        return self.healthy and not self.draining and self.load < 1.0

    def signed_with(self, *, key_id: str, seq: int, signed_at: float, signature: str) -> Node:
        return replace(self, key_id=key_id, seq=seq, signed_at=signed_at, signature=signature)

    def to_dict(self) -> NodeDict:
        return {"id": self.id, "region": self.region, "public_ip": self.public_ip, "udp_port": self.udp_port,
                "ws_url": self.ws_url, "http_url": self.http_url, "capacity": self.capacity, "load": self.load,
                "healthy": self.healthy, "draining": self.draining, "last_heartbeat": self.last_heartbeat,
                "key_id": self.key_id, "seq": self.seq, "signed_at": self.signed_at, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Node:
        return cls(id=d["id"], region=d["region"], public_ip=d["public_ip"], udp_port=int(d["udp_port"]),
                   ws_url=d["ws_url"], http_url=d["http_url"], capacity=int(d.get("capacity", 100)),
                   load=float(d.get("load", 0.0)), healthy=bool(d.get("healthy", True)),
                   draining=bool(d.get("draining", False)), last_heartbeat=float(d.get("last_heartbeat", 0.0)),
                   key_id=str(d.get("key_id", "")), seq=int(d.get("seq", 0)),
                   signed_at=float(d.get("signed_at", 0.0)), signature=str(d.get("signature", "")))


@dataclass(frozen=True)
class OptIn:
    """An admin's explicit, reasoned choice to allow a region of an *adequate* (foreign) jurisdiction."""

    region: str
    reason: str
    actor: str
    at: float

    def to_dict(self) -> OptInDict:
        return {"region": self.region, "reason": self.reason, "actor": self.actor, "at": self.at}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OptIn:
        return cls(region=d["region"], reason=d["reason"], actor=d["actor"], at=float(d["at"]))


@dataclass(frozen=True)
class Tenant:
    """A customer organisation and its residency policy.

    `allowed_regions is None` means the default rule: every region of the tenant's own jurisdiction (including
    regions the operator defines later). An explicit set is the admin's choice; foreign regions in it must be
    covered by an `OptIn`. Validation lives in `policy.py`; this type only holds the data.
    """

    id: str
    name: str
    jurisdiction: str
    allowed_regions: frozenset[str] | None = None
    opt_ins: tuple[OptIn, ...] = ()
    version: int = 1  # bumped on every policy change; nodes can log which version they enforced

    def opt_in_for(self, region_id: str) -> OptIn | None:
        return next((o for o in self.opt_ins if o.region == region_id), None)

    def with_policy(self, allowed: frozenset[str] | None, opt_ins: tuple[OptIn, ...]) -> Tenant:
        return replace(self, allowed_regions=allowed, opt_ins=opt_ins, version=self.version + 1)

    def to_dict(self) -> TenantDict:
        return {"id": self.id, "name": self.name, "jurisdiction": self.jurisdiction,
                "allowed_regions": None if self.allowed_regions is None else sorted(self.allowed_regions),
                "opt_ins": [o.to_dict() for o in self.opt_ins], "version": self.version}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tenant:
        allowed = d.get("allowed_regions")
        return cls(id=d["id"], name=d["name"], jurisdiction=d["jurisdiction"],
                   allowed_regions=None if allowed is None else frozenset(allowed),
                   opt_ins=tuple(OptIn.from_dict(o) for o in d.get("opt_ins", ())),
                   version=int(d.get("version", 1)))


@dataclass(frozen=True)
class TenantView:
    """What nodes read from the registry: the tenant's *resolved* allowed regions (no catalogue needed)."""

    tenant: str
    jurisdiction: str
    allowed_regions: frozenset[str]
    version: int

    def to_dict(self) -> TenantViewDict:
        return {"tenant": self.tenant, "jurisdiction": self.jurisdiction,
                "allowed_regions": sorted(self.allowed_regions), "version": self.version}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TenantView:
        return cls(tenant=d["tenant"], jurisdiction=d["jurisdiction"],
                   allowed_regions=frozenset(d["allowed_regions"]), version=int(d["version"]))


@dataclass(frozen=True)
class Placement:
    """Where a room's media is processed, decided once and sticky for the room's life (until re-placement).

    `reason` is the human explanation shown to participants and recorded in the audit log.
    """

    tenant: str
    room: str
    region: str
    node: str
    decided_at: float
    reason: str
    generation: int = field(default=1)  # 1 for the first placement, +1 per re-placement after a node death

    def to_dict(self) -> PlacementDict:
        return {"tenant": self.tenant, "room": self.room, "region": self.region, "node": self.node,
                "decided_at": self.decided_at, "reason": self.reason, "generation": self.generation}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Placement:
        return cls(tenant=d["tenant"], room=d["room"], region=d["region"], node=d["node"],
                   decided_at=float(d["decided_at"]), reason=d["reason"], generation=int(d.get("generation", 1)))
