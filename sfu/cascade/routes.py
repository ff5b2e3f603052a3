"""The node-to-node relay route on the node's signalling port: `POST /relay/offer` carries another node's signed
offer to this node's `Relays.accept` and answers its signed accept. No bearer token: the handshake itself is the
authentication (enrolled key, signed registry record, the tenant's allowed regions, freshness, nonce), so an
unauthenticated caller can at most be refused. Bad input is a counted refusal with a clear code, never a crash.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from residency.errors import RelayRefused
from sfu.cascade.relays import Relays

OFFER_PATH = "/relay/offer"
MAX_BODY = 16 * 1024  # an offer is < 2 KiB; anything bigger is not one


def relay_routes(relays: Relays) -> list[BaseRoute]:
    async def offer(request: Request) -> JSONResponse:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                relays.refused["relay_too_large"] += 1
                return JSONResponse({"error": "relay_too_large"}, status_code=413)
        try:
            doc = json.loads(body)
        except ValueError:
            relays.refused["relay_malformed"] += 1
            return JSONResponse({"error": "relay_malformed"}, status_code=400)
        try:
            return JSONResponse(relays.accept(doc))
        except RelayRefused as e:  # counted by Relays.accept
            return JSONResponse({"error": e.code}, status_code=403)

    return [Route(OFFER_PATH, offer, methods=["POST"])]
