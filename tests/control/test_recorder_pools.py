"""Recorder pools and their scoped keys (docs/recording.md, "Launching recorders"), on a real control plane.

A node publishes the rooms it wants recorded (sfu/recording.py `wants`, the agent's `recording_wants` document);
the control plane gives each a job on a pool of an allowed region, the pool fetches the job's recorder credential
with its key, and the job is dismissed when the room no longer wants it. The hostile side: a pool key used on
admin endpoints, for another region's job, for a meeting nobody records, for another tenant; a pool of a region the
tenant does not allow (never chosen, the refusal says why); a forged `wants` document for a room placed elsewhere;
a pool id taken over with another key."""

from __future__ import annotations

from typing import Any

from recording.launch import JOBS, POOLS, WANTS
from tests.control.cp_env import Env, add_node


def _policy(env: Env, policy: str) -> None:
    r = env.client.put("/v1/tenants/acme/recording-policy", json={"policy": policy, "retention_days": 0},
                       headers=env.admin())
    assert r.status_code == 200, r.text


def _pool_key(env: Env, region: str) -> str:
    r = env.client.post("/v1/recorder-pool-keys", json={"region": region, "label": f"pool {region}"},
                        headers=env.op())
    assert r.status_code == 201, r.text
    assert r.json()["key"].startswith("crk_") and r.json()["region"] == region
    return str(r.json()["key"])


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _announce(env: Env, key: str, pool: str, running: list[str] | None = None, capacity: int = 2) -> Any:
    return env.client.post(f"/v1/recorder-pools/{pool}/announce", json={"capacity": capacity,
                                                                         "running": running or []},
                           headers=_bearer(key))


def _meeting(env: Env, tenant: str = "acme", key: str | None = None) -> tuple[str, str, str]:
    """A link whose meeting started (someone joined: placed on a node). (link, room, node)"""
    headers = _bearer(key) if key else env.admin()
    r = env.client.post(f"/v1/tenants/{tenant}/links", json={"title": "Board", "no_password": True}, headers=headers)
    assert r.status_code == 201, r.text
    link, room = r.json()["link"], r.json()["room"]
    j = env.join(link, name="Ada")
    assert j.status_code == 200, j.text
    return link, room, j.json()["node"]


def _wants(env: Env, node: str, rooms: list[dict[str, str]]) -> None:
    """What the node's agent publishes with each heartbeat (sfu/agent.py `_publish_wants`)."""
    region = env.residency.registry.get_node(node).region  # type: ignore[union-attr]
    env.residency.registry.put_doc(WANTS, node, {"node": node, "region": region, "rooms": rooms}, ttl=6)


def _want(link: str, room: str, policy: str = "required", tenant: str = "acme") -> dict[str, str]:
    return {"tenant": tenant, "room": room, "link": link, "policy": policy}


def _audit(env: Env, kind: str, tenant: str = "acme") -> list[Any]:
    return [r for r in env.residency.audit.tenant_records(tenant) if r.kind == kind]


def test_a_wanted_meeting_gets_a_job_on_its_regions_pool_and_the_pool_gets_its_credential(renv: Env) -> None:
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    key = _pool_key(renv, "eu-1")
    assert _announce(renv, key, "pool-eu-a").json()["jobs"] == []  # nobody wants a recorder yet
    _wants(renv, node, [_want(link, room)])
    a = _announce(renv, key, "pool-eu-a")
    assert a.status_code == 200, a.text
    [job] = a.json()["jobs"]
    assert (job["tenant"], job["room"], job["link"], job["node"], job["region"], job["pool"]) == \
        ("acme", room, link, node, "eu-1", "pool-eu-a")
    # announcing again does not launch a second recorder
    again = _announce(renv, key, "pool-eu-a", running=[job["id"]]).json()
    assert [j["id"] for j in again["jobs"]] == [job["id"]] and again["dismissed"] == []
    c = renv.client.post(f"/v1/recorder-jobs/{job['id']}/credential", json={}, headers=_bearer(key))
    assert c.status_code == 200, c.text
    claims = renv.verifier(c.json()["node"]).verify(c.json()["token"])
    assert claims.recorder is True and claims.room == room and claims.recording == "required"
    [issued] = _audit(renv, "recording.recorder_credential")
    assert issued.actor.startswith("recorder-pool-key:")
    [launched] = _audit(renv, "recording.recorder_launched")
    assert launched.data["pool"] == "pool-eu-a" and launched.data["room"] == room


def test_the_job_is_dismissed_when_the_room_no_longer_wants_a_recorder(renv: Env) -> None:
    _policy(renv, "allowed")
    link, room, node = _meeting(renv)
    key = _pool_key(renv, "eu-1")
    _wants(renv, node, [_want(link, room, "allowed")])  # the host's record_start
    [job] = _announce(renv, key, "pool-eu-a").json()["jobs"]
    _wants(renv, node, [])  # the host's record_stop, or the meeting ended
    a = _announce(renv, key, "pool-eu-a", running=[job["id"]]).json()
    assert a["jobs"] == [] and a["dismissed"] == [job["id"]]
    assert renv.residency.registry.list_docs(JOBS) == {}
    assert len(_audit(renv, "recording.recorder_dismissed")) == 1
    # a dismissed job has no credential any more
    c = renv.client.post(f"/v1/recorder-jobs/{job['id']}/credential", json={}, headers=_bearer(key))
    assert (c.status_code, c.json()["error"]) == (404, "job_not_found")


def test_a_meeting_whose_node_died_loses_its_recorder(renv: Env) -> None:
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    key = _pool_key(renv, "eu-1")
    _wants(renv, node, [_want(link, room)])
    [job] = _announce(renv, key, "pool-eu-a").json()["jobs"]
    renv.residency.registry.drop_doc(WANTS, node)  # the node's document expired with it
    assert _announce(renv, key, "pool-eu-a", running=[job["id"]]).json()["dismissed"] == [job["id"]]


def test_a_pool_in_a_region_the_tenant_does_not_allow_is_never_chosen_and_the_refusal_says_why(renv: Env) -> None:
    """ACME is an EU tenant: a US pool with room to spare is never given its meeting."""
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    us = _pool_key(renv, "us-1")
    _wants(renv, node, [_want(link, room)])
    assert _announce(renv, us, "pool-us-a", capacity=50).json()["jobs"] == []
    assert renv.residency.registry.list_docs(JOBS) == {}
    r = renv.client.get("/v1/tenants/acme/recorder-refusals", headers=renv.admin())
    [refusal] = r.json()["refusals"]
    assert refusal["room"] == room and refusal["code"] == "no_recorder_in_allowed_regions"
    assert "Nothing was recorded elsewhere" in refusal["message"]
    assert len(_audit(renv, "recording.recorder_refused")) == 1
    _announce(renv, us, "pool-us-a")  # refused again: audited once a minute, not at every announcement
    assert len(_audit(renv, "recording.recorder_refused")) == 1
    # an EU pool appears: the meeting gets it
    eu = _pool_key(renv, "eu-1")
    [job] = _announce(renv, eu, "pool-eu-a").json()["jobs"]
    assert job["region"] == "eu-1"
    assert renv.client.get("/v1/tenants/acme/recorder-refusals", headers=renv.admin()).json()["refusals"] == []


def test_a_pool_key_can_do_nothing_but_announce_its_pool_and_fetch_its_jobs_credentials(renv: Env) -> None:
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    key = _pool_key(renv, "eu-1")
    h = _bearer(key)
    # every admin and operator endpoint: 401 (it is not an admin key)
    for method, path, body in [
        ("GET", "/v1/tenants", None), ("GET", "/v1/tenants/acme", None),
        ("POST", "/v1/tenants", {"tenant": "evil", "name": "Evil", "jurisdiction": "EU"}),
        ("POST", "/v1/tenants/acme/admin-keys", {}), ("GET", "/v1/tenants/acme/links", None),
        ("POST", "/v1/tenants/acme/links", {"title": "x", "no_password": True}),
        ("GET", "/v1/tenants/acme/recordings", None),
        ("PUT", "/v1/tenants/acme/recording-policy", {"policy": "off", "retention_days": 0}),
        ("POST", f"/v1/tenants/acme/links/{link}/recorder", {}),
        ("POST", "/v1/recorder-pool-keys", {"region": "eu-1"}), ("GET", "/v1/recorder-pool-keys", None),
        ("GET", "/v1/tenants/acme/recorder-refusals", None),
    ]:
        r = renv.client.request(method, path, json=body, headers=h)
        assert (r.status_code, r.json()["error"]) == (401, "unauthenticated"), (method, path, r.text)
    # a meeting nobody asked to record: no job, so no credential, whatever id it guesses
    r = renv.client.post("/v1/recorder-jobs/job-AAAAAAAAAAAA/credential", json={}, headers=h)
    assert (r.status_code, r.json()["error"]) == (404, "job_not_found")
    assert _audit(renv, "recording.recorder_credential") == []
    # and an admin key is not a pool key
    r = _announce(renv, renv.admin_key, "pool-eu-a")
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")
    r = _announce(renv, renv.operator_key, "pool-eu-a")
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")


def test_a_pool_key_of_another_region_or_pool_cannot_take_a_job(renv: Env) -> None:
    """The attacker holds a us-1 pool key and another eu-1 pool key (not the one the job's pool announced with)
    and tries the eu-a pool's job with both, then takes over the pool's id; then the owner's key is revoked."""
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    owner = _pool_key(renv, "eu-1")
    _wants(renv, node, [_want(link, room)])
    [job] = _announce(renv, owner, "pool-eu-a").json()["jobs"]
    for other in (_pool_key(renv, "us-1"), _pool_key(renv, "eu-1")):
        r = renv.client.post(f"/v1/recorder-jobs/{job['id']}/credential", json={}, headers=_bearer(other))
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), r.text
        # nor can it take over the pool's id to be given its jobs
        r = _announce(renv, other, "pool-eu-a")
        assert (r.status_code, r.json()["error"]) == (409, "pool_id_taken")
    assert _audit(renv, "recording.recorder_credential") == []
    # a revoked key: nothing at all
    kid = owner.removeprefix("crk_").split(".")[0]
    assert renv.client.delete(f"/v1/recorder-pool-keys/{kid}", headers=renv.op()).status_code == 200
    r = renv.client.post(f"/v1/recorder-jobs/{job['id']}/credential", json={}, headers=_bearer(owner))
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")


def test_another_tenants_meeting_is_never_a_job_without_its_node_asking(renv: Env) -> None:
    """A hostile writer of the registry (or a node) names a meeting placed on another node, or a link of another
    room: nothing is launched. Only a node the control plane trusts, for a meeting placed on it, counts."""
    _policy(renv, "required")
    globex_admin = renv.other_tenant("globex")
    glink, groom, gnode = _meeting(renv, "globex", globex_admin)
    link, room, node = _meeting(renv)
    add_node(renv.residency, "node-eu-2", "eu-1")
    _wants(renv, "node-eu-2", [_want(glink, groom, tenant="globex"), _want(link, room)])  # placed on node-eu-1
    _wants(renv, node, [_want(glink, room)])  # another room's link
    renv.residency.registry.put_doc(WANTS, "node-nowhere", {"rooms": [_want(link, room)]})  # no such node
    key = _pool_key(renv, "eu-1")
    assert _announce(renv, key, "pool-eu-a").json()["jobs"] == []
    assert renv.residency.registry.list_docs(JOBS) == {}


def test_only_the_operator_manages_pool_keys(renv: Env) -> None:
    r = renv.client.post("/v1/recorder-pool-keys", json={"region": "eu-1"}, headers=renv.admin())
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = renv.client.post("/v1/recorder-pool-keys", json={"region": "mars-1"}, headers=renv.op())
    assert (r.status_code, r.json()["error"]) == (404, "region_not_found")
    key = _pool_key(renv, "eu-1")
    listed = renv.client.get("/v1/recorder-pool-keys", headers=renv.op()).json()["keys"]
    assert [k["region"] for k in listed] == ["eu-1"] and key.split(".")[1] not in str(listed)
    assert renv.client.get("/v1/recorder-pool-keys", headers=renv.admin()).status_code == 403


def test_a_dead_pools_recording_is_continued_in_its_session_then_ended_with_its_gap_never_in_us(renv: Env) -> None:
    """The job of a pool that stops announcing moves to another pool of an allowed region with the same session,
    so the pool continues the same Recording (recording/pool/job.py: `open_session`, `recorder_moved`). With no
    pool left in an allowed region the recording ends with its gap (audited `recording.continuation_refused`);
    the idle us-1 pool is never given it."""
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    eu, us = _pool_key(renv, "eu-1"), _pool_key(renv, "us-1")
    _wants(renv, node, [{**_want(link, room), "session": "s-1"}])
    [job] = _announce(renv, eu, "pool-eu-a").json()["jobs"]
    assert job["session"] == "s-1"
    assert renv.control.recordings is not None
    archive = renv.control.recordings.archive
    rec = archive.begin("acme", room, link, {"participant": "rec-1", "recorder": "pool-eu-a"}, "eu-1",
                        "recorder-pool:pool-eu-a", session="s-1")  # what the pool's job start does
    renv.residency.registry.drop_doc(POOLS, "pool-eu-a")  # its announcement expired: the pool died
    [moved] = _announce(renv, eu, "pool-eu-b").json()["jobs"]
    assert (moved["session"], moved["generation"], moved["region"]) == ("s-1", 2, "eu-1")
    found = archive.open_session("acme", room, moved["session"])
    assert found is not None and found.id == rec.id  # the same recording to continue
    archive.recorder_moved("acme", rec.id, "eu-1", {"recorder": "pool-eu-b"}, "recorder-pool:pool-eu-b")
    renv.residency.registry.drop_doc(POOLS, "pool-eu-b")  # and that pool dies too
    assert _announce(renv, us, "pool-us-a", capacity=50).json()["jobs"] == []
    ended = archive.get("acme", rec.id)
    assert ended.ended_at is not None and ended.regions == ("eu-1",)
    assert [g["replaced_by"] for g in ended.gaps] == ["pool-eu-b", None]
    [refused] = _audit(renv, "recording.continuation_refused")
    assert refused.data["recording"] == rec.id and refused.data["reason"] == "no_recorder_in_allowed_regions"
    listed = renv.client.get("/v1/tenants/acme/recordings", headers=renv.admin()).json()["recordings"]
    [one] = [r for r in listed if r["meeting"] == room]
    assert len(one["parts"]) == 2 and len(one["gaps"]) == 2 and one["session"] == "s-1"


def test_a_new_session_is_a_new_job_and_a_dead_pools_recording_ends_when_recording_goes_off(renv: Env) -> None:
    _policy(renv, "allowed")
    link, room, node = _meeting(renv)
    eu = _pool_key(renv, "eu-1")
    _wants(renv, node, [{**_want(link, room, "allowed"), "session": "s-1"}])
    [first] = _announce(renv, eu, "pool-eu-a").json()["jobs"]
    # the host stopped and started again between two announcements: the node's session changed
    _wants(renv, node, [{**_want(link, room, "allowed"), "session": "s-2"}])
    a = _announce(renv, eu, "pool-eu-a", running=[first["id"]]).json()
    assert a["jobs"] == [] and a["dismissed"] == [first["id"]]  # its recording ends with its session
    [second] = _announce(renv, eu, "pool-eu-a").json()["jobs"]
    assert second["session"] == "s-2" and second["id"] != first["id"]
    assert renv.control.recordings is not None
    archive = renv.control.recordings.archive
    rec = archive.begin("acme", room, link, {"recorder": "pool-eu-a"}, "eu-1", "recorder-pool:pool-eu-a",
                        session="s-2")
    renv.residency.registry.drop_doc(POOLS, "pool-eu-a")  # the pool dies, then the host stops recording
    _wants(renv, node, [])
    _announce(renv, _pool_key(renv, "eu-1"), "pool-eu-b")
    ended = archive.get("acme", rec.id)
    assert ended.ended_at is not None and ended.parts[0]["lost"] is True and ended.gaps[0]["replaced_by"] is None


def test_a_dead_pools_job_moved_by_two_announcements_at_once_is_launched_once(renv: Env) -> None:
    """Every pool's announcement reconciles; when a pool dies, two pools announcing at the same moment both see
    its job to move. Only the first move stands (a compare-and-set on the job): one recorder, one
    `recording.recorder_launched`, not two recorders of one meeting under two job ids (seen in the cluster test
    with eu-1's pools killed, before). Here the second announcement lands between the first one's read of the
    jobs and its write — the interleaving a thread pool makes — on a control plane with the real registry."""
    _policy(renv, "required")
    link, room, node = _meeting(renv)
    eu = _pool_key(renv, "eu-1")
    _wants(renv, node, [{**_want(link, room), "session": "s-1"}])
    [job] = _announce(renv, eu, "pool-eu-a").json()["jobs"]
    _announce(renv, eu, "pool-eu-c", capacity=1)  # a third pool, idle, announced
    renv.residency.registry.drop_doc(POOLS, "pool-eu-a")  # its announcement expired: the pool died
    registry = renv.residency.registry
    swap = registry.swap_doc
    raced: list[Any] = []

    def swap_after_another_announcement(kind: str, key: str, expected: dict[str, Any], doc: dict[str, Any]) -> bool:
        if not raced:  # the other pool's announcement, handled on another thread, gets there first
            raced.append(None)  # (set first: that announcement's own move comes through here too)
            raced[0] = _announce(renv, eu, "pool-eu-c", capacity=1).json()["jobs"]
        return swap(kind, key, expected, doc)

    registry.swap_doc = swap_after_another_announcement  # type: ignore[method-assign]
    try:
        mine = _announce(renv, eu, "pool-eu-b").json()["jobs"]
    finally:
        registry.swap_doc = swap  # type: ignore[method-assign]
    launched = [r.data for r in _audit(renv, "recording.recorder_launched")]
    assert len(launched) == 2, launched  # the first launch, and exactly one move
    [moved] = [j for j in (raced[0] + mine)]  # one pool got the moved job, the other nothing
    assert moved["session"] == "s-1" and moved["generation"] == job["generation"] + 1
    [stored] = registry.list_docs(JOBS).values()
    assert stored["id"] == moved["id"] == launched[1]["job"] and stored["pool"] == moved["pool"]
