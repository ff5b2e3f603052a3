"""Compliance recordings in the admin API: the tenant's archive (recording/archive.py) opened on the control plane's
database with the region's recording volume and the operator's tenant keys; its answers as JSON, its refusals as
`ApiError`s. Every operation is the archive's own — the one the CLI (`castellan recording …`) calls — so each is
audited in the tenant's chain exactly as there, with the admin key's identity as the actor."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording import settings
from recording.archive import Archive, Held, Recording, RecordingError, StoredFile
from recording.config import load_tenant_keys
from recording.envelope import EnvelopeError
from recording.holds import HoldScope, LegalHold, blocking
from recording.policy import RecordingPolicy
from recording.store import LocalVolumeStore, TenantVault
from recording.vaults import RegionVaults
from residency.db import Database

from . import playtickets
from .config import ControlConfig
from .errors import ApiError
from .jsontypes import JSONObject

# the archive's refusal codes (RecordingError) and their HTTP statuses; anything else is a bad request
STATUS = {"not_found": 404, "legal_hold": 409, "recording_off": 422, "link_cannot_loosen": 422,
          "not_playable": 422, "no_store_for_region": 503}
# what a media element is told a recorded file is (recording/muxer.py writes WebM, H.264 in Matroska)
MEDIA_TYPES = {(".webm", "video"): "video/webm", (".webm", "audio"): "audio/webm",
               (".mkv", "video"): "video/x-matroska", (".mkv", "audio"): "audio/x-matroska"}


def media_type(f: StoredFile) -> str:
    return MEDIA_TYPES.get((Path(f.name).suffix.lower(), f.kind), "application/octet-stream")


def api_error(e: RecordingError) -> ApiError:
    if isinstance(e, Held):  # which holds: the admin (and the console) can name them
        return ApiError(409, e.code, e.message, extra={"holds": [h.id for h in e.holds]})
    return ApiError(STATUS.get(e.code, 400), e.code, e.message)


def hold_json(h: LegalHold) -> JSONObject:
    return {"hold": h.id, "scope": h.scope.value, "target": h.target, "reason": h.reason, "placed_by": h.placed_by,
            "placed_at": h.placed_at, "released_at": h.released_at}


def recording_json(r: Recording, holds: list[LegalHold]) -> JSONObject:
    """A recording as the API lists it, with the active holds that keep it (`held_by`: deletion is refused)."""
    return {"id": r.id, "meeting": r.meeting, "link": r.link, "regions": list(r.regions),
            "recorder": dict(r.recorder), "participants": dict(r.participants), "started_at": r.started_at,
            "ended_at": r.ended_at,
            "files": [{"name": f.name, "kind": f.kind, "participant": f.participant, "codec": f.codec,
                       "size": f.size} for f in r.files],
            "session": r.session, "parts": [dict(x) for x in r.parts], "gaps": [dict(g) for g in r.gaps],
            "held_by": [h.id for h in blocking(r.facts(), holds)]}


class Recordings:
    """The archive's admin operations, one method each (the handlers check who may call them)."""

    def __init__(self, archive: Archive, signer: Ed25519PrivateKey, clock: Callable[[], float] = time.time) -> None:
        self.archive = archive
        self.signer = signer
        self.clock = clock

    def listing(self, tenant: str, actor: str) -> list[JSONObject]:
        holds = self.archive.holds(tenant)
        return [recording_json(r, holds) for r in self.archive.listing(tenant, actor)]

    def policy(self, tenant: str) -> JSONObject:
        return {"policy": self.archive.policy(tenant).value, "retention_days": self.archive.retention_days(tenant)}

    def set_policy(self, tenant: str, actor: str, policy: str, retention_days: int | None) -> JSONObject:
        self.archive.set_policy(tenant, RecordingPolicy.parse(policy), actor, retention_days=retention_days)
        return self.policy(tenant)

    def link_policy(self, tenant: str, link: str) -> JSONObject:
        own = settings.stored(self.archive.db, tenant, link)
        return {"link": link, "policy": own[0].value if own else None,
                "effective": self.archive.policy(tenant, link).value}

    def set_link_policy(self, tenant: str, link: str, actor: str, policy: str) -> JSONObject:
        self.archive.set_policy(tenant, RecordingPolicy.parse(policy), actor, link=link)
        return self.link_policy(tenant, link)

    def holds(self, tenant: str) -> list[JSONObject]:
        return [hold_json(h) for h in self.archive.holds(tenant)]

    def place_hold(self, tenant: str, actor: str, scope: str, target: str, reason: str) -> JSONObject:
        return hold_json(self.archive.place_hold(tenant, HoldScope.parse(scope), target, reason, actor))

    def release_hold(self, tenant: str, hold: str, actor: str) -> None:
        self.archive.release_hold(tenant, hold, actor)

    def delete(self, tenant: str, rec: str, actor: str) -> None:
        self.archive.delete(tenant, rec, actor)

    def apply_retention(self, tenant: str, actor: str) -> JSONObject:
        r = self.archive.retention(tenant, actor)
        return {"deleted": r.deleted, "kept_by_hold": r.kept_by_hold, "kept_no_store": r.no_store}

    def export_tar(self, tenant: str, rec: str, actor: str) -> Path:
        """The signed package (the directory `castellan recording verify` checks) as one tar file, in a new
        private temporary directory the caller removes (`discard`) once it is sent."""
        return _tarred("castellan-export-", rec, lambda d: self.archive.export(tenant, rec, d, self.signer, actor))

    # -- playback (playtickets.py) ----------------------------------------------------------------------------
    def _ticket_key(self, tenant: str) -> bytes:
        if tenant not in self.archive.vaults.keys:
            raise ApiError(503, "recording_key_unavailable", f"no recording key is configured for tenant {tenant}")
        return playtickets.ticket_key(self.archive.vaults.keys[tenant][1])

    def play_ticket(self, tenant: str, rec: str, name: str, key_id: str, actor: str) -> JSONObject:
        """A ticket to play one file, its grant audited by the archive (who, which file, which ticket)."""
        key = self._ticket_key(tenant)
        ticket, t = playtickets.mint(key, tenant, rec, name, key_id, self.clock())
        f = self.archive.grant_play(tenant, rec, name, actor, t.id, t.expires_at)
        return {"ticket": t.id, "url": f"/v1/tenants/{tenant}/recordings/{rec}/files/{name}/media/{ticket}",
                "expires_at": t.expires_at, "content_type": media_type(f), "kind": f.kind, "size": f.size}

    def check_ticket(self, tenant: str, rec: str, name: str, ticket: str) -> playtickets.PlayTicket:
        if tenant not in self.archive.vaults.keys:  # no key, no ticket was ever minted for this tenant
            raise ApiError(403, "invalid_ticket", "not a play ticket of this tenant")
        try:
            return playtickets.check(self._ticket_key(tenant), ticket, tenant, rec, name, self.clock())
        except playtickets.TicketRefused as e:
            raise ApiError(e.status, e.code, e.message) from None

    def media_file(self, tenant: str, rec: str, name: str) -> StoredFile:
        """A recording's audio or video file (what a ticket may play); a deleted one is not found."""
        f = next((x for x in self.archive.get(tenant, rec).files if x.name == name), None)
        if f is None or f.kind not in ("audio", "video"):
            raise ApiError(404, "not_found", f"recording {rec} has no media file {name!r}")
        return f

    def media(self, tenant: str, rec: str, f: StoredFile, first: int, last: int) -> Iterator[bytes]:
        """Bytes first..last (inclusive) of a granted file's plaintext (the caller checked the ticket): only the
        envelope chunks that hold them are read, each authenticated before it is served (envelope.open_range)."""
        return self.archive.read_range(tenant, rec, f, first, last)

    # -- GDPR (the CLI's subject-export and subject-erase) ---------------------------------------------------
    def subject_export_tar(self, tenant: str, participant: str, actor: str) -> Path:
        """What `castellan recording subject-export` writes, as one tar (one directory `subject-<participant>/`)
        in a new private temporary directory the caller removes (`discard`)."""
        return _tarred("castellan-subject-", f"subject-{participant}",
                       lambda d: self.archive.subject_export(tenant, participant, d, actor))

    def subject_erase(self, tenant: str, participant: str, actor: str) -> JSONObject:
        out = self.archive.subject_erase_unheld(tenant, participant, actor)
        return {"participant": participant, "erased": out["erased"], "kept": out["kept"]}


def discard(path: Path) -> None:
    """Remove an export's temporary directory (or the directory of its tar file)."""
    shutil.rmtree(path if path.is_dir() else path.parent, ignore_errors=True)


class RecordingConfigError(Exception):
    """The deployment's recording settings cannot be used: the control plane does not start."""


def open_recordings(config: ControlConfig, db: Database, audit_key: Ed25519PrivateKey) -> Recordings | None:
    """The archive when the deployment configures a recording volume, or a volume or S3 bucket per region (with
    the tenant keys), else None. A bad tenant keys file or signing key, both kinds of volume, a region given two
    stores, or unreadable S3 credentials fail here, at start."""
    regional = bool(config.recording_region_volumes or config.recording_region_s3)
    if config.recording_volume is None and not regional:
        return None
    if config.recording_volume is not None and regional:
        raise RecordingConfigError("one recording volume for every region, or a store per region: not both")
    if config.recording_tenant_keys is None:
        raise RecordingConfigError("a recording volume needs the tenant keys file (--recording-tenant-keys)")
    from residency.signing import load_or_create_signing_key

    try:
        keys = load_tenant_keys(config.recording_tenant_keys)
    except EnvelopeError as e:
        raise RecordingConfigError(str(e)) from None
    signer = audit_key
    if config.recording_signing_key is not None:
        if not config.recording_signing_key.is_file():  # never a new key that nobody published
            raise RecordingConfigError(f"recording signing key {config.recording_signing_key} does not exist")
        signer = load_or_create_signing_key(config.recording_signing_key)
    if config.recording_volume is not None:
        vaults = RegionVaults.every_region(TenantVault(LocalVolumeStore(config.recording_volume), keys))
    else:
        try:
            vaults = RegionVaults.on_stores(config.recording_region_volumes, config.recording_region_s3, keys)
        except ValueError as e:  # a region given two stores, unreadable S3 credentials
            raise RecordingConfigError(str(e)) from None
    return Recordings(Archive(db, vaults), signer)


def _tarred(prefix: str, name: str, write: Callable[[Path], object]) -> Path:
    """`write(dir)` fills a directory `name`, which becomes one tar file in a new private temporary directory
    (mode 0700: its contents are plaintext) that the caller removes (`discard`) once it is sent."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        write(work / name)
        out = work / f"{name}.tar"
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(work / name, arcname=name)
        shutil.rmtree(work / name)
        return out
    except EnvelopeError as e:
        discard(work)
        raise ApiError(503, "recording_key_unavailable", f"the tenant's recording key cannot be used: {e}") from None
    except BaseException:
        discard(work)
        raise
