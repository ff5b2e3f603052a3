"""Ending a meeting on its node: `POST {node.http_url}/admin/rooms/{tenant}/{room}/end` (contracts.md).

`NodeAdmin` is the interface the control plane uses; `HttpNodeAdmin` signs a short admin JWT
(aud = node id, scope "room:end") with the control plane's key ring and posts it. Nodes verify it with
`TokenVerifier.verify_admin(token, "room:end")`.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Protocol

from signalling.tokens import TokenIssuer


class NodeAdminError(Exception):
    pass


class NodeAdmin(Protocol):
    async def end_room(self, node: str, tenant: str, room: str) -> None: ...


class HttpNodeAdmin:
    def __init__(self, issuer: TokenIssuer, resolve: Callable[[str], str | None], timeout: float = 5.0) -> None:
        self.issuer = issuer
        self.resolve = resolve  # node id -> the node's base HTTP URL (from the registry)
        self.timeout = timeout

    def _post(self, url: str, token: str) -> int:
        req = urllib.request.Request(url, method="POST", data=b"", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:  # noqa: S310 - registry URL
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError as e:
            raise NodeAdminError(f"node unreachable: {e}") from None

    async def end_room(self, node: str, tenant: str, room: str) -> None:
        base = self.resolve(node)
        if not base:
            raise NodeAdminError(f"node {node!r} has no known admin address")
        q = urllib.parse.quote
        url = f"{base.rstrip('/')}/admin/rooms/{q(tenant, safe='')}/{q(room, safe='')}/end"
        status = await asyncio.to_thread(self._post, url, self.issuer.mint_admin(node=node, scope="room:end"))
        if status == 404:
            return  # the room is already gone: the goal is met
        if not 200 <= status < 300:
            raise NodeAdminError(f"node {node!r} answered HTTP {status} to room end")
