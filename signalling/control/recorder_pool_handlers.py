"""HTTP handlers for recorder pools (docs/recording.md, "Launching recorders"): the operator manages the pools'
scoped keys; a pool, with its key, announces itself and fetches its jobs' recorder credentials."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from . import specs
from .errors import ApiError
from .handlers import bearer, body, cp, ok, principal
from .recorderpools import PoolPrincipal, RecorderPools
from .recording_handlers import archive
from .routing import Params


def pools(request: Request) -> RecorderPools:
    return RecorderPools(cp(request))


def pool_key(request: Request) -> PoolPrincipal:
    return pools(request).authenticate(bearer(request))


async def create_pool_key(request: Request, p: Params) -> Response:
    who = principal(request, operator=True)
    b = await body(request, specs.CREATE_POOL_KEY)
    rec, secret = pools(request).create_key(who.actor, region=b["region"], label=b.get("label", ""))
    return ok({**rec, "key": secret, "note": "shown once; give it to the region's recorder pool only"}, 201)


async def list_pool_keys(request: Request, p: Params) -> Response:
    principal(request, operator=True)
    return ok({"keys": pools(request).list_keys()})


async def revoke_pool_key(request: Request, p: Params) -> Response:
    who = principal(request, operator=True)
    pools(request).revoke_key(who.actor, p["key_id"])
    return ok({"revoked": p["key_id"]})


async def announce_pool(request: Request, p: Params) -> Response:
    who = pool_key(request)
    b = await body(request, specs.ANNOUNCE_POOL)
    return ok(await asyncio.to_thread(pools(request).announce, who, pool=p["pool"], capacity=b["capacity"],
                                      running=b["running"]))


async def job_credential(request: Request, p: Params) -> Response:
    who = pool_key(request)
    await body(request, specs.EMPTY)
    if cp(request).recordings is None:  # as for the admin's recorder credential: nothing would keep the recording
        raise ApiError(404, "recording_not_configured", "this control plane has no recording archive")
    return ok(await asyncio.to_thread(pools(request).credential, who, p["job"]))


async def recorder_refusals(request: Request, p: Params) -> Response:
    await archive(request, p)  # who, the tenant, and a deployment that keeps recordings
    return ok({"refusals": pools(request).refusals(p["tenant"])})
