"""Revoked meeting links as a node sees them: in process (`castellan dev`) or fetched from the control plane."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Protocol


class LinkRevocations(Protocol):
    """Answers whether a meeting link was revoked (the token's `link` claim)."""

    def is_revoked(self, link: str) -> bool: ...


class RevocationSet:
    """In-process revocations: `castellan dev` passes the control plane's own (`ControlPlane.revocations`)."""

    def __init__(self, links: set[str] | None = None) -> None:
        self._links: set[str] = set(links or ())

    def add(self, link: str) -> None:
        self._links.add(link)

    def is_revoked(self, link: str) -> bool:
        return link in self._links


class HttpRevocations:
    """Revoked links as published by the control plane at `GET /v1/revocations`, cached for `ttl` seconds.

    A node in its own process refreshes it in the background (sfu/factory.py; it fetches at most once per
    `ttl`) and its admission (sfu/admission.py) asks `is_revoked`. If the control plane cannot be reached the last list is
    kept: a join token lives 60 s and the control plane mints none for a revoked link, so staleness is bounded.
    """

    def __init__(self, control_plane_url: str, ttl: float = 2.0, timeout: float = 2.0) -> None:
        self.url = control_plane_url.rstrip("/") + "/v1/revocations"
        self.ttl = ttl
        self.timeout = timeout
        self._links: set[str] = set()
        self._fetched = 0.0

    def refresh(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._fetched < self.ttl:
            return
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as r:  # noqa: S310 - operator URL
                data = json.loads(r.read())
            self._links = {str(x) for x in data.get("links", [])}
            self._fetched = now
        except (OSError, ValueError):
            pass

    async def refresh_async(self) -> None:
        import asyncio

        await asyncio.to_thread(self.refresh)

    def is_revoked(self, link: str) -> bool:
        return link in self._links
