"""The node hands each participant short-lived TURN credentials for its own region's TURN (sfu/turn.py) in every
`joined` snapshot; TURN settings that cannot work stop the node at start instead of joining people without TURN.
coturn itself checking them: tests/node/transport/test_turn_server.py."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time

import pytest
import websockets

from sfu import server
from sfu.turn import TurnConfig, from_settings, ice_server, parse_urls
from tests.harness import running_node

pytestmark = pytest.mark.timeout(60)

SECRET = "region-eu-1-secret-0123456789"
URLS = ("turn:turn.eu-1.example.org:3478?transport=udp", "turns:turn.eu-1.example.org:443?transport=tcp")


def coturn_password(secret: str, username: str) -> str:
    """What coturn computes for use-auth-secret (written out here, not imported: the test must not share a bug)."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), "sha1").digest()).decode()


def test_credential_is_coturns_hmac_with_an_expiry():
    cfg = TurnConfig(urls=URLS, secret=SECRET, ttl=600)
    entry = ice_server(cfg, "alice", now=1_700_000_000.5)
    assert entry["urls"] == list(URLS)
    assert entry["username"] == "1700000600:alice"
    assert entry["credential"] == coturn_password(SECRET, "1700000600:alice")
    assert entry["credential"] != coturn_password("another-region-secret-0000", "1700000600:alice")
    # a participant id cannot smuggle a second expiry into the username
    assert ice_server(cfg, "9999999999:x", now=0)["username"] == "600:9999999999_x"


@pytest.mark.parametrize(("urls", "secret", "ttl", "message"), [
    ("turn:t:3478", None, 3600, "CASTELLAN_TURN_SECRET"),
    (None, "a-secret-of-sixteen+", 3600, "CASTELLAN_TURN_URLS"),
    ("https://turn.example.org", "a-secret-of-sixteen+", 3600, "not a turn:"),
    ("turn:", "a-secret-of-sixteen+", 3600, "not a turn:"),
    ("turn:?transport=udp", "a-secret-of-sixteen+", 3600, "names no host"),
    ("turn:t:3478", "short", 3600, "at least 16"),
    ("turn:t:3478", "a-secret-of-sixteen+", 0, "ttl"),
    ("turn:t:3478", "a-secret-of-sixteen+", 10**9, "ttl"),
])
def test_unusable_turn_settings_are_refused(urls, secret, ttl, message):
    with pytest.raises(ValueError, match=message):
        from_settings(urls, secret, ttl)


def test_no_turn_settings_means_no_turn():
    assert from_settings(None, None, 3600) is None
    assert from_settings(" , ", "", 3600) is None
    assert parse_urls("turn:a:1, ,turns:a:443?transport=tcp") == ("turn:a:1", "turns:a:443?transport=tcp")


def test_node_reads_the_charts_turn_env_and_refuses_half_a_configuration(monkeypatch):
    monkeypatch.setenv("CASTELLAN_TURN_URLS", ",".join(URLS))
    monkeypatch.setenv("CASTELLAN_TURN_SECRET", SECRET)
    monkeypatch.setenv("CASTELLAN_TURN_TTL", "900")
    cfg = server.turn_config(server.parse_args([]))
    assert cfg == TurnConfig(urls=URLS, secret=SECRET, ttl=900)
    monkeypatch.delenv("CASTELLAN_TURN_SECRET")
    with pytest.raises(SystemExit, match="CASTELLAN_TURN_SECRET"):
        server.turn_config(server.parse_args([]))


def test_joined_and_resumed_snapshots_carry_fresh_credentials_for_the_regions_turn():
    async def run():
        async with running_node(turn=TurnConfig(urls=URLS, secret=SECRET, ttl=600)) as rn:
            async with websockets.connect(rn.ws_url) as ws:
                await ws.send(json.dumps({"type": "join", "token": rn.token(participant="alice")}))
                joined = json.loads(await asyncio.wait_for(ws.recv(), 5))
            async with websockets.connect(rn.ws_url) as ws:
                await ws.send(json.dumps({"type": "resume", "participant": "alice",
                                          "secret": joined["resume_secret"]}))
                resumed = json.loads(await asyncio.wait_for(ws.recv(), 5))
        async with running_node() as plain, websockets.connect(plain.ws_url) as ws:
            await ws.send(json.dumps({"type": "join", "token": plain.token()}))
            without = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return joined, resumed, without

    before = time.time()
    joined, resumed, without = asyncio.run(run())
    assert joined["type"] == "joined" and resumed["type"] == "joined" and resumed["resumed"]
    for snap in (joined, resumed):
        (entry,) = snap["ice_servers"]
        expiry, who = entry["username"].split(":")
        assert who == "alice" and before + 600 - 1 <= int(expiry) <= time.time() + 600
        assert entry["urls"] == list(URLS)
        assert entry["credential"] == coturn_password(SECRET, entry["username"])
    assert without["ice_servers"] == []
