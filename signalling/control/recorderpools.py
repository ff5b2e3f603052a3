"""Recorder pools (docs/recording.md, "Launching recorders"): the scoped keys they hold, their announcements, and
the jobs the control plane gives them — launched when a node wants a room recorded, dismissed when it no longer
does (recording/launch.py decides; this module reads and writes the registry and audits).

A pool key (`crk_<id>.<secret>`, table recorder_pool_keys) names one region and has one power: announce a pool of
that region and obtain the recorder credential of a job given to that pool. It is not an admin key (another prefix,
another table): every admin endpoint answers it 401. A job exists only where a node asked for a recorder for a
meeting placed on it, so a stolen pool key cannot mint a credential for a meeting nobody is recording, nor for a
job of another region's pool.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recording.launch import JOBS, LAUNCH, POOLS, REFUSALS, Job, Plan, Pool, reconcile

from . import metrics
from .errors import ApiError
from .jsontypes import JSONObject

if TYPE_CHECKING:
    from .service import ControlPlane

POOL_KEY_PREFIX = "crk_"
POOL_TTL = 6.0  # an announcement lives this long: a pool that stops announcing is gone, its jobs placed again
REFUSAL_TTL = 60.0

log = logging.getLogger("castellan.control.recorders")

LAUNCHED = metrics._counter("castellan_recorder_jobs_launched_total",
                            "Recorder jobs given to a recorder pool (new, or moved from a pool that went away), "
                            "by the pool's region", ("region",))
DISMISSED = metrics._counter("castellan_recorder_jobs_dismissed_total",
                             "Recorder jobs dismissed (record_stop, the meeting ended, its node gone)")
REFUSED = metrics._counter("castellan_recorder_jobs_refused_total",
                           "Rooms wanting a recorder that got none, each refusal once a minute, by reason",
                           ("reason",))


# a key the deployment made (the chart: crk_ + 16 hex digits + "." + 43 letters and digits), enrolled at start:
# its id has the minted keys' shape, so DELETE /v1/recorder-pool-keys/{key_id} revokes it like any other
CONFIGURED_KEY = re.compile(r"^crk_([0-9a-f]{16})\.([A-Za-z0-9_-]{32,128})$")


class PoolKeyConfigError(Exception):
    """A configured pool key the control plane cannot take: it does not start."""


def _sha256(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


@dataclass(frozen=True)
class PoolPrincipal:
    key_id: str
    region: str

    @property
    def actor(self) -> str:
        return f"recorder-pool-key:{self.key_id}"


class RecorderPools:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control

    # -- keys (the operator's) ------------------------------------------------------------------------------
    def create_key(self, actor: str, *, region: str, label: str = "") -> tuple[JSONObject, str]:
        if region not in {r["id"] for r in self.control.residency.list_regions()}:
            raise ApiError(404, "region_not_found", f"region {region!r} is not defined")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self.control._audit(None, actor, "recorder_pool_key.create", key_id=key_id, region=region, label=label)
        rec = self.control.store.add_pool_key(key_id, region, _sha256(secret), label)
        return rec.public(), f"{POOL_KEY_PREFIX}{key_id}.{secret}"

    def enroll_configured_key(self, actor: str, *, region: str, key: str, label: str) -> str:
        """A pool key the deployment made for `region` (the chart's generated Secret), enrolled at start: new, it is
        stored (hashed) and audited; already stored for that region with that secret, nothing changes — and a key an
        operator revoked stays revoked (configuration never revives it). A malformed key, an undefined region, or a
        key id stored with another region or secret is refused. Returns "enrolled", "present" or "revoked"."""
        m = CONFIGURED_KEY.fullmatch(key.strip())
        if m is None:
            raise PoolKeyConfigError(f"the configured pool key for {region!r} is not a crk_<id>.<secret> key")
        key_id, secret = m.groups()
        if region not in {r["id"] for r in self.control.residency.list_regions()}:
            raise PoolKeyConfigError(f"a pool key is configured for region {region!r}, which is not defined")
        stored = self.control.store.pool_key(key_id)
        if stored is None:
            self.control._audit(None, actor, "recorder_pool_key.create", key_id=key_id, region=region, label=label)
            if self.control.store.add_pool_key_if_absent(key_id, region, _sha256(secret), label):
                return "enrolled"
            stored = self.control.store.pool_key(key_id)  # another replica enrolled it meanwhile
            assert stored is not None
        if stored.region != region or not hmac.compare_digest(stored.hash, _sha256(secret)):
            raise PoolKeyConfigError(f"the configured pool key {key_id} for {region!r} contradicts the stored key "
                                     "of that id (another region or secret): nothing was changed")
        if stored.revoked_at is not None:
            log.warning("configured recorder pool key %s (%s) is revoked: it stays revoked", key_id, region)
            return "revoked"
        return "present"

    def list_keys(self) -> list[JSONObject]:
        return [k.public() for k in self.control.store.pool_keys()]

    def revoke_key(self, actor: str, key_id: str) -> None:
        if self.control.store.pool_key(key_id) is None:
            raise ApiError(404, "key_not_found", f"recorder pool key {key_id!r} not found")
        if not self.control.store.revoke_pool_key(key_id):
            raise ApiError(409, "key_already_revoked", f"recorder pool key {key_id!r} is already revoked")
        self.control._audit(None, actor, "recorder_pool_key.revoke", key_id=key_id)

    def authenticate(self, presented: str | None) -> PoolPrincipal:
        if not presented or not presented.startswith(POOL_KEY_PREFIX) or "." not in presented:
            raise ApiError(401, "unauthenticated", "a recorder pool key is required (Authorization: Bearer crk_...)")
        key_id, _, secret = presented[len(POOL_KEY_PREFIX):].partition(".")
        rec = self.control.store.pool_key(key_id)
        ok = rec is not None and hmac.compare_digest(rec.hash, _sha256(secret))
        if rec is None or not ok or rec.revoked_at is not None:
            raise ApiError(401, "unauthenticated", "recorder pool key is unknown or revoked")
        return PoolPrincipal(rec.key_id, rec.region)

    # -- pools and jobs ---------------------------------------------------------------------------------------
    def announce(self, who: PoolPrincipal, *, pool: str, capacity: int, running: list[str]) -> JSONObject:
        """A pool says it lives (region: its key's), how many recorders it may run and which jobs it runs; the
        answer is its jobs to run now (`jobs`) and those of `running` it must stop (`dismissed`)."""
        docs = self.control.residency.docs()
        previous = docs.get_doc(POOLS, pool)
        if previous is not None and previous.get("key_id") != who.key_id:
            raise ApiError(409, "pool_id_taken", f"pool {pool!r} is announced with another key")
        docs.put_doc(POOLS, pool, {"id": pool, "region": who.region, "capacity": capacity, "active": len(running),
                                   "key_id": who.key_id}, ttl=POOL_TTL)
        self.reconcile()
        mine = [j for j in self._jobs().values() if j.pool == pool and j.state == LAUNCH]
        ids = {j.id for j in mine}
        return {"pool": pool, "region": who.region, "jobs": [j.to_dict() for j in mine],
                "dismissed": sorted(set(running) - ids)}

    def _jobs(self, stored: dict[str, dict[str, Any]] | None = None) -> dict[str, Job]:
        out = {}
        docs = self.control.residency.docs().list_docs(JOBS) if stored is None else stored
        for key, doc in docs.items():
            job = Job.from_dict(doc)
            if job is not None and job.key == key:
                out[key] = job
        return out

    def _pools(self) -> list[Pool]:
        out = []
        for key, d in self.control.residency.docs().list_docs(POOLS).items():
            try:
                out.append(Pool(id=key, region=str(d["region"]), capacity=int(d["capacity"]),
                                active=int(d["active"]), key_id=str(d["key_id"])))
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def reconcile(self) -> Plan:
        """Launch and dismiss: every room the nodes want recorded gets a job on a pool of an allowed region (or a
        refusal saying why); every job no longer wanted is dismissed. Concurrent replicas agree: a new job is
        claimed (set-if-absent), so one room never gets two recorders."""
        res = self.control.residency
        docs = res.docs()
        wants = [w for w in res.recording_wants() if self._link_matches(w.tenant, w.room, w.link)]
        stored = docs.list_docs(JOBS)
        jobs = self._jobs(stored)
        tenants, regions, catalogue = res.launch_context({w.tenant for w in wants})
        plan = reconcile(wants, jobs, self._pools(), tenants, regions, catalogue)
        for job in plan.launch:
            if job.key in jobs:  # moved off a dead pool: only if nobody moved it since we read it
                if not docs.swap_doc(JOBS, job.key, stored[job.key], job.to_dict()):
                    continue  # another announcement or replica moved it meanwhile: one recorder, not two
            elif not docs.claim_doc(JOBS, job.key, job.to_dict()):
                continue  # another replica launched it meanwhile
            docs.drop_doc(REFUSALS, job.key)
            LAUNCHED.labels(job.region).inc()
            self.control._audit(job.tenant, "recorder-launcher", "recording.recorder_launched", job=job.id,
                                room=job.room, link=job.link, node=job.node, pool=job.pool, region=job.region,
                                policy=job.policy, generation=job.generation)
            log.info("recorder job %s for %s/%s on pool %s (%s)", job.id, job.tenant, job.room, job.pool,
                     job.region)
        live = {p.id for p in self._pools()}
        for job in plan.dismiss:
            docs.drop_doc(JOBS, job.key)
            if job.pool not in live:  # no recorder is left to seal its part: the recording ends here, gap and all
                self._end_recording(job.tenant, job.room, job.session, None)
            DISMISSED.inc()
            self.control._audit(job.tenant, "recorder-launcher", "recording.recorder_dismissed", job=job.id,
                                room=job.room, pool=job.pool)
            log.info("recorder job %s for %s/%s dismissed", job.id, job.tenant, job.room)
        for r in plan.refused:
            prior = jobs.get(r.want.key)
            if prior is not None and prior.session == r.want.session:
                # its recorder died and none may continue in an allowed region: the recording ends with its gap
                # (never continued elsewhere); the job stays, a recorder that comes back starts a new recording
                self._end_recording(r.want.tenant, r.want.room, r.want.session, r.code)
            doc = {"tenant": r.want.tenant, "room": r.want.room, "code": r.code, "message": r.message}
            if docs.claim_doc(REFUSALS, r.want.key, doc, ttl=REFUSAL_TTL):  # audited and counted once a minute
                REFUSED.labels(r.code).inc()
                self.control._audit(r.want.tenant, "recorder-launcher", "recording.recorder_refused",
                                    room=r.want.room, link=r.want.link, reason=r.code)
                log.warning("no recorder for %s/%s: %s", r.want.tenant, r.want.room, r.message)
        return plan

    def _end_recording(self, tenant: str, room: str, session: str, refused: str | None) -> None:
        recordings = self.control.recordings
        if recordings is None or not session:
            return  # this deployment keeps no recordings here: the pool's own archive keeps the gap open
        archive = recordings.archive
        try:
            if refused is not None:
                rec = archive.continuation_refused(tenant, room, session, refused, "recorder-launcher")
            else:
                rec = archive.session_over(tenant, room, session, "recorder-launcher")
        except Exception:  # noqa: BLE001 - the archive's database: logged, the launcher goes on
            log.exception("could not end the recording of %s/%s", tenant, room)
            return
        if rec is not None:
            log.warning("recording %s of %s/%s ended with a gap (%s)", rec.id, tenant, room,
                        refused or "no recorder left")

    def _link_matches(self, tenant: str, room: str, link: str) -> bool:
        rec = self.control.store.link(link)
        return rec is not None and rec.tenant == tenant and rec.room == room

    def credential(self, who: PoolPrincipal, job_id: str) -> JSONObject:
        """The recorder credential of a job given to a pool announced with this key; nothing else."""
        job = next((j for j in self._jobs().values() if j.id == job_id), None)
        if job is None or job.state != LAUNCH:
            raise ApiError(404, "job_not_found", "no such recorder job (dismissed, or never given)")
        pool = self.control.residency.docs().get_doc(POOLS, job.pool)
        if job.region != who.region or pool is None or pool.get("key_id") != who.key_id:
            raise ApiError(403, "forbidden", "this recorder pool key may not act for that job")
        answer = self.control.recorder_credential(who.actor, tenant=job.tenant, link=job.link, region_hint=None)
        return {**answer, "job": job.id, "tenant": job.tenant, "link": job.link}

    def refusals(self, tenant: str) -> list[JSONObject]:
        return [d for d in self.control.residency.docs().list_docs(REFUSALS).values() if d.get("tenant") == tenant]
