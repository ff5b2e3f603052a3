"""One recording volume per region: each region's recorder pool seals onto its own region's volume, and a control
plane configured with every region's volume (`--recording-region-volumes eu-1=…,eu-2=…`) exports, plays, deletes,
applies retention to and erases from each recording on the volume of the region its files were recorded in. The
hostile side: a recording that claims a region this control plane has no volume for (its objects planted on
another region's volume) is refused whole — nothing read from or deleted on the other region's volume — and the
refused deletions and erasures are audited."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from recording import package
from recording.archive import Archive, Recording, part_prefix
from recording.store import LocalVolumeStore, TenantVault
from residency.db import Database
from tests.control.cp_env import Env, make_env
from tests.control.recording_env import (
    admin_actor,
    audit_records,
    download_export,
    record,
    recorded_plain,
    with_region_recording,
)
from tests.recording.archive_world import TENANT_KEYS

VOLUMES = {"eu-1": "volume-eu-1", "eu-2": "volume-eu-2"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path, configure=with_region_recording(tmp_path, VOLUMES))
    yield e
    e.control.close()


def _objects(env: Env, region: str, rec: str) -> list[str]:
    return sorted(p.name for p in (env.tmp / VOLUMES[region] / "acme" / rec).glob("*"))


def _export(env: Env, rec: str) -> Path:
    """The export, its package's signature verified with the deployment's audit key."""
    pkg = download_export(env, rec)
    pub = load_pem_public_key(env.client.get("/v1/audit/public-key").content)
    package.verify(pkg, [pub])  # type: ignore[list-item]
    return pkg


def test_a_recording_sealed_on_region_bs_volume_is_exported_played_and_deleted_there(env: Env) -> None:
    a = record(env.config, env.tmp, "board-a", {"p-alice": "Alice"}, region="eu-1")
    b = record(env.config, env.tmp, "board-b", {"p-alice": "Alice", "p-bob": "Bob"}, region="eu-2")
    everything = ["chat.jsonl", "p-alice-audio.webm", "p-bob-audio.webm", "timeline.jsonl"]
    assert _objects(env, "eu-2", b.id) == everything and _objects(env, "eu-1", b.id) == []  # its pool's volume
    # the export: every file, from eu-2's volume, the package signed and verified
    pkg = _export(env, b.id)
    for name in everything:
        assert (pkg / name).read_bytes() == recorded_plain(env, b.id, name), name
    # playback, by range
    t = env.client.post(f"/v1/tenants/acme/recordings/{b.id}/files/p-bob-audio.webm/play", json={},
                        headers=env.admin()).json()
    r = env.client.get(t["url"], headers={"Range": "bytes=10-99"})
    assert (r.status_code, r.content) == (206, recorded_plain(env, b.id, "p-bob-audio.webm")[10:100])
    # deletion: gone from eu-2's volume; eu-1's recording untouched
    r = env.client.delete(f"/v1/tenants/acme/recordings/{b.id}", headers=env.admin())
    assert r.status_code == 200, r.text
    assert _objects(env, "eu-2", b.id) == []
    assert len(_objects(env, "eu-1", a.id)) == 3
    (deleted,) = audit_records(env, "recording.deleted")
    assert (deleted.actor, deleted.data["recording"]) == (admin_actor(env), b.id)


def test_retention_and_erasure_reach_region_bs_volume(env: Env) -> None:
    a = record(env.config, env.tmp, "standup", {"p-alice": "Alice"}, region="eu-1")
    b = record(env.config, env.tmp, "board", {"p-alice": "Alice"}, region="eu-2")
    c = record(env.config, env.tmp, "review", {"p-alice": "Alice", "p-bob": "Bob"}, region="eu-2")
    # GDPR erasure of Bob: his track off eu-2's volume, his chat lines out of the copy there
    r = env.client.post("/v1/tenants/acme/recording-subjects/p-bob/erase", json={}, headers=env.admin())
    assert r.json() == {"participant": "p-bob", "erased": [c.id], "kept": []}, r.text
    assert _objects(env, "eu-2", c.id) == ["chat.jsonl", "p-alice-audio.webm", "timeline.jsonl"]
    assert env.control.recordings is not None
    chat = env.control.recordings.archive.vaults.of("eu-2").read("acme", f"{c.id}/chat.jsonl").decode()
    assert "p-bob" not in chat and "p-alice" in chat
    assert _objects(env, "eu-1", c.id) == []  # nothing written on the wrong volume
    # retention: every expired recording deleted on its own region's volume
    env.client.put("/v1/tenants/acme/recording-policy", json={"policy": "allowed", "retention_days": 7},
                   headers=env.admin())
    env.control.recordings.archive.clock = lambda: time.time() + 8 * 86400
    r = env.client.post("/v1/tenants/acme/recording-retention/apply", json={}, headers=env.admin())
    assert r.status_code == 200, r.text
    assert sorted(r.json()["deleted"]) == sorted([a.id, b.id, c.id]) and r.json()["kept_no_store"] == []
    assert [_objects(env, "eu-1", a.id), _objects(env, "eu-2", b.id), _objects(env, "eu-2", c.id)] == [[], [], []]


def test_a_recording_continued_in_another_region_is_read_and_deleted_on_both_volumes(env: Env) -> None:
    """Its first recorder (eu-1) died; eu-2's pool continued it as part 2: each part's files are on the volume of
    the pool that sealed them, and the control plane goes to each."""
    first = record(env.config, env.tmp, "board", {"p-alice": "Alice"}, region="eu-1")
    db = Database(env.config.database())
    try:
        eu2 = Archive(db, TenantVault(LocalVolumeStore(env.tmp / VOLUMES["eu-2"]), TENANT_KEYS))
        rec = eu2.get("acme", first.id)
        # (record() finished it; the continuation is written as the pools write one: a lost part, then a move)
        db.execute("UPDATE recordings SET ended_at = NULL, doc = :d WHERE id = :id",
                   {"d": Recording.to_json(Recording(**{**rec.__dict__, "ended_at": None})), "id": rec.id})
        eu2.recorder_lost("acme", rec.id, 1, "pool:eu-1", "recorder_gone")
        eu2.recorder_moved("acme", rec.id, "eu-2", {"recorder": "pool-eu-2", "participant": "rec-2"}, "pool:eu-2")
        src = env.tmp / "recorder-work" / rec.id / "p-alice-audio.webm"
        name = part_prefix(2) + src.name
        eu2.store_file("acme", rec.id, name, src, "audio", "pool:eu-2", participant="p-alice", codec="opus", part=2)
        eu2.finish("acme", rec.id, {}, "pool:eu-2", part=2)
    finally:
        db.close()
    assert _objects(env, "eu-2", rec.id) == [name] and name not in _objects(env, "eu-1", rec.id)
    pkg = _export(env, rec.id)
    assert (pkg / name).read_bytes() == (pkg / "p-alice-audio.webm").read_bytes() == src.read_bytes()
    r = env.client.delete(f"/v1/tenants/acme/recordings/{rec.id}", headers=env.admin())
    assert r.status_code == 200, r.text
    assert _objects(env, "eu-1", rec.id) == [] and _objects(env, "eu-2", rec.id) == []


def test_a_recording_of_a_region_without_a_volume_is_refused_and_never_read_from_another(env: Env) -> None:
    """eu-3's recording, its objects on eu-1's volume (a pool given the wrong claim, or planted there): this
    control plane has no volume for eu-3, so it neither serves those objects nor deletes them, and says why."""
    planted = record(env.config, env.tmp, "elsewhere", {"p-carol": "Carol"}, region="eu-3",
                     volume=env.tmp / VOLUMES["eu-1"])
    fine = record(env.config, env.tmp, "board", {"p-alice": "Alice"}, region="eu-2")
    on_eu1 = {p: p.read_bytes() for p in (env.tmp / VOLUMES["eu-1"] / "acme" / planted.id).glob("*")}
    assert len(on_eu1) == 3
    base = f"/v1/tenants/acme/recordings/{planted.id}"

    def refused(r: Any) -> None:
        assert (r.status_code, r.json()["error"]) == (503, "no_store_for_region"), r.text
        assert "'eu-3'" in r.json()["message"] and "nothing was read or deleted" in r.json()["message"]
        assert recorded_plain(env, planted.id, "p-carol-audio.webm")[:64] not in r.content

    # listed (its row is in the shared database), but no byte of it is read
    listed = env.client.get("/v1/tenants/acme/recordings", headers=env.admin()).json()["recordings"]
    assert planted.id in {x["id"] for x in listed}
    refused(env.client.get(f"{base}/export", headers=env.admin()))
    refused(env.client.post(f"{base}/files/p-carol-audio.webm/play", json={}, headers=env.admin()))
    refused(env.client.get("/v1/tenants/acme/recording-subjects/p-carol/export", headers=env.admin()))
    assert not audit_records(env, "recording.exported") and not audit_records(env, "recording.accessed")
    assert not audit_records(env, "recording.subject_exported")
    # deletion: refused, audited, the row kept (so its objects are not forgotten), nothing deleted anywhere
    refused(env.client.delete(base, headers=env.admin()))
    (no,) = audit_records(env, "recording.delete_refused")
    assert (no.actor, no.data) == (admin_actor(env), {"recording": planted.id, "reason": "no_store_for_region",
                                                      "region": "eu-3"})
    # GDPR erasure: refused whole and audited
    refused(env.client.post("/v1/tenants/acme/recording-subjects/p-carol/erase", json={}, headers=env.admin()))
    (no_erase,) = audit_records(env, "recording.subject_erase_refused")
    assert no_erase.data == {"participant": "p-carol", "reason": "no_store_for_region", "region": "eu-3"}
    assert not audit_records(env, "recording.subject_erased")
    # retention: the other expired recording goes; this one is named, audited, kept
    env.client.put("/v1/tenants/acme/recording-policy", json={"policy": "allowed", "retention_days": 7},
                   headers=env.admin())
    assert env.control.recordings is not None
    env.control.recordings.archive.clock = lambda: time.time() + 8 * 86400
    r = env.client.post("/v1/tenants/acme/recording-retention/apply", json={}, headers=env.admin())
    assert r.json() == {"deleted": [fine.id], "kept_by_hold": [], "kept_no_store": [planted.id]}, r.text
    by_retention = [x for x in audit_records(env, "recording.delete_refused") if x.data.get("cause") == "retention"]
    assert [(x.data["recording"], x.data["region"]) for x in by_retention] == [(planted.id, "eu-3")]
    listed = env.client.get("/v1/tenants/acme/recordings", headers=env.admin()).json()["recordings"]
    assert [x["id"] for x in listed] == [planted.id]
    assert {p: p.read_bytes() for p in (env.tmp / VOLUMES["eu-1"] / "acme" / planted.id).glob("*")} == on_eu1
    assert json.loads(json.dumps(listed[0]["participants"])) == {"p-carol": "Carol"}


def test_the_region_volumes_are_configured_strictly(tmp_path: Path) -> None:
    from signalling.cli.control_plane import apply_recording
    from signalling.control.config import ControlConfig

    def apply(**kw: Any) -> ControlConfig:
        cfg = ControlConfig(db=tmp_path / "c.db")
        args = {"recording_volume": None, "recording_region_volumes": None, "recording_tenant_keys": "k.json",
                "recording_signing_key": None, **kw}
        apply_recording(cfg, argparse.Namespace(**args))
        return cfg

    cfg = apply(recording_region_volumes="eu-1=/srv/rec-eu-1, eu-2=/srv/rec-eu-2")
    assert cfg.recording_region_volumes == {"eu-1": Path("/srv/rec-eu-1"), "eu-2": Path("/srv/rec-eu-2")}
    assert cfg.recording_volume is None
    with pytest.raises(SystemExit, match="not both"):
        apply(recording_volume="/srv/rec", recording_region_volumes="eu-1=/srv/rec-eu-1")
    with pytest.raises(SystemExit, match="go together"):
        apply(recording_region_volumes="eu-1=/srv/rec-eu-1", recording_tenant_keys=None)
    for bad, why in (("eu-1", "REGION=PATH"), ("eu-1=", "REGION=PATH"), ("EU 1=/x", "not a region id"),
                     ("eu-1=/a,eu-1=/b", "two volumes"), (",", "no REGION=PATH")):
        with pytest.raises(SystemExit, match=why):
            apply(recording_region_volumes=bad)


def test_the_cli_on_the_database_reads_each_region_on_its_own_volume(env: Env, capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    """`castellan recording … --db … --region-volumes eu-1=…,eu-2=…` (the operator's database mode) goes to each
    recording's region's volume as the control plane does; a region it was given no volume for is refused."""
    from signalling import cli

    b = record(env.config, env.tmp, "board", {"p-bob": "Bob"}, region="eu-2")
    planted = record(env.config, env.tmp, "elsewhere", {"p-carol": "Carol"}, region="eu-3",
                     volume=env.tmp / VOLUMES["eu-1"])
    volumes = ",".join(f"{r}={env.tmp / d}" for r, d in VOLUMES.items())
    db = ["--tenant", "acme", "--db", str(env.config.db), "--tenant-keys", str(env.config.recording_tenant_keys),
          "--actor", "admin:operator"]
    out = tmp_path / "bob.webm"
    assert cli.main(["recording", "download", b.id, "p-bob-audio.webm", "--out", str(out), "--region-volumes",
                     volumes, *db]) == 0, capsys.readouterr().err
    assert out.read_bytes() == recorded_plain(env, b.id, "p-bob-audio.webm")
    capsys.readouterr()
    assert cli.main(["recording", "delete", planted.id, "--region-volumes", volumes, *db]) == 1
    assert "no_store_for_region" in capsys.readouterr().err
    assert len(list((env.tmp / VOLUMES["eu-1"] / "acme" / planted.id).glob("*"))) == 3  # nothing deleted
    assert cli.main(["recording", "list", "--volume", str(env.tmp), "--region-volumes", volumes, *db]) == 2
    assert "choose one" in capsys.readouterr().err
