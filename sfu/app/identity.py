"""`GET /identity?nonce=...`: the node proves it holds the key enrolled for its region, at the address its
registry record names. The control plane's health check (residency/probe.py) sends a fresh nonce and places
rooms only on nodes whose answer verifies (residency/trust.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from residency.errors import InvalidInput
from residency.identity import NodeSigner, challenge_answer


def identity_route(signer: NodeSigner, node_id: str) -> Route:
    async def identity(request: Request) -> Response:
        try:
            body = challenge_answer(signer, node_id, request.query_params.get("nonce"))
        except InvalidInput as e:
            return JSONResponse({"error": e.code, "message": e.message}, status_code=400)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return Route("/identity", identity, methods=["GET"])
