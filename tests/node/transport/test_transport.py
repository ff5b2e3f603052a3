"""The node's one UDP port under stress: ICE-lite checks, address changes, and hostile datagrams, while a real
meeting runs. Nothing a stranger sends may crash the node or glitch another participant's media."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct

import pytest
from aioice import stun

from tests.harness import publisher_and_subscriber, running_node, wait_for
from tests.support.stun import answer_check, binding_request, expect_node_check

pytestmark = pytest.mark.timeout(120)


async def _exchange(sock: socket.socket, data: bytes, addr: tuple[str, int]) -> bytes | None:
    loop = asyncio.get_running_loop()
    sock.sendto(data, addr)
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 2048), 1.0)
    except TimeoutError:
        return None


def test_stun_checks_are_validated_and_a_new_address_takes_over_the_media():
    async def run():
        async with running_node() as rn:
            pub, sub = await publisher_and_subscriber(rn)
            p = rn.node.by_id[sub.joined["participant"]]
            node_addr = ("127.0.0.1", rn.node.config.udp_port)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            replies = {}
            replies["wrong_key"] = await _exchange(s, binding_request(p.ice_ufrag, p.ice_pwd, integrity_key="x" * 22), node_addr)
            replies["no_fingerprint"] = await _exchange(s, binding_request(p.ice_ufrag, p.ice_pwd, fingerprint=False), node_addr)
            replies["unknown_ufrag"] = await _exchange(s, binding_request("zzzz", p.ice_pwd), node_addr)
            replies["no_priority"] = await _exchange(s, binding_request(p.ice_ufrag, p.ice_pwd, priority=False), node_addr)
            replies["controlled"] = await _exchange(s, binding_request(p.ice_ufrag, p.ice_pwd, controlled=True), node_addr)
            media_addr_before = p.media_address
            # a valid nominating check from a new address (NAT rebinding / ICE restart): the node checks the new
            # address itself, and media follows once the participant (who has its ICE password) answers
            replies["valid"] = await _exchange(s, binding_request(p.ice_ufrag, p.ice_pwd), node_addr)
            check = await expect_node_check(s)
            unverified = p.media_address
            assert check is not None, "the node did not check the new address"
            s.sendto(answer_check(check, p.remote_pwd, s.getsockname()), node_addr)
            await wait_for(lambda: p.media_address != unverified, 2)
            moved_to = p.media_address
            got_rtp = 0
            loop = asyncio.get_running_loop()
            end = loop.time() + 2
            while loop.time() < end:
                try:
                    d = await asyncio.wait_for(loop.sock_recv(s, 2048), 0.5)
                except TimeoutError:
                    continue
                if 128 <= d[0] <= 191:
                    got_rtp += 1
            drops = dict(rn.node.control_drops)
            await sub.close()
            await pub.close()
            return replies, media_addr_before, moved_to, s.getsockname(), got_rtp, drops, unverified

    replies, before, moved_to, new_addr, got_rtp, drops, unverified_before_answer = asyncio.run(run())
    def code(reply):
        return stun.parse_message(reply).error_code if reply else None
    assert code(replies["wrong_key"]) == 401
    assert replies["no_fingerprint"] is None and replies["unknown_ufrag"] is None
    assert code(replies["no_priority"]) == 400
    assert code(replies["controlled"]) == 487
    ok = stun.parse_message(replies["valid"])
    assert ok.message_class == stun.Class.RESPONSE
    assert ok.attributes["XOR-MAPPED-ADDRESS"] == new_addr
    assert before != moved_to == new_addr
    assert unverified_before_answer == before
    assert got_rtp > 20, "media did not move to the new address"
    assert drops["stun_integrity"] == 1 and drops["stun_no_fingerprint"] == 1 and drops["stun_unknown_ufrag"] == 1


def test_hostile_datagrams_are_counted_drops_and_the_meeting_does_not_glitch():
    rng = random.Random(42)

    def junk() -> list[bytes]:
        out = [b"", b"\x00", b"\x80", b"\xff" * 1400, os.urandom(3000)[:1499]]
        for _ in range(300):
            first = rng.choice([0, 1, 2, 3, 20, 22, 63, 64, 127, 128, 144, 191, 200, 255])
            out.append(bytes([first]) + os.urandom(rng.randint(0, 1300)))
        # well-formed-looking RTP and RTCP headers with random SSRCs (not SRTP-authenticated)
        for _ in range(200):
            out.append(struct.pack("!BBHII", 0x80, 96, rng.randint(0, 65535), rng.randint(0, 2**32 - 1), rng.randint(0, 2**32 - 1)) + os.urandom(100))
            out.append(struct.pack("!BBHI", 0x81, 201, 7, rng.randint(0, 2**32 - 1)) + os.urandom(24))
        # a STUN header with the magic cookie and truncated attributes
        out.append(struct.pack("!HHI12s", 1, 40, 0x2112A442, os.urandom(12)) + os.urandom(10))
        return out

    async def run():
        async with running_node() as rn:
            pub, sub = await publisher_and_subscriber(rn)
            node_addr = ("127.0.0.1", rn.node.config.udp_port)
            stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stranger.bind(("127.0.0.1", 0))
            # junk from a stranger, and junk from the publisher's own socket (a known address: it reaches the
            # DTLS, SRTP and SRTCP checks)
            insider = pub.pc.getTransceivers()[0].sender.transport.transport._connection._protocols[0].transport
            for _ in range(3):
                for d in junk():
                    stranger.sendto(d, node_addr)
                    if d and d[0] >= 4:  # not STUN: a junk STUN from the publisher could rebind nothing anyway
                        insider.sendto(d, node_addr)
                await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)
            stats = rn.node.stats()
            numbers = sub.video()[0].numbers[:]
            await sub.close()
            await pub.close()
            return stats, numbers

    stats, numbers = asyncio.run(run())
    drops = stats["engine"]["drops"]
    assert drops["unknown_address"] > 500
    assert drops["srtp_auth"] + drops["malformed"] > 100 and drops["srtcp_auth"] > 100
    assert stats["control_drops"].get("handler_error", 0) == 0
    assert stats["control_drops"].get("stun_malformed", 0) + stats["control_drops"].get("stun_unknown_ufrag", 0) > 10
    assert all(b == a + 1 for a, b in zip(numbers, numbers[1:], strict=False)), "the subscriber's video glitched"
    assert len(numbers) > 60
