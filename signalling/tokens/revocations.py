"""Revoked meeting links as a node sees them: in process (`castellan dev`) or fetched from the control plane."""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.request
from typing import Protocol

log = logging.getLogger("castellan.revocations")

DEFAULT_MAX_AGE = 30.0  # seconds without a successful refresh after which a node refuses joins (fail closed)
MAX_DOCUMENT = 4 * 1024 * 1024


class LinkRevocations(Protocol):
    """Answers whether a meeting link was revoked (the token's `link` claim), and whether the answer is current
    enough to act on."""

    def is_revoked(self, link: str) -> bool: ...

    def stale(self) -> bool: ...


class RevocationSet:
    """In-process revocations: `castellan dev` passes the control plane's own (`ControlPlane.revocations`)."""

    def __init__(self, links: set[str] | None = None) -> None:
        self._links: set[str] = set(links or ())

    def add(self, link: str) -> None:
        self._links.add(link)

    def is_revoked(self, link: str) -> bool:
        return link in self._links

    def stale(self) -> bool:
        return False  # the control plane's own set, in the same process: always current


def tls_context(ca_bundle: str | None) -> ssl.SSLContext | None:
    """The TLS context for the node's fetches from the control plane: the system's CAs, or the operator's bundle
    (CASTELLAN_CA_BUNDLE: a private CA). Certificates and host names are always verified."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None


def check_url(url: str, what: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{what} must be an http:// or https:// URL, not {url!r}")
    return url


class Clock(Protocol):
    def __call__(self) -> float: ...


class HttpRevocations:
    """Revoked links as published by the control plane at `GET /v1/revocations`, refreshed every `ttl` seconds.

    A node in its own process refreshes it in the background (sfu/factory.py) and its admission (sfu/admission.py)
    asks `is_revoked`. Fail closed: until the first refresh succeeds, and whenever the last success is older than
    `max_age`, `stale()` is true and the node refuses joins with `revocations_stale` — a node that cannot learn
    about revocations must not keep admitting holders of a revoked link. Over https the control plane's
    certificate is verified (with `context`, e.g. a private CA bundle).
    """

    def __init__(self, control_plane_url: str, ttl: float = 2.0, timeout: float = 2.0,
                 max_age: float = DEFAULT_MAX_AGE, context: ssl.SSLContext | None = None,
                 clock: Clock | None = None) -> None:
        self.url = check_url(control_plane_url, "the control plane URL").rstrip("/") + "/v1/revocations"
        self.ttl = ttl
        self.timeout = timeout
        self.max_age = max_age
        self.context = context
        self._clock: Clock = clock or time.monotonic
        self._links: set[str] = set()
        self._fetched: float | None = None  # monotonic time of the last successful refresh
        self._tried: float | None = None
        self.failures = 0  # refreshes that failed (metric castellan_node_revocation_refresh_failures)

    def refresh(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        if self._tried is not None and now - self._tried < self.ttl:
            return
        self._tried = now
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout, context=self.context) as r:  # noqa: S310
                data = json.loads(r.read(MAX_DOCUMENT))
            links = data.get("links") if isinstance(data, dict) else None
            if not isinstance(links, list):
                raise ValueError("the revocation list has no 'links' array")
            self._links = {str(x) for x in links}
            self._fetched = now
        except (OSError, ValueError) as e:
            self.failures += 1
            if self.stale(now):
                log.warning("revocation list not refreshed for %.0f s (%s): refusing joins", self.age(now), e)

    async def refresh_async(self) -> None:
        import asyncio

        await asyncio.to_thread(self.refresh)

    def age(self, now: float | None = None) -> float:
        """Seconds since the last successful refresh (infinite before the first)."""
        if self._fetched is None:
            return float("inf")
        return (self._clock() if now is None else now) - self._fetched

    def stale(self, now: float | None = None) -> bool:
        return self.age(now) > self.max_age

    def is_revoked(self, link: str) -> bool:
        return link in self._links
