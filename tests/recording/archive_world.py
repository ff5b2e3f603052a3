"""A real archive for the tests: SQLite database (with the real migrations), local volume, a fake clock."""

from __future__ import annotations

import os
from pathlib import Path

from recording.archive import Archive, Recording
from recording.policy import RecordingPolicy
from recording.store import LocalVolumeStore, TenantVault
from residency.db import Database
from tests.residency.residency_world import FakeClock

TENANT_KEYS = {"acme": ("acme-kek-1", os.urandom(32)), "globex": ("globex-kek-1", os.urandom(32))}


def make_archive(tmp: Path, clock: FakeClock) -> Archive:
    db = Database(tmp / "castellan.db")
    return Archive(db, TenantVault(LocalVolumeStore(tmp / "volume"), TENANT_KEYS), clock=clock)


def recorded(archive: Archive, tmp: Path, meeting: str, participants: dict[str, str], link: str | None = "link-1",
             tenant: str = "acme", region: str = "eu-1") -> Recording:
    """A finished recording with one audio file per participant, a chat and a timeline, made by `region`'s pool."""
    if archive.policy(tenant, link) is RecordingPolicy.OFF:
        archive.set_policy(tenant, RecordingPolicy.ALLOWED, "admin:alice")
    rec = archive.begin(tenant, meeting, link, {"participant": "rec-1", "name": "ACME archive", "recorder": "r-eu"},
                        region, "recorder:r-eu")
    work = tmp / rec.id
    work.mkdir()
    chat, tl = [], []
    for pid, name in participants.items():
        f = work / f"{pid}-audio.webm"
        f.write_bytes(os.urandom(2000) + pid.encode())
        archive.store_file(tenant, rec.id, f.name, f, "audio", "recorder:r-eu", participant=pid, codec="opus")
        chat.append(f'{{"from": "{pid}", "kind": "chat", "t": 1, "text": "hello from {name}"}}\n')
        tl.append(f'{{"kind": "join", "participant": "{pid}", "t": 0}}\n')
    (work / "chat.jsonl").write_text("".join(chat))
    (work / "timeline.jsonl").write_text("".join(tl))
    archive.store_file(tenant, rec.id, "chat.jsonl", work / "chat.jsonl", "chat", "recorder:r-eu")
    archive.store_file(tenant, rec.id, "timeline.jsonl", work / "timeline.jsonl", "timeline", "recorder:r-eu")
    return archive.finish(tenant, rec.id, participants, "recorder:r-eu")
