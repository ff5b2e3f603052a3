"""A control plane with a recording archive for the API and console tests: the region's volume and a tenant keys
file in tmp_path (the keys of tests/recording/archive_world.py), and recordings made the way the recorder process
makes them — through its own `Archive` on the same database and volume (archive_world.recorded)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from recording.archive import Archive, Recording
from recording.store import LocalVolumeStore, TenantVault
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


def record(config: ControlConfig, tmp: Path, meeting: str, participants: dict[str, str], link: str | None = None,
           tenant: str = "acme") -> Recording:
    """A finished recording (one audio file per participant, chat, timeline), stored as the recorder would."""
    assert config.recording_volume is not None
    db = Database(config.database())
    try:
        archive = Archive(db, TenantVault(LocalVolumeStore(config.recording_volume), TENANT_KEYS))
        work = tmp / "recorder-work"
        work.mkdir(exist_ok=True)
        return recorded(archive, work, meeting, participants, link=link, tenant=tenant)
    finally:
        db.close()


def add_file(config: ControlConfig, rec: Recording, path: Path, kind: str, participant: str, codec: str,
             tenant: str = "acme") -> None:
    """One more track file of a recording, stored (sealed) as the recorder stores the tracks it muxed."""
    assert config.recording_volume is not None
    db = Database(config.database())
    try:
        archive = Archive(db, TenantVault(LocalVolumeStore(config.recording_volume), TENANT_KEYS))
        archive.store_file(tenant, rec.id, path.name, path, kind, "recorder:r-eu", participant=participant,
                           codec=codec)
    finally:
        db.close()


def admin_actor(env: Env) -> str:
    """The audit actor of the environment's tenant admin key."""
    return "admin-key:" + env.admin_key.removeprefix("cak_").partition(".")[0]
