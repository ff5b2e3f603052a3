"""`castellan recording … --api URL`: a tenant admin manages recordings with an admin key and the control plane's
URL only — no database, volume or tenant keys — through a real control plane served on 127.0.0.1. Every action
lands in the tenant's audit chain with the admin key as the actor (so it went through the API, not around it).
The hostile side: another tenant's admin key, an unknown key, a deletion or an erasure under legal hold, ids
crafted to reach another endpoint, and a control plane URL that redirects the key elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signalling import cli
from tests.control.cp_env import Env
from tests.control.live import redirect_trap, serve
from tests.control.recording_env import admin_actor, audit_records, record


@pytest.fixture
def live(renv: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, str]]:
    for var in ("CASTELLAN_API", "CASTELLAN_KEY", "CASTELLAN_KEY_FILE", "CASTELLAN_DB"):
        monkeypatch.delenv(var, raising=False)
    with serve(renv.client.app) as url:
        yield renv, url


def key_file(tmp: Path, key: str, name: str = "admin.key") -> str:
    path = tmp / name
    path.write_text(key + "\n")
    path.chmod(0o600)
    return str(path)


def castellan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """`castellan recording ARGV` in this process: (exit status, stdout as JSON or None, stderr)."""
    status = cli.main(["recording", *argv])
    out, err = capsys.readouterr()
    return status, json.loads(out) if out.strip() else None, err


def _sealed(env: Env) -> dict[str, bytes]:
    assert env.config.recording_volume is not None
    return {str(p.relative_to(env.config.recording_volume)): p.read_bytes()
            for p in sorted(env.config.recording_volume.rglob("*")) if p.is_file()}


def test_list_show_hold_refused_delete_release_and_delete_through_the_api(live, capsys, tmp_path: Path) -> None:
    env, url = live
    link = env.link(no_password=True)["link"]
    rec = record(env.config, env.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"}, link=link)
    api = ["--api", url, "--tenant", "acme", "--key-file", key_file(tmp_path, env.admin_key)]
    status, out, err = castellan(capsys, "list", *api)
    assert status == 0, err
    (listed,) = out["recordings"]
    assert (listed["id"], listed["meeting"], listed["link"], listed["participants"]) == (
        rec.id, "board", link, {"p-alice": "Alice", "p-bob": "Bob"})
    assert listed["started_at"].endswith("Z") and listed["held_by"] == []  # times for people; --json keeps numbers
    status, out, _ = castellan(capsys, "show", rec.id, *api, "--json")
    assert status == 0 and out["id"] == rec.id and isinstance(out["started_at"], float)
    assert {f["name"] for f in out["files"]} == {"p-alice-audio.webm", "p-bob-audio.webm", "chat.jsonl",
                                                 "timeline.jsonl"}
    status, _, err = castellan(capsys, "show", "rec-0000000000000000", *api)
    assert status == 1 and "refused (HTTP 404 not_found)" in err, err
    # a legal hold placed through the CLI, then the deletion refused: exit 1, the hold named, nothing deleted
    status, hold, err = castellan(capsys, "hold", *api, "--scope", "meeting", "--target", "board",
                                  "--reason", "FCA request 42")
    assert status == 0, err
    assert (hold["scope"], hold["target"], hold["placed_by"]) == ("meeting", "board", admin_actor(env))
    status, out, _ = castellan(capsys, "holds", *api)
    assert [h["hold"] for h in out["holds"]] == [hold["hold"]]
    sealed = _sealed(env)
    status, out, err = castellan(capsys, "delete", rec.id, *api)
    assert status == 1 and out is None
    assert "refused (HTTP 409 legal_hold)" in err and f"[holds: {hold['hold']}]" in err, err
    assert _sealed(env) == sealed
    (refused,) = audit_records(env, "recording.delete_refused")
    assert refused.actor == admin_actor(env)
    # released, then deleted
    status, out, err = castellan(capsys, "release", hold["hold"], *api)
    assert (status, out) == (0, {"released": hold["hold"]}), err
    status, _, err = castellan(capsys, "release", hold["hold"], *api)
    assert status == 1 and "HTTP 404 not_found" in err
    status, out, err = castellan(capsys, "delete", rec.id, *api)
    assert (status, out) == (0, {"deleted": rec.id}), err
    assert not [k for k in _sealed(env) if rec.id in k]
    (deleted,) = audit_records(env, "recording.deleted")
    assert deleted.actor == admin_actor(env)
    assert {r.actor for r in audit_records(env, "recording.listed")} == {admin_actor(env)}


def test_policy_and_retention_through_the_api_with_the_key_in_the_environment(live, capsys, monkeypatch) -> None:
    env, url = live
    monkeypatch.setenv("CASTELLAN_KEY", env.admin_key)
    monkeypatch.setenv("CASTELLAN_API", url)
    link = env.link(no_password=True)["link"]
    status, out, err = castellan(capsys, "policy", "allowed", "--retention-days", "30", "--tenant", "acme")
    assert (status, out) == (0, {"policy": "allowed", "retention_days": 30}), err
    status, out, _ = castellan(capsys, "policy", "required", "--link", link, "--tenant", "acme")
    assert out == {"link": link, "policy": "required", "effective": "required"}
    status, _, err = castellan(capsys, "policy", "off", "--link", link, "--retention-days", "3", "--tenant", "acme")
    assert status == 2 and "--retention-days is the tenant's" in err
    status, out, _ = castellan(capsys, "retention", "--tenant", "acme")
    assert (status, out) == (0, {"deleted": [], "kept_by_hold": [], "kept_no_store": []})
    sets = audit_records(env, "recording.policy_set")
    assert [(x.actor, x.data["link"], x.data["policy"]) for x in sets] == [
        (admin_actor(env), None, "allowed"), (admin_actor(env), link, "required")]


def test_export_verifies_and_a_file_downloads_as_recorded(live, capsys, tmp_path: Path) -> None:
    env, url = live
    rec = record(env.config, env.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    api = ["--api", url, "--tenant", "acme", "--key-file", key_file(tmp_path, env.admin_key)]
    pkg = tmp_path / "pkg"
    status, out, err = castellan(capsys, "export", rec.id, "--out", str(pkg), *api)
    assert status == 0 and out["directory"] == str(pkg), err
    pub = tmp_path / "audit.pub.pem"
    pub.write_text(env.client.get("/v1/audit/public-key").text)
    assert cli.main(["recording", "verify", str(pkg), "--public-key", str(pub)]) == 0
    assert f"OK: recording {rec.id}" in capsys.readouterr().out
    status, out, _ = castellan(capsys, "export", rec.id, "--out", str(tmp_path / "pkg.tar"), *api)
    assert status == 0 and (tmp_path / "pkg.tar").stat().st_size == out["bytes"] > 0
    status, _, err = castellan(capsys, "export", rec.id, "--out", str(pkg), *api)  # never overwritten
    assert status == 2 and "exists" in err
    # one track, as the player gets it: a play ticket (audited), then its media URL
    track = tmp_path / "bob.webm"
    status, out, err = castellan(capsys, "download", rec.id, "p-bob-audio.webm", "--out", str(track), *api)
    assert status == 0 and out["content_type"] == "audio/webm", err
    assert track.read_bytes() == (env.tmp / "recorder-work" / rec.id / "p-bob-audio.webm").read_bytes()
    assert track.stat().st_mode & 0o077 == 0  # a recording's plaintext: the owner's only
    (played,) = audit_records(env, "recording.accessed")
    assert (played.actor, played.data["file"], played.data["purpose"]) == (admin_actor(env), "p-bob-audio.webm", "play")
    status, _, err = castellan(capsys, "download", rec.id, "chat.jsonl", "--out", str(tmp_path / "chat"), *api)
    assert status == 1 and "HTTP 422 not_playable" in err
    assert not (tmp_path / "chat").exists() and not list(tmp_path.glob(".chat*"))  # nothing left behind


def test_a_subject_is_exported_then_erasure_is_refused_under_hold_then_done(live, capsys, tmp_path: Path) -> None:
    env, url = live
    both = record(env.config, env.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    alone = record(env.config, env.tmp, "standup", {"p-bob": "Bob"})
    api = ["--api", url, "--tenant", "acme", "--key-file", key_file(tmp_path, env.admin_key)]
    out_dir = tmp_path / "bob"
    status, out, err = castellan(capsys, "subject-export", "p-bob", "--out", str(out_dir), *api)
    assert status == 0, err
    index = json.loads((out_dir / "index.json").read_text())
    assert sorted(e["recording"] for e in index["recordings"]) == sorted([both.id, alone.id])
    assert (out_dir / both.id / "p-bob-audio.webm").exists() and not (out_dir / both.id / "p-alice-audio.webm").exists()
    status, hold, _ = castellan(capsys, "hold", *api, "--scope", "participant", "--target", "p-alice",
                                "--reason", "tribunal 3")
    sealed = _sealed(env)
    status, out, err = castellan(capsys, "subject-erase", "p-bob", *api)
    assert status == 1 and out is None
    assert "refused (HTTP 409 legal_hold)" in err and "nothing was erased" in err and hold["hold"] in err, err
    assert _sealed(env) == sealed  # not even the recording no hold covers
    (refused,) = audit_records(env, "recording.subject_erase_refused")
    assert refused.actor == admin_actor(env)
    assert castellan(capsys, "release", hold["hold"], *api)[0] == 0
    status, out, err = castellan(capsys, "subject-erase", "p-bob", *api)
    assert (status, out) == (0, {"participant": "p-bob", "erased": sorted([both.id, alone.id]), "kept": []}), err
    assert not [k for k in _sealed(env) if k.endswith("p-bob-audio.webm")]


def test_another_tenants_admin_key_is_refused_every_action_and_changes_nothing(live, capsys, tmp_path: Path) -> None:
    env, url = live
    rec = record(env.config, env.tmp, "board", {"p-alice": "Alice"})
    hold = env.client.post("/v1/tenants/acme/recording-holds", json={"scope": "tenant", "reason": "audit"},
                           headers=env.admin()).json()["hold"]
    mallory = ["--api", url, "--tenant", "acme", "--key-file", key_file(tmp_path, env.other_tenant(), "globex.key")]
    sealed, audit_before = _sealed(env), len(env.residency.audit.tenant_records("acme"))
    for argv in (["list"], ["show", rec.id], ["holds"], ["release", hold], ["delete", rec.id],
                 ["policy", "off"], ["retention"], ["hold", "--scope", "tenant", "--reason", "takeover"],
                 ["export", rec.id, "--out", str(tmp_path / "stolen")],
                 ["download", rec.id, "p-alice-audio.webm", "--out", str(tmp_path / "stolen.webm")],
                 ["subject-export", "p-alice", "--out", str(tmp_path / "stolen-subject")],
                 ["subject-erase", "p-alice"]):
        status, out, err = castellan(capsys, *argv, *mallory)
        assert status == 1 and out is None and "refused (HTTP 403 forbidden)" in err, (argv, err)
    assert not [p for p in tmp_path.iterdir() if "stolen" in p.name]
    assert _sealed(env) == sealed
    assert [h["hold"] for h in env.client.get("/v1/tenants/acme/recording-holds",
                                              headers=env.admin()).json()["holds"]] == [hold]
    assert len(env.residency.audit.tenant_records("acme")) == audit_before  # nothing was even listed
    # a made-up key: 401; no key at all: a usage error, nothing sent
    status, _, err = castellan(capsys, "list", "--api", url, "--tenant", "acme", "--key-file",
                               key_file(tmp_path, "cak_0000000000000000.not-a-key", "bad.key"))
    assert status == 1 and "HTTP 401" in err
    status, _, err = castellan(capsys, "list", "--api", url, "--tenant", "acme")
    assert status == 2 and "CASTELLAN_KEY" in err


def test_ids_cannot_reach_another_endpoint(live, capsys, tmp_path: Path) -> None:
    env, url = live
    rec = record(env.config, env.tmp, "board", {"p-alice": "Alice"})
    api = ["--api", url, "--tenant", "acme", "--key-file", key_file(tmp_path, env.admin_key)]
    for participant in ("..", "."):
        status, _, err = castellan(capsys, "subject-erase", participant, *api)
        assert status == 2 and "is not an id" in err
    # "/" stays inside the one segment: the server sees a participant id it refuses, never recordings/REC
    status, _, err = castellan(capsys, "subject-erase", f"../../recordings/{rec.id}", *api)
    assert status == 1 and ("HTTP 400" in err or "HTTP 404" in err), err
    status, _, err = castellan(capsys, "delete", f"{rec.id}/../{rec.id}", *api)
    assert status == 1 and ("HTTP 400" in err or "HTTP 404" in err), err
    assert rec.id in {r["id"] for r in env.client.get("/v1/tenants/acme/recordings",
                                                      headers=env.admin()).json()["recordings"]}
    assert not audit_records(env, "recording.deleted") and not audit_records(env, "recording.subject_erased")


def test_a_redirecting_url_never_gets_the_key_elsewhere(live, capsys, tmp_path: Path) -> None:
    """A control plane URL that answers with a redirect (a hostile proxy, a wrong URL): refused, and the server
    it points to sees no request at all (urllib would have carried the Bearer header there)."""
    env, _ = live
    with redirect_trap() as (hostile, seen):
        status, _, err = castellan(capsys, "list", "--api", hostile, "--tenant", "acme",
                                   "--key-file", key_file(tmp_path, env.admin_key))
    assert status == 1 and "redirect_refused" in err, err
    assert seen == []


def test_the_database_mode_shows_and_downloads_too_and_the_two_modes_never_mix(live, capsys, tmp_path: Path) -> None:
    env, url = live
    rec = record(env.config, env.tmp, "board", {"p-alice": "Alice"})
    direct = ["--tenant", "acme", "--db", str(env.config.db), "--volume", str(env.config.recording_volume),
              "--tenant-keys", str(env.tmp / "tenant-keys.json"), "--actor", "admin:operator"]
    status, out, err = castellan(capsys, "show", rec.id, *direct)
    assert status == 0 and out["id"] == rec.id and out["participants"] == {"p-alice": "Alice"}, err
    status, out, err = castellan(capsys, "download", rec.id, "chat.jsonl", "--out", str(tmp_path / "chat"), *direct)
    assert status == 0 and (tmp_path / "chat").read_bytes() == (env.tmp / "recorder-work" / rec.id / "chat.jsonl"
                                                               ).read_bytes(), err
    assert [r.actor for r in audit_records(env, "recording.accessed")] == ["admin:operator"]
    key = ["--key-file", key_file(tmp_path, env.admin_key)]
    for argv, says in ((["list", "--tenant", "acme", "--api", url, "--db", str(env.config.db), *key], "choose one"),
                       (["list", "--tenant", "acme", "--api", url, "--actor", "admin:x", *key], "for --db only"),
                       (["list", "--tenant", "acme", "--db", str(env.config.db)], "also give --volume"),
                       (["export", rec.id, "--out", str(tmp_path / "p"), *direct], "--signing-key"),
                       (["list", "--tenant", "acme"], "no archive given")):
        status, _, err = castellan(capsys, *argv)
        assert status == 2 and says in err, (argv, err)
