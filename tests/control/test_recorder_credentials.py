"""Who may be a meeting's recorder, and what policy its meetings run under, as the control plane signs them
(docs/recording.md, "Recorder credentials"; sfu/recording.py is the node's side).

Every join token carries the meeting's effective recording policy under the control plane's signature; only
`POST /v1/tenants/{t}/links/{link}/recorder`, with the link's tenant admin key or the operator's, issues a token
with role `recorder`. The hostile side: a participant that joins under the recorder's name, another tenant's key
asking for this tenant's meeting, a recorder for a meeting whose policy is off or whose link was revoked, a
credential used twice. The tokens are checked by the node's own verifier."""

from __future__ import annotations

from typing import Any

import pytest

from signalling.tokens import TokenError
from tests.control.cp_env import Env


def _policy(env: Env, policy: str, link: str | None = None) -> None:
    path = f"/v1/tenants/acme/links/{link}/recording-policy" if link else "/v1/tenants/acme/recording-policy"
    body: dict[str, Any] = {"policy": policy} if link else {"policy": policy, "retention_days": 0}
    r = env.client.put(path, json=body, headers=env.admin())
    assert r.status_code == 200, r.text


def _recorder(env: Env, link: str, key: str | None = None, tenant: str = "acme") -> Any:
    return env.client.post(f"/v1/tenants/{tenant}/links/{link}/recorder", json={},
                           headers={"Authorization": f"Bearer {key or env.admin_key}"})


def _issued(env: Env) -> list[Any]:
    return [r for r in env.residency.audit.tenant_records("acme") if r.kind == "recording.recorder_credential"]


def test_every_join_token_carries_the_meetings_policy_signed_and_a_link_tightens_it(renv: Env) -> None:
    plain = renv.link(no_password=True)["link"]
    strict = renv.link(no_password=True)["link"]
    _policy(renv, "allowed")
    _policy(renv, "required", link=strict)
    verify = renv.verifier().verify
    a = verify(renv.join(plain, name="Alice").json()["token"])
    b = verify(renv.join(strict, name="Bob").json()["token"])
    assert (a.recording, a.recorder) == ("allowed", False)
    assert (b.recording, b.recorder) == ("required", False)


def test_a_participant_named_like_the_recorder_gets_an_ordinary_credential(renv: Env) -> None:
    link = renv.link(no_password=True)["link"]
    _policy(renv, "required")
    c = renv.verifier().verify(renv.join(link, name="ACME archive").json()["token"])
    assert c.name == "ACME archive" and c.recorder is False
    # the join body has no way to ask for the role: an extra field is refused, not ignored
    r = renv.join(link, name="ACME archive", role="recorder")
    assert (r.status_code, r.json()["error"]) == (400, "unknown_field")


def test_the_tenant_admin_gets_a_single_use_recorder_credential_bound_to_the_meeting_and_it_is_audited(
        renv: Env) -> None:
    made = renv.link(no_password=True)
    _policy(renv, "required")
    r = _recorder(renv, made["link"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "recorder" and body["policy"] == "required" and body["room"] == made["room"]
    verifier = renv.verifier(body["node"])
    c = verifier.verify(body["token"])
    assert c.recorder is True and c.recording == "required" and c.room == made["room"] and c.tenant == "acme"
    assert c.name == body["name"] and c.name.endswith(" archive") and c.participant == body["participant"]
    with pytest.raises(TokenError) as replay:
        verifier.verify(body["token"])
    assert replay.value.code == "replayed"
    [audit] = _issued(renv)
    assert audit.actor.startswith("admin-key:") and audit.data["participant"] == body["participant"]
    assert audit.data["link"] == made["link"] and audit.data["policy"] == "required"
    # the operator's key is the recorder pool's other way in
    op = _recorder(renv, made["link"], key=renv.operator_key)
    assert op.status_code == 200 and renv.verifier(op.json()["node"]).verify(op.json()["token"]).recorder


def test_no_recorder_where_the_policy_is_off_or_the_link_is_revoked(renv: Env) -> None:
    made = renv.link(no_password=True)
    r = _recorder(renv, made["link"])  # the tenant never set a policy: off
    assert (r.status_code, r.json()["error"]) == (422, "recording_off")
    _policy(renv, "allowed")
    _policy(renv, "off", link=made["link"])  # a link may switch an "allowed" tenant's recording off
    r = _recorder(renv, made["link"])
    assert (r.status_code, r.json()["error"]) == (422, "recording_off")
    revoked = renv.link(no_password=True)["link"]
    assert renv.client.post(f"/v1/tenants/acme/links/{revoked}/revoke", json={},
                            headers=renv.admin()).status_code == 200
    r = _recorder(renv, revoked)
    assert (r.status_code, r.json()["error"]) == (410, "link_revoked")
    assert _issued(renv) == []


def test_another_tenants_key_cannot_get_a_recorder_into_this_tenants_meeting(renv: Env) -> None:
    link = renv.link(no_password=True)["link"]
    _policy(renv, "required")
    globex = renv.other_tenant()
    r = _recorder(renv, link, key=globex)  # acme's path
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = _recorder(renv, link, key=globex, tenant="globex")  # its own path, acme's link
    assert (r.status_code, r.json()["error"]) == (404, "link_not_found")
    assert _issued(renv) == []
