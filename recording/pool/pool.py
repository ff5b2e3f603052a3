"""The pool's loop: announce, then make what runs match the answer — start the jobs given to this pool (up to its
capacity), seal each running job's complete segments (a killed pool loses only what came after them), stop and
seal the dismissed ones (the recording ends) and those whose page died (only that part ends,
with a gap: a job still given is started again at the next round and continues the same Recording — job.py; one
no longer given ends there, the gap lasting to its end). Every round is bounded; a failed job start is logged and
counted, never fatal."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from recording.archive import Archive, Recording

from .attestation import RecorderKeys
from .intake import Intake, IntakeError
from .job import SEGMENT_S, JobRun
from .launcher import RecorderPage

log = logging.getLogger("castellan.recorder.pool")


class LinkSecrets:
    """The link secrets (the `#k=` fragment) of the meetings this pool may record, from a file the tenant provides
    (JSON `{link: secret}`, read at each job start). The control plane never has them (docs/e2ee.md), so it
    cannot hand them out; a job whose link has none here is refused by this pool (`no_link_secret`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, link: str) -> str | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        v = data.get(link) if isinstance(data, dict) else None
        return v if isinstance(v, str) and v else None


class RecorderPool:
    def __init__(self, intake: Intake, archive: Archive, workroot: Path, client_url: str, secrets: LinkSecrets | None,
                 open_page: Callable[[str, dict[str, str]], RecorderPage], segment_s: float | None = SEGMENT_S,
                 recorder_keys: RecorderKeys | None = None) -> None:
        self.intake = intake
        self.archive = archive
        self.workroot = workroot
        self.client_url = client_url
        self.secrets = secrets
        self.recorder_keys = recorder_keys
        self.open_page = open_page
        self.segment_s = segment_s
        self.running: dict[str, JobRun] = {}
        self.sealed: list[Recording] = []
        self.interrupted: dict[str, tuple[str, str]] = {}  # job id -> (tenant, recording) whose page died
        self.failures: Counter[str] = Counter()  # job starts that failed, by reason; unreachable control plane

    def step(self) -> None:
        try:
            answer = self.intake.announce(sorted(self.running))
        except IntakeError as e:
            self.failures[e.code] += 1
            log.warning("announce failed: %s (recordings continue)", e)
            return
        if answer.malformed:
            self.failures["malformed_job"] += answer.malformed
        given = {j.id: j for j in answer.jobs}
        for jid in [*answer.dismissed, *(j for j in self.running if j not in given)]:
            self._stop(jid, "dismissed")
        for jid, run in list(self.running.items()):
            if not run.alive():
                self._stop(jid, "page_died", end=False)
                continue
            try:
                run.seal_segments()
            except Exception:  # noqa: BLE001 - the vault or the database: the segment is sealed at the next round
                self.failures["segment_seal_failed"] += 1
                log.exception("job %s: sealing a segment failed", jid)
            if not run.resumed:
                try:
                    run.media_check()
                except Exception:  # noqa: BLE001 - the archive's database: retried at the next round
                    self.failures["gap_close_failed"] += 1
                    log.exception("job %s: closing its gap failed", jid)
        for jid in [j for j in self.interrupted if j not in given or j in answer.dismissed]:
            self._end_interrupted(jid)
        for job in answer.jobs:
            if job.id in self.running or len(self.running) >= self.intake.capacity:
                continue
            # the link's secret where the tenant deposited it; else its recorder key, with which the page's KeyPackage
            # is attested and a member hands it the link's secrets (docs/recording.md)
            secret = self.secrets.get(job.link) if self.secrets is not None else None
            key = self.recorder_keys.get(job.tenant) if self.recorder_keys is not None and secret is None else None
            if secret is None and key is None:
                self.failures["no_link_secret"] += 1
                log.warning("job %s: neither %s's link secret nor %s's recorder key here: not recorded by this pool",
                            job.id, job.link, job.tenant)
                continue
            run = JobRun(job, self.intake.pool, self.archive, self.workroot, self.segment_s)
            try:
                run.start(self.intake, self.open_page, self.client_url, secret, key)
            except Exception as e:  # noqa: BLE001 - one job's failure (refused credential, browser) is not the pool's
                self.failures[getattr(e, "code", type(e).__name__)] += 1
                log.warning("job %s could not start: %s", job.id, e)
                # its recording stays open with its gap (not ended): the next round's attempt, or another pool's,
                # continues it as its next part; a dismissed job ends it (`_end_interrupted`)
                self._seal(run, "start_failed", end=False)
                continue
            self.running[job.id] = run
            self.interrupted.pop(job.id, None)

    def _stop(self, jid: str, reason: str, end: bool = True) -> None:
        run = self.running.pop(jid, None)
        if run is not None:
            self._seal(run, reason, end)

    def _seal(self, run: JobRun, reason: str, end: bool = True) -> None:
        try:
            rec = run.stop(reason, end=end)
        except Exception:  # noqa: BLE001 - logged; the next job goes on
            self.failures["seal_failed"] += 1
            log.exception("job %s: sealing failed", run.job.id)
            return
        if rec is not None:
            self.sealed.append(rec)
            if not end and rec.ended_at is None:
                self.interrupted[run.job.id] = (run.job.tenant, rec.id)

    def _end_interrupted(self, jid: str) -> None:
        """A job whose page died is no longer given (the host stopped, the meeting ended, or it moved to another
        pool): its recording ends here with its gap, unless another recorder already continues it."""
        tenant, rec_id = self.interrupted.pop(jid)
        try:
            rec = self.archive.get(tenant, rec_id)
            if rec.ended_at is None and any(g.get("to_ms") is None for g in rec.gaps):
                self.sealed.append(self.archive.finish(tenant, rec_id, {}, f"recorder-pool:{self.intake.pool}",
                                                       part=rec.part))
        except Exception:  # noqa: BLE001 - logged; the next job goes on
            self.failures["seal_failed"] += 1
            log.exception("job %s: ending its interrupted recording failed", jid)

    def stop_all(self) -> None:
        """The pool stops (a restart, an upgrade) while recording may stay on: each part is sealed and its gap
        left open, for this pool after its restart or another one of an allowed region to continue (if none
        does, the control plane ends the recording: signalling/control/recorderpools.py)."""
        for jid in list(self.running):
            self._stop(jid, "pool_stopping", end=False)

    def run(self, stopping: threading.Event, interval: float = 1.0) -> None:
        while not stopping.is_set():
            self.step()
            stopping.wait(interval)
        self.stop_all()
