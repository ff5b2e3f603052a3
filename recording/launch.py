"""Which meetings get a recorder launched and which recorders are dismissed: a pure reconciliation of what the nodes
want against the jobs the control plane gave to recorder pools (docs/recording.md, "Launching recorders").

A node wants a recorder for a room whose verified credentials say `required` (while anyone is in it) or `allowed`
with a host's `record_start` in force (sfu/recording.py `wants`). For each wanted room without a job, a pool is
chosen by `recording.placement.place` — the tenant's allowed regions only, the meeting's region preferred, never
spilled; refused, the room gets no job and the refusal says why. A job whose room is no longer wanted (the host's
`record_stop`, the meeting ended, its node gone) is dismissed. A job whose pool is gone is placed again (`replace`,
never the dead pool); the job keeps the want's `session`, so its new recorder continues the same Recording.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

from residency.catalogue import Catalogue
from residency.model import Node, Region, Tenant

from .placement import RecorderPlacement, RecorderRefused, place
from .placement import replace as replace_placement

# the registry's document kinds: one per node (its wanted rooms), one per pool (its announcement), one per job
WANTS = "recording_wants"
POOLS = "recorder_pool"
JOBS = "recorder_job"
REFUSALS = "recorder_refusal"  # the last refusal per room (job_key), for the tenant's admin and the room's node

JOB_ID = re.compile(r"job-[A-Za-z0-9_-]{12}")

LAUNCH = "launch"
DISMISS = "dismiss"


@dataclass(frozen=True)
class Want:
    """A room a node wants recorded (one entry of the node's `recording_wants` document)."""

    tenant: str
    room: str
    link: str
    node: str
    region: str
    policy: str
    session: str = ""  # the node's recording-on: a new record_start is a new session, so a new Recording

    @property
    def key(self) -> str:
        return job_key(self.tenant, self.room)


@dataclass(frozen=True)
class Pool:
    """A recorder pool as it announced itself with its scoped key (region from the key, never from the pool)."""

    id: str
    region: str
    capacity: int
    active: int
    key_id: str

    def as_recorder(self) -> Node:
        load = 1.0 if self.capacity <= 0 else min(1.0, self.active / self.capacity)
        return Node(id=self.id, region=self.region, public_ip="", udp_port=0, ws_url="", http_url="",
                    capacity=self.capacity, load=load)


@dataclass(frozen=True)
class Job:
    id: str
    tenant: str
    room: str
    link: str
    node: str
    region: str  # the pool's
    pool: str
    policy: str
    state: str = LAUNCH
    generation: int = 1
    session: str = ""  # the want's: a replacement recorder continues the session's Recording (with a gap)

    @property
    def key(self) -> str:
        return job_key(self.tenant, self.room)

    def to_dict(self) -> dict[str, str | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Job | None:
        """None for anything that is not a job (a counted drop by the caller)."""
        try:
            fields = {k: d[k] for k in ("id", "tenant", "room", "link", "node", "region", "pool", "policy")}
            if not all(isinstance(v, str) and v for v in fields.values()):
                return None
            if not JOB_ID.fullmatch(str(fields["id"])):  # it names the pool's working directory
                return None
            state, gen, session = d.get("state", LAUNCH), d.get("generation", 1), d.get("session", "")
            if state not in (LAUNCH, DISMISS) or not isinstance(gen, int) or not isinstance(session, str) \
                    or len(session) > 64:
                return None
            return cls(**fields, state=state, generation=gen, session=session)  # type: ignore[arg-type]
        except KeyError:
            return None


@dataclass(frozen=True)
class Refusal:
    want: Want
    code: str
    message: str


@dataclass(frozen=True)
class Plan:
    launch: tuple[Job, ...] = ()  # new jobs, and jobs moved to another pool (generation + 1)
    dismiss: tuple[Job, ...] = ()
    refused: tuple[Refusal, ...] = ()


def job_key(tenant: str, room: str) -> str:
    return f"{tenant}:{room}"


def reconcile(wants: Iterable[Want], jobs: Mapping[str, Job], pools: Iterable[Pool],
              tenants: Mapping[str, Tenant], regions: Mapping[str, Region], catalogue: Catalogue) -> Plan:
    pools = list(pools)
    live = {p.id for p in pools}
    active: dict[str, int] = {p.id: 0 for p in pools}
    for j in jobs.values():
        if j.state == LAUNCH and j.pool in active:
            active[j.pool] += 1
    wanted = {w.key: w for w in wants}
    launch: list[Job] = []
    # a job of another session (a host's stop then start between two rounds) ends with its session; the new
    # session's job is launched at the next round, as a new Recording
    dismiss = [j for k, j in sorted(jobs.items())
               if j.state == LAUNCH and (k not in wanted or wanted[k].session != j.session)]
    gone = {j.key for j in dismiss}
    refused: list[Refusal] = []
    for key, w in sorted(wanted.items()):
        if key in gone:
            continue
        job = jobs.get(key)
        if job is not None and job.state == LAUNCH and job.pool in live:
            continue
        tenant = tenants.get(w.tenant)
        if tenant is None:
            refused.append(Refusal(w, "tenant_not_found", f"tenant {w.tenant!r} does not exist"))
            continue
        recorders = [replace(p, active=active[p.id]).as_recorder() for p in pools]
        try:
            if job is not None and job.state == LAUNCH:  # its pool is gone: another one, never the dead one
                prev = RecorderPlacement(job.tenant, job.room, job.pool, job.region, "", job.generation)
                placed = replace_placement(prev, tenant, regions, recorders, catalogue)
            else:
                placed = place(tenant, w.room, w.region, regions, recorders, catalogue)
        except RecorderRefused as e:
            refused.append(Refusal(w, e.code, e.message))
            continue
        active[placed.recorder] += 1
        launch.append(Job(id="job-" + secrets.token_urlsafe(9), tenant=w.tenant, room=w.room, link=w.link,
                          node=w.node, region=placed.region, pool=placed.recorder, policy=w.policy,
                          generation=placed.generation, session=w.session))
    return Plan(tuple(launch), tuple(dismiss), tuple(refused))
