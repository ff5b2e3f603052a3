"""HTTP handlers of the recording admin API (docs/recording.md): the tenant admin key (or the operator's) as Bearer,
the tenant checked before anything is read, then one call into `Recordings` (recordings.py), whose archive audits
the action with the key's identity as the actor."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from recording.archive import RecordingError
from recording.envelope import EnvelopeError
from recording.store import StoreUnavailable

from . import specs
from .byteranges import RangeNotSatisfiable, byte_range
from .errors import ApiError
from .handlers import body, cp, ok, principal
from .recordings import Recordings, api_error, discard, media_type
from .routing import Params
from .schema import ObjectSpec
from .service import Principal

T = TypeVar("T")


def configured(request: Request) -> Recordings:
    control = cp(request)
    if control.recordings is None:
        raise ApiError(404, "recording_not_configured",
                       "this control plane has no recording archive (--recording-volume or "
                       "--recording-region-volumes / --recording-region-s3, and --recording-tenant-keys; "
                       "docs/recording.md)")
    return control.recordings


async def acting(request: Request, p: Params,
                 spec: ObjectSpec | None = None) -> tuple[Recordings, Principal, dict[str, Any]]:
    """Who acts (403 for another tenant's key, 401 for anything but an admin key), the body (checked before
    anything else is), and the archive — or a clear refusal when this deployment keeps no recordings."""
    who = principal(request, p["tenant"])
    b = await body(request, spec) if spec is not None else {}
    cp(request).require_tenant(p["tenant"])
    return configured(request), who, b


async def archive(request: Request, p: Params, spec: ObjectSpec | None = None) -> tuple[Recordings, str, dict[str, Any]]:
    rec, who, b = await acting(request, p, spec)
    return rec, who.actor, b


def run(call: Callable[[], T]) -> T:
    try:
        return call()
    except RecordingError as e:
        raise api_error(e) from None
    except StoreUnavailable as e:  # a region's S3 store refused us or is down: which one and why, never a secret
        raise ApiError(503, "recording_store_unavailable", str(e)) from None


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


# -- playback: a play ticket (playtickets.py) minted with the admin key, then the media under it ---------------
MEDIA_HEADERS = {"Cache-Control": "no-store", "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff",
                 "Content-Disposition": "inline", "Cross-Origin-Resource-Policy": "same-origin",
                 "Referrer-Policy": "no-referrer", "Content-Security-Policy": "default-src 'none'; sandbox"}


async def play_recording_file(request: Request, p: Params) -> Response:
    """A ticket to play one audio or video file of a recording in a media element (it cannot send the admin key);
    the grant is audited (recording.accessed, purpose play). Legal holds do not matter: they stop deletion."""
    rec, who, _ = await acting(request, p, specs.EMPTY)
    return ok(run(lambda: rec.play_ticket(p["tenant"], p["recording"], p["file"], who.key_id, who.actor)), 201)


async def recording_media(request: Request, p: Params) -> Response:
    """One file's plaintext, whole (200) or one byte range (206), for the ticket in the path: minted for this
    tenant, recording and file, not expired, by an admin key that is still valid for the tenant."""
    rec = configured(request)
    control = cp(request)
    t, rid, name = p["tenant"], p["recording"], p["file"]
    ticket = rec.check_ticket(t, rid, name, p["ticket"])
    key = control.store.admin_key(ticket.key_id)
    if key is None or key.revoked_at is not None or not Principal(key.key_id, key.tenant).may_manage(t):
        raise ApiError(403, "invalid_ticket", "the admin key that was given this play ticket is revoked")
    f = run(lambda: rec.media_file(t, rid, name))
    try:
        wanted = byte_range(request.headers.get("range"), f.size)
    except RangeNotSatisfiable as e:
        raise ApiError(416, "range_not_satisfiable", str(e), headers={"Content-Range": f"bytes */{f.size}"}) from None
    first, last = wanted if wanted is not None else (0, f.size - 1)
    headers = {**MEDIA_HEADERS, "Content-Length": str(last - first + 1)}
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{f.size}"
    chunks = run(lambda: rec.media(t, rid, f, first, last))  # a region with no store here: 503, nothing read
    try:  # the first piece before the status line: a missing or altered object is a clear 503, not a cut body
        head = await asyncio.to_thread(next, chunks, b"")
    except (EnvelopeError, OSError) as e:
        raise ApiError(503, "recording_unreadable", f"{name} of {rid} cannot be opened: {e}") from None
    # a sync iterator: Starlette runs it in a worker thread, so decryption stays off the event loop
    return StreamingResponse(itertools.chain([head], chunks), status_code=206 if wanted is not None else 200,
                             media_type=media_type(f), headers=headers)


# -- GDPR: the CLI's subject-export and subject-erase ---------------------------------------------------------
async def export_subject(request: Request, p: Params) -> Response:
    """Everything held about one participant (their tracks, their chat and timeline lines, the audit records
    naming them) as a tar of the directory `castellan recording subject-export` writes; audited."""
    rec, actor, _ = await archive(request, p)
    path = await asyncio.to_thread(run, lambda: rec.subject_export_tar(p["tenant"], p["participant"], actor))
    return FileResponse(path, media_type="application/x-tar", filename=path.name,
                        headers={"Cache-Control": "no-store"}, background=BackgroundTask(discard, path))


async def erase_subject(request: Request, p: Params) -> Response:
    """Erase one participant from every recording, or refuse (409 legal_hold, naming the holds) while a hold
    covers any of them; both audited."""
    rec, actor, _ = await archive(request, p, specs.EMPTY)
    return ok(await asyncio.to_thread(run, lambda: rec.subject_erase(p["tenant"], p["participant"], actor)))
