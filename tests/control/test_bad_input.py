"""Bad input on every endpoint is a 4xx with {error, message}, never a 500: malformed JSON, oversize bodies,
unknown fields, wrong types, bad path parameters, unknown query parameters, unknown routes and methods."""

from __future__ import annotations

import pytest

from signalling.control.endpoints import ENDPOINTS
from tests.control.cp_env import Env

LINK = "A" * 43
TICKET = "B" * 32


def concrete(path: str, env: Env) -> str:
    return (path.replace("{tenant}", "acme").replace("{link}", LINK).replace("{ticket}", TICKET)
            .replace("{key_id}", "0" * 16).replace("{hold}", "hold-" + "0" * 12)
            .replace("{recording}", "rec-" + "0" * 16).replace("{pool}", "pool-eu-1").replace("{job}", "job-" + "0" * 12)
            .replace("{file}", "p-alice-audio.webm").replace("{participant}", "p-alice"))


def credentials(env: Env, ep) -> dict[str, str]:  # noqa: ANN001 - an Endpoint
    """Headers that pass `ep`'s authentication, so what is refused is the body: a recorder pool's endpoints take
    only a pool key (made here by the operator), every other one the operator key."""
    if ep.auth != "pool":
        return env.op()
    r = env.client.post("/v1/recorder-pool-keys", json={"region": "eu-1"}, headers=env.op())
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


BODY_ENDPOINTS = [ep for ep in ENDPOINTS if ep.body is not None]
BAD_BODIES = [
    (b"{", "malformed_json"),
    (b"[1, 2]", "invalid_body"),
    (b'"text"', "invalid_body"),
    (b'{"a": NaN}', "malformed_json"),
    (b"\xff\xfe", "malformed_json"),
    (b'{"surprise": 1}', "unknown_field"),
    (b"[" * 5000 + b"]" * 5000, "malformed_json"),
]


@pytest.mark.parametrize("ep", BODY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
@pytest.mark.parametrize("raw,code", BAD_BODIES, ids=[c for _, c in BAD_BODIES])
def test_malformed_bodies_are_clear_400s(env: Env, ep, raw: bytes, code: str) -> None:
    headers = {**credentials(env, ep), "X-Host-Key": "x", "Content-Type": "application/json"}
    r = env.client.request(ep.method, concrete(ep.path, env), content=raw, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == code and r.json()["message"]


@pytest.mark.parametrize("ep", BODY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_oversize_bodies_are_413(env: Env, ep) -> None:
    big = b'{"title": "' + b"x" * 20000 + b'"}'
    headers = credentials(env, ep)
    r = env.client.request(ep.method, concrete(ep.path, env), content=big, headers=headers)
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(40):
            yield b" " * 1024

    r = env.client.request(ep.method, concrete(ep.path, env), content=chunks(), headers=headers)
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")


@pytest.mark.parametrize("field,value", [("name", 5), ("name", ""), ("name", "x" * 65), ("name", "a\nb"),
                                         ("password", ["pw"]), ("region_hint", "EU!"), ("link", None),
                                         ("host_key", True), ("name", {"$gt": ""})])
def test_wrong_types_on_join_are_400(env: Env, field: str, value: object) -> None:
    link = env.link(no_password=True)["link"]
    r = env.client.post("/v1/join", json={"link": link, "name": "Ada", field: value})
    assert r.status_code == 400 and r.json()["error"] == "invalid_field", r.text
    assert repr(field) in r.json()["message"]


def test_missing_fields_are_named(env: Env) -> None:
    r = env.client.post("/v1/join", json={})
    assert r.json() == {"error": "missing_field", "message": "missing field(s): link, name"}


def test_bad_path_and_query_parameters_are_400(env: Env) -> None:
    assert env.client.get("/v1/links/short").json()["error"] == "invalid_field"
    assert env.client.get("/v1/tenants/ACME!/links", headers=env.admin()).status_code == 400
    assert env.client.get(f"/v1/lobby/{TICKET}?wait=abc").json()["error"] == "invalid_parameter"
    assert env.client.get(f"/v1/lobby/{TICKET}?wait=99").json()["error"] == "invalid_field"
    assert env.client.get(f"/v1/lobby/{TICKET}?sneaky=1").json()["error"] == "unknown_parameter"


def test_unknown_routes_and_methods_are_json_errors(env: Env) -> None:
    r = env.client.get("/v1/nope")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = env.client.put("/v1/join", json={})
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_a_bogus_content_length_is_400(env: Env) -> None:
    r = env.client.post("/v1/join", content=b"{}", headers={"Content-Length": "abc"})
    assert r.status_code == 400


def test_digits_that_are_not_ascii_are_400_not_500(env: Env) -> None:
    """Found by fuzzing (tests/fuzz/control_body): '²'.isdigit() is true and int('²') raises, so a query
    parameter or a Content-Length of '²' was a 500."""
    r = env.client.get(f"/v1/lobby/{TICKET}?wait=%C2%B2")
    assert r.status_code == 400 and r.json()["error"] == "invalid_parameter"
    r = env.client.post("/v1/join", content=b"{}", headers={"Content-Length": b"\xb2"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"


def test_a_registry_outage_mid_join_is_a_clear_503(env: Env, monkeypatch) -> None:
    """Fail closed, and say so: Redis gone while placing -> 503 with residency's code, never a 500."""
    from residency.errors import RegistryError

    def down(*a: object, **k: object) -> None:
        raise RegistryError("registry_unavailable", "the registry (Redis) cannot be reached")

    link = env.link(no_password=True)["link"]
    monkeypatch.setattr(env.residency, "place_room", down)
    r = env.client.post("/v1/join", json={"link": link, "name": "Ada"})
    assert (r.status_code, r.json()["error"]) == (503, "registry_unavailable")
    monkeypatch.setattr(env.residency.audit, "append", down)
    r = env.client.post("/v1/tenants/acme/links", json={"title": "t"}, headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (503, "registry_unavailable")
    assert env.control.store.links("acme") == [env.control.store.link(link)]  # nothing unaudited was created
