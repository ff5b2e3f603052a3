"""Recordings in S3 buckets, one per region (`--recording-region-s3`), against real S3-compatible servers on
loopback (tests/support/s3server.py: one server per region, as two regions' object stores are two services). A
region's recorder pool seals into its own region's bucket; the control plane exports (signed, verified by
`castellan recording verify`), plays by range, deletes, applies retention to and erases from each recording in the
bucket of the region it was recorded in, and a legal hold still keeps a recording there.

The hostile side: another region's bucket is never written (its server's directory stays empty); an object altered
in the bucket fails to authenticate (503, no byte of it served); a recording of a region with no S3 entry is
refused (`no_store_for_region`) though its objects sit in another region's bucket; wrong credentials are a clear
503 naming the bucket, never the secret; a region given both a volume and a bucket, or credentials in the
location file, stops the start."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recording.s3 import S3Store
from recording.s3config import ACCESS_KEY_FILE, SECRET_FILE, load_region_s3
from tests.control.cp_env import Env, make_env
from tests.control.recording_env import (
    admin_actor,
    audit_records,
    download_export,
    record,
    recorded_plain,
    with_recording,
)
from tests.fixtures.s3 import StartS3
from tests.support.s3server import S3Server

BUCKETS = {"eu-1": "rec-eu-1", "eu-2": "rec-eu-2"}


@dataclass
class World:
    env: Env
    servers: dict[str, S3Server]  # region -> its object store

    def pool(self, region: str) -> S3Store:
        """The store `region`'s recorder pool seals into (its own bucket, its own credentials)."""
        return S3Store(self.servers[region].location(BUCKETS[region]))

    def objects(self, region: str, rec: str = "") -> list[str]:
        """What is in `region`'s bucket under acme/<rec>, read from its server's disk (not through S3)."""
        keys = self.servers[region].objects(BUCKETS[region])
        return sorted(k.rpartition("/")[2] for k in keys if k.startswith(f"acme/{rec}/")) if rec else keys

    def everything_on(self, region: str) -> list[str]:
        return self.servers[region].objects()


def _world(tmp_path: Path, s3_server: StartS3, wrong_secret_for: str = "") -> World:
    """Each region's server, and a control plane given their locations; `wrong_secret_for`: that region's
    credentials directory holds the right access key id with a wrong secret."""
    servers = {r: s3_server(b, name=f"s3-{r}") for r, b in BUCKETS.items()}
    plain = with_recording(tmp_path)
    credentials: dict[str, Path] = {}
    if wrong_secret_for:
        wrong = credentials[wrong_secret_for] = tmp_path / f"wrong-{wrong_secret_for}"
        wrong.mkdir()
        (wrong / ACCESS_KEY_FILE).write_text(servers[wrong_secret_for].access_key)
        (wrong / SECRET_FILE).write_text("not-" + servers[wrong_secret_for].secret)
    location_file = tmp_path / "region-s3.json"
    location_file.write_text(json.dumps({r: s.config(BUCKETS[r], credentials.get(r)) for r, s in servers.items()}))

    def configure(config: Any) -> None:
        plain(config)
        config.recording_volume = None
        config.recording_region_s3 = load_region_s3(location_file)  # what --recording-region-s3 FILE reads

    return World(make_env(tmp_path, configure=configure), servers)


@pytest.fixture
def world(tmp_path: Path, s3_server: StartS3) -> Iterator[World]:
    w = _world(tmp_path, s3_server)
    yield w
    w.env.control.close()


def test_a_recording_in_region_bs_bucket_is_exported_verified_played_and_deleted_there(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from signalling import cli

    env = world.env
    b = record(env.config, env.tmp, "board-b", {"p-alice": "Alice", "p-bob": "Bob"}, region="eu-2",
               store=world.pool("eu-2"))
    everything = ["chat.jsonl", "p-alice-audio.webm", "p-bob-audio.webm", "timeline.jsonl"]
    assert world.objects("eu-2", b.id) == everything
    assert world.everything_on("eu-1") == []  # the other region's object store was never written
    for key in world.objects("eu-2"):  # the bucket holds ciphertext only
        raw = world.servers["eu-2"].object_file(BUCKETS["eu-2"], key).read_bytes()
        assert b"hello from" not in raw and b"p-bob" not in raw
    # the export: every file read back from eu-2's bucket, the package signed; verified offline by the CLI
    pkg = download_export(env, b.id)
    for name in everything:
        assert (pkg / name).read_bytes() == recorded_plain(env, b.id, name), name
    pub = env.tmp / "audit-public.pem"
    pub.write_bytes(env.client.get("/v1/audit/public-key").content)
    capsys.readouterr()
    assert cli.main(["recording", "verify", str(pkg), "--public-key", str(pub)]) == 0
    assert f"OK: recording {b.id}" in capsys.readouterr().out
    (pkg / "p-bob-audio.webm").write_bytes(b"swapped")
    assert cli.main(["recording", "verify", str(pkg), "--public-key", str(pub)]) == 1
    # playback by range: a ranged GET on the bucket, only the chunk touched opened
    t = env.client.post(f"/v1/tenants/acme/recordings/{b.id}/files/p-bob-audio.webm/play", json={},
                        headers=env.admin()).json()
    r = env.client.get(t["url"], headers={"Range": "bytes=10-99"})
    assert (r.status_code, r.content) == (206, recorded_plain(env, b.id, "p-bob-audio.webm")[10:100])
    # deletion: gone from eu-2's bucket (the tenant's wrapped data key stays); eu-1's store still untouched
    r = env.client.delete(f"/v1/tenants/acme/recordings/{b.id}", headers=env.admin())
    assert r.status_code == 200, r.text
    assert world.objects("eu-2", b.id) == [] and world.objects("eu-2") == ["acme/dek.json"]
    assert world.everything_on("eu-1") == []
    (deleted,) = audit_records(env, "recording.deleted")
    assert (deleted.actor, deleted.data["recording"]) == (admin_actor(env), b.id)


def test_retention_erasure_and_legal_hold_are_enforced_in_the_buckets(world: World) -> None:
    env = world.env
    a = record(env.config, env.tmp, "standup", {"p-alice": "Alice"}, region="eu-1", store=world.pool("eu-1"))
    held = record(env.config, env.tmp, "inquiry", {"p-alice": "Alice"}, region="eu-2", store=world.pool("eu-2"))
    c = record(env.config, env.tmp, "review", {"p-alice": "Alice", "p-bob": "Bob"}, region="eu-2",
               store=world.pool("eu-2"))
    # a legal hold on one meeting: deleting it is refused, nothing in its bucket touched
    r = env.client.post("/v1/tenants/acme/recording-holds", json={"scope": "meeting", "target": "inquiry",
                                                                   "reason": "case 2026-17"}, headers=env.admin())
    assert r.status_code in (200, 201), r.text
    before = {k: world.servers["eu-2"].object_file(BUCKETS["eu-2"], k).read_bytes() for k in world.objects("eu-2")}
    r = env.client.delete(f"/v1/tenants/acme/recordings/{held.id}", headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (409, "legal_hold"), r.text
    # GDPR erasure of Bob: his track out of eu-2's bucket, his chat lines out of the copy there
    r = env.client.post("/v1/tenants/acme/recording-subjects/p-bob/erase", json={}, headers=env.admin())
    assert r.json() == {"participant": "p-bob", "erased": [c.id], "kept": []}, r.text
    assert world.objects("eu-2", c.id) == ["chat.jsonl", "p-alice-audio.webm", "timeline.jsonl"]
    assert env.control.recordings is not None
    chat = env.control.recordings.archive.vaults.of("eu-2").read("acme", f"{c.id}/chat.jsonl").decode()
    assert "p-bob" not in chat and "p-alice" in chat
    assert world.objects("eu-1", c.id) == []  # nothing written in the wrong region's bucket
    # retention: the expired recordings deleted in their own region's bucket; the held one kept, bytes unchanged
    env.client.put("/v1/tenants/acme/recording-policy", json={"policy": "allowed", "retention_days": 7},
                   headers=env.admin())
    env.control.recordings.archive.clock = lambda: time.time() + 8 * 86400
    r = env.client.post("/v1/tenants/acme/recording-retention/apply", json={}, headers=env.admin())
    assert r.status_code == 200, r.text
    assert sorted(r.json()["deleted"]) == sorted([a.id, c.id]) and r.json()["kept_by_hold"] == [held.id]
    assert world.objects("eu-1", a.id) == [] and world.objects("eu-2", c.id) == []
    assert {k: world.servers["eu-2"].object_file(BUCKETS["eu-2"], k).read_bytes()
            for k in world.objects("eu-2") if held.id in k} == {k: v for k, v in before.items() if held.id in k}
    assert len(world.objects("eu-2", held.id)) == 3


def test_an_object_altered_in_the_bucket_is_refused_not_served(world: World) -> None:
    env = world.env
    b = record(env.config, env.tmp, "board", {"p-bob": "Bob"}, region="eu-2", store=world.pool("eu-2"))
    f = world.servers["eu-2"].object_file(BUCKETS["eu-2"], f"acme/{b.id}/p-bob-audio.webm")
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 1
    f.write_bytes(bytes(raw))
    t = env.client.post(f"/v1/tenants/acme/recordings/{b.id}/files/p-bob-audio.webm/play", json={},
                        headers=env.admin()).json()
    r = env.client.get(t["url"], headers={"Range": "bytes=0-99"})
    assert (r.status_code, r.json()["error"]) == (503, "recording_unreadable"), r.text
    assert "does not authenticate" in r.json()["message"]
    r = env.client.get(f"/v1/tenants/acme/recordings/{b.id}/export", headers=env.admin())
    assert r.status_code == 503, r.text
    assert recorded_plain(env, b.id, "p-bob-audio.webm")[:64] not in r.content


def test_a_recording_of_a_region_without_a_bucket_is_refused_though_its_objects_are_in_another(world: World) -> None:
    """eu-3's recording, its objects in eu-1's bucket (a pool given the wrong location, or planted): this control
    plane has no store for eu-3, so it neither serves nor deletes them."""
    env = world.env
    planted = record(env.config, env.tmp, "elsewhere", {"p-carol": "Carol"}, region="eu-3", store=world.pool("eu-1"))
    on_eu1 = {k: world.servers["eu-1"].object_file(BUCKETS["eu-1"], k).read_bytes() for k in world.objects("eu-1")}
    assert len(on_eu1) == 4  # the tenant's data key and three objects
    base = f"/v1/tenants/acme/recordings/{planted.id}"
    for r in (env.client.get(f"{base}/export", headers=env.admin()),
              env.client.post(f"{base}/files/p-carol-audio.webm/play", json={}, headers=env.admin()),
              env.client.delete(base, headers=env.admin())):
        assert (r.status_code, r.json()["error"]) == (503, "no_store_for_region"), r.text
        assert "'eu-3'" in r.json()["message"] and "volume or S3 bucket" in r.json()["message"]
    assert {k: world.servers["eu-1"].object_file(BUCKETS["eu-1"], k).read_bytes()
            for k in world.objects("eu-1")} == on_eu1
    (no,) = audit_records(env, "recording.delete_refused")
    assert no.data == {"recording": planted.id, "reason": "no_store_for_region", "region": "eu-3"}


def test_wrong_credentials_are_a_clear_503_and_the_secret_is_never_shown(tmp_path: Path, s3_server: StartS3,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    w = _world(tmp_path, s3_server, wrong_secret_for="eu-2")
    try:
        env = w.env
        b = record(env.config, env.tmp, "board", {"p-bob": "Bob"}, region="eu-2", store=w.pool("eu-2"))
        for r in (env.client.get(f"/v1/tenants/acme/recordings/{b.id}/export", headers=env.admin()),
                  env.client.delete(f"/v1/tenants/acme/recordings/{b.id}", headers=env.admin())):
            assert (r.status_code, r.json()["error"]) == (503, "recording_store_unavailable"), r.text
            msg = r.json()["message"]
            assert "rec-eu-2" in msg and "refused this deployment's credentials" in msg, msg
            assert w.servers["eu-2"].secret not in r.text
        assert w.objects("eu-2", b.id) == ["chat.jsonl", "p-bob-audio.webm", "timeline.jsonl"]  # nothing deleted
        assert w.servers["eu-2"].secret not in caplog.text and "hello from" not in caplog.text
        # the region with good credentials is unaffected
        a = record(env.config, env.tmp, "standup", {"p-alice": "Alice"}, region="eu-1", store=w.pool("eu-1"))
        r = env.client.get(f"/v1/tenants/acme/recordings/{a.id}/export", headers=env.admin())
        assert r.status_code == 200, r.text
    finally:
        w.env.control.close()


def test_the_region_stores_are_configured_strictly(tmp_path: Path) -> None:
    from signalling.cli.control_plane import apply_recording
    from signalling.control.config import ControlConfig
    from signalling.control.recordings import RecordingConfigError, open_recordings

    creds = tmp_path / "creds"
    creds.mkdir()
    ok = {"endpoint": "https://s3.eu.example.org", "bucket": "rec-eu-1", "credentials": str(creds)}
    s3 = tmp_path / "s3.json"
    s3.write_text(json.dumps({"eu-1": ok}))

    def apply(**kw: Any) -> ControlConfig:
        cfg = ControlConfig(db=tmp_path / "c.db")
        args = {"recording_volume": None, "recording_region_volumes": None, "recording_region_s3": None,
                "recording_tenant_keys": "k.json", "recording_signing_key": None, **kw}
        apply_recording(cfg, argparse.Namespace(**args))
        return cfg

    cfg = apply(recording_region_s3=str(s3), recording_region_volumes="eu-2=/srv/rec-eu-2")
    assert cfg.recording_region_s3["eu-1"].bucket == "rec-eu-1" and set(cfg.recording_region_volumes) == {"eu-2"}
    with pytest.raises(SystemExit, match="both a volume and an S3 bucket"):
        apply(recording_region_s3=str(s3), recording_region_volumes="eu-1=/srv/rec-eu-1")
    with pytest.raises(SystemExit, match="not both"):
        apply(recording_region_s3=str(s3), recording_volume="/srv/rec")
    with pytest.raises(SystemExit, match="go together"):
        apply(recording_region_s3=str(s3), recording_tenant_keys=None)
    s3.write_text(json.dumps({"eu-1": {**ok, "secret_access_key": "hunter2"}}))
    with pytest.raises(SystemExit, match="credentials are not given in this file") as e:
        apply(recording_region_s3=str(s3))
    assert "hunter2" not in str(e.value)
    # the credentials directory without its files: the control plane does not start, and says which file
    s3.write_text(json.dumps({"eu-1": ok}))
    cfg = apply(recording_region_s3=str(s3))
    keys = with_recording(tmp_path)
    keys(cfg)
    cfg.recording_volume = None
    with pytest.raises(RecordingConfigError, match=f"{ACCESS_KEY_FILE} cannot be read"):
        open_recordings(cfg, None, None)  # type: ignore[arg-type]


def test_the_cli_on_the_database_reads_a_regions_bucket(world: World, capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    """`castellan recording … --db … --region-s3 FILE` (the operator's database mode) reads each recording in its
    region's bucket as the control plane does."""
    from signalling import cli

    env = world.env
    b = record(env.config, env.tmp, "board", {"p-bob": "Bob"}, region="eu-2", store=world.pool("eu-2"))
    db = ["--tenant", "acme", "--db", str(env.config.db), "--tenant-keys", str(env.config.recording_tenant_keys),
          "--actor", "admin:operator"]
    out = tmp_path / "bob.webm"
    assert cli.main(["recording", "download", b.id, "p-bob-audio.webm", "--out", str(out), "--region-s3",
                     str(env.tmp / "region-s3.json"), *db]) == 0, capsys.readouterr().err
    assert out.read_bytes() == recorded_plain(env, b.id, "p-bob-audio.webm")
    capsys.readouterr()
    assert cli.main(["recording", "list", "--volume", str(env.tmp), "--region-s3", str(env.tmp / "region-s3.json"),
                     *db]) == 2
    assert "choose one" in capsys.readouterr().err


def test_the_pool_configured_with_its_regions_bucket_seals_segments_there(world: World, tmp_path: Path) -> None:
    """`castellan recorder-pool --s3 FILE` (the chart's CASTELLAN_RECORDING_S3): the pool's store is its region's
    bucket; the rolling segments it seals land there, and the control plane exports them whole."""
    import os

    from recording.pool.__main__ import open_store, parse_args
    from tests.control.recording_env import record_segmented

    env = world.env
    location = tmp_path / "pool-eu-2.json"
    location.write_text(json.dumps(world.servers["eu-2"].config(BUCKETS["eu-2"])))
    base = ["--control-plane-url", "http://127.0.0.1:9", "--key-file", "k", "--pool-id", "p", "--client-url",
            "http://127.0.0.1:9", "--database", "x", "--tenant-keys", "k", "--link-secrets", "l"]
    store = open_store(parse_args([*base, "--s3", str(location)]))
    assert isinstance(store, S3Store) and store.bucket == BUCKETS["eu-2"]
    written: dict[int, bytes] = {}

    def segment(n: int, path: Path) -> Path:
        written[n] = os.urandom(1500)
        path.write_bytes(written[n])
        return path

    tracks = {("p-alice", "a1", "audio"): segment}
    rec = record_segmented(env.config, env.tmp, "board", {"p-alice": "Alice"}, tracks, segments=3,
                           region="eu-2", store=store)
    assert world.everything_on("eu-1") == []
    sealed = world.objects("eu-2", rec.id)
    assert len([n for n in sealed if "audio" in n]) == 3, sealed
    pkg = download_export(env, rec.id)
    for n in range(1, 4):
        name = next(f.name for f in rec.files if f.name.endswith(f"seg{n:04d}.webm"))
        assert (pkg / name).read_bytes() == written[n], name
    # a pool given both stores, or none, does not start; nor one whose credentials cannot be read
    with pytest.raises(SystemExit):
        parse_args([*base, "--s3", str(location), "--volume", str(tmp_path)])
    with pytest.raises(SystemExit):
        parse_args(base)
    location.write_text(json.dumps({**world.servers["eu-2"].config(BUCKETS["eu-2"]),
                                    "credentials": str(tmp_path / "nowhere")}))
    with pytest.raises(SystemExit, match="--s3: .*access-key-id cannot be read"):
        open_store(parse_args([*base, "--s3", str(location)]))
