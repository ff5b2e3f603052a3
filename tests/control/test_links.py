"""Meeting links: unguessable and signed, password by default (Argon2id, salted; at least 8 characters, not a common one), optional expiry and participant
cap, and revocation that bites at once — and, when asked, ends the running meeting on its node."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalling.control.linkids import LinkSigner
from signalling.control.passwords import verify_password
from tests.control.cp_env import Clock, Env, legacy_scrypt_hash, make_env
from tests.control.fake_node import fake_node

BACKENDS = ["sqlite", "postgresql"]  # the same stories on the embedded and the production store


def test_a_link_has_a_signed_unguessable_id_and_a_generated_password_by_default(env: Env) -> None:
    link = env.link()
    assert link["url"] == f"https://meet.example/j/{link['link']}"
    assert "#" not in link["url"]
    assert link["password_required"] and len(link["password"]) >= 16
    assert env.control.signer.verify(link["link"])
    stored = env.control.store.link(link["link"])
    assert stored is not None and stored.password_hash is not None
    # tests run Argon2id's cheapest cost; production: m=19 MiB, t=2, p=1 (test_passwords.py)
    assert stored.password_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert verify_password(link["password"], stored.password_hash)
    assert link["password"].encode() not in env.control.store.dump()
    # same password, two links: different salts, different hashes
    a = env.control.store.link(env.link(password="same pass phrase")["link"])
    b = env.control.store.link(env.link(password="same pass phrase")["link"])
    assert a and b and a.password_hash != b.password_hash


def test_the_password_is_required_and_checked(env: Env) -> None:
    link = env.link(password="correct horse")
    r = env.join(link["link"])
    assert (r.status_code, r.json()["error"]) == (401, "password_required")
    r = env.join(link["link"], password="wrong horse")
    assert (r.status_code, r.json()["error"]) == (401, "wrong_password")
    assert env.join(link["link"], password="correct horse").status_code == 200


def test_a_forged_or_mangled_link_is_refused_before_any_database_lookup(env: Env, monkeypatch) -> None:
    genuine = env.link(no_password=True)["link"]
    other_deployment = LinkSigner(b"k" * 32).new()
    flipped = genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + genuine[-1]

    def no_db(link: str) -> None:
        raise AssertionError("the store was consulted for an unsigned link")

    monkeypatch.setattr(env.control.store, "link", no_db)
    for bad in (other_deployment, flipped, "x" * 43):
        r = env.join(bad)
        assert (r.status_code, r.json()["error"]) == (404, "link_not_found"), bad
        assert env.client.get(f"/v1/links/{bad}").status_code == 404


def test_link_info_shows_what_the_page_needs_and_nothing_more(env: Env) -> None:
    link = env.link(password="lobby pass phrase", lobby=True)
    assert env.client.get(f"/v1/links/{link['link']}").json() == {
        "title": "Board meeting", "password_required": True, "lobby": True,
        "recording": {"policy": "off", "text": ""}}  # recording/notice.py


def test_an_expired_link_is_refused(env: Env, clock: Clock) -> None:
    link = env.link(no_password=True, expires_in=3600)
    assert env.join(link["link"]).status_code == 200
    clock.advance(3601)
    r = env.join(link["link"])
    assert (r.status_code, r.json()["error"]) == (410, "link_expired")


def test_the_participant_cap_counts_issued_seats_and_frees_them_when_people_leave(env: Env) -> None:
    link = env.link(no_password=True, max_participants=2)
    first = env.join(link["link"]).json()
    second = env.join(link["link"]).json()
    r = env.join(link["link"])
    assert (r.status_code, r.json()["error"]) == (403, "meeting_full")
    # the node reports: the first participant joined, then left
    env.control.occupancy.joined("acme", first["room"], first["participant"])
    env.control.occupancy.left("acme", first["room"], first["participant"])
    assert env.join(link["link"]).status_code == 200
    assert second["room"] == first["room"]


def test_revoke_takes_effect_at_once(env: Env) -> None:
    link = env.link(no_password=True)
    assert env.join(link["link"]).status_code == 200
    r = env.client.post(f"/v1/tenants/acme/links/{link['link']}/revoke", json={}, headers=env.admin())
    assert r.json() == {"link": link["link"], "revoked": True, "meeting_ended": False}
    r = env.join(link["link"])
    assert (r.status_code, r.json()["error"]) == (410, "link_revoked")
    assert env.client.get(f"/v1/tenants/acme/links/{link['link']}", headers=env.admin()).json()["revoked"] is True


def test_revoke_with_end_meeting_ends_it_on_the_node(tmp_path: Path) -> None:
    """The control plane signs a room:end admin token (aud = node) and POSTs it to the node over HTTP."""
    holder: dict[str, Env] = {}
    with fake_node("node-eu-1", lambda: holder["env"].control.keyring.jwks()) as node:
        env = holder["env"] = make_env(tmp_path, node_http=node.url)
        link = env.link(no_password=True)
        joined = env.join(link["link"]).json()
        r = env.client.post(f"/v1/tenants/acme/links/{link['link']}/revoke", json={"end_meeting": True},
                            headers=env.admin())
        assert r.status_code == 200, r.text
        assert r.json()["meeting_ended"] is True
        assert node.ended == [("acme", joined["room"])] and node.refused == []
        assert env.residency.get_placement("acme", joined["room"]) is None
        kinds = [rec.kind for rec in env.residency.audit.tenant_records("acme")]
        assert "room.ended" in kinds
        env.control.close()


def test_end_meeting_with_an_unreachable_node_is_a_clear_error_but_the_link_stays_revoked(env: Env) -> None:
    link = env.link(no_password=True)
    env.join(link["link"])
    r = env.client.post(f"/v1/tenants/acme/links/{link['link']}/revoke", json={"end_meeting": True},
                        headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (502, "end_meeting_failed")
    assert env.join(link["link"]).json()["error"] == "link_revoked"


def test_placement_refused_is_a_clear_user_facing_error(env: Env) -> None:
    """Fail closed: a UK tenant with no node in the UK is refused, never placed on the EU node."""
    env.client.post("/v1/tenants", json={"tenant": "brit", "name": "Brit Ltd", "jurisdiction": "UK"},
                    headers=env.op())
    key = env.client.post("/v1/tenants/brit/admin-keys", json={}, headers=env.op()).json()["key"]
    link = env.client.post("/v1/tenants/brit/links", json={"title": "t", "no_password": True},
                           headers={"Authorization": f"Bearer {key}"}).json()
    r = env.join(link["link"], region_hint="eu-1")
    assert r.status_code == 503
    assert r.json()["error"] == "placement_refused"
    assert "was not sent anywhere else" in r.json()["message"] or "allows no region" in r.json()["message"]


@pytest.mark.parametrize("opts,code", [({"password": "long enough x", "no_password": True}, "contradictory_options"),
                                       ({"expires_in": 5}, "invalid_field"),
                                       ({"max_participants": 0}, "invalid_field"),
                                       ({"e2ee_key": "secret"}, "unknown_field")])
def test_bad_link_options_are_refused(env: Env, opts: dict, code: str) -> None:
    r = env.client.post("/v1/tenants/acme/links", json={"title": "t", **opts}, headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (400, code)


def test_a_scrypt_hash_from_before_argon2_verifies_and_is_rehashed_on_the_next_good_password(env: Env) -> None:
    link = env.link(password="old meeting phrase")
    env.control.store.set_password_hash(link["link"], legacy_scrypt_hash("old meeting phrase"))
    r = env.join(link["link"], password="old meeting phras")
    assert (r.status_code, r.json()["error"]) == (401, "wrong_password")
    stored = env.control.store.link(link["link"])
    assert stored is not None and stored.password_hash is not None and stored.password_hash.startswith("scrypt$")
    assert env.join(link["link"], password="old meeting phrase").status_code == 200
    stored = env.control.store.link(link["link"])
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert env.join(link["link"], password="old meeting phrase").status_code == 200


def test_an_argon2_hash_at_other_parameters_is_rehashed_at_the_configured_ones(env: Env) -> None:
    from argon2 import PasswordHasher, Type

    link = env.link(password="tuned meeting phrase")
    weaker = PasswordHasher(time_cost=1, memory_cost=32, parallelism=1, type=Type.ID).hash("tuned meeting phrase")
    env.control.store.set_password_hash(link["link"], weaker)
    assert env.join(link["link"], password="tuned meeting phrase").status_code == 200
    stored = env.control.store.link(link["link"])
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")


def test_too_short_and_common_passwords_are_refused_when_a_link_is_created(env: Env) -> None:
    def create(password: str) -> tuple[int, str]:
        r = env.client.post("/v1/tenants/acme/links", json={"title": "t", "password": password}, headers=env.admin())
        return r.status_code, r.json().get("error", "")

    assert create("x") == (400, "invalid_field")
    assert create("seven77") == (400, "invalid_field")
    for common in ("password1", "PassWord1", "qwertyuiop", "iloveyou", "Sunshine"):
        assert create(common) == (400, "weak_password"), common
    r = env.client.post("/v1/tenants/acme/links", json={"title": "t", "password": "sunshine"}, headers=env.admin())
    assert "most common passwords" in r.json()["message"]
    assert create("eight ch")[0] == 201
    assert create("correct horse battery staple")[0] == 201
    assert env.control.store.links("acme") and len(env.control.store.links("acme")) == 2  # nothing half-made


def test_the_cli_direct_mode_obeys_the_api_rules(env: Env) -> None:
    from signalling.control.errors import ApiError

    with pytest.raises(ApiError) as e:
        env.control.create_link("cli:test", tenant="acme", title="t", expires_in=-5)
    assert e.value.code == "invalid_field"
