"""HTTP handlers: thin wrappers that parse the request, call `ControlPlane`, and answer JSON."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from . import metrics
from .devices import COOKIE as DEVICE_COOKIE
from .errors import ApiError
from .guessing import device_marker
from .regionhint import RegionHint, region_hint
from .routing import Params
from .schema import ObjectSpec, read_json
from .service import OPERATOR, ControlPlane, Principal


def cp(request: Request) -> ControlPlane:
    return request.app.state.control  # type: ignore[no-any-return]


def client_address(request: Request) -> str:
    """The address rate limits and lockouts key on: the peer, or what the trusted proxies in front say it is
    (clientaddr.py)."""
    peer = request.client.host if request.client else "unknown"
    return cp(request).config.forwarded_rule().client(peer, request.headers.getlist("x-forwarded-for"))


def join_region(request: Request, asked: str | None) -> RegionHint:
    """The joiner's region hint: the configured region header when a trusted proxy sent it, else the body's
    `region_hint` (regionhint.py); counted by source, an ignored header by why."""
    config = cp(request).config
    peer = request.client.host if request.client else "unknown"
    lines = request.headers.getlist(config.region_header) if config.region_header else None
    hint = region_hint(config.forwarded_rule(), peer, lines, asked)
    metrics.REGION_HINTS.labels(hint.source).inc()
    if hint.ignored is not None:
        metrics.REGION_HEADERS_IGNORED.labels(hint.ignored).inc()
    return hint


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def principal(request: Request, tenant: str | None = None, operator: bool = False) -> Principal:
    who = cp(request).authenticate(bearer(request))
    if operator and who.tenant != OPERATOR:
        raise ApiError(403, "forbidden", "this action needs the operator key")
    if tenant is not None and not who.may_manage(tenant):
        raise ApiError(403, "forbidden", f"this key may not manage tenant {tenant!r}")
    return who


async def body(request: Request, spec: ObjectSpec) -> dict[str, Any]:
    return await read_json(request, spec, cp(request).config.max_body)


def ok(data: object, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


# -- admin -------------------------------------------------------------------------------------------------------
async def create_tenant(request: Request, p: Params) -> Response:
    from .specs import CREATE_TENANT

    who = principal(request, operator=True)
    b = await body(request, CREATE_TENANT)
    return ok(cp(request).create_tenant(who.actor, **b), 201)


async def list_tenants(request: Request, p: Params) -> Response:
    who = principal(request)
    return ok({"tenants": cp(request).list_tenants(who)})


async def show_tenant(request: Request, p: Params) -> Response:
    principal(request, p["tenant"])
    return ok(cp(request).tenant(p["tenant"]))


async def set_tenant_regions(request: Request, p: Params) -> Response:
    from .specs import SET_REGIONS

    who = principal(request, p["tenant"])
    b = await body(request, SET_REGIONS)
    cp(request).require_tenant(p["tenant"])  # an unknown tenant is 404 whatever the body says
    if b.get("default") and "allowed_regions" in b:
        raise ApiError(400, "contradictory_options", "give allowed_regions or default: true, not both")
    if not b.get("default") and "allowed_regions" not in b:
        raise ApiError(400, "missing_field", "give allowed_regions (a list of region ids) or default: true")
    return ok(cp(request).set_tenant_regions(who.actor, tenant=p["tenant"], reason=b["reason"],
                                             allowed_regions=None if b.get("default") else b["allowed_regions"],
                                             opt_ins=b.get("opt_ins")))


async def list_meetings(request: Request, p: Params) -> Response:
    principal(request, p["tenant"])
    return ok({"meetings": cp(request).meetings(p["tenant"])})


async def end_meeting(request: Request, p: Params) -> Response:
    from .specs import EMPTY

    who = principal(request, p["tenant"])
    await body(request, EMPTY)
    return ok(await cp(request).end_meeting(who.actor, tenant=p["tenant"], link=p["link"]))


async def create_admin_key(request: Request, p: Params) -> Response:
    from .specs import CREATE_ADMIN_KEY

    who = principal(request, p["tenant"])
    b = await body(request, CREATE_ADMIN_KEY)
    rec, secret = cp(request).create_admin_key(who.actor, tenant=p["tenant"], label=b.get("label", ""))
    return ok({**rec, "key": secret, "note": "shown once: only its hash is stored"}, 201)


async def list_admin_keys(request: Request, p: Params) -> Response:
    principal(request, p["tenant"])
    return ok({"keys": cp(request).list_admin_keys(p["tenant"])})


async def revoke_admin_key(request: Request, p: Params) -> Response:
    who = principal(request, p["tenant"])
    cp(request).revoke_admin_key(who.actor, tenant=p["tenant"], key_id=p["key_id"])
    return ok({"key_id": p["key_id"], "revoked": True})


async def create_link(request: Request, p: Params) -> Response:
    from .specs import CREATE_LINK

    who = principal(request, p["tenant"])
    b = await body(request, CREATE_LINK)
    return ok(cp(request).create_link(who.actor, tenant=p["tenant"], **b), 201)


async def list_links(request: Request, p: Params) -> Response:
    principal(request, p["tenant"])
    return ok({"links": cp(request).list_links(p["tenant"])})


async def get_link(request: Request, p: Params) -> Response:
    principal(request, p["tenant"])
    return ok(cp(request).get_link(p["tenant"], p["link"]).public())


async def revoke_link(request: Request, p: Params) -> Response:
    from .specs import REVOKE_LINK

    who = principal(request, p["tenant"])
    b = await body(request, REVOKE_LINK)
    return ok(await cp(request).revoke_link(who.actor, tenant=p["tenant"], link=p["link"],
                                            end_meeting=b.get("end_meeting", False)))


async def list_lockouts(request: Request, p: Params) -> Response:
    principal(request, p["tenant"])
    return ok({"lockouts": cp(request).lockouts(p["tenant"])})


async def clear_lockout(request: Request, p: Params) -> Response:
    from .specs import CLEAR_LOCKOUT

    who = principal(request, p["tenant"])
    b = await body(request, CLEAR_LOCKOUT)
    cp(request).clear_lockout(who.actor, tenant=p["tenant"], scope=b["scope"], key=b["key"])
    return ok({"cleared": True, **b})


async def rotate_signing_key(request: Request, p: Params) -> Response:
    from .specs import EMPTY

    who = principal(request, operator=True)
    await body(request, EMPTY)
    return ok(cp(request).rotate_signing_key(who.actor))


async def define_region(request: Request, p: Params) -> Response:
    from .specs import DEFINE_REGION

    who = principal(request, operator=True)
    b = await body(request, DEFINE_REGION)
    return ok(cp(request).define_region(who.actor, **b), 201)


async def list_regions(request: Request, p: Params) -> Response:
    principal(request, operator=True)
    return ok(cp(request).list_regions())


async def enroll_node_key(request: Request, p: Params) -> Response:
    from .specs import ENROLL_NODE_KEY

    who = principal(request, operator=True)
    b = await body(request, ENROLL_NODE_KEY)
    return ok(cp(request).enroll_node_key(who.actor, **b), 201)


async def list_node_keys(request: Request, p: Params) -> Response:
    principal(request, operator=True)
    return ok(cp(request).list_node_keys())


async def revoke_node_key(request: Request, p: Params) -> Response:
    from .specs import REVOKE_NODE_KEY

    who = principal(request, operator=True)
    b = await body(request, REVOKE_NODE_KEY)
    return ok(cp(request).revoke_node_key(who.actor, key_id=p["key_id"], reason=b["reason"]))


# -- public ------------------------------------------------------------------------------------------------------
def _remembered(control: ControlPlane, link: str, device: str) -> bool:
    """Whether the join just made this device known (a correct password); a limiter that cannot say (Redis away
    after the token was minted) only costs the cookie, not the join."""
    try:
        return control.limiter.known([device_marker(link, device)])[0]
    except ApiError:
        return False


async def join(request: Request, p: Params) -> Response:
    from .specs import JOIN

    b = await body(request, JOIN)
    control = cp(request)
    device = control.devices.verify(request.cookies.get(DEVICE_COOKIE))
    fresh = control.devices.new() if device is None else None
    b["region_hint"] = join_region(request, b.get("region_hint")).region
    result = await control.join(client=client_address(request), device=device, fresh_device=fresh, **b)
    response = ok(result, 202 if result["status"] == "waiting" else 200)
    if fresh is not None and _remembered(control, b["link"], fresh):
        # a correct password from a browser without the device cookie (devices.py): it is known on this link now
        secure = request.url.scheme == "https" or control.config.public_url.startswith("https:")
        response.headers.append("Set-Cookie", control.devices.set_cookie(fresh, secure))
    return response


async def link_info(request: Request, p: Params) -> Response:
    return ok(cp(request).link_info(p["link"]))


async def lobby_wait(request: Request, p: Params) -> Response:
    result = await cp(request).lobby_wait(p["ticket"], float(p.query.get("wait", 0)))
    return ok(result, 202 if result["status"] == "waiting" else 200)


async def lobby_list(request: Request, p: Params) -> Response:
    return ok({"waiting": cp(request).lobby_list(p["link"], request.headers.get("x-host-key"))})


async def lobby_decide(request: Request, p: Params) -> Response:
    from .specs import LOBBY_DECISION

    b = await body(request, LOBBY_DECISION)
    return ok(cp(request).lobby_decide(p["link"], request.headers.get("x-host-key"), p["ticket"],
                                       b["decision"] == "admit"))


async def jwks(request: Request, p: Params) -> Response:
    return JSONResponse(cp(request).keyring.jwks(), headers={"Cache-Control": "public, max-age=30"})


async def node_keys(request: Request, p: Params) -> Response:
    """The enrolled node keys, public halves only (who enrolled them stays with the operator): nodes fetch
    them, with the JWKS, from the control plane they already trust, to verify relay peers (residency/relay.py)."""
    keys = [{"key_id": k["key_id"], "region": k["region"], "public_key": k["public_key"]}
            for k in cp(request).residency.list_node_keys()]
    return JSONResponse({"keys": keys}, headers={"Cache-Control": "public, max-age=30"})


REVOCATION_WINDOW = 3600.0


async def revocations(request: Request, p: Params) -> Response:
    """Links revoked in the last hour: a join token lives 60 s and none is minted for a revoked link, so a node
    only ever needs the recent ones (the list stays short however many links were ever revoked)."""
    return ok({"links": cp(request).store.revoked_links(since=time.time() - REVOCATION_WINDOW),
               "window": int(REVOCATION_WINDOW)})


async def export_audit(request: Request, p: Params) -> Response:
    who = principal(request, p["tenant"])
    text = cp(request).export_audit(who.actor, p["tenant"])
    return Response(text, media_type="application/x-ndjson",
                    headers={"Cache-Control": "no-store",
                             "Content-Disposition": f'attachment; filename="{p["tenant"]}-audit.jsonl"'})


async def audit_public_key(request: Request, p: Params) -> Response:
    return PlainTextResponse(cp(request).residency.audit_public_key_pem(), media_type="application/x-pem-file")


async def client_release(request: Request, p: Params) -> Response:
    """The served client's release manifest (pages.py, release.py): compare `sha256` with the published value."""
    return JSONResponse(request.app.state.pages.release.json(), headers={"Cache-Control": "no-cache"})
