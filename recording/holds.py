"""Retention and legal hold: who may delete what, and when. Pure.

A legal hold names a scope — a meeting, a link, a participant, or the whole tenant — and blocks EVERY deletion of a
recording it covers (retention expiry, an admin's delete, a GDPR erasure) until it is released. Retention is per
tenant, in days from the recording's end; 0 means keep until deleted by an admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

DAY = 86400.0


class HoldScope(StrEnum):
    MEETING = "meeting"
    LINK = "link"
    PARTICIPANT = "participant"
    TENANT = "tenant"

    @classmethod
    def parse(cls, value: object) -> HoldScope:
        for s in cls:
            if s.value == value:
                return s
        raise ValueError(f"hold scope must be one of meeting, link, participant, tenant; got {value!r}")


@dataclass(frozen=True)
class LegalHold:
    id: str
    tenant: str
    scope: HoldScope
    target: str  # meeting id, link id, participant id; the tenant id for a tenant-wide hold
    reason: str
    placed_by: str
    placed_at: float
    released_at: float | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None


@dataclass(frozen=True)
class RecordingFacts:
    """What the rules need to know about one recording."""

    id: str
    tenant: str
    meeting: str
    link: str | None
    participants: frozenset[str] = field(default_factory=frozenset)
    ended_at: float | None = None


def covers(hold: LegalHold, rec: RecordingFacts) -> bool:
    if not hold.active or hold.tenant != rec.tenant:
        return False
    if hold.scope is HoldScope.TENANT:
        return True
    if hold.scope is HoldScope.MEETING:
        return hold.target == rec.meeting
    if hold.scope is HoldScope.LINK:
        return rec.link is not None and hold.target == rec.link
    return hold.target in rec.participants


def blocking(rec: RecordingFacts, holds: Iterable[LegalHold]) -> list[LegalHold]:
    """The active holds that forbid deleting `rec` (empty: deletion is allowed as far as holds go)."""
    return sorted((h for h in holds if covers(h, rec)), key=lambda h: h.id)


def expired(rec: RecordingFacts, retention_days: int, now: float) -> bool:
    """Retention has run out (a recording still in progress never expires; 0 days = no automatic deletion)."""
    if retention_days <= 0 or rec.ended_at is None:
        return False
    return now >= rec.ended_at + retention_days * DAY


def due_for_deletion(recs: Iterable[RecordingFacts], holds: Iterable[LegalHold], retention_days: int,
                     now: float) -> tuple[list[RecordingFacts], list[tuple[RecordingFacts, list[LegalHold]]]]:
    """(expired and deletable, expired but held with the holds that keep them)."""
    hold_list = list(holds)
    delete: list[RecordingFacts] = []
    kept: list[tuple[RecordingFacts, list[LegalHold]]] = []
    for r in recs:
        if not expired(r, retention_days, now):
            continue
        b = blocking(r, hold_list)
        if b:
            kept.append((r, b))
        else:
            delete.append(r)
    return delete, kept
