"""HTTP handlers of verifiable residency (transparency.py): receipts in, heads, proofs and evidence out."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from residency.errors import ResidencyError
from residency.receipts import ReceiptRejected

from .errors import ApiError
from .handlers import body, cp, ok, principal
from .routing import Params
from .service import residency_error
from .transparency import Transparency

# refusals where the receipt is well-formed but no enrolled key of its region vouches for it
FORGED = ("receipt_key_unknown", "receipt_signature_invalid", "receipt_region_mismatch",
          "receipt_jurisdiction_mismatch")


def desk(request: Request) -> Transparency:
    found = getattr(cp(request).residency, "transparency", None)
    if not isinstance(found, Transparency):
        raise ApiError(404, "not_available", "this deployment keeps no transparency log")
    return found


def _tenant(request: Request, p: Params) -> str:
    tenant = p["tenant"]
    principal(request, tenant)
    if not cp(request).residency.tenant_exists(tenant):
        raise ApiError(404, "tenant_not_found", f"tenant {tenant!r} does not exist")
    return tenant


async def receive_receipt(request: Request, p: Params) -> Response:
    from .specs import RECEIPT

    doc = await body(request, RECEIPT)
    try:
        out = await asyncio.to_thread(desk(request).receive, doc)
    except ReceiptRejected as e:
        raise ApiError(403 if e.code in FORGED else 400, e.code, e.message) from None
    return ok(out, 201 if out["logged"] else 200)


async def head(request: Request, p: Params) -> Response:
    tenant = _tenant(request, p)
    return ok(await asyncio.to_thread(desk(request).head, tenant))


async def consistency(request: Request, p: Params) -> Response:
    tenant = _tenant(request, p)
    try:
        return ok(await asyncio.to_thread(desk(request).consistency, tenant, p.query.get("first", 0),
                                          p.query.get("second", 0)))
    except ResidencyError as e:
        raise residency_error(e) from None


async def inclusion(request: Request, p: Params) -> Response:
    tenant = _tenant(request, p)
    try:
        return ok(await asyncio.to_thread(desk(request).inclusion, tenant, p.query.get("index", 0),
                                          p.query.get("size", 0)))
    except ResidencyError as e:
        raise residency_error(e) from None


async def evidence(request: Request, p: Params) -> Response:
    tenant = _tenant(request, p)
    return ok(await asyncio.to_thread(desk(request).evidence, tenant, p["meeting"], p.query.get("held")))


async def summary(request: Request, p: Params) -> Response:
    tenant = _tenant(request, p)
    return ok(await asyncio.to_thread(desk(request).summary, tenant, p["meeting"]))


async def set_webhook(request: Request, p: Params) -> Response:
    from .specs import SET_WEBHOOK

    tenant = _tenant(request, p)
    who = principal(request, tenant)
    url = (await body(request, SET_WEBHOOK))["url"]
    try:
        await asyncio.to_thread(desk(request).set_webhook, tenant, url or None)
    except ResidencyError as e:
        raise residency_error(e) from None
    cp(request).residency.audit(tenant=tenant, actor=who.actor, action="transparency.webhook",
                                details={"url": url})
    return ok({"tenant": tenant, "url": url or None})


async def node_keys(request: Request, p: Params) -> Response:
    return ok(desk(request).node_keys())


async def log_key(request: Request, p: Params) -> Response:
    return PlainTextResponse(desk(request).log_key_pem(), media_type="application/x-pem-file")
