"""`castellan dev` end to end: the printed link and password get a join token from the control plane, the
token gets a bot into the node it names, and media flows between two participants. A revoked link is refused
at once, and the meeting can be ended by the control plane."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.parse

import httpx
import pytest

from loadtests import media
from loadtests.bots.peer import Bot
from signalling.cli import dev
from tests.support.ports import free_ports
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


async def _join(control_url: str, link_id: str, name: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient() as c:
        return await c.post(f"{control_url}/v1/join", json={"link": link_id, "name": name, "password": password})


def test_link_password_token_node_media(tmp_path):
    async def run():
        args = dev.parse_args(["--data-dir", str(tmp_path), "--port", "0", "--node-port", "0", "--udp-port", "0"])
        args.port, args.node_port = free_ports(2)
        ready, info = asyncio.Event(), {}
        task = asyncio.create_task(dev.run(args, ready, info))
        await asyncio.wait_for(ready.wait(), 20)
        try:
            demo = info["demo"]
            url = urllib.parse.urlparse(demo["join_url"])
            link_id = url.path.rsplit("/", 1)[1]
            assert url.fragment.startswith("k=")  # the E2EE secret stays in the fragment, never sent
            wrong = await _join(info["control_url"], link_id, "mallory", "wrong-password")
            r1 = await _join(info["control_url"], link_id, "alice", demo["password"])
            r2 = await _join(info["control_url"], link_id, "bob", demo["password"])
            assert r1.status_code == 200 and r2.status_code == 200, (r1.text, r2.text)
            j1, j2 = r1.json(), r2.json()
            alice = Bot(j1["ws_url"], j1["token"], "alice")
            await alice.connect()
            await alice.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
            bob = Bot(j2["ws_url"], j2["token"], "bob")
            await bob.connect()
            await bob.negotiate()
            flowing = await wait_for(lambda: bob.video() and bob.video()[0].frames > 30, 20)
            # the control plane ends the meeting through the node's admin endpoint
            async with httpx.AsyncClient() as c:
                tenant = j1.get("tenant", "demo")
                r = await c.post(f"{info['control_url']}/v1/tenants/{tenant}/links/{link_id}/revoke",
                                 headers={"Authorization": f"Bearer {info['operator_key']}"},
                                 json={"end_meeting": True})
            revoked_status = r.status_code
            ended = await wait_for(lambda: any(m.get("type") == "left" for m in bob.messages), 10)
            after = await _join(info["control_url"], link_id, "carol", demo["password"])
            await alice.close()
            await bob.close()
            return wrong, j1, flowing, revoked_status, r.text, ended, after
        finally:
            task.cancel()
            with __import__("contextlib").suppress(asyncio.CancelledError, Exception):
                await task

    wrong, j1, flowing, revoked_status, revoke_body, ended, after = asyncio.run(run())
    assert wrong.status_code == 401, wrong.text
    assert j1["processing"]["region"] == "local" and j1["processing"]["jurisdiction"] == "EU"
    assert flowing, "no media between the two participants"
    assert revoked_status == 200, revoke_body
    assert ended, "the meeting was not ended"
    assert after.status_code == 410, after.text


del json, argparse
