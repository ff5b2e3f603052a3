"""The soak's bots share one event loop; while it stalls, their sockets must hold what the node sends, or the
kernel's overflow drops pass for the node's loss (the hour of 2026-12-06 07:08: a 750 ms stall of the bots' loop,
758 datagrams dropped in the bots' sockets, 129 audio packets "lost" on every clean subscriber)."""

from __future__ import annotations

import asyncio
import socket

import aioice.ice

from loadtests.bots import rcvbuf

BURST = 2_000  # 1,200-byte datagrams: 2.4 MB, ~8 s of two publishers for one bot; the default buffer holds ~0.2 MB


def _held_while_stalled(sock: socket.socket) -> int:
    """Sends BURST datagrams to `sock` while nobody reads it (a stalled loop), then counts what it kept."""
    sock.setblocking(False)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(BURST):
            sender.sendto(b"\x80" * 1200, sock.getsockname())
        held = 0
        while True:
            try:
                sock.recv(2048)
            except BlockingIOError:
                return held
            held += 1
    finally:
        sender.close()


def test_a_bots_ice_socket_holds_a_stall_of_its_loop() -> None:
    async def ice_socket() -> tuple[socket.socket, aioice.ice.Connection]:
        # aioice's own gathering (on loopback only): it sets its buffer size after creating each socket, which undid
        # the first version of this fix (a hook on the socket's creation) in the soak while this test passed
        conn = aioice.ice.Connection(ice_controlling=True)
        await conn.get_component_candidates(1, ["127.0.0.1"])
        sock = conn._protocols[0].transport.get_extra_info("socket")
        return sock, conn

    async def scenario() -> tuple[int, int]:
        sock, conn = await ice_socket()
        default = _held_while_stalled(socket.socket(fileno=socket.dup(sock.fileno())))
        await conn.close()
        rcvbuf.roomy_receive_buffers()
        sock, conn = await ice_socket()
        roomy = _held_while_stalled(socket.socket(fileno=socket.dup(sock.fileno())))
        await conn.close()
        return default, roomy

    original = aioice.ice.Connection.get_component_candidates
    try:
        default, roomy = asyncio.run(scenario())
    finally:
        aioice.ice.Connection.get_component_candidates = original  # type: ignore[method-assign]
    assert default < BURST // 2, f"the default buffer held {default} of {BURST}: the test shows nothing"
    assert roomy == BURST, f"a roomy bot socket dropped {BURST - roomy} of {BURST} datagrams while its loop stalled"
