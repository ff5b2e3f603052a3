"""The recorder pool's loop against a real control plane (in-process) and against a hostile or absent one: bad
input from the control plane is a counted drop, never a crash; a job this pool cannot record (no link secret, a
credential refused) starts nothing and is counted. The browser side is tests/recording/test_recorder_pool_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from recording.archive import Archive
from recording.launch import JOBS, WANTS
from recording.pool.intake import Intake
from recording.pool.launcher import RecorderPage
from recording.pool.pool import LinkSecrets, RecorderPool
from recording.store import LocalVolumeStore, TenantVault
from residency.db import Database
from tests.control.cp_env import Env, make_env
from tests.control.recording_env import with_recording
from tests.recording.archive_world import TENANT_KEYS


@pytest.fixture
def renv(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path, configure=with_recording(tmp_path))
    yield e
    e.control.close()


def _no_browser(url: str, job: dict[str, str]) -> RecorderPage:
    raise AssertionError(f"no recorder page may be opened here: {url} {sorted(job)}")


def _pool(env: Env, tmp: Path, intake: Intake, secrets: dict[str, str]) -> RecorderPool:
    (tmp / "secrets.json").write_text(json.dumps(secrets))
    assert env.config.recording_volume is not None
    archive = Archive(Database(env.config.database()),
                      TenantVault(LocalVolumeStore(env.config.recording_volume), TENANT_KEYS))
    return RecorderPool(intake, archive, tmp / "work", "http://127.0.0.1:9", LinkSecrets(tmp / "secrets.json"),
                        _no_browser)


def _wanted_meeting(env: Env, session: str = "") -> tuple[str, str]:
    """A meeting whose node wants a recorder (`session`: the node's recording-on session, which a replacement
    recorder continues; none: a recording that cannot be continued)."""
    r = env.client.put("/v1/tenants/acme/recording-policy", json={"policy": "required", "retention_days": 0},
                       headers=env.admin())
    assert r.status_code == 200
    made = env.link(no_password=True)
    assert env.join(made["link"], name="Ada").status_code == 200
    env.residency.registry.put_doc(WANTS, "node-eu-1", {"rooms": [
        {"tenant": "acme", "room": made["room"], "link": made["link"], "policy": "required",
         **({"session": session} if session else {})}]}, ttl=60)
    return made["link"], made["room"]


def _key(env: Env) -> str:
    r = env.client.post("/v1/recorder-pool-keys", json={"region": "eu-1"}, headers=env.op())
    return str(r.json()["key"])


def test_a_job_whose_link_secret_the_pool_does_not_hold_starts_nothing(renv: Env, tmp_path: Path) -> None:
    link, _ = _wanted_meeting(renv)
    pool = _pool(renv, tmp_path, Intake("http://testserver", _key(renv), "pool-eu-a", 1, http=renv.client), {})
    pool.step()
    assert pool.running == {} and pool.failures["no_link_secret"] == 1
    assert renv.residency.registry.list_docs(JOBS)  # the job stays given: the tenant may deposit the secret
    assert [r for r in renv.residency.audit.tenant_records("acme") if r.kind == "recording.recorder_credential"] == []


def test_a_refused_credential_is_counted_and_nothing_is_recorded(renv: Env, tmp_path: Path) -> None:
    """The job is dismissed between the announcement and the credential (the host stopped): 404, counted."""
    link, _ = _wanted_meeting(renv)
    intake = Intake("http://testserver", _key(renv), "pool-eu-a", 1, http=renv.client)
    pool = _pool(renv, tmp_path, intake, {link: "k" * 43})
    real = intake.announce

    def announce_then_dismiss(running: list[str]):  # type: ignore[no-untyped-def]
        answer = real(running)
        for key in list(renv.residency.registry.list_docs(JOBS)):
            renv.residency.registry.drop_doc(JOBS, key)
        return answer

    intake.announce = announce_then_dismiss  # type: ignore[method-assign]
    pool.step()
    assert pool.running == {} and pool.failures["job_not_found"] == 1
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


def test_a_hostile_control_plane_answer_is_a_counted_drop(tmp_path: Path, renv: Env) -> None:
    def announce(request: Request) -> JSONResponse:
        whole = {"tenant": "acme", "room": "r", "link": "l", "node": "n", "region": "eu-1", "pool": "pool-eu-a",
                 "policy": "required"}
        return JSONResponse({"jobs": [{"id": 1}, "job", {"id": "job-x", "tenant": "../..", "room": "r"},
                                      {**whole, "id": "../../../tmp/evil"}],  # would name the working directory
                             "dismissed": "everything"})

    hostile = TestClient(Starlette(routes=[Route("/v1/recorder-pools/{pool}/announce", announce,
                                                 methods=["POST"])]))
    pool = _pool(renv, tmp_path, Intake("http://testserver", "crk_x.y", "pool-eu-a", 1, http=hostile), {})
    pool.step()
    assert pool.running == {} and pool.failures["malformed_job"] == 4


def test_an_unreachable_control_plane_is_counted_and_the_pool_goes_on(tmp_path: Path, renv: Env) -> None:
    pool = _pool(renv, tmp_path, Intake("http://127.0.0.1:1", "crk_x.y", "pool-eu-a", 1, timeout=2), {})
    pool.step()
    pool.step()
    assert pool.failures["control_plane_unreachable"] == 2 and pool.running == {}


def test_a_recorder_that_fails_to_start_keeps_the_recording_open_for_the_next_attempt(renv: Env,
                                                                                      tmp_path: Path) -> None:
    """The recorder's browser fails to launch (twice): the meeting's recording is not ended and begun again per
    attempt — it stays one recording, its gap open, continued by the next attempt; when the job is dismissed
    (the meeting ended), it ends there with its gap."""
    link, room = _wanted_meeting(renv, session="s-1")
    intake = Intake("http://testserver", _key(renv), "pool-eu-a", 1, http=renv.client)
    attempts: list[str] = []

    def browser_fails(url: str, job: dict[str, str]) -> RecorderPage:
        attempts.append(url)
        raise RuntimeError("Chromium failed to launch")

    pool = _pool(renv, tmp_path, intake, {link: "k" * 43})
    pool.open_page = browser_fails
    archive = pool.archive
    pool.step()
    pool.step()
    assert len(attempts) == 2 and pool.running == {}
    recs = [r for r in archive.listing("acme", "admin:test") if r.meeting == room]
    assert len(recs) == 1, [(r.id, r.ended_at) for r in recs]
    (rec,) = recs
    assert rec.ended_at is None and any(g.get("to_ms") is None for g in rec.gaps), rec.gaps
    for kind in (WANTS, JOBS):  # the meeting ended: its node wants no recorder, the job is dismissed
        for key in list(renv.residency.registry.list_docs(kind)):
            renv.residency.registry.drop_doc(kind, key)
    pool.step()
    assert len(attempts) == 2
    (rec,) = [r for r in archive.listing("acme", "admin:test") if r.meeting == room]
    assert rec.ended_at is not None
