"""The tenant's archive of recordings: metadata and holds in the database (migration v0005_recordings), media
sealed in the tenant's vault (store.py) on the volume of the region each part was recorded in (vaults.py), and an
audit record (residency/audit.py, the tenant's chain) for every action — start, placement, stop, every access,
hold, release, export, deletion, a refused deletion, a GDPR export or erasure. Deletion of any kind (admin,
retention, erasure) asks holds.py first and refuses while a hold covers the recording. A file whose region has no
configured store is neither read nor deleted (`NoStore`): the action is refused whole, never served from or
applied to another region's store.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.audit import AuditLog
from residency.db import Database

from . import package, settings
from .holds import HoldScope, LegalHold, RecordingFacts, blocking, due_for_deletion
from .policy import RecordingPolicy
from .settings import DEFAULT_RETENTION_DAYS
from .store import TenantVault, check_name
from .vaults import NoStoreForRegion, RegionVaults


class RecordingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Held(RecordingError):
    def __init__(self, rec: str, holds: list[LegalHold]) -> None:
        super().__init__("legal_hold", f"recording {rec} is under legal hold ({', '.join(h.id for h in holds)}); "
                                       "it cannot be deleted until every hold on it is released")
        self.holds = holds


class SubjectHeld(Held):
    def __init__(self, participant: str, holds: list[LegalHold]) -> None:
        super().__init__(participant, holds)
        self.message = (f"participant {participant} is in recordings under legal hold "
                        f"({', '.join(h.id for h in holds)}); nothing was erased")
        self.args = (f"{self.code}: {self.message}",)


class NoStore(RecordingError):
    def __init__(self, rec: str, region: str, detail: str) -> None:
        super().__init__("no_store_for_region", f"recording {rec} has files in region {region!r}, and {detail}: "
                                                "nothing was read or deleted")
        self.region = region


@dataclass(frozen=True)
class StoredFile:
    name: str
    kind: str  # audio | video | chat | timeline
    participant: str | None
    codec: str | None
    size: int


@dataclass(frozen=True)
class Recording:
    id: str
    tenant: str
    meeting: str
    link: str | None
    recorder: dict[str, str]  # {"participant": ..., "name": "ACME archive", "recorder": <pool member id>}
    regions: tuple[str, ...]
    started_at: float
    ended_at: float | None = None
    participants: dict[str, str] = field(default_factory=dict)  # participant id -> display name
    files: tuple[StoredFile, ...] = ()
    # a recorder replaced mid-meeting (docs/recording.md, "One recording, with gaps"): {from_ms, to_ms, recorder,
    # replaced_by, region, cause}; to_ms None while it is open, replaced_by None when nothing continued it
    gaps: tuple[dict[str, Any], ...] = ()
    session: str = ""  # the node's recording-on it records; a replacement recorder continues the same one
    # one per recorder that ran it: {part, recorder, participant, region, from_ms, to_ms, files, lost, segments}
    # (segments: [{segment, from_ms, to_ms, files}], sealed while it recorded; docs/recording.md "Segments")
    parts: tuple[dict[str, Any], ...] = ()

    def facts(self) -> RecordingFacts:
        return RecordingFacts(self.id, self.tenant, self.meeting, self.link, frozenset(self.participants),
                              self.ended_at)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recording:
        d = json.loads(text)
        d["regions"] = tuple(d["regions"])
        d["files"] = tuple(StoredFile(**f) for f in d["files"])
        d["gaps"] = tuple(d["gaps"])
        d["parts"] = tuple(d.get("parts", ()))
        return cls(**d)

    @property
    def part(self) -> int:
        """The current part's number (1 for a recording that never moved)."""
        return int(self.parts[-1]["part"]) if self.parts else 1


@dataclass
class Retention:
    deleted: list[str] = field(default_factory=list)
    kept_by_hold: list[str] = field(default_factory=list)
    no_store: list[str] = field(default_factory=list)  # expired, in a region with no store here: not deleted


def part_prefix(part: int) -> str:
    """Where a part's files go in the recording: the first part's under their own names, later ones prefixed (the
    replacement's sink writes the same names)."""
    return "" if part <= 1 else f"part{part}-"


def _closed_gaps(rec: Recording, at_ms: int, **closing: Any) -> tuple[dict[str, Any], ...]:
    return tuple({**g, "to_ms": at_ms, **closing} if g.get("to_ms") is None else g for g in rec.gaps)


def sealed_until(part: dict[str, Any]) -> int:
    """Where a part's sealed media ends: its last sealed segment's end; its start if none was sealed."""
    segs = part.get("segments") or []
    return int(segs[-1]["to_ms"]) if segs else int(part["from_ms"])


def _lost(part: dict[str, Any], now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A part whose recorder died without sealing its end (its pool killed): it keeps what its sealed segments
    hold and is `lost` after them; the gap runs from there to `now`."""
    end = min(sealed_until(part), now)
    return {**part, "to_ms": end, "lost": True}, {"from_ms": end, "to_ms": now, "recorder": part["recorder"],
                                                  "cause": "recorder_gone"}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Archive:
    def __init__(self, db: Database, vault: TenantVault | RegionVaults, audit: AuditLog | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`vault`: one store for every region (the pool's own volume, the CLI's `--volume`), or one per region."""
        self.db = db
        self.vaults = vault if isinstance(vault, RegionVaults) else RegionVaults.every_region(vault)
        self.audit = audit or AuditLog(db, clock)
        self.clock = clock

    def _audit(self, kind: str, actor: str, tenant: str, **data: Any) -> None:
        self.audit.append(kind, actor=actor, tenant=tenant, data=data)

    # ------------------------------------------------------------------------------------------------ stores

    @staticmethod
    def region_of(rec: Recording, name: str, part: int | None = None) -> str:
        """The region a file was recorded (and sealed) in: its part's; a recording of one region without parts
        (made before parts existed), that region. Anything else is not guessed."""
        for x in rec.parts:
            if (part is not None and x["part"] == part) or (part is None and name in x.get("files", ())):
                return str(x.get("region") or "")
        if part is None and len(rec.regions) == 1 and not rec.parts:
            return rec.regions[0]
        return ""

    def _vault(self, rec: Recording, name: str, part: int | None = None) -> TenantVault:
        region = self.region_of(rec, name, part)
        if not region and self.vaults.regions is not None:  # one volume for every region needs no region
            raise NoStore(rec.id, "?", f"the region of {name} is not recorded")
        try:
            return self.vaults.of(region)
        except NoStoreForRegion as e:
            raise NoStore(rec.id, region, str(e)) from None

    def _vaults(self, rec: Recording, files: Iterable[StoredFile] | None = None) -> dict[str, TenantVault]:
        """Every file's vault (all files by default), resolved before anything is read or deleted."""
        return {f.name: self._vault(rec, f.name) for f in (rec.files if files is None else files)}

    # ------------------------------------------------------------------------------------------------ policy

    def set_policy(self, tenant: str, policy: RecordingPolicy, actor: str, *, link: str | None = None,
                   retention_days: int | None = None) -> None:
        if retention_days is not None and not 0 <= retention_days <= 36500:
            raise RecordingError("invalid_retention", "retention is 0 (keep) to 36500 days")
        if link:
            tenant_policy = self.policy(tenant)
            if tenant_policy is not RecordingPolicy.ALLOWED and policy is not tenant_policy:
                # policy.effective would ignore it: refuse rather than store a setting that does nothing
                raise RecordingError("link_cannot_loosen", f"the tenant's recording policy is {tenant_policy.value}: "
                                     "a link can only tighten a tenant policy of allowed (to off or required)")
        current = settings.stored(self.db, tenant, link or "")
        days = retention_days if retention_days is not None else (current[1] if current else DEFAULT_RETENTION_DAYS)
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM recording_policies WHERE tenant = :t AND link = :l", {"t": tenant, "l": link or ""})
            tx.execute("INSERT INTO recording_policies (tenant, link, policy, retention_days) VALUES (:t, :l, :p, :d)",
                       {"t": tenant, "l": link or "", "p": policy.value, "d": days})
        self._audit("recording.policy_set", actor, tenant, link=link, policy=policy.value, retention_days=days)

    def policy(self, tenant: str, link: str | None = None) -> RecordingPolicy:
        return settings.policy_for(self.db, tenant, link)

    def retention_days(self, tenant: str) -> int:
        t = settings.stored(self.db, tenant, "")
        return t[1] if t else DEFAULT_RETENTION_DAYS

    # ------------------------------------------------------------------------------------------------ recording

    def _save(self, rec: Recording, new: bool = False) -> None:
        with self.db.transaction() as tx:
            if not new:
                tx.execute("DELETE FROM recordings WHERE id = :id", {"id": rec.id})
            tx.execute("INSERT INTO recordings (id, tenant, meeting, link, ended_at, doc) "
                       "VALUES (:id, :t, :m, :l, :e, :d)",
                       {"id": rec.id, "t": rec.tenant, "m": rec.meeting, "l": rec.link, "e": rec.ended_at,
                        "d": rec.to_json()})

    def get(self, tenant: str, rec_id: str) -> Recording:
        rows = self.db.query("SELECT doc FROM recordings WHERE id = :id AND tenant = :t", {"id": rec_id, "t": tenant})
        if not rows:  # another tenant's id is "not found" too: ids are not an oracle across tenants
            raise RecordingError("not_found", f"no recording {rec_id}")
        return Recording.from_json(str(rows[0][0]))

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    def begin(self, tenant: str, meeting: str, link: str | None, recorder: dict[str, str], region: str,
              actor: str, session: str = "") -> Recording:
        if self.policy(tenant, link) is RecordingPolicy.OFF:
            raise RecordingError("recording_off", "recording is off for this tenant or link")
        first = {"part": 1, "recorder": recorder.get("recorder", ""), "participant": recorder.get("participant", ""),
                 "region": region, "from_ms": self._ms(), "to_ms": None, "files": [], "lost": False}
        rec = Recording(id="rec-" + secrets.token_hex(8), tenant=tenant, meeting=meeting, link=link,
                        recorder=dict(recorder), regions=(region,), started_at=self.clock(), session=session,
                        parts=(first,))
        self._save(rec, new=True)
        self._audit("recording.started", actor, tenant, recording=rec.id, meeting=meeting, link=link,
                    region=region, recorder=recorder.get("recorder", ""), recorder_name=recorder.get("name", ""),
                    session=session)
        return rec

    def open_session(self, tenant: str, meeting: str, session: str) -> Recording | None:
        """The recording of this meeting's recording-on `session` that has not ended: the one a replacement
        recorder continues. None for no session (a recording that cannot be continued)."""
        if not session:
            return None
        rows = self.db.query("SELECT doc FROM recordings WHERE tenant = :t AND meeting = :m AND ended_at IS NULL "
                             "ORDER BY id", {"t": tenant, "m": meeting})
        found = [r for r in (Recording.from_json(str(row[0])) for row in rows) if r.session == session]
        return found[-1] if found else None

    def recorder_lost(self, tenant: str, rec_id: str, part: int, actor: str, cause: str,
                      participants: dict[str, str] | None = None, last_ms: int | None = None) -> Recording:
        """Part `part`'s recorder died (its files are sealed): that part ends and a gap opens at `last_ms` (its
        last frame; now if it recorded none), until a replacement continues (`recorder_moved`) or the recording
        ends (`finish`, `continuation_refused`)."""
        rec = self.get(tenant, rec_id)
        rec = replace(rec, participants={**rec.participants, **(participants or {})})
        if rec.ended_at is not None or part != rec.part:
            self._save(rec)
            return rec  # superseded: another recorder already continues it, or it is over
        now = self._ms()
        last = rec.parts[-1] if rec.parts else {"recorder": rec.recorder.get("recorder", "")}
        if last_ms is not None and int(last.get("from_ms") or 0) <= last_ms <= now:
            now = last_ms
        parts = (*rec.parts[:-1], {**last, "to_ms": now}) if rec.parts else ()
        gap = {"from_ms": now, "to_ms": None, "recorder": last["recorder"], "replaced_by": None, "region": None,
               "cause": cause}
        rec = replace(rec, parts=parts, gaps=(*rec.gaps, gap))
        self._save(rec)
        self._audit("recording.recorder_lost", actor, tenant, recording=rec_id, part=part,
                    recorder=last["recorder"], cause=cause, gap_from_ms=now)
        return rec

    def recorder_moved(self, tenant: str, rec_id: str, region: str, recorder: dict[str, str],
                       actor: str) -> Recording:
        """A replacement recorder (placement.replace, or the same pool after a restart) continues the recording
        as a new part: the open gap closes now, its region joins the list. A previous part whose recorder died
        before anything of it reached the vault (its pool died) is kept as lost, and its whole span is the gap."""
        rec = self.get(tenant, rec_id)
        if rec.ended_at is not None:
            raise RecordingError("recording_ended", f"recording {rec_id} has ended; it cannot be continued")
        now = self._ms()
        pool = recorder.get("recorder", "")
        parts, gaps = list(rec.parts), rec.gaps
        if any(g.get("to_ms") is None for g in gaps):
            gaps = _closed_gaps(rec, now, replaced_by=pool, region=region)
        elif parts:  # its recorder died unsealed: the part is lost from the end of its last sealed segment
            parts[-1], gap = _lost(parts[-1], now)
            gaps = (*gaps, {**gap, "replaced_by": pool, "region": region})
        number = rec.part + 1
        parts.append({"part": number, "recorder": pool, "participant": recorder.get("participant", ""),
                      "region": region, "from_ms": now, "to_ms": None, "files": [], "lost": False})
        rec = replace(rec, regions=tuple(sorted({*rec.regions, region})), gaps=gaps, parts=tuple(parts))
        self._save(rec)
        gap = gaps[-1]
        self._audit("recording.recorder_moved", actor, tenant, recording=rec_id, part=number, region=region,
                    recorder=pool, previous=gap["recorder"], gap_from_ms=gap["from_ms"], gap_to_ms=gap["to_ms"])
        return rec

    def media_resumed(self, tenant: str, rec_id: str, part: int, at_ms: int, actor: str) -> Recording:
        """The replacement's first frame (part `part`): the gap before it really ends here, not when the recorder
        was given the recording (it still had to join the meeting and its group)."""
        rec = self.get(tenant, rec_id)
        if part != rec.part or part < 2 or not rec.gaps:
            return rec
        gap, current = rec.gaps[-1], rec.parts[-1]
        if gap.get("to_ms") != current.get("from_ms") or not int(gap["from_ms"]) <= at_ms:
            return rec
        rec = replace(rec, gaps=(*rec.gaps[:-1], {**gap, "to_ms": at_ms}),
                      parts=(*rec.parts[:-1], {**current, "from_ms": at_ms}))
        self._save(rec)
        self._audit("recording.gap_closed", actor, tenant, recording=rec_id, part=part, gap_from_ms=gap["from_ms"],
                    gap_to_ms=at_ms)
        return rec

    def continuation_refused(self, tenant: str, meeting: str, session: str, code: str, actor: str
                             ) -> Recording | None:
        """No recorder may continue this session's recording (none in a region the tenant allows): it ends, the
        gap open until its end. Never continued elsewhere. None if there was nothing open to end."""
        return self._end_open(tenant, meeting, session, actor, "recording.continuation_refused", reason=code)

    def session_over(self, tenant: str, meeting: str, session: str, actor: str) -> Recording | None:
        """Recording went off (the host stopped it, the meeting ended) while no recorder was there to seal its
        part (its pool gone): the recording ends, its gap lasting to the end."""
        return self._end_open(tenant, meeting, session, actor, "recording.stopped", reason="no_recorder")

    def _end_open(self, tenant: str, meeting: str, session: str, actor: str, kind: str, reason: str
                  ) -> Recording | None:
        rec = self.open_session(tenant, meeting, session)
        if rec is None:
            return None
        now = self._ms()
        parts, gaps = list(rec.parts), rec.gaps
        if any(g.get("to_ms") is None for g in gaps):
            gaps = _closed_gaps(rec, now)
        elif parts:  # its recorder died unsealed (its pool died): lost from the end of its last sealed segment
            parts[-1], gap = _lost(parts[-1], now)
            gaps = (*gaps, {**gap, "replaced_by": None, "region": None})
        rec = replace(rec, parts=tuple(parts), gaps=gaps, ended_at=self.clock())
        self._save(rec)
        self._audit(kind, actor, tenant, recording=rec.id, meeting=meeting, reason=reason, files=len(rec.files),
                    parts=len(rec.parts), gaps=len(rec.gaps), gap_from_ms=gaps[-1]["from_ms"] if gaps else None)
        return rec

    def store_file(self, tenant: str, rec_id: str, name: str, path: Path, kind: str, actor: str,
                   participant: str | None = None, codec: str | None = None, part: int | None = None) -> StoredFile:
        """Seals one file into the recording, listed under `part` (the current part by default)."""
        rec = self.get(tenant, rec_id)
        n = part if part is not None else rec.part
        size = self._vault(rec, name, part=n if rec.parts else None).put_file(tenant, f"{rec_id}/{check_name(name)}",
                                                                             path)
        f = StoredFile(name=name, kind=kind, participant=participant, codec=codec, size=path.stat().st_size)
        parts = tuple({**x, "files": sorted({*x["files"], name})} if x["part"] == n else x for x in rec.parts)
        rec = replace(rec, files=(*[x for x in rec.files if x.name != name], f), parts=parts)
        self._save(rec)
        self._audit("recording.file_stored", actor, tenant, recording=rec_id, file=name, sealed_bytes=size)
        return f

    def segment_sealed(self, tenant: str, rec_id: str, part: int, segment: int, from_ms: int, to_ms: int,
                       files: list[str], participants: dict[str, str], actor: str) -> Recording:
        """A rolling segment of part `part` is in the vault (its files already stored with `store_file`): listed in
        the part with its span, so a recorder killed later loses only what came after `to_ms`. Audited: the
        export's verification holds the manifest to every segment the audit records name."""
        rec = self.get(tenant, rec_id)
        entry = {"segment": segment, "from_ms": from_ms, "to_ms": to_ms, "files": sorted(files)}
        parts = tuple({**x, "segments": [*x.get("segments", []), entry]} if x["part"] == part else x
                      for x in rec.parts)
        named = {k: v for k, v in participants.items() if v or k not in rec.participants}
        rec = replace(rec, parts=parts, participants={**rec.participants, **named})
        self._save(rec)
        self._audit("recording.segment_sealed", actor, tenant, recording=rec_id, part=part, segment=segment,
                    from_ms=from_ms, to_ms=to_ms, files=sorted(files))
        return rec

    def finish(self, tenant: str, rec_id: str, participants: dict[str, str], actor: str,
               part: int | None = None) -> Recording:
        """The recording ends (dismissed: the host stopped it, the meeting ended). `part`: the part whose recorder
        ends it; a part a replacement has already superseded only closes itself, the recording goes on."""
        rec = self.get(tenant, rec_id)
        rec = replace(rec, participants={**rec.participants, **participants})
        now = self._ms()
        if part is not None and part != rec.part:
            rec = replace(rec, parts=tuple({**x, "to_ms": x["to_ms"] or now} if x["part"] == part else x
                                           for x in rec.parts))
            self._save(rec)
            return rec
        parts = (*rec.parts[:-1], {**rec.parts[-1], "to_ms": rec.parts[-1]["to_ms"] or now}) if rec.parts else ()
        if any(g.get("to_ms") is None for g in rec.gaps):  # nothing continued it: the gap lasts until the end
            rec = replace(rec, gaps=_closed_gaps(rec, now))
        rec = replace(rec, ended_at=self.clock(), parts=parts)
        self._save(rec)
        self._audit("recording.stopped", actor, tenant, recording=rec_id, files=len(rec.files),
                    participants=sorted(rec.participants), parts=len(rec.parts), gaps=len(rec.gaps))
        return rec

    # ------------------------------------------------------------------------------------------------ access

    def _all(self, tenant: str | None = None) -> list[Recording]:
        if tenant is None:
            rows = self.db.query("SELECT doc FROM recordings ORDER BY id")
        else:
            rows = self.db.query("SELECT doc FROM recordings WHERE tenant = :t ORDER BY id", {"t": tenant})
        return [Recording.from_json(str(r[0])) for r in rows]

    def listing(self, tenant: str, actor: str) -> list[Recording]:
        recs = self._all(tenant)
        self._audit("recording.listed", actor, tenant, count=len(recs))
        return recs

    def read(self, tenant: str, rec_id: str, name: str, actor: str) -> Iterator[bytes]:
        """A file's plaintext (to play in the browser or to export): audited before a byte is returned."""
        rec = self.get(tenant, rec_id)
        if name not in {f.name for f in rec.files}:
            raise RecordingError("not_found", f"recording {rec_id} has no file {name!r}")
        vault = self._vault(rec, name)
        self._audit("recording.accessed", actor, tenant, recording=rec_id, file=name)
        return vault.get(tenant, f"{rec_id}/{name}")

    def read_range(self, tenant: str, rec_id: str, f: StoredFile, first: int, last: int) -> Iterator[bytes]:
        """Bytes first..last (inclusive) of a file whose access was already granted and audited (`grant_play`),
        from its region's store, opening only the chunks that hold them."""
        rec = self.get(tenant, rec_id)
        return self._vault(rec, f.name).get_range(tenant, f"{rec_id}/{f.name}", f.size, first, last)

    def grant_play(self, tenant: str, rec_id: str, name: str, actor: str, ticket: str,
                   expires_at: float) -> StoredFile:
        """A playback of one media file granted (the admin API's play ticket): audited once per ticket, before a
        byte is served; the player's range requests under that ticket are this one access."""
        rec = self.get(tenant, rec_id)
        f = next((x for x in rec.files if x.name == name), None)
        if f is None:
            raise RecordingError("not_found", f"recording {rec_id} has no file {name!r}")
        if f.kind not in ("audio", "video"):
            raise RecordingError("not_playable", f"{name} is {f.kind}, not audio or video: export it instead")
        self._vault(rec, name)  # nothing granted that no store here can serve
        self._audit("recording.accessed", actor, tenant, recording=rec_id, file=name, purpose="play", ticket=ticket,
                    expires_at=expires_at)
        return f

    # ------------------------------------------------------------------------------------------------ holds

    def holds(self, tenant: str, active_only: bool = True) -> list[LegalHold]:
        rows = self.db.query("SELECT id, tenant, scope, target, reason, placed_by, placed_at, released_at "
                             "FROM recording_holds WHERE tenant = :t ORDER BY id", {"t": tenant})
        hs = [LegalHold(id=str(r[0]), tenant=str(r[1]), scope=HoldScope.parse(r[2]), target=str(r[3]),
                        reason=str(r[4]), placed_by=str(r[5]), placed_at=float(r[6]),
                        released_at=None if r[7] is None else float(r[7])) for r in rows]
        return [h for h in hs if h.active] if active_only else hs

    def place_hold(self, tenant: str, scope: HoldScope, target: str, reason: str, actor: str) -> LegalHold:
        if not reason.strip():
            raise RecordingError("reason_required", "a legal hold needs a reason (a case reference)")
        if scope is HoldScope.TENANT:
            target = tenant
        elif not target.strip():  # a hold on "" would cover nothing while looking placed
            raise RecordingError("target_required", f"a {scope.value} hold needs the {scope.value} id it covers")
        h = LegalHold(id="hold-" + secrets.token_hex(6), tenant=tenant, scope=scope, target=target,
                      reason=reason, placed_by=actor, placed_at=self.clock())
        self.db.execute("INSERT INTO recording_holds (id, tenant, scope, target, reason, placed_by, placed_at) "
                        "VALUES (:i, :t, :s, :g, :r, :a, :at)",
                        {"i": h.id, "t": tenant, "s": scope.value, "g": target, "r": reason, "a": actor,
                         "at": h.placed_at})
        self._audit("recording.hold_placed", actor, tenant, hold=h.id, scope=scope.value, target=target,
                    reason=reason)
        return h

    def release_hold(self, tenant: str, hold_id: str, actor: str) -> None:
        n = self.db.execute("UPDATE recording_holds SET released_at = :at, released_by = :a "
                            "WHERE id = :i AND tenant = :t AND released_at IS NULL",
                            {"at": self.clock(), "a": actor, "i": hold_id, "t": tenant})
        if not n:
            raise RecordingError("not_found", f"no active hold {hold_id}")
        self._audit("recording.hold_released", actor, tenant, hold=hold_id)

    # ------------------------------------------------------------------------------------------------ deletion

    def _erase(self, rec: Recording, actor: str, **cause: str) -> None:
        """Every file from its region's store, then the row; refused whole (audited, `NoStore`) when a file's
        region has no store here: the row stays, so what is left on that region's volume is not forgotten."""
        try:
            vaults = self._vaults(rec)
        except NoStore as e:
            self._audit("recording.delete_refused", actor, rec.tenant, recording=rec.id, reason=e.code,
                        region=e.region, **cause)
            raise
        for f in rec.files:
            vaults[f.name].delete(rec.tenant, f"{rec.id}/{f.name}")
        self.db.execute("DELETE FROM recordings WHERE id = :id", {"id": rec.id})

    def delete(self, tenant: str, rec_id: str, actor: str) -> None:
        rec = self.get(tenant, rec_id)
        held = blocking(rec.facts(), self.holds(tenant))
        if held:
            self._audit("recording.delete_refused", actor, tenant, recording=rec_id, holds=[h.id for h in held])
            raise Held(rec_id, held)
        self._erase(rec, actor)
        self._audit("recording.deleted", actor, tenant, recording=rec_id, files=len(rec.files))

    def apply_retention(self, tenant: str, actor: str = "retention") -> tuple[list[str], list[str]]:
        """Delete what the tenant's retention says has expired, except what a hold keeps: (deleted, kept)."""
        r = self.retention(tenant, actor)
        return r.deleted, r.kept_by_hold

    def retention(self, tenant: str, actor: str = "retention") -> Retention:
        """`apply_retention`, also naming the expired recordings whose region has no store here (not deleted,
        each refusal audited; the others are deleted all the same)."""
        recs = {r.id: r for r in self._all(tenant)}
        delete, kept = due_for_deletion([r.facts() for r in recs.values()], self.holds(tenant),
                                        self.retention_days(tenant), self.clock())
        out = Retention()
        for f in delete:
            try:
                self._erase(recs[f.id], actor, cause="retention")
            except NoStore:
                out.no_store.append(f.id)
                continue
            out.deleted.append(f.id)
            self._audit("recording.deleted", actor, tenant, recording=f.id, files=len(recs[f.id].files),
                        cause="retention")
        for f, hs in kept:
            self._audit("recording.delete_refused", actor, tenant, recording=f.id, holds=[h.id for h in hs],
                        cause="retention")
            out.kept_by_hold.append(f.id)
        return out

    # ------------------------------------------------------------------------------------------------ export

    def _audit_of(self, tenant: str, key: str, value: str) -> list[dict[str, object]]:
        return [r.to_dict() for r in self.audit.tenant_records(tenant) if r.data.get(key) == value]

    def export(self, tenant: str, rec_id: str, dest: Path, signer: Ed25519PrivateKey, actor: str) -> Path:
        """The signed package (package.py) in a new directory `dest`."""
        rec = self.get(tenant, rec_id)
        vaults = self._vaults(rec)
        dest.mkdir(parents=True, exist_ok=False)
        self._audit("recording.exported", actor, tenant, recording=rec_id)
        for f in rec.files:
            with open(dest / f.name, "wb") as out:
                for chunk in vaults[f.name].get(tenant, f"{rec_id}/{f.name}"):
                    out.write(chunk)
        package.build(dest, recording={"id": rec.id, "tenant": tenant, "meeting": rec.meeting, "link": rec.link,
                                       "started_at": _iso(rec.started_at),
                                       "ended_at": _iso(rec.ended_at) if rec.ended_at else None,
                                       "participants": rec.participants, "session": rec.session,
                                       "parts": list(rec.parts), "gaps": list(rec.gaps)},
                      recorder=rec.recorder, regions=rec.regions, audit=self._audit_of(tenant, "recording", rec_id),
                      signer=signer, created_at=_iso(self.clock()))
        return dest

    # ------------------------------------------------------------------------------------------------ GDPR

    def _mentions(self, path_lines: list[dict[str, object]], participant: str) -> list[dict[str, object]]:
        return [e for e in path_lines if participant in (e.get("participant"), e.get("from"))]

    def _lines(self, tenant: str, rec: Recording, name: str) -> list[dict[str, object]]:
        text = b"".join(self._vault(rec, name).get(tenant, f"{rec.id}/{name}")).decode()
        return [json.loads(x) for x in text.splitlines() if x.strip()]

    def subject_export(self, tenant: str, participant: str, dest: Path, actor: str) -> dict[str, Any]:
        """Everything held about one participant: their tracks, the chat and timeline lines that are theirs, and
        the audit entries that name them, in `dest` (a new directory). Audited. Refused whole (`NoStore`) when one
        of their recordings is in a region with no store here: an incomplete answer would look complete."""
        for rec in self._all(tenant):
            if participant in rec.participants:
                self._vaults(rec, [f for f in rec.files if f.participant == participant or f.kind in ("chat",
                                                                                                     "timeline")])
        dest.mkdir(parents=True, exist_ok=False)
        self._audit("recording.subject_exported", actor, tenant, participant=participant)
        out: dict[str, Any] = {"participant": participant, "recordings": []}
        for rec in self._all(tenant):
            if participant not in rec.participants:
                continue
            d = dest / rec.id
            d.mkdir()
            entry: dict[str, Any] = {"recording": rec.id, "meeting": rec.meeting, "files": [], "lines": 0}
            for f in rec.files:
                if f.participant == participant:
                    with open(d / f.name, "wb") as o:
                        for c in self._vault(rec, f.name).get(tenant, f"{rec.id}/{f.name}"):
                            o.write(c)
                    entry["files"].append(f.name)
                elif f.kind in ("chat", "timeline"):
                    mine = self._mentions(self._lines(tenant, rec, f.name), participant)
                    (d / f.name).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in mine))
                    entry["lines"] += len(mine)
            out["recordings"].append(entry)
        audit = [r.to_dict() for r in self.audit.tenant_records(tenant)
                 if participant in json.dumps(r.data)]
        (dest / "audit.json").write_text(json.dumps(audit, indent=1, sort_keys=True))
        (dest / "index.json").write_text(json.dumps(out, indent=1, sort_keys=True))
        return out

    def subject_erase_unheld(self, tenant: str, participant: str, actor: str) -> dict[str, list[str]]:
        """The admin API's erasure: all of it or nothing. While a hold covers any recording of the participant it
        is refused (`Held`, naming the holds; the refusal audited as `recording.subject_erase_refused`), else it is
        `subject_erase` (a hold placed in between still keeps what it covers: `subject_erase` checks again)."""
        holds = self.holds(tenant)
        held = {h.id: h for r in self._all(tenant) if participant in r.participants
                for h in blocking(r.facts(), holds)}
        if held:
            self._audit("recording.subject_erase_refused", actor, tenant, participant=participant,
                        holds=sorted(held))
            raise SubjectHeld(participant, [held[k] for k in sorted(held)])
        return self.subject_erase(tenant, participant, actor)

    def subject_erase(self, tenant: str, participant: str, actor: str) -> dict[str, list[str]]:
        """Erase one participant from every recording no hold covers: their tracks deleted, their chat and
        timeline lines removed. Held recordings are left whole and listed. Audited."""
        erased: list[str] = []
        kept: list[str] = []
        holds = self.holds(tenant)
        mine = [r for r in self._all(tenant) if participant in r.participants]
        unheld = [r for r in mine if not blocking(r.facts(), holds)]
        vaults: dict[str, dict[str, TenantVault]] = {}
        try:  # every store first: an erasure is done whole, or refused before anything is erased
            for rec in unheld:
                vaults[rec.id] = self._vaults(rec, [f for f in rec.files if f.participant == participant
                                                    or f.kind in ("chat", "timeline")])
        except NoStore as e:
            self._audit("recording.subject_erase_refused", actor, tenant, participant=participant, reason=e.code,
                        region=e.region)
            raise
        for rec in mine:
            if rec.id not in vaults:
                kept.append(rec.id)
                continue
            files = []
            for f in rec.files:
                if f.participant == participant:
                    vaults[rec.id][f.name].delete(tenant, f"{rec.id}/{f.name}")
                    continue
                if f.kind in ("chat", "timeline"):
                    lines = self._lines(tenant, rec, f.name)
                    rest = [e for e in lines if participant not in (e.get("participant"), e.get("from"))]
                    body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in rest).encode()
                    vaults[rec.id][f.name].put(tenant, f"{rec.id}/{f.name}", [body])
                    f = replace(f, size=len(body))
                files.append(f)
            others = {k: v for k, v in rec.participants.items() if k != participant}
            left = {f.name for f in files}
            rec_parts = tuple({**x, "files": [n for n in x["files"] if n in left],
                               **({"segments": [{**g, "files": [n for n in g["files"] if n in left]}
                                                for g in x["segments"]]} if "segments" in x else {})}
                              for x in rec.parts)
            self._save(replace(rec, files=tuple(files), participants=others, parts=rec_parts))
            erased.append(rec.id)
        self._audit("recording.subject_erased", actor, tenant, participant=participant, erased=erased, kept=kept)
        return {"erased": erased, "kept": kept}

