"""A STUN answer goes out only once its address is bound and the DTLS handshake made (issue 14).

A peer starts DTLS the moment its check is answered. The node used to answer first and bind the address in the
engine after — a bind that may wait for the media lock — so under a join storm the peer's ClientHello often
reached the media thread from an address not yet bound, was dropped, and the join waited out DTLS's 1 s
retransmission: the 150-peer storm's DTLS step had a p50 of 0.01 s and a p99 of 1.04 s (0.14 s after).

The node's socket is watched (every datagram still goes out on it): at each binding answer, was the address it
goes to already some participant's bound media address with its handshake made? Fails on the old order.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from tests.harness import publisher_and_subscriber, running_node

pytestmark = pytest.mark.timeout(120)


class WatchedSocket:
    """The node's own UDP socket, with a note at each STUN binding answer it sends: (address, whether that
    address was bound to a participant with a handshake at that moment)."""

    def __init__(self, sock: socket.socket, node: Any) -> None:
        self.sock, self.node = sock, node
        self.answers: list[tuple[tuple[str, int], bool]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        if data[:2] == b"\x01\x01":  # Binding success response
            bound = any(p.media_address == addr and p.handshake is not None for p in self.node.by_id.values())
            self.answers.append((addr, bound))
        return self.sock.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_a_check_is_answered_only_after_its_address_is_bound_and_the_handshake_made() -> None:
    async def run() -> tuple[list[tuple[tuple[str, int], bool]], set[tuple[str, int]]]:
        async with running_node() as rn:
            node = rn.node
            assert node.sock is not None
            watched = WatchedSocket(node.sock, node)
            node.sock = watched  # type: ignore[assignment]
            pub, sub = await publisher_and_subscriber(rn)
            try:
                media = {p.media_address for p in node.by_id.values() if p.media_address is not None}
                return watched.answers, media
            finally:
                node.sock = watched.sock
                await sub.close()
                await pub.close()

    answers, media = asyncio.run(run())
    assert len(media) == 2, "both bots bound a media address"
    first: dict[tuple[str, int], bool] = {}
    for addr, bound in answers:
        first.setdefault(addr, bound)
    unbound = [addr for addr in media if not first.get(addr, False)]
    assert not unbound, f"the first answer to {unbound} went out before its address was bound"
