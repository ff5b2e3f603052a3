"""Control-plane metrics (names from docs/contracts.md), registered once in the default registry."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    existing = REGISTRY._names_to_collectors.get(name)  # shared with residency?
    if existing is not None:
        return existing  # type: ignore[return-value]
    return Counter(name, doc, labels)


PLACEMENTS = _counter("castellan_placements_total", "Rooms placed, by region", ("region",))
PLACEMENT_REFUSALS = _counter("castellan_placement_refusals_total", "Joins refused by placement", ("reason",))
TOKEN_FAILURES = _counter("castellan_token_failures_total", "Join requests refused (no token issued)", ("reason",))
PASSWORD_FAILURES = _counter("castellan_password_failures_total", "Wrong meeting passwords")
JOINS = _counter("castellan_joins_total", "Join tokens issued")
LOCKOUTS = _counter("castellan_password_lockouts_total", "Password back-offs started, by scope", ("scope", "locked"))
