"""Issue 16, the tenant admin's API: a tenant's regions shown and changed (audited, with a reason), warnings when
no region or no node would take its meetings, the running meetings (where, how many) and ending one. The hostile
side: another tenant's admin key, a link holder's host key, and a change that breaks the residency rules."""

from __future__ import annotations

from pathlib import Path

from tests.control.cp_env import Env, add_node, make_env
from tests.control.fake_node import fake_node


def test_a_tenant_admin_sees_its_regions_rules_and_serving_nodes(env: Env) -> None:
    env.residency.define_region("au-1", "AU", "Sydney, AU", "Australia", actor="operator")
    doc = env.client.get("/v1/tenants/acme", headers=env.admin()).json()
    assert (doc["tenant"], doc["jurisdiction"], doc["jurisdiction_name"]) == ("acme", "EU", doc["jurisdiction_name"])
    regions = {r["region"]: r for r in doc["regions"]}
    assert regions["eu-1"]["rule"] == "own" and regions["eu-1"]["allowed"] and regions["eu-1"]["nodes"] == 1
    assert "own jurisdiction" in regions["eu-1"]["why"]
    assert regions["us-1"]["rule"] == "adequate" and not regions["us-1"]["allowed"] and regions["us-1"]["why"] is None
    assert regions["au-1"]["rule"] == "refused" and not regions["au-1"]["allowed"]
    assert doc["effective_regions"] == ["eu-1"] and doc["warnings"] == []
    # a tenant admin key lists its own tenant only (the operator: every one)
    env.other_tenant()
    assert [t["tenant"] for t in env.client.get("/v1/tenants", headers=env.admin()).json()["tenants"]] == ["acme"]
    assert {t["tenant"] for t in env.client.get("/v1/tenants", headers=env.op()).json()["tenants"]} == {
        "acme", "globex"}


def test_regions_change_with_an_audited_reason_and_an_adequacy_opt_in(env: Env) -> None:
    env.residency.define_region("ch-1", "CH", "Zurich, CH", "Switzerland", actor="operator")
    # an adequate region needs an opt-in with a reason: refused without, and the refusal is audited
    r = env.client.put("/v1/tenants/acme/regions", json={"allowed_regions": ["eu-1", "ch-1"], "reason": "DR"},
                       headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (422, "opt_in_required")
    r = env.client.put("/v1/tenants/acme/regions",
                       json={"allowed_regions": ["eu-1", "ch-1"], "reason": "disaster recovery",
                             "opt_ins": {"ch-1": "Swiss subsidiary; EU adequacy decision 2000/518/EC"}},
                       headers=env.admin())
    assert r.status_code == 200, r.text
    doc = r.json()
    ch = {x["region"]: x for x in doc["regions"]}["ch-1"]
    assert ch["rule"] == "adequate" and ch["allowed"] and ch["opt_in"]["reason"].startswith("Swiss subsidiary")
    assert ch["opt_in"]["actor"].startswith("admin-key:") and ch["opt_in"]["at"] > 0
    assert {"code": "region_without_node"} == {"code": doc["warnings"][0]["code"]}  # ch-1 has no node
    # RULE 3: never, whatever the reason
    env.residency.define_region("au-1", "AU", "Sydney, AU", "Australia", actor="operator")
    r = env.client.put("/v1/tenants/acme/regions",
                       json={"allowed_regions": ["au-1"], "reason": "cheaper", "opt_ins": {"au-1": "please"}},
                       headers=env.admin())
    assert (r.status_code, r.json()["error"]) == (422, "region_not_permitted")
    r = env.client.put("/v1/tenants/acme/regions", json={"default": True, "reason": "back to EU only"},
                       headers=env.admin())
    assert r.status_code == 200 and r.json()["allowed_regions"] is None
    records = env.residency.audit.tenant_records("acme")
    changed = [x for x in records if x.kind == "policy.changed"]
    assert [x.data["reason"] for x in changed] == ["disaster recovery", "back to EU only"]
    assert all(x.actor.startswith("admin-key:") for x in changed)
    assert [x.data["code"] for x in records if x.kind == "policy.refused"] == ["opt_in_required",
                                                                                 "region_not_permitted"]


def test_bad_region_changes_are_clear_errors(env: Env) -> None:
    for body, code in (({"reason": "x"}, "missing_field"),
                       ({"default": True, "allowed_regions": ["eu-1"], "reason": "x"}, "contradictory_options"),
                       ({"allowed_regions": ["eu-1"]}, "missing_field"),
                       ({"allowed_regions": "eu-1", "reason": "x"}, "invalid_field"),
                       ({"allowed_regions": ["eu-1"], "reason": "x", "opt_ins": ["eu-1"]}, "invalid_field"),
                       ({"allowed_regions": ["nowhere"], "reason": "x"}, "unknown_region"),
                       ({"allowed_regions": [], "reason": "x"}, "empty_policy")):
        r = env.client.put("/v1/tenants/acme/regions", json=body, headers=env.admin())
        assert r.status_code in (400, 404) and r.json()["error"] == code, (body, r.text)


def test_warnings_when_no_region_or_no_node_serves_the_tenant(env: Env) -> None:
    r = env.client.post("/v1/tenants", json={"tenant": "brit", "name": "Brit Ltd", "jurisdiction": "UK"},
                        headers=env.op())
    assert r.status_code == 201 and [w["code"] for w in r.json()["warnings"]] == ["no_region"]
    env.residency.define_region("uk-1", "UK", "London, UK", "UK South", actor="operator")
    link = env.client.post("/v1/tenants/brit/links", json={"title": "x", "no_password": True}, headers=env.op())
    assert link.status_code == 201 and [w["code"] for w in link.json()["warnings"]] == ["no_node"]
    add_node(env.residency, "node-uk-1", "uk-1")
    link = env.client.post("/v1/tenants/brit/links", json={"title": "x", "no_password": True}, headers=env.op())
    assert link.json()["warnings"] == []


def test_another_tenants_admin_key_can_neither_see_nor_change_this_tenant(env: Env) -> None:
    other = {"Authorization": f"Bearer {env.other_tenant()}"}
    link = env.link(no_password=True)
    for method, path, body in (("GET", "/v1/tenants/acme", None),
                               ("PUT", "/v1/tenants/acme/regions", {"default": True, "reason": "takeover"}),
                               ("GET", "/v1/tenants/acme/meetings", None),
                               ("POST", f"/v1/tenants/acme/links/{link['link']}/end", {}),
                               ("GET", "/v1/tenants/acme/audit", None)):
        r = env.client.request(method, path, json=body, headers=other)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden"), (method, path)
    # nor by naming its own tenant with this tenant's link
    r = env.client.post(f"/v1/tenants/globex/links/{link['link']}/end", json={}, headers=other)
    assert (r.status_code, r.json()["error"]) == (404, "link_not_found")
    # a link holder's host key is no admin key
    for auth in (link["host_key"], f"cak_{link['host_key']}"):
        r = env.client.get("/v1/tenants/acme", headers={"Authorization": f"Bearer {auth}"})
        assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")


def test_running_meetings_show_where_and_how_many_and_one_can_be_ended(tmp_path: Path) -> None:
    holder: dict[str, Env] = {}
    with fake_node("node-eu-1", lambda: holder["env"].control.keyring.jwks()) as node:
        env = holder["env"] = make_env(tmp_path, node_http=node.url)
        idle = env.link(no_password=True, title="Idle")
        busy = env.link(no_password=True, title="Board")
        joined = [env.join(busy["link"]).json() for _ in range(2)]
        meetings = env.client.get("/v1/tenants/acme/meetings", headers=env.admin()).json()["meetings"]
        assert [(m["link"], m["title"], m["participants"], m["node"], m["region"], m["jurisdiction"])
                for m in meetings] == [(busy["link"], "Board", 2, "node-eu-1", "eu-1", "EU")]
        assert idle["link"] not in {m["link"] for m in meetings}
        r = env.client.post(f"/v1/tenants/acme/links/{busy['link']}/end", json={}, headers=env.admin())
        assert r.status_code == 200 and r.json()["meeting_ended"] is True, r.text
        assert node.ended == [("acme", joined[0]["room"])]
        assert env.client.get("/v1/tenants/acme/meetings", headers=env.admin()).json()["meetings"] == []
        assert env.join(busy["link"]).status_code == 200  # the link stays valid: a new meeting may start
        ends = [x for x in env.residency.audit.tenant_records("acme") if x.kind == "meeting.end"]
        assert len(ends) == 1 and ends[0].data["ended"] is True and ends[0].actor.startswith("admin-key:")
        r = env.client.post(f"/v1/tenants/acme/links/{idle['link']}/end", json={}, headers=env.admin())
        assert r.json()["meeting_ended"] == "not_running"
        env.control.close()


def test_the_openapi_document_describes_the_console_operations(env: Env) -> None:
    doc = env.client.get("/openapi.json").json()
    assert {"get", "put"} <= set(doc["paths"]["/v1/tenants/{tenant}"]) | set(doc["paths"]["/v1/tenants/{tenant}/regions"])
    assert "get" in doc["paths"]["/v1/tenants/{tenant}/meetings"]
    assert "post" in doc["paths"]["/v1/tenants/{tenant}/links/{link}/end"]
    assert "SetRegions" in doc["components"]["schemas"]
