"""A control plane with a recording archive for the API and console tests: the region's volume and a tenant keys
file in tmp_path (the keys of tests/recording/archive_world.py), and recordings made the way the recorder process
makes them — through its own `Archive` on the same database and volume (archive_world.recorded)."""

from __future__ import annotations

import base64
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recording.archive import Archive, Recording
from recording.policy import RecordingPolicy
from recording.sealing import seal_segment
from recording.sink import Segment, TrackFile
from recording.store import LocalVolumeStore, ObjectStore, TenantVault
from residency.db import Database
from signalling.control.config import ControlConfig
from tests.control.cp_env import Env
from tests.recording.archive_world import TENANT_KEYS, recorded


def with_recording(tmp: Path) -> Callable[[ControlConfig], None]:
    keys = tmp / "tenant-keys.json"
    keys.write_text(json.dumps({t: {"id": i, "key": base64.b64encode(k).decode()} for t, (i, k) in TENANT_KEYS.items()}))

    def configure(config: ControlConfig) -> None:
        config.recording_volume = tmp / "recordings"
        config.recording_tenant_keys = keys

    return configure


def with_region_recording(tmp: Path, volumes: dict[str, str]) -> Callable[[ControlConfig], None]:
    """One recording volume per region (`--recording-region-volumes`): region -> a directory name in tmp."""
    plain = with_recording(tmp)

    def configure(config: ControlConfig) -> None:
        plain(config)
        config.recording_volume = None
        config.recording_region_volumes = {r: tmp / d for r, d in volumes.items()}

    return configure


def pool_volume(config: ControlConfig, region: str) -> Path:
    """Where `region`'s recorder pool seals (the volume it mounts): the region's own, else the one shared."""
    volume = config.recording_region_volumes.get(region, config.recording_volume)
    assert volume is not None
    return volume


def record(config: ControlConfig, tmp: Path, meeting: str, participants: dict[str, str], link: str | None = None,
           tenant: str = "acme", region: str = "eu-1", volume: Path | None = None,
           store: ObjectStore | None = None) -> Recording:
    """A finished recording (one audio file per participant, chat, timeline), stored as `region`'s recorder pool
    would, on its volume (`volume`: another one it was given; `store`: the pool's S3 bucket)."""
    db = Database(config.database())
    try:
        archive = Archive(db, TenantVault(store or LocalVolumeStore(volume or pool_volume(config, region)),
                                          TENANT_KEYS))
        work = tmp / "recorder-work"
        work.mkdir(exist_ok=True)
        return recorded(archive, work, meeting, participants, link=link, tenant=tenant, region=region)
    finally:
        db.close()


def record_segmented(config: ControlConfig, tmp: Path, meeting: str, participants: dict[str, str],
                     tracks: dict[tuple[str, str, str], Callable[[int, Path], Path | None]], segments: int,
                     segment_ms: int = 1500,
                     tenant: str = "acme", region: str = "eu-1", store: ObjectStore | None = None) -> Recording:
    """A finished recording sealed in rolling segments as a recorder pool seals them (recording/sealing.py
    `seal_segment`, docs/recording.md "Segments"): `segments` segments of `segment_ms`, each with a file per track
    (`tracks`: (participant, track, kind) -> what writes segment n's file at the path given, the sink's name; None
    when the track has nothing in that segment) and its timeline and chat slices (each participant's join, under
    their display name, in the first); `store`: the pool's S3 bucket instead of its volume."""
    db = Database(config.database())
    try:
        archive = Archive(db, TenantVault(store or LocalVolumeStore(pool_volume(config, region)), TENANT_KEYS))
        if archive.policy(tenant, None) is RecordingPolicy.OFF:
            archive.set_policy(tenant, RecordingPolicy.ALLOWED, "admin:alice")
        rec = archive.begin(tenant, meeting, None, {"participant": "rec-1", "name": "ACME archive", "recorder": "r-eu"},
                            region, "recorder:r-eu", session="s-seg")
        work = tmp / "recorder-work" / rec.id
        work.mkdir(parents=True)
        start = int(rec.parts[0]["from_ms"])
        for n in range(1, segments + 1):
            files = []
            for (participant, track, kind), write in tracks.items():
                path = write(n, work / f"{participant}-{track}-{kind}.part1.seg{n:04d}.webm")
                if path is not None:
                    files.append(TrackFile(path, participant, track, kind, "vp8" if kind == "video" else "opus"))
            timeline = work / f"timeline.seg{n:04d}.jsonl"
            timeline.write_text("".join(json.dumps({"kind": "join", "participant": p, "name": name, "t": start}) + "\n"
                                        for p, name in participants.items()) if n == 1 else "")
            chat = work / f"chat.seg{n:04d}.jsonl"
            chat.write_text(json.dumps({"kind": "chat", "from": next(iter(participants)), "t": start,
                                        "text": f"segment {n}"}) + "\n")
            seal_segment(archive, tenant, rec.id, Segment(n, start + (n - 1) * segment_ms, start + n * segment_ms,
                                                           files, [(timeline, "timeline"), (chat, "chat")]),
                         "recorder-pool:r-eu")
        return archive.finish(tenant, rec.id, participants, "recorder-pool:r-eu")
    finally:
        db.close()


def add_file(config: ControlConfig, rec: Recording, path: Path, kind: str, participant: str, codec: str,
             tenant: str = "acme") -> None:
    """One more track file of a recording, stored (sealed) as the recorder stores the tracks it muxed."""
    db = Database(config.database())
    try:
        archive = Archive(db, TenantVault(LocalVolumeStore(pool_volume(config, rec.regions[-1])), TENANT_KEYS))
        archive.store_file(tenant, rec.id, path.name, path, kind, "recorder:r-eu", participant=participant,
                           codec=codec)
    finally:
        db.close()


def admin_actor(env: Env) -> str:
    """The audit actor of the environment's tenant admin key."""
    return "admin-key:" + env.admin_key.removeprefix("cak_").partition(".")[0]


def audit_records(env: Env, kind: str) -> list[Any]:
    """The tenant's audit records of `kind`, oldest first."""
    return [r for r in env.residency.audit.tenant_records("acme") if r.kind == kind]


def recorded_plain(env: Env, rec: str, name: str) -> bytes:
    """File `name` of recording `rec` as its recorder wrote it, before sealing (what an export must give back)."""
    return (env.tmp / "recorder-work" / rec / name).read_bytes()


def download_export(env: Env, rec: str) -> Path:
    """The admin's export of `rec` (a tar of the signed package), unpacked; returns the package's directory."""
    r = env.client.get(f"/v1/tenants/acme/recordings/{rec}/export", headers=env.admin())
    assert r.status_code == 200, r.text
    (env.tmp / "dl.tar").write_bytes(r.content)
    with tarfile.open(env.tmp / "dl.tar") as t:
        t.extractall(env.tmp / "exported", filter="data")
    return env.tmp / "exported" / rec
