"""Control-plane metrics (names from docs/contracts.md), registered once in the default registry."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .ratelimit import Limiter


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    existing = REGISTRY._names_to_collectors.get(name)  # shared with residency?
    if existing is not None:
        return existing  # type: ignore[return-value]
    return Counter(name, doc, labels)


PLACEMENTS = _counter("castellan_placements_total", "Rooms placed, by region", ("region",))
PLACEMENT_REFUSALS = _counter("castellan_placement_refusals_total", "Joins refused by placement", ("reason",))
TOKEN_FAILURES = _counter("castellan_token_failures_total", "Join requests refused (no token issued)", ("reason",))
PASSWORD_FAILURES = _counter("castellan_password_failures_total", "Wrong meeting passwords")
REGION_HINTS = _counter("castellan_join_region_hints_total",
                        "Join requests by where their region hint came from: ingress (a trusted proxy's region "
                        "header), client (the body's region_hint), none", ("source",))
REGION_HEADERS_IGNORED = _counter("castellan_region_headers_ignored_total",
                                  "Region headers not believed: untrusted (not from a trusted proxy), malformed",
                                  ("reason",))
JOINS = _counter("castellan_joins_total", "Join tokens issued")
LOCKOUTS = _counter("castellan_password_lockouts_total", "Password back-offs started (for a link: slowdowns), by scope",
                    ("scope", "locked"))
STORE_UNAVAILABLE = _counter("castellan_store_unavailable_total",
                             "Requests refused with a retryable 503 because the database was unreachable")
def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    existing = REGISTRY._names_to_collectors.get(name)
    if existing is not None:
        return existing  # type: ignore[return-value]
    return Gauge(name, doc, labels)


NODES_PLACEABLE = _gauge("castellan_nodes_placeable",
                         "Nodes the control plane may place rooms on (enrolled key, valid signature, answered the "
                         "health check), by region, as of the last maintenance round", ("region",))
REGISTRY_REJECTED = _counter(
    "castellan_registry_records_rejected_total",
    "Node records in the registry ignored for placement (unsigned, unknown key, bad signature, region not the "
    "key's, stale, replayed, malformed, failed challenge) and entries of a meeting's nodes naming no live trusted node "
    "or a refused region's, each distinct record once, by reason", ("reason",))
SLOWED_CHECKS = _counter("castellan_link_slowed_checks_total",
                         "Password checks delayed because their link is under guessing (unknown guessers only)",
                         ("tenant",))
CSP_NODE_URLS_REFUSED = _counter("castellan_csp_node_urls_refused_total",
                                 "Node WebSocket URLs left out of the client pages' connect-src (not a plain ws(s) "
                                 "origin), counted each time the policy is rebuilt")


class _LinkGuessing(Collector):
    """`castellan_link_guessing{tenant}`: links slowed now because of wrong passwords from everyone together —
    the alert that a link is being guessed (it is never locked). Read from the control planes' limiters at
    scrape time (the Redis one lists only its link keys)."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[GuessingSource] = weakref.WeakSet()

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily("castellan_link_guessing", _GUESSING_DOC, labels=["tenant"])]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("castellan_link_guessing", _GUESSING_DOC, labels=["tenant"])
        slowed: set[tuple[str, str]] = set()  # (tenant, link): replicas sharing one Redis see the same links
        for source in list(self.sources):
            try:
                slowed |= {(lo.tenant, lo.key) for lo in source.limiter.lockouts(scope="link") if lo.retry_after > 0}
            except Exception:  # Redis away: readyz says so; the scrape still answers
                logging.getLogger(__name__).warning("castellan_link_guessing: limiter unreadable", exc_info=True)
        counts: dict[str, int] = {}
        for tenant, _ in slowed:
            counts[tenant] = counts.get(tenant, 0) + 1
        for tenant, n in sorted(counts.items()):
            family.add_metric([tenant], n)
        yield family


_GUESSING_DOC = "Meeting links whose unknown guessers are slowed now (wrong passwords from all guessers together)"


class GuessingSource(Protocol):
    @property
    def limiter(self) -> Limiter: ...


def _guessing() -> _LinkGuessing:
    existing = REGISTRY._names_to_collectors.get("castellan_link_guessing")
    if isinstance(existing, _LinkGuessing):
        return existing
    collector = _LinkGuessing()
    REGISTRY.register(collector)
    return collector


LINK_GUESSING = _guessing()
