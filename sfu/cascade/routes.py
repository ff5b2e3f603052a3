"""The node-to-node relay route on the node's signalling port: `POST /relay/offer` carries another node's signed
offer to this node's `Relays.accept` and answers its signed accept; `POST /relay/{node}/messages` carries that node's sealed
messages (meetings opened and closed on the link, track announcements, needs), opened with the link's keys — an
`open` is admitted here once this node knows whether it is the meeting's home; `POST /relay/{node}/handshakes` the meeting's MLS
handshakes and roster on the link's second lane (sfu/cascade/handshakes.py). No bearer token: the handshake itself is the
authentication (enrolled key, signed registry record, the tenant's allowed regions, freshness, nonce), so an
unauthenticated caller can at most be refused. Bad input is a counted refusal with a clear code, never a crash.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from residency.errors import RelayRefused
from sfu.cascade.link import OpenAsked
from sfu.cascade.relays import Relays

if TYPE_CHECKING:
    from sfu.cascade.handshakes import CascadeHandshakes

OFFER_PATH = "/relay/offer"
MAX_BODY = 16 * 1024  # an offer is < 2 KiB; anything bigger is not one
MAX_MESSAGES = 64  # sealed messages per request (a layer switch sends two; a meeting's start a few per track)
MAX_MESSAGES_BODY = MAX_MESSAGES * 4096  # an announcement is < 1 KiB sealed


# a genuine message whose sequence number was seen: applied already (a post its sender retried after a timeout,
# sfu/cascade/stall.py) or replayed by someone else — skipped either way, counted, the rest of the post taken
REPLAYED = "relay_message_replayed"

MAX_HANDSHAKES = 32  # sealed handshake-lane messages per request
MAX_HANDSHAKE = 1024 * 1024  # one sealed handshake-lane message: a 240 Ki commit + 240 Ki Welcome, as JSON, sealed
MAX_HANDSHAKES_BODY = 2 * MAX_HANDSHAKE + 64 * 1024  # a request: one such message, or many small ones


def messages_path(node: str) -> str:
    return f"/relay/{node}/messages"


def handshakes_path(node: str) -> str:
    return f"/relay/{node}/handshakes"


async def _body(request: Request, limit: int) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


def relay_routes(relays: Relays, handshakes: CascadeHandshakes | None = None) -> list[BaseRoute]:
    async def offer(request: Request) -> JSONResponse:
        body = await _body(request, MAX_BODY)
        if body is None:
            relays.refused["relay_too_large"] += 1
            return JSONResponse({"error": "relay_too_large"}, status_code=413)
        try:
            doc = json.loads(body)
        except ValueError:
            relays.refused["relay_malformed"] += 1
            return JSONResponse({"error": "relay_malformed"}, status_code=400)
        if handshakes is not None and isinstance(doc, dict):
            tenant, room = doc.get("tenant"), doc.get("room")
            if isinstance(tenant, str) and isinstance(room, str) and 0 < len(tenant) <= 128 and 0 < len(room) <= 128:
                await handshakes.known_home((tenant, room))  # is this node the meeting's home? (one registry read)
        try:
            return JSONResponse(relays.accept(doc))
        except RelayRefused as e:  # counted by Relays.accept
            return JSONResponse({"error": e.code}, status_code=403)

    async def sealed_list(request: Request, max_body: int, max_items: int) -> list[Any] | JSONResponse:
        """The body's `messages` (sealed, in order), or the refusal (counted) when too large or malformed."""
        body = await _body(request, max_body)
        if body is None:
            relays.refused["relay_too_large"] += 1
            return JSONResponse({"error": "relay_too_large"}, status_code=413)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        sealed = doc.get("messages") if isinstance(doc, dict) else None
        if not isinstance(sealed, list) or len(sealed) > max_items:
            relays.refused["relay_message_malformed"] += 1
            return JSONResponse({"error": "relay_message_malformed"}, status_code=400)
        return sealed

    async def messages(request: Request) -> JSONResponse:
        sealed = await sealed_list(request, MAX_MESSAGES_BODY, MAX_MESSAGES)
        if isinstance(sealed, JSONResponse):
            return sealed
        applied = 0
        sender = request.path_params["node"]
        for one in sealed:  # in order: the channel's sequence numbers must rise
            try:
                event = relays.deliver(sender, one)
            except RelayRefused as e:  # counted by Relays.deliver; what came before it stays applied
                if e.code == REPLAYED:  # sealed by that node, seen already (a post retried: stall.py): skipped
                    continue
                return JSONResponse({"error": e.code, "applied": applied}, status_code=403)
            if isinstance(event, OpenAsked) and not event.answer:  # a meeting added to the link: checked here
                if handshakes is not None:
                    await handshakes.known_home(event.key)  # is this node the meeting's home? (one registry read)
                relays.admit(sender, event.key)
            applied += 1
        return JSONResponse({"applied": applied})

    async def handshake_lane(request: Request) -> JSONResponse:
        assert handshakes is not None
        sealed = await sealed_list(request, MAX_HANDSHAKES_BODY, MAX_HANDSHAKES)
        if isinstance(sealed, JSONResponse):
            return sealed
        applied, refused = await handshakes.receive(request.path_params["node"], sealed)
        if refused is not None:  # counted; what came before it stays applied
            return JSONResponse({"error": refused, "applied": applied}, status_code=403)
        return JSONResponse({"applied": applied})

    routes: list[BaseRoute] = [Route(OFFER_PATH, offer, methods=["POST"]),
                               Route("/relay/{node}/messages", messages, methods=["POST"])]
    if handshakes is not None:
        routes.append(Route("/relay/{node}/handshakes", handshake_lane, methods=["POST"]))
    return routes
