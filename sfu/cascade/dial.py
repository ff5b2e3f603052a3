"""Opening a relay to another node: this node's signed offer POSTed to the other node's `/relay/offer` at the
`http_url` of its *believed* registry record (signed by its enrolled key; never an address from a message), and
the answer checked by `Relays.finish`; `send` posts the link's sealed messages to the same node. A refusal, an unreachable node or a garbled answer is a counted
`RelayRefused`, and no link opens. `post_goodbye` posts the sealed `close` of a link closed here (no link to
check it against any more)."""

from __future__ import annotations

import httpx

from residency.errors import RelayRefused
from sfu.cascade.link import RelayLink
from sfu.cascade.relays import Relays
from sfu.cascade.routes import MAX_BODY, MAX_MESSAGES, OFFER_PATH, handshakes_path, messages_path

TIMEOUT = 5.0
GOODBYE_TIMEOUT = 1.0  # a `close` is a courtesy: a node that does not answer soon learns it when its next post fails


class PeerSlow(RelayRefused):
    """The other node took the connection but did not answer the post — a timeout, or a kept-alive connection
    its late event loop closed as idle just as the post went (it may only be slow: sfu/cascade/stall.py). Whether
    the messages were applied there is unknown, so they are retried as they are (a replay there is skipped)."""

    def __init__(self, message: str) -> None:
        super().__init__("relay_peer_slow", message)


class PeerRefused(RelayRefused):
    """The other node answered a post with a refusal: `peer_code` is its code (e.g. `relay_no_link`)."""

    def __init__(self, message: str, peer_code: str | None) -> None:
        super().__init__("relay_peer_refused", message)
        self.peer_code = peer_code


async def dial(relays: Relays, tenant: str, room: str, to: str, client: httpx.AsyncClient) -> RelayLink:
    record = relays.believed().nodes.get(to)
    if record is None:
        relays.refused["relay_peer_unknown"] += 1
        raise RelayRefused("relay_peer_unknown", f"no believed registry record for node {to!r}")
    offer = relays.offer(tenant, room, to)
    try:
        r = await client.post(record.http_url.rstrip("/") + OFFER_PATH, json=offer, timeout=TIMEOUT)
        if len(r.content) > MAX_BODY:
            raise ValueError("answer too large")
        answer = r.json()
    except (httpx.HTTPError, ValueError) as e:
        relays.cancel(to)
        relays.refused["relay_peer_unreachable"] += 1
        raise RelayRefused("relay_peer_unreachable", f"node {to!r}: {e}") from None
    if r.status_code != 200:
        code = answer.get("error") if isinstance(answer, dict) else None
        relays.cancel(to)
        relays.refused["relay_peer_refused"] += 1
        raise RelayRefused("relay_peer_refused", f"node {to!r} refused the relay: {code!r}")
    return relays.finish(to, answer)


async def send(relays: Relays, to: str, sealed: list[str], client: httpx.AsyncClient, *,
               handshakes: bool = False) -> int:
    """Post sealed messages (from `RelayLink.apply`; with `handshakes`, the lane of sfu/cascade/handshakes.py,
    already cut into batches the route takes) to node `to`, in order; the number it applied."""
    record = relays.believed().nodes.get(to)
    if record is None or to not in relays.links:
        raise RelayRefused("relay_no_link", f"no relay link with node {to!r}")
    node = relays.endpoint.node
    path = handshakes_path(node) if handshakes else messages_path(node)
    step = len(sealed) if handshakes else MAX_MESSAGES
    applied = 0
    for i in range(0, len(sealed), max(1, step)):
        try:
            r = await client.post(record.http_url.rstrip("/") + path,
                                  json={"messages": sealed[i:i + step]}, timeout=TIMEOUT)
            answer = r.json()
        except httpx.ConnectError as e:  # nothing listens there (its process is gone): no waiting
            raise RelayRefused("relay_peer_unreachable", f"node {to!r}: {e}") from None
        except httpx.TransportError as e:  # a timeout; a kept-alive connection its late loop closed under the post
            raise PeerSlow(f"node {to!r} did not answer the post: {type(e).__name__} {e}") from None
        except (httpx.HTTPError, ValueError) as e:
            raise RelayRefused("relay_peer_unreachable", f"node {to!r}: {e}") from None
        if r.status_code != 200 or not isinstance(answer, dict):
            code = answer.get("error") if isinstance(answer, dict) else None
            raise PeerRefused(f"node {to!r} refused relay messages: {code!r}", code if isinstance(code, str) else None)
        applied += int(answer.get("applied", 0))
    return applied


async def post_goodbye(relays: Relays, to: str, sealed: str, client: httpx.AsyncClient) -> None:
    """Post the sealed `close` of a link this node closed to node `to` (its believed record's `http_url`)."""
    record = relays.believed().nodes.get(to)
    if record is None:
        raise RelayRefused("relay_peer_unknown", f"no believed registry record for node {to!r}")
    try:
        r = await client.post(record.http_url.rstrip("/") + messages_path(relays.endpoint.node),
                              json={"messages": [sealed]}, timeout=GOODBYE_TIMEOUT)
    except httpx.HTTPError as e:
        raise RelayRefused("relay_peer_unreachable", f"node {to!r}: {e}") from None
    if r.status_code != 200:
        raise RelayRefused("relay_peer_refused", f"node {to!r} refused the close: {r.status_code}")
