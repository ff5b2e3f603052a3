"""A tenant's recording settings as stored (table recording_policies, migration v0005_recordings): its policy and
retention, and a link's policy under it. Read by the archive and by the control plane (the join page's notice)."""

from __future__ import annotations

from residency.db import Database

from .policy import RecordingPolicy, effective

DEFAULT_RETENTION_DAYS = 0  # keep until an admin deletes: retention is a tenant decision


def stored(db: Database, tenant: str, link: str) -> tuple[RecordingPolicy, int] | None:
    """The row for (tenant, link); link "" is the tenant's own."""
    rows = db.query("SELECT policy, retention_days FROM recording_policies WHERE tenant = :t AND link = :l",
                    {"t": tenant, "l": link})
    return (RecordingPolicy.parse(rows[0][0]), int(rows[0][1])) if rows else None


def policy_for(db: Database, tenant: str, link: str | None) -> RecordingPolicy:
    """The policy a meeting of `link` runs under (off when the tenant never set one)."""
    t = stored(db, tenant, "")
    lk = stored(db, tenant, link) if link else None
    return effective(t[0] if t else RecordingPolicy.OFF, lk[0] if lk else None)
