"""Compliance recordings through the tenant admin API: listing, policy and retention, legal holds, deletion (refused
under a hold), retention, and the signed export downloaded and checked by `castellan recording verify`. Every
action is the archive's, audited with the admin key's identity. The hostile side: another tenant's admin key on
every recording endpoint, and a link holder's credentials (join token, host key, link id)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from signalling.control.endpoints import ENDPOINTS
from tests.control.cp_env import Env, make_env
from tests.control.recording_env import admin_actor, audit_records, record

ROOT = Path(__file__).resolve().parents[2]
RECORDING_ENDPOINTS = [ep for ep in ENDPOINTS if ep.tag == "recordings"]


def _volume_files(env: Env, rec: str) -> list[Path]:
    assert env.config.recording_volume is not None
    return sorted((env.config.recording_volume / "acme" / rec).glob("*"))


def test_recordings_are_listed_with_what_an_admin_needs_and_the_listing_is_audited(renv: Env) -> None:
    link = renv.link(no_password=True)["link"]
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"}, link=link)
    r = renv.client.get("/v1/tenants/acme/recordings", headers=renv.admin())
    assert r.status_code == 200, r.text
    (listed,) = r.json()["recordings"]
    assert (listed["id"], listed["meeting"], listed["link"], listed["regions"]) == (rec.id, "board", link, ["eu-1"])
    assert listed["participants"] == {"p-alice": "Alice", "p-bob": "Bob"}
    assert listed["started_at"] <= listed["ended_at"] and listed["held_by"] == []
    assert {f["name"] for f in listed["files"]} == {"p-alice-audio.webm", "p-bob-audio.webm", "chat.jsonl",
                                                   "timeline.jsonl"}
    assert listed["recorder"]["name"] == "ACME archive"
    (audited,) = audit_records(renv, "recording.listed")
    assert audited.actor == admin_actor(renv) and audited.data["count"] == 1


def test_policy_and_retention_are_set_and_a_link_can_only_tighten(renv: Env) -> None:
    link = renv.link(no_password=True)["link"]
    assert renv.client.get("/v1/tenants/acme/recording-policy", headers=renv.admin()).json() == {
        "policy": "off", "retention_days": 0}
    r = renv.client.put("/v1/tenants/acme/recording-policy", json={"policy": "allowed", "retention_days": 30},
                        headers=renv.admin())
    assert r.json() == {"policy": "allowed", "retention_days": 30}, r.text
    r = renv.client.put(f"/v1/tenants/acme/links/{link}/recording-policy", json={"policy": "required"},
                        headers=renv.admin())
    assert r.json() == {"link": link, "policy": "required", "effective": "required"}, r.text
    # the tenant now has recording off: a link cannot turn it back on
    renv.client.put("/v1/tenants/acme/recording-policy", json={"policy": "off"}, headers=renv.admin())
    assert renv.client.get(f"/v1/tenants/acme/links/{link}/recording-policy",
                           headers=renv.admin()).json()["effective"] == "off"
    r = renv.client.put(f"/v1/tenants/acme/links/{link}/recording-policy", json={"policy": "allowed"},
                        headers=renv.admin())
    assert (r.status_code, r.json()["error"]) == (422, "link_cannot_loosen")
    assert renv.client.get("/v1/tenants/acme/recording-policy", headers=renv.admin()).json() == {
        "policy": "off", "retention_days": 30}  # retention kept when only the policy changes
    bad = renv.client.put("/v1/tenants/acme/recording-policy", json={"policy": "sometimes"}, headers=renv.admin())
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_field")
    sets = audit_records(renv, "recording.policy_set")
    assert [(x.data["link"], x.data["policy"]) for x in sets] == [(None, "allowed"), (link, "required"), (None, "off")]
    assert {x.actor for x in sets} == {admin_actor(renv)}


def test_delete_under_a_legal_hold_is_refused_and_nothing_is_deleted(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    kept = record(renv.config, renv.tmp, "standup", {"p-bob": "Bob"})
    files = _volume_files(renv, rec.id)
    assert len(files) == 3
    before = [p.read_bytes() for p in files]
    r = renv.client.post("/v1/tenants/acme/recording-holds",
                         json={"scope": "participant", "target": "p-alice", "reason": "FCA request 42"},
                         headers=renv.admin())
    assert r.status_code == 201, r.text
    hold = r.json()["hold"]
    assert r.json()["placed_by"] == admin_actor(renv)
    listed = renv.client.get("/v1/tenants/acme/recordings", headers=renv.admin()).json()["recordings"]
    assert {x["id"]: x["held_by"] for x in listed} == {rec.id: [hold], kept.id: []}
    r = renv.client.delete(f"/v1/tenants/acme/recordings/{rec.id}", headers=renv.admin())
    assert (r.status_code, r.json()["error"], r.json()["holds"]) == (409, "legal_hold", [hold])
    assert [p.read_bytes() for p in _volume_files(renv, rec.id)] == before  # every sealed byte still there
    assert rec.id in {x["id"] for x in renv.client.get("/v1/tenants/acme/recordings",
                                                      headers=renv.admin()).json()["recordings"]}
    (refused,) = audit_records(renv, "recording.delete_refused")
    assert refused.actor == admin_actor(renv) and refused.data["holds"] == [hold]
    # a hold needs a target and a reason
    for body, code in (({"scope": "meeting", "reason": "case 7"}, "target_required"),
                       ({"scope": "meeting", "target": "board", "reason": "  "}, "reason_required")):
        r = renv.client.post("/v1/tenants/acme/recording-holds", json=body, headers=renv.admin())
        assert (r.status_code, r.json()["error"]) == (400, code)
    # released: the hold leaves the active list, the deletion goes through and the files are gone
    r = renv.client.post(f"/v1/tenants/acme/recording-holds/{hold}/release", json={}, headers=renv.admin())
    assert r.json() == {"released": hold}
    again = renv.client.post(f"/v1/tenants/acme/recording-holds/{hold}/release", json={}, headers=renv.admin())
    assert (again.status_code, again.json()["error"]) == (404, "not_found")
    assert renv.client.get("/v1/tenants/acme/recording-holds", headers=renv.admin()).json() == {"holds": []}
    r = renv.client.delete(f"/v1/tenants/acme/recordings/{rec.id}", headers=renv.admin())
    assert r.json() == {"deleted": rec.id}, r.text
    assert _volume_files(renv, rec.id) == []
    (deleted,) = audit_records(renv, "recording.deleted")
    assert deleted.actor == admin_actor(renv) and deleted.data["recording"] == rec.id


def test_retention_deletes_what_expired_except_what_a_hold_keeps(renv: Env) -> None:
    old = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    held = record(renv.config, renv.tmp, "inquiry", {"p-bob": "Bob"})
    renv.client.put("/v1/tenants/acme/recording-policy", json={"policy": "allowed", "retention_days": 7},
                    headers=renv.admin())
    renv.client.post("/v1/tenants/acme/recording-holds", json={"scope": "meeting", "target": "inquiry",
                                                               "reason": "litigation"}, headers=renv.admin())
    r = renv.client.post("/v1/tenants/acme/recording-retention/apply", json={}, headers=renv.admin())
    assert r.json() == {"deleted": [], "kept_by_hold": [], "kept_no_store": []}  # nothing has expired yet
    assert renv.control.recordings is not None
    renv.control.recordings.archive.clock = lambda: time.time() + 8 * 86400
    r = renv.client.post("/v1/tenants/acme/recording-retention/apply", json={}, headers=renv.admin())
    assert r.json() == {"deleted": [old.id], "kept_by_hold": [held.id], "kept_no_store": []}
    assert [x["id"] for x in renv.client.get("/v1/tenants/acme/recordings",
                                             headers=renv.admin()).json()["recordings"]] == [held.id]


def _verify(pkg: Path, pub: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "signalling.cli", "recording", "verify", str(pkg), "--public-key",
                           str(pub)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_the_export_downloaded_through_the_api_verifies_and_fails_after_one_changed_byte(renv: Env,
                                                                                       tmp_path: Path) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    leftovers = set(Path(tempfile.gettempdir()).glob("castellan-export-*"))
    r = renv.client.get(f"/v1/tenants/acme/recordings/{rec.id}/export", headers=renv.admin())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    assert f'filename="{rec.id}.tar"' in r.headers["content-disposition"]
    assert set(Path(tempfile.gettempdir()).glob("castellan-export-*")) == leftovers  # no plaintext left behind
    tar = tmp_path / "download.tar"
    tar.write_bytes(r.content)
    with tarfile.open(tar) as t:
        t.extractall(tmp_path / "out", filter="data")
    pkg = tmp_path / "out" / rec.id
    pub = tmp_path / "audit.pub.pem"
    pub.write_text(renv.client.get("/v1/audit/public-key").text)  # the deployment's published key
    ok = _verify(pkg, pub)
    assert ok.returncode == 0 and f"OK: recording {rec.id}" in ok.stdout, ok.stdout + ok.stderr
    (exported,) = audit_records(renv, "recording.exported")
    assert exported.actor == admin_actor(renv)
    media = pkg / "p-bob-audio.webm"
    body = bytearray(media.read_bytes())
    body[len(body) // 2] ^= 0x01
    media.write_bytes(bytes(body))
    bad = _verify(pkg, pub)
    assert bad.returncode == 1 and "altered_file" in bad.stderr, bad.stdout + bad.stderr


def _subject_tar(env: Env, participant: str, tmp: Path) -> Path:
    r = env.client.get(f"/v1/tenants/acme/recording-subjects/{participant}/export", headers=env.admin())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar" and r.headers["cache-control"] == "no-store"
    tar = tmp / f"{participant}.tar"
    tar.write_bytes(r.content)
    with tarfile.open(tar) as t:
        t.extractall(tmp / "subject", filter="data")
    return tmp / "subject" / f"subject-{participant}"


def test_a_subjects_export_through_the_api_is_what_the_cli_writes_and_is_audited(renv: Env, tmp_path: Path) -> None:
    both = record(renv.config, renv.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    alone = record(renv.config, renv.tmp, "standup", {"p-bob": "Bob"})
    record(renv.config, renv.tmp, "lunch", {"p-alice": "Alice"})
    leftovers = set(Path(tempfile.gettempdir()).glob("castellan-subject-*"))
    out = _subject_tar(renv, "p-bob", tmp_path)
    assert set(Path(tempfile.gettempdir()).glob("castellan-subject-*")) == leftovers  # no plaintext left behind
    index = json.loads((out / "index.json").read_text())
    assert index["participant"] == "p-bob"
    assert sorted(e["recording"] for e in index["recordings"]) == sorted([both.id, alone.id])  # not "lunch"
    for rec in (both, alone):
        assert (out / rec.id / "p-bob-audio.webm").read_bytes() == (
            renv.tmp / "recorder-work" / rec.id / "p-bob-audio.webm").read_bytes()
        assert not (out / rec.id / "p-alice-audio.webm").exists()  # nobody else's track
        chat = [json.loads(x) for x in (out / rec.id / "chat.jsonl").read_text().splitlines()]
        assert chat and {c["from"] for c in chat} == {"p-bob"}  # only their own lines
    assert json.loads((out / "audit.json").read_text())  # the audit records that name them
    # the same directory the CLI writes: compare with the archive's own subject export of the same database
    assert renv.control.recordings is not None
    cli = renv.control.recordings.archive.subject_export("acme", "p-bob", tmp_path / "cli", "admin:cli")
    assert cli == index
    assert sorted(p.relative_to(tmp_path / "cli").as_posix() for p in (tmp_path / "cli").rglob("*")) == sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*"))
    exported = audit_records(renv, "recording.subject_exported")
    assert [(x.actor, x.data["participant"]) for x in exported] == [(admin_actor(renv), "p-bob"), ("admin:cli", "p-bob")]


def test_a_subjects_erasure_is_refused_whole_under_a_hold_then_done_and_audited(renv: Env) -> None:
    both = record(renv.config, renv.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    alone = record(renv.config, renv.tmp, "standup", {"p-bob": "Bob"})
    hold = renv.client.post("/v1/tenants/acme/recording-holds", json={"scope": "participant", "target": "p-alice",
                                                                      "reason": "tribunal 3"},
                            headers=renv.admin()).json()["hold"]
    sealed = {rec.id: [p.read_bytes() for p in _volume_files(renv, rec.id)] for rec in (both, alone)}
    r = renv.client.post("/v1/tenants/acme/recording-subjects/p-bob/erase", json={}, headers=renv.admin())
    assert (r.status_code, r.json()["error"], r.json()["holds"]) == (409, "legal_hold", [hold]), r.text
    assert hold in r.json()["message"]
    # nothing erased, not even from the recording no hold covers
    assert {rec.id: [p.read_bytes() for p in _volume_files(renv, rec.id)] for rec in (both, alone)} == sealed
    (refused,) = audit_records(renv, "recording.subject_erase_refused")
    assert (refused.actor, refused.data["participant"], refused.data["holds"]) == (admin_actor(renv), "p-bob", [hold])
    assert not audit_records(renv, "recording.subject_erased")
    renv.client.post(f"/v1/tenants/acme/recording-holds/{hold}/release", json={}, headers=renv.admin())
    r = renv.client.post("/v1/tenants/acme/recording-subjects/p-bob/erase", json={}, headers=renv.admin())
    assert r.status_code == 200, r.text
    assert r.json() == {"participant": "p-bob", "erased": sorted([both.id, alone.id]), "kept": []}
    listed = {x["id"]: x for x in renv.client.get("/v1/tenants/acme/recordings",
                                                  headers=renv.admin()).json()["recordings"]}
    assert listed[both.id]["participants"] == {"p-alice": "Alice"}
    assert "p-bob-audio.webm" not in {f["name"] for f in listed[both.id]["files"]}
    assert not [p for rec in (both, alone) for p in _volume_files(renv, rec.id) if p.name == "p-bob-audio.webm"]
    # their chat lines are gone too; Alice's stay
    assert renv.control.recordings is not None
    vault = renv.control.recordings.archive.vaults.of("eu-1")
    chat = vault.read("acme", f"{both.id}/chat.jsonl").decode()
    assert "p-bob" not in chat and "p-alice" in chat
    # audited as the CLI audits it, with the admin key as the actor
    (erased,) = audit_records(renv, "recording.subject_erased")
    assert (erased.actor, erased.data) == (admin_actor(renv), {"participant": "p-bob",
                                                          "erased": sorted([both.id, alone.id]), "kept": []})
    for bad in ("..", "p bob", "x" * 97):
        r = renv.client.post(f"/v1/tenants/acme/recording-subjects/{bad}/erase", json={}, headers=renv.admin())
        assert r.status_code in (400, 404), (bad, r.text)


# -- attacks -------------------------------------------------------------------------------------------------------
def _call(env: Env, ep: Any, key: str | None, values: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    path = ep.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    bodies = {"SetRecordingPolicy": {"policy": "off", "retention_days": 1},
              "SetLinkRecordingPolicy": {"policy": "off"}, "Empty": {},
              "PlaceHold": {"scope": "tenant", "reason": "takeover"}, "RecorderCredential": {}}
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    kw: dict[str, Any] = {"json": bodies[ep.body.name]} if ep.body is not None else {}
    return env.client.request(ep.method, path, headers=h, **kw)


def test_another_tenants_admin_key_gets_403_on_every_recording_operation_and_sees_none(renv: Env) -> None:
    globex = renv.other_tenant()
    link = renv.link(no_password=True)["link"]
    rec = record(renv.config, renv.tmp, "acme-board", {"p-alice": "Alice"}, link=link)
    theirs = record(renv.config, renv.tmp, "globex-board", {"p-gus": "Gus"}, tenant="globex")
    hold = renv.client.post("/v1/tenants/acme/recording-holds", json={"scope": "meeting", "target": "acme-board",
                                                                      "reason": "case 1"}, headers=renv.admin())
    values = {"tenant": "acme", "recording": rec.id, "link": link, "hold": hold.json()["hold"],
              "file": "p-alice-audio.webm", "participant": "p-alice"}
    audit_before = len(renv.residency.audit.tenant_records("acme"))
    assert {ep.path for ep in RECORDING_ENDPOINTS} >= {"/v1/tenants/{tenant}/recordings",
                                                       "/v1/tenants/{tenant}/recording-holds",
                                                       "/v1/tenants/{tenant}/recordings/{recording}/files/{file}/play",
                                                       "/v1/tenants/{tenant}/recording-subjects/{participant}/erase"}
    for ep in RECORDING_ENDPOINTS:
        r = _call(renv, ep, globex, values)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), (ep.method, ep.path, r.text)
    # nothing changed, nothing was even read in acme's name
    assert len(renv.residency.audit.tenant_records("acme")) == audit_before
    assert len(_volume_files(renv, rec.id)) == 3  # audio, chat, timeline
    assert [h["hold"] for h in renv.client.get("/v1/tenants/acme/recording-holds",
                                               headers=renv.admin()).json()["holds"]] == [values["hold"]]
    # globex's own listing holds its recording only; acme's id under globex's path is just "not found"
    mine = renv.client.get("/v1/tenants/globex/recordings", headers={"Authorization": f"Bearer {globex}"}).json()
    assert [x["id"] for x in mine["recordings"]] == [theirs.id]
    r = renv.client.delete(f"/v1/tenants/globex/recordings/{rec.id}", headers={"Authorization": f"Bearer {globex}"})
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = renv.client.get(f"/v1/tenants/acme/recordings/{theirs.id}/export", headers=renv.admin())
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_a_link_holders_credentials_cannot_use_the_recording_api(renv: Env) -> None:
    made = renv.link(no_password=True)
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"}, link=made["link"])
    token = renv.join(made["link"], host_key=made["host_key"]).json()["token"]
    values = {"tenant": "acme", "recording": rec.id, "link": made["link"], "hold": "hold-000000000000",
              "file": "p-alice-audio.webm", "participant": "p-alice"}
    for credential in (token, made["host_key"], made["link"], f"cak_{made['host_key']}", None):
        for ep in RECORDING_ENDPOINTS:
            r = _call(renv, ep, credential, values, headers={"X-Host-Key": made["host_key"]})
            assert (r.status_code, r.json()["error"]) == (401, "unauthenticated"), (ep.path, credential, r.text)
    assert len(_volume_files(renv, rec.id)) == 3
    assert not audit_records(renv, "recording.hold_placed") and not audit_records(renv, "recording.listed")


def test_without_a_recording_volume_every_recording_endpoint_says_so(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        link = env.link(no_password=True)["link"]
        values = {"tenant": "acme", "recording": "rec-0000000000000000", "link": link, "hold": "hold-000000000000",
                  "file": "p-alice-audio.webm", "participant": "p-alice"}
        for ep in RECORDING_ENDPOINTS:
            r = _call(env, ep, env.admin_key, values)
            assert (r.status_code, r.json()["error"]) == (404, "recording_not_configured"), (ep.path, r.text)
    finally:
        env.control.close()


def test_the_control_plane_refuses_half_a_recording_configuration(tmp_path: Path) -> None:
    import argparse

    from signalling.cli.control_plane import apply_recording
    from signalling.control.app import build_control_plane
    from signalling.control.config import ControlConfig
    from signalling.control.recordings import RecordingConfigError
    from signalling.control.residency_adapter import open_residency

    cfg = ControlConfig(db=tmp_path / "c.db")
    with pytest.raises(SystemExit, match="go together"):
        apply_recording(cfg, argparse.Namespace(recording_volume=str(tmp_path / "v"), recording_tenant_keys=None,
                                                recording_signing_key=None))
    (tmp_path / "keys.json").write_text("not json")
    cfg.recording_volume, cfg.recording_tenant_keys = tmp_path / "v", tmp_path / "keys.json"
    with pytest.raises(RecordingConfigError, match="tenant keys file"):
        build_control_plane(cfg, residency=open_residency(cfg))
