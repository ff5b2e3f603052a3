"""Issue 18, item 3: a WebSocket frame over the protocol's 256 KiB is refused from its header, before the node
buffers its payload — measured on a real `castellan node` process (its peak RSS) under the attack that was
reported (many sockets, none joined, each sending most of a 16 MB frame and holding it open), and on the test
harness's node (close 1009, the session resumable)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import sys

import pytest
import websockets

from sfu.app.limits import CLOSE_TOO_BIG, MAX_MESSAGE
from signalling.tokens import KeyRing
from tests.harness import running_node
from tests.support.ports import free_port
from tests.support.processes import PYTHON, Proc
from tests.support.waiting import wait_for, wait_until

pytestmark = pytest.mark.timeout(120)

SOCKETS = 12
FRAME = 16_000_000  # under uvicorn's default ws_max_size (16 MiB), far over the protocol's 256 KiB
SENT = 15_000_000  # most of it: the frame never completes, so a node that buffers holds all of it


def _kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def _big_frame(port: int) -> tuple[asyncio.Task[int | None], asyncio.StreamWriter, int]:
    """A raw WebSocket client: the upgrade, then a text frame announcing FRAME bytes, then SENT of them. Returns
    the task reading the node's close code (read while sending: the node's reset would discard it later)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    close = asyncio.create_task(_close_code(reader))
    writer.write(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", FRAME) + b"\0\0\0\0")  # FIN, text, masked
    chunk = b"a" * (1 << 20)
    sent = 0
    try:
        while sent < SENT and not close.done():
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
    except OSError:  # the node closed the connection: the rest has nowhere to go
        pass
    return close, writer, sent


async def _close_code(reader: asyncio.StreamReader) -> int | None:
    """The code of the close frame the node sent (None: it sent none within 10 s)."""
    try:
        data = await asyncio.wait_for(reader.read(64), 10)
    except (TimeoutError, OSError):
        return None
    if len(data) >= 4 and data[0] & 0x0F == 0x8:
        return int(struct.unpack("!H", data[2:4])[0])
    return None


def test_a_node_process_refuses_a_16_mb_frame_before_buffering_it(tmp_path):
    keys = KeyRing()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    port = free_port()
    node = Proc("node", [PYTHON, "-m", "sfu.server", "--node-id", "n1", "--region", "eu-1", "--jwks-file", str(jwks),
                         "--http-port", str(port), "--udp-port", "0", "--data-dir", str(tmp_path),
                         "--log-level", "warning"], tmp_path / "node.log")
    try:
        async def attack() -> tuple[int, int, list[int | None], list[int]]:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:  # warm: one socket served already
                await ws.send(json.dumps({"type": "ping"}))
                await asyncio.wait_for(ws.recv(), 5)
            before = _kib(node.pid, "VmHWM")
            conns = await asyncio.gather(*(_big_frame(port) for _ in range(SOCKETS)))
            await asyncio.sleep(0.5)  # let the node take in what the kernel still holds for it
            peak = _kib(node.pid, "VmHWM")
            codes = await asyncio.gather(*(c for c, _, _ in conns))
            for _, w, _ in conns:
                w.close()
            return before, peak, codes, [s for _, _, s in conns]

        def up() -> bool:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True

        wait_until(up, 20, 0.1, ignore=(OSError,))
        before, peak, codes, sent = asyncio.run(attack())
        growth_mib = (peak - before) / 1024
        print(f"node peak RSS {before / 1024:.0f} MiB -> {peak / 1024:.0f} MiB ({growth_mib:+.1f} MiB) with "
              f"{SOCKETS} sockets each announcing a {FRAME / 1e6:.0f} MB frame; close codes {codes}", file=sys.stderr)
        assert node.alive(), node.tail()
        # the close frame is the node's first answer (a client still sending may get the reset before reading it)
        assert CLOSE_TOO_BIG in codes and set(codes) <= {CLOSE_TOO_BIG, None}, codes
        # a node that buffers holds SOCKETS x 15 MB (180 MB); one that refuses at the header holds none of it
        assert growth_mib < 2 * SENT / 2**20, f"node RSS grew {growth_mib:.0f} MiB: it buffered the frames"
    finally:
        node.stop()


def test_a_message_over_the_limit_closes_the_socket_with_1009_and_the_session_resumes():
    async def run():
        async with running_node() as rn:
            ws = await websockets.connect(rn.ws_url, compression=None)
            await ws.send(json.dumps({"type": "join", "token": rn.token()}))
            joined = json.loads(await ws.recv())
            at_limit = "x" * (MAX_MESSAGE - 2)
            await ws.send(json.dumps(at_limit))  # exactly MAX_MESSAGE bytes: read, and refused as a bad message
            at_limit_reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send("x" * (MAX_MESSAGE + 1))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            code = ws.close_code
            p = rn.node.by_id[joined["participant"]]
            detached = await wait_for(lambda: not p.connected, 5)
            async with websockets.connect(rn.ws_url) as again:
                await again.send(json.dumps({"type": "resume", "participant": joined["participant"],
                                             "secret": joined["resume_secret"]}))
                resumed = json.loads(await again.recv())
            return at_limit_reply, code, detached, resumed

    at_limit_reply, code, detached, resumed = asyncio.run(run())
    assert at_limit_reply["code"] == "bad_message"
    assert code == CLOSE_TOO_BIG
    assert detached, "the participant was not detached when its socket closed"
    assert resumed["type"] == "joined" and resumed["resumed"] is True
