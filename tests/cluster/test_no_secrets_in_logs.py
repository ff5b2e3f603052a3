"""No secret reaches a log. A realistic session on loopback — redis-server, `castellan control-plane` (first start:
it makes the operator key), a `castellan node`, all with their output captured — in which the operator creates a
tenant and an admin key, the admin creates links (given password, generated password, lobby; one through the CLI,
which makes the E2EE #fragment secret), people join (a wrong password first), wait in the lobby and are admitted
by the host, join the node with their tokens, replay a token, resume with their resume secret and with a wrong
one. Then every line every process wrote is searched for every secret the session made: none may appear.

Searched for: the operator key and admin key (whole and secret part), every password (given, generated, the wrong
guess), link ids, host keys, E2EE fragment secrets, join tokens (and their signatures), lobby tickets, resume
secrets. The logs must also show the traffic (access lines for /j/, /v1/join, /v1/lobby): an empty log would pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import httpx
import pytest
import websockets

from tests.cluster import cluster as cl
from tests.support.ports import UDP, free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

HOST = "127.0.0.1"


async def _ws(ws_url: str, *messages: dict) -> list[dict]:
    """Send `messages` in order on one WebSocket; the first answer to each."""
    answers = []
    async with websockets.connect(ws_url) as ws:
        for m in messages:
            await ws.send(json.dumps(m))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return answers


def test_a_full_session_leaves_no_secret_in_any_log(tmp_path: Path) -> None:
    procs = cl.Processes()
    secrets: dict[str, str] = {}  # what -> value

    def keep(what: str, value: str) -> str:
        assert value, what
        secrets[what] = value
        return value

    try:
        redis = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis.start()
        cp_port = free_port()
        url = f"http://{HOST}:{cp_port}"
        seeded = cl.seed(tmp_path / "control" / "castellan.db", regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central")],
                         tenants=[], links={}, public_url=url)
        cp = procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, redis.url))
        assert cl.wait_until(lambda: httpx.get(f"{url}/readyz", timeout=1).status_code == 200, 30), cp.tail()
        node_http = free_port()
        procs.add(cl.node(tmp_path, "eu-1a", "eu-1", HOST, node_http, free_port(HOST, UDP), redis.url, url))
        assert cl.wait_until(lambda: "eu-1a" in cl.registry_nodes(redis.url), 30), procs.logs()
        assert cl.wait_until(lambda: cl.placeable(url).get("eu-1") == 1, 30), procs.logs()

        operator = keep("operator key", (seeded.db.parent / "operator.key").read_text().strip())
        keep("operator key secret", operator.partition(".")[2])
        http = httpx.Client(base_url=url, timeout=10, trust_env=False)
        op = {"Authorization": f"Bearer {operator}"}
        assert http.post("/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"},
                         headers=op).status_code == 201
        admin = keep("admin key", http.post("/v1/tenants/acme/admin-keys", json={"label": "ops"}, headers=op).json()["key"])
        keep("admin key secret", admin.partition(".")[2])
        ad = {"Authorization": f"Bearer {admin}"}

        given = http.post("/v1/tenants/acme/links", json={"title": "Board", "password": keep("given password",
                                                                                            "Tulip-orbit 4417")},
                          headers=ad).json()
        generated = http.post("/v1/tenants/acme/links", json={"title": "Standup"}, headers=ad).json()
        lobby = http.post("/v1/tenants/acme/links", json={"title": "Clinic", "lobby": True,
                                                          "password": keep("lobby password", "harbour-lantern 93")},
                          headers=ad).json()
        keep("generated password", generated["password"])
        for name, rec in (("given", given), ("generated", generated), ("lobby", lobby)):
            keep(f"{name} link id", rec["link"])
            keep(f"{name} host key", rec["host_key"])
        # the CLI through the API: makes the E2EE secret for the #fragment, prompts for nothing
        cli = subprocess.run(cl.castellan("link", "create", "--api", url, "--tenant", "acme", "--title", "Audit",
                                          "--password", keep("cli password", "quartz meadow 58"), "--json"),
                             cwd=cl.REPO, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(cl.REPO), "CASTELLAN_KEY": admin})
        assert cli.returncode == 0, cli.stderr
        made = json.loads(cli.stdout)
        keep("cli link id", made["link"])
        keep("cli host key", made["host_key"])
        keep("E2EE fragment secret", urllib.parse.parse_qs(urllib.parse.urlsplit(made["join_url"]).fragment)["k"][0])

        for rec in (given, generated, lobby, made):
            assert http.get(f"/j/{rec['link']}").status_code == 200
            assert http.get(f"/v1/links/{rec['link']}").status_code == 200
        wrong = http.post("/v1/join", json={"link": given["link"], "name": "Mallory",
                                             "password": keep("wrong guess", "Tulip-orbit 4418")})
        assert wrong.status_code == 401
        answers = []
        for rec, password in ((given, "Tulip-orbit 4417"), (generated, generated["password"]),
                              (made, "quartz meadow 58")):
            r = http.post("/v1/join", json={"link": rec["link"], "name": "Ada", "password": password})
            assert r.status_code == 200, r.text
            answers.append(r.json())
        host = http.post("/v1/join", json={"link": lobby["link"], "name": "Dr Host", "host_key": lobby["host_key"]})
        assert host.status_code == 200, host.text
        answers.append(host.json())
        waiting = http.post("/v1/join", json={"link": lobby["link"], "name": "Patient", "password": "harbour-lantern 93"})
        assert waiting.status_code == 202, waiting.text
        ticket = keep("lobby ticket", waiting.json()["ticket"])
        hk = {"X-Host-Key": lobby["host_key"]}
        assert [t["ticket"] for t in http.get(f"/v1/links/{lobby['link']}/lobby", headers=hk).json()["waiting"]] == [ticket]
        assert http.post(f"/v1/links/{lobby['link']}/lobby/{ticket}", json={"decision": "admit"},
                         headers=hk).status_code == 200
        admitted = http.get(f"/v1/lobby/{ticket}?wait=5")
        assert admitted.status_code == 200, admitted.text
        answers.append(admitted.json())
        for i, a in enumerate(answers):
            keep(f"join token {i}", a["token"])
            keep(f"join token {i} signature", a["token"].rsplit(".", 1)[1])

        async def media_side() -> None:
            for i, a in enumerate(answers):
                joined = await _ws(a["ws_url"], {"type": "join", "token": a["token"]})
                assert joined[0]["type"] == "joined", joined
                keep(f"resume secret {i}", joined[0]["resume_secret"])
                replay = await _ws(a["ws_url"], {"type": "join", "token": a["token"]})
                assert replay[0]["type"] == "error", replay
                resumed = await _ws(a["ws_url"], {"type": "resume", "participant": joined[0]["participant"],
                                                  "secret": joined[0]["resume_secret"]})
                assert resumed[0]["type"] == "joined" and resumed[0]["resumed"], resumed
                bad = await _ws(a["ws_url"], {"type": "resume", "participant": joined[0]["participant"],
                                              "secret": keep(f"wrong resume secret {i}", "x" * 31 + str(i))})
                assert bad[0]["type"] == "error", bad

        asyncio.run(media_side())
        http.close()
    finally:
        procs.stop_all()

    logs = {q.name: q.output() for q in (p.proc if isinstance(p, cl.RedisProc) else p for p in procs.items)
            if q is not None}
    assert set(logs) == {"redis#1", "control-plane", "node eu-1a"}
    everything = "\n".join(logs.values())
    # the logs saw the traffic (an empty log would pass the search)
    assert "GET /j/" in everything and "POST /v1/join" in everything and "GET /v1/lobby/" in everything
    assert "join room=acme/" in everything  # the node logged the joins
    found = [f"{what} ({value[:6]}…) in the log of {name}"
             for what, value in secrets.items() for name, text in logs.items() if value in text]
    assert not found, "\n".join(found)
    assert "/j/<redacted>" in everything and "/v1/lobby/<redacted>" in everything
