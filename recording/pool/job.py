"""One job's recording: the credential, the archive's record, the sink on loopback with its muxer, the recorder
page; each complete segment sealed into the tenant's vault as it records (`seal_segments`, at every pool round); and
at the end — dismissed, the meeting over, the page dead — the page told to close its files, the sink stopped and
the rest sealed (`seal_recording`), the clear working files gone.

Here the pool decides whether it starts a new Recording or continues one: a job of a recording-on `session` whose
Recording is still open (its recorder died — a page, a pool — and recording stays on) is continued as a new part,
with the gap noted in the archive and at the head of this part's timeline (`archive.recorder_moved`). Otherwise
(`archive.begin`) a new Recording starts: a host's stop then start is a new session."""

from __future__ import annotations

import functools
import logging
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording.archive import Archive, Recording, RecordingError
from recording.launch import Job
from recording.sealing import seal_recording, seal_segment
from recording.sink import Segment, Sink, SinkServer

from .attestation import attest
from .intake import Intake
from .launcher import RecorderPage, recorder_job

log = logging.getLogger("castellan.recorder.pool")

BYE_WAIT = 10.0  # seconds the page has to close its files before the sink is stopped anyway
SEGMENT_S = 60.0  # each track's file is closed and sealed this often (docs/recording.md, "Segments")


class JobRun:
    def __init__(self, job: Job, pool: str, archive: Archive, workroot: Path,
                 segment_s: float | None = SEGMENT_S) -> None:
        self.job = job
        self.pool = pool
        self.archive = archive
        self.workdir = workroot / job.id
        self.actor = f"recorder-pool:{pool}"
        self.recording: Recording | None = None
        self.server: SinkServer | None = None
        self.page: RecorderPage | None = None
        self.participant = ""
        self.part = 1
        self.resumed = True
        self.segment_s = segment_s
        self._pending: list[Segment] = []  # taken from the sink, not yet sealed (a failed seal is tried again)

    def start(self, intake: Intake, open_page: Callable[[str, dict[str, str]], RecorderPage], client_url: str,
              secret: str | None, recorder_key: Ed25519PrivateKey | None = None) -> None:
        answer: dict[str, Any] = intake.credential(self.job.id)
        self.participant = str(answer["participant"])
        attester = None
        if recorder_key is not None:  # the job's own tenant, room and participant: never what the page says
            tenant, room, participant = self.job.tenant, self.job.room, self.participant
            attester = functools.partial(attest, recorder_key, tenant, room, participant)
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=False)  # clear part files: this pool's eyes only
        recorder = {"participant": self.participant, "name": str(answer.get("name", "")), "recorder": self.pool}
        self.recording = self._continued(recorder) or self.archive.begin(
            self.job.tenant, meeting=self.job.room, link=self.job.link, recorder=recorder, region=self.job.region,
            actor=self.actor, session=self.job.session)
        self.part = self.recording.part
        self.resumed = self.part == 1  # a continuation's gap ends at its first frame (`media_check`)
        self.server = SinkServer(Sink(self.workdir, segment_s=self.segment_s), token=secrets.token_urlsafe(24),
                                 attest=attester).start()
        self.page = open_page(client_url, recorder_job(answer, secret, self.server.url))
        log.info("job %s: recording %s of %s/%s as %s", self.job.id, self.recording.id, self.job.tenant,
                 self.job.room, self.participant)

    def _continued(self, recorder: dict[str, str]) -> Recording | None:
        """The session's open Recording, continued by this recorder as its next part; None to begin one."""
        open_rec = self.archive.open_session(self.job.tenant, self.job.room, self.job.session)
        if open_rec is None:
            return None
        try:
            return self.archive.recorder_moved(self.job.tenant, open_rec.id, self.job.region, recorder, self.actor)
        except RecordingError:  # it ended meanwhile (refused, dismissed): a new one
            return None

    def media_check(self) -> None:
        """A continuing part's first frame closes the gap before it (archive and this part's timeline)."""
        server, rec = self.server, self.recording
        if self.resumed or server is None or rec is None:
            return
        first = self.stats().get("first_frame_ms")
        if first is None:
            return
        self.resumed = True
        rec = self.archive.media_resumed(self.job.tenant, rec.id, self.part, int(first), self.actor)
        gap = rec.gaps[-1]
        fields = {"from_ms": gap["from_ms"], "to_ms": gap["to_ms"], "recorder": gap["recorder"],
                  "replaced_by": self.pool, "region": self.job.region, "reason": "recorder replaced",
                  "part": self.part}
        server.call(lambda: server.sink.timeline.add("gap", server.sink.now_ms(), fields))

    def seal_segments(self) -> None:
        """The sink's complete segments into the vault, as the part goes on."""
        server, rec = self.server, self.recording
        if server is None or rec is None:
            return
        self._pending += server.call(server.sink.take_ready)
        while self._pending:
            seal_segment(self.archive, self.job.tenant, rec.id, self._pending[0], self.actor, self.part)
            self._pending.pop(0)

    def alive(self) -> bool:
        return self.page is not None and self.page.state() is not None

    def stats(self) -> dict[str, Any]:
        return self.server.call(self.server.sink.stats) if self.server is not None else {}

    def stop(self, reason: str, end: bool = True) -> Recording | None:
        """Closes and seals; safe to call once whatever state the start reached. `end`: the recording ends
        (dismissed); otherwise only this part does (its recorder died; recording stays on), the gap left open."""
        if self.page is not None:
            self.page.bye()
            deadline = time.monotonic() + BYE_WAIT
            server = self.server
            while server is not None and time.monotonic() < deadline and not self.page.crashed:
                if server.call(lambda: server.sink.ended):
                    break
                time.sleep(0.1)
            self.page.close()
            if reason != "dismissed" or not self.recording:  # why a page died or never recorded: its own words
                log.warning("job %s: recorder page console (%s), last lines:\n%s", self.job.id, reason,
                            "\n".join(self.page.console[-40:]))
        last_ms = None
        if self.server is not None:
            self.media_check()
            last_ms = self.stats().get("last_frame_ms")
        files = self.server.stop() if self.server is not None else []
        segments = [*self._pending, *(self.server.sink.take_ready() if self.server is not None else [])]
        sealed = None
        if self.recording is not None:
            sealed = seal_recording(self.archive, self.job.tenant, self.recording.id, self.workdir, files,
                                    self.actor, part=self.part, end=end, cause=reason, last_ms=last_ms,
                                    segments=segments)
            log.info("job %s: recording %s sealed (%s; %d files)", self.job.id, sealed.id, reason, len(sealed.files))
        shutil.rmtree(self.workdir, ignore_errors=True)
        return sealed
