"""Waiting room: a knocking participant waits (long-poll) until the link's host admits or denies them; the
admitted one gets a join token exactly once; the host joins straight in with the host key."""

from __future__ import annotations

import asyncio

import httpx

from tests.control.cp_env import Env

BACKENDS = ["sqlite", "postgresql"]  # the same stories on the embedded and the production store


def host(link: dict) -> dict[str, str]:
    return {"X-Host-Key": link["host_key"]}


def test_the_host_admits_a_waiting_participant_who_then_gets_a_token(env: Env) -> None:
    link = env.link(password="lobby pass phrase", lobby=True)

    async def story() -> None:
        transport = httpx.ASGITransport(app=env.client.app, client=("198.51.100.8", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as c:
            r = await c.post("/v1/join", json={"link": link["link"], "name": "Grace", "password": "lobby pass phrase"})
            assert r.status_code == 202, r.text
            ticket = r.json()["ticket"]
            poll = asyncio.create_task(c.get(f"/v1/lobby/{ticket}", params={"wait": 10}))
            await asyncio.sleep(0.2)
            assert not poll.done()  # really waiting
            waiting = (await c.get(f"/v1/links/{link['link']}/lobby", headers=host(link))).json()["waiting"]
            assert [w["name"] for w in waiting] == ["Grace"]
            r = await c.post(f"/v1/links/{link['link']}/lobby/{ticket}", json={"decision": "admit"},
                             headers=host(link))
            assert r.status_code == 200 and r.json()["state"] == "admitted"
            answer = await asyncio.wait_for(poll, 5)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            claims = env.verifier(body["node"]).verify(body["token"])
            assert claims.name == "Grace" and claims.room == link["room"] and not claims.host
            again = await c.get(f"/v1/lobby/{ticket}")
            assert again.status_code == 404  # the token is handed out once

    asyncio.run(story())
    kinds = [rec.kind for rec in env.residency.audit.tenant_records("acme")]
    assert "lobby.admit" in kinds


def test_a_denied_participant_is_told_so(env: Env) -> None:
    link = env.link(no_password=True, lobby=True)
    ticket = env.join(link["link"]).json()["ticket"]
    assert env.client.get(f"/v1/lobby/{ticket}?wait=0").json() == {"status": "waiting", "ticket": ticket}
    env.client.post(f"/v1/links/{link['link']}/lobby/{ticket}", json={"decision": "deny"}, headers=host(link))
    r = env.client.get(f"/v1/lobby/{ticket}")
    assert (r.status_code, r.json()["error"]) == (403, "denied")


def test_only_the_host_key_opens_the_lobby(env: Env) -> None:
    link = env.link(no_password=True, lobby=True)
    ticket = env.join(link["link"]).json()["ticket"]
    for headers in ({}, {"X-Host-Key": "nope"}, {"X-Host-Key": env.link(lobby=True)["host_key"]}):
        assert env.client.get(f"/v1/links/{link['link']}/lobby", headers=headers).status_code == 403
        r = env.client.post(f"/v1/links/{link['link']}/lobby/{ticket}", json={"decision": "admit"}, headers=headers)
        assert (r.status_code, r.json()["error"]) == (403, "wrong_host_key")


def test_the_host_joins_directly_with_a_host_token(env: Env) -> None:
    link = env.link(password="lobby pass phrase", lobby=True)
    r = env.join(link["link"], host_key=link["host_key"], name="Host")
    assert r.status_code == 200 and r.json()["host"] is True
    assert env.verifier().verify(r.json()["token"]).host is True


def test_revoking_the_link_turns_the_waiting_away(env: Env) -> None:
    link = env.link(no_password=True, lobby=True)
    ticket = env.join(link["link"]).json()["ticket"]
    env.client.post(f"/v1/tenants/acme/links/{link['link']}/revoke", json={}, headers=env.admin())
    assert env.client.get(f"/v1/lobby/{ticket}").json()["error"] == "denied"


def test_unknown_tickets_are_404(env: Env) -> None:
    r = env.client.get("/v1/lobby/" + "A" * 32)
    assert (r.status_code, r.json()["error"]) == (404, "ticket_not_found")
