"""Tenants, admin keys and the audit trail: an operator bootstraps a tenant, its admin gets a key (shown once,
stored hashed), can manage only its own tenant, loses access the moment the key is revoked, and every one of
these actions is in the tenant's hash-chained residency audit log."""

from __future__ import annotations

from tests.control.cp_env import Env


def test_operator_creates_a_tenant_and_only_the_operator_may(env: Env) -> None:
    r = env.client.post("/v1/tenants", json={"tenant": "globex", "name": "Globex", "jurisdiction": "UK"},
                        headers=env.op())
    assert r.status_code == 201, r.text
    assert r.json()["tenant"] == "globex"
    r = env.client.post("/v1/tenants", json={"tenant": "initech", "name": "Initech", "jurisdiction": "EU"},
                        headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = env.client.post("/v1/tenants", json={"tenant": "initech", "name": "Initech", "jurisdiction": "EU"})
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")
    assert {t["tenant"] for t in env.client.get("/v1/tenants", headers=env.op()).json()["tenants"]} == {
        "acme", "globex"}


def test_duplicate_tenant_and_unknown_jurisdiction_are_clear_errors(env: Env) -> None:
    r = env.client.post("/v1/tenants", json={"tenant": "acme", "name": "x", "jurisdiction": "EU"}, headers=env.op())
    assert (r.status_code, r.json()["error"]) == (409, "tenant_exists")
    r = env.client.post("/v1/tenants", json={"tenant": "zz", "name": "x", "jurisdiction": "XX"}, headers=env.op())
    assert r.status_code == 404 and "XX" in r.json()["message"]


def test_admin_key_is_shown_once_stored_hashed_and_revocable(env: Env) -> None:
    r = env.client.post("/v1/tenants/acme/admin-keys", json={"label": "bob"}, headers=env.admin())
    assert r.status_code == 201
    key, key_id = r.json()["key"], r.json()["key_id"]
    secret = key.split(".", 1)[1]
    assert secret.encode() not in env.control.store.dump()
    assert secret.encode() not in (env.tmp / "control.db").read_bytes()
    listed = env.client.get("/v1/tenants/acme/admin-keys", headers=env.admin()).json()["keys"]
    assert all("key" not in k and "hash" not in k for k in listed)
    bob = {"Authorization": f"Bearer {key}"}
    assert env.client.get("/v1/tenants/acme/links", headers=bob).status_code == 200
    assert env.client.delete(f"/v1/tenants/acme/admin-keys/{key_id}", headers=env.admin()).status_code == 200
    r = env.client.get("/v1/tenants/acme/links", headers=bob)
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")
    r = env.client.delete(f"/v1/tenants/acme/admin-keys/{key_id}", headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (409, "key_already_revoked")


def test_a_tenant_admin_cannot_touch_another_tenant(env: Env) -> None:
    env.client.post("/v1/tenants", json={"tenant": "globex", "name": "Globex", "jurisdiction": "EU"},
                    headers=env.op())
    for method, path in [("GET", "/v1/tenants/globex/links"), ("POST", "/v1/tenants/globex/admin-keys"),
                         ("GET", "/v1/tenants/globex/lockouts")]:
        r = env.client.request(method, path, json={} if method == "POST" else None, headers=env.admin())
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), path
    r = env.client.post("/v1/operator/signing-keys/rotate", json={}, headers=env.admin())
    assert r.status_code == 403


def test_a_forged_or_malformed_key_is_refused(env: Env) -> None:
    key_id = env.admin_key[4:].split(".")[0]
    for bad in ("cak_", f"cak_{key_id}.wrong", "Bearer", "cak_nope.x", env.admin_key + "x"):
        r = env.client.get("/v1/tenants/acme/links", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad


def test_every_admin_action_is_in_the_verifiable_audit_log(env: Env) -> None:
    link = env.link(password="pw-12345678")
    env.client.post(f"/v1/tenants/acme/links/{link['link']}/revoke", json={}, headers=env.admin())
    r = env.client.post("/v1/tenants/acme/admin-keys", json={"label": "carol"}, headers=env.admin())
    env.client.delete(f"/v1/tenants/acme/admin-keys/{r.json()['key_id']}", headers=env.admin())
    env.client.post("/v1/operator/signing-keys/rotate", json={}, headers=env.op())
    kinds = [(rec.kind, rec.actor) for rec in env.residency.audit.tenant_records("acme")]
    admin_actor = f"admin-key:{env.admin_key[4:].split('.')[0]}"
    assert ("tenant.created", env.control.authenticate(env.operator_key).actor) in kinds
    for kind in ("admin_key.create", "link.create", "link.revoke", "admin_key.revoke"):
        assert (kind, admin_actor) in kinds, kind
    deployment = [rec.kind for rec in env.residency.audit.records("deployment")]
    assert "signing_key.rotate" in deployment and "admin_key.create" in deployment  # the operator key
    verified = env.residency.verify(env.residency.export_tenant("acme"))
    assert verified.count >= 5
    # nothing secret went into the audit log
    dump = " ".join(str(rec.data) for rec in env.residency.audit.tenant_records("acme"))
    assert "pw-12345678" not in dump and link["host_key"] not in dump


def test_a_tenant_admin_exports_its_audit_chain_and_anyone_can_verify_it(env: Env) -> None:
    from residency.audit import verify_export
    from residency.errors import VerificationFailed
    from residency.signing import parse_public_keys

    env.link(password="pass phrase 92")
    r = env.client.get("/v1/tenants/acme/audit", headers=env.admin())
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    keys = parse_public_keys(env.client.get("/v1/audit/public-key").text)
    verified = verify_export(r.text, keys)
    assert verified.chain == "tenant:acme" and verified.count >= 3
    tampered = r.text.replace("link.create", "link.creat", 1)
    try:
        verify_export(tampered, keys)
        raise AssertionError("a tampered export verified")
    except VerificationFailed:
        pass
    env.client.post("/v1/tenants", json={"tenant": "globex", "name": "G", "jurisdiction": "EU"}, headers=env.op())
    assert env.client.get("/v1/tenants/globex/audit", headers=env.admin()).status_code == 403
    kinds = [rec.kind for rec in env.residency.audit.tenant_records("acme")]
    assert kinds[-1] == "audit.export"
