"""One job's recording: the credential, the archive's record (`archive.begin`), the sink on loopback with its muxer,
the recorder page; and at the end — dismissed, the meeting over, the page dead — the page told to close its files,
the sink stopped and everything sealed into the tenant's vault (`seal_recording`), the clear working files gone."""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recording.archive import Archive, Recording
from recording.launch import Job
from recording.sealing import seal_recording
from recording.sink import Sink, SinkServer

from .intake import Intake
from .launcher import RecorderPage, page_url

log = logging.getLogger("castellan.recorder.pool")

BYE_WAIT = 10.0  # seconds the page has to close its files before the sink is stopped anyway


class JobRun:
    def __init__(self, job: Job, pool: str, archive: Archive, workroot: Path) -> None:
        self.job = job
        self.pool = pool
        self.archive = archive
        self.workdir = workroot / job.id
        self.actor = f"recorder-pool:{pool}"
        self.recording: Recording | None = None
        self.server: SinkServer | None = None
        self.page: RecorderPage | None = None
        self.participant = ""

    def start(self, intake: Intake, open_page: Callable[[str], RecorderPage], client_url: str, secret: str) -> None:
        answer: dict[str, Any] = intake.credential(self.job.id)
        self.participant = str(answer["participant"])
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=False)  # clear part files: this pool's eyes only
        self.recording = self.archive.begin(
            self.job.tenant, meeting=self.job.room, link=self.job.link,
            recorder={"participant": self.participant, "name": str(answer.get("name", "")), "recorder": self.pool},
            region=self.job.region, actor=self.actor)
        self.server = SinkServer(Sink(self.workdir), token=secrets.token_urlsafe(24)).start()
        self.page = open_page(page_url(client_url, answer, secret, self.server.url))
        log.info("job %s: recording %s of %s/%s as %s", self.job.id, self.recording.id, self.job.tenant,
                 self.job.room, self.participant)

    def alive(self) -> bool:
        return self.page is not None and self.page.state() is not None

    def stats(self) -> dict[str, Any]:
        return self.server.call(self.server.sink.stats) if self.server is not None else {}

    def stop(self, reason: str) -> Recording | None:
        """Closes and seals; safe to call once whatever state the start reached."""
        if self.page is not None:
            self.page.bye()
            deadline = time.monotonic() + BYE_WAIT
            server = self.server
            while server is not None and time.monotonic() < deadline and not self.page.crashed:
                if server.call(lambda: server.sink.ended):
                    break
                time.sleep(0.1)
            self.page.close()
        files = self.server.stop() if self.server is not None else []
        sealed = None
        if self.recording is not None:
            sealed = seal_recording(self.archive, self.job.tenant, self.recording.id, self.workdir, files,
                                    self.actor)
            log.info("job %s: recording %s sealed (%s; %d files)", self.job.id, sealed.id, reason, len(sealed.files))
        shutil.rmtree(self.workdir, ignore_errors=True)
        return sealed
