from __future__ import annotations

from tests.control.cp_env import Env


def test_join_with_password_returns_token_the_node_accepts(env: Env) -> None:
    link = env.link(password="open sesame")
    r = env.join(link["link"], password="open sesame")
    assert r.status_code == 200, r.text
    body = r.json()
    claims = env.verifier(body["node"]).verify(body["token"])
    assert claims.tenant == "acme" and claims.room == link["room"] and claims.region == "eu-1"
    assert body["processing"]["region"] == "eu-1"
