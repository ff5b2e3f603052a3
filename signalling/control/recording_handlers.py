"""HTTP handlers of the recording admin API (docs/recording.md): the tenant admin key (or the operator's) as Bearer,
the tenant checked before anything is read, then one call into `Recordings` (recordings.py), whose archive audits
the action with the key's identity as the actor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from recording.archive import RecordingError

from . import specs
from .errors import ApiError
from .handlers import body, cp, ok, principal
from .recordings import Recordings, api_error, discard
from .routing import Params
from .schema import ObjectSpec

T = TypeVar("T")


async def archive(request: Request, p: Params, spec: ObjectSpec | None = None) -> tuple[Recordings, str, dict[str, Any]]:
    """Who acts (403 for another tenant's key, 401 for anything but an admin key), the body (checked before
    anything else is), and the archive — or a clear refusal when this deployment keeps no recordings."""
    who = principal(request, p["tenant"])
    b = await body(request, spec) if spec is not None else {}
    control = cp(request)
    control.require_tenant(p["tenant"])
    if control.recordings is None:
        raise ApiError(404, "recording_not_configured",
                       "this control plane has no recording archive (--recording-volume and "
                       "--recording-tenant-keys; docs/recording.md)")
    return control.recordings, who.actor, b


def run(call: Callable[[], T]) -> T:
    try:
        return call()
    except RecordingError as e:
        raise api_error(e) from None


async def list_recordings(request: Request, p: Params) -> Response:
    rec, actor, _ = await archive(request, p)
    return ok({"recordings": run(lambda: rec.listing(p["tenant"], actor))})


async def get_recording_policy(request: Request, p: Params) -> Response:
    rec, _, _ = await archive(request, p)
    return ok(rec.policy(p["tenant"]))


async def set_recording_policy(request: Request, p: Params) -> Response:
    rec, actor, b = await archive(request, p, specs.SET_RECORDING_POLICY)
    return ok(run(lambda: rec.set_policy(p["tenant"], actor, b["policy"], b.get("retention_days"))))


async def get_link_recording_policy(request: Request, p: Params) -> Response:
    rec, _, _ = await archive(request, p)
    cp(request).get_link(p["tenant"], p["link"])  # another tenant's link, or none: 404
    return ok(rec.link_policy(p["tenant"], p["link"]))


async def set_link_recording_policy(request: Request, p: Params) -> Response:
    rec, actor, b = await archive(request, p, specs.SET_LINK_RECORDING_POLICY)
    cp(request).get_link(p["tenant"], p["link"])
    return ok(run(lambda: rec.set_link_policy(p["tenant"], p["link"], actor, b["policy"])))


async def recorder_credential(request: Request, p: Params) -> Response:
    """A recorder's join credential (docs/recording.md): the link's tenant admin key or the operator's only."""
    _, actor, b = await archive(request, p, specs.RECORDER_CREDENTIAL)
    control = cp(request)
    return ok(await asyncio.to_thread(control.recorder_credential, actor, tenant=p["tenant"], link=p["link"],
                                      region_hint=b.get("region_hint")))


async def list_holds(request: Request, p: Params) -> Response:
    rec, _, _ = await archive(request, p)
    return ok({"holds": rec.holds(p["tenant"])})


async def place_hold(request: Request, p: Params) -> Response:
    rec, actor, b = await archive(request, p, specs.PLACE_HOLD)
    return ok(run(lambda: rec.place_hold(p["tenant"], actor, b["scope"], b.get("target", ""), b["reason"])), 201)


async def release_hold(request: Request, p: Params) -> Response:
    rec, actor, _ = await archive(request, p, specs.EMPTY)
    run(lambda: rec.release_hold(p["tenant"], p["hold"], actor))
    return ok({"released": p["hold"]})


async def delete_recording(request: Request, p: Params) -> Response:
    rec, actor, _ = await archive(request, p)
    run(lambda: rec.delete(p["tenant"], p["recording"], actor))
    return ok({"deleted": p["recording"]})


async def apply_retention(request: Request, p: Params) -> Response:
    rec, actor, _ = await archive(request, p, specs.EMPTY)
    return ok(run(lambda: rec.apply_retention(p["tenant"], actor)))


async def export_recording(request: Request, p: Params) -> Response:
    """The signed package as a tar download: `tar -xf` it, then `castellan recording verify DIR --public-key`."""
    rec, actor, _ = await archive(request, p)
    # off the event loop: it decrypts, hashes and writes every file of the recording
    path = await asyncio.to_thread(run, lambda: rec.export_tar(p["tenant"], p["recording"], actor))
    return FileResponse(path, media_type="application/x-tar", filename=path.name,
                        headers={"Cache-Control": "no-store"}, background=BackgroundTask(discard, path))
