"""The node's signalling address (sfu/app/address.py) and the node terminating TLS itself (`--tls-cert/--tls-key`,
a certificate from a Secret): a real `castellan node` on loopback serves wss:// with the test CA's certificate,
on `/ws` and on `/node/<id>/ws` (the path a routing proxy forwards), and nothing in plain text."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl

import pytest
import websockets

from sfu import server
from sfu.app.address import node_path, public_ws_url
from signalling.tokens import KeyRing, TokenIssuer
from tests.support.ports import free_port
from tests.support.processes import PYTHON, REPO, Proc
from tests.support.tls import CertificateAuthority
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_public_ws_url_default_and_templates():
    kw = {"node_id": "eu-1a", "region": "eu-1", "public_ip": "203.0.113.5", "http_port": 7880}
    assert public_ws_url(None, tls=False, **kw) == "ws://203.0.113.5:7880/ws"
    assert public_ws_url(None, tls=True, **kw) == "wss://203.0.113.5:7880/ws"
    assert public_ws_url(None, tls=True, **{**kw, "public_ip": "2001:db8::5"}) == "wss://[2001:db8::5]:7880/ws"
    assert public_ws_url("wss://meet.example.org/node/{node_id}/ws", tls=False, **kw) == \
        "wss://meet.example.org/node/eu-1a/ws"
    assert public_ws_url("wss://{public_ip_dashed}.{region}.nodes.example.org:{http_port}/ws", tls=True, **kw) == \
        "wss://203-0-113-5.eu-1.nodes.example.org:7880/ws"
    assert public_ws_url("wss://meet.example.org/node/{internal_ip}/ws", tls=False, internal_ip="10.1.2.3", **kw) == \
        "wss://meet.example.org/node/10.1.2.3/ws"
    assert node_path("eu-1a") == "/node/eu-1a/ws"
    with pytest.raises(ValueError, match="unknown field"):
        public_ws_url("wss://meet.example.org/{tenant}/ws", tls=False, **kw)
    with pytest.raises(ValueError, match="not a ws:// or wss://"):
        public_ws_url("https://meet.example.org/node/{node_id}/ws", tls=False, **kw)


def test_node_refuses_half_a_tls_configuration(tmp_path):
    with pytest.raises(SystemExit, match="go together"):
        server.tls_files(server.parse_args(["--tls-cert", str(tmp_path / "c.pem")]))
    with pytest.raises(SystemExit, match="cannot read"):
        server.tls_files(server.parse_args(["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k")]))


def test_node_terminates_tls_with_its_own_certificate(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "ca")
    leaf = ca.issue("node", ["eu-1a.nodes.castellan.test"], ["127.0.0.1"])
    keys = KeyRing()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    http_port, udp_port = free_port(), free_port(kind=socket.SOCK_DGRAM)
    node = Proc("node", [PYTHON, "-m", "sfu.server", "--node-id", "eu-1a", "--region", "eu-1", "--host", "127.0.0.1",
                         "--http-port", str(http_port), "--udp-port", str(udp_port), "--jwks-file", str(jwks),
                         "--tls-cert", str(leaf.cert), "--tls-key", str(leaf.key), "--log-format", "text"],
                REPO / "artifacts" / "node-tls" / "node.log")
    issuer = TokenIssuer(keys)
    trusting = ssl.create_default_context(cafile=str(ca.cert))

    def token(p: str) -> str:
        return issuer.mint(tenant="acme", room="r", participant=p, region="eu-1", node="eu-1a", name=p, ttl=60)

    async def join(url: str, ctx: ssl.SSLContext | None, participant: str) -> dict:
        async with websockets.connect(url, ssl=ctx, open_timeout=5) as ws:
            await ws.send(json.dumps({"type": "join", "token": token(participant)}))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[no-any-return]

    async def refused(url: str, ctx: ssl.SSLContext | None) -> str:
        try:
            async with websockets.connect(url, ssl=ctx, open_timeout=5):
                return "connected"
        except (OSError, ssl.SSLError, websockets.InvalidMessage, websockets.InvalidHandshake, EOFError) as e:
            return type(e).__name__

    try:
        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", http_port), timeout=0.5):
                return True
        assert wait_until(listening, 20, 0.1, ignore=(OSError,)) and node.alive(), node.tail()
        base = f"wss://127.0.0.1:{http_port}"
        on_ws = asyncio.run(join(f"{base}/ws", trusting, "alice"))
        on_alias = asyncio.run(join(f"{base}/node/eu-1a/ws", trusting, "bob"))
        untrusted = asyncio.run(refused(f"{base}/ws", ssl.create_default_context()))
        plain = asyncio.run(refused(f"ws://127.0.0.1:{http_port}/ws", None))
        other_alias = asyncio.run(refused(f"{base}/node/eu-1b/ws", trusting))
    finally:
        node.stop()
    assert on_ws["type"] == "joined" and on_alias["type"] == "joined", (on_ws, on_alias)
    assert untrusted == "SSLCertVerificationError", "a certificate from another CA must not be accepted"
    assert plain != "connected", "no plain-text signalling beside TLS"
    assert other_alias != "connected", "the alias is this node's id only"
