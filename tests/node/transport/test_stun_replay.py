"""A captured ICE check replayed from elsewhere must not take a participant's media path (issue 18).

Attacker: someone who can read a participant's packets (same Wi-Fi, a hop on the way) copies one of its valid
Binding requests — MESSAGE-INTEGRITY and all — and sends it to the node from an address of their own. Before,
the node moved the media there at once when the copy carried USE-CANDIDATE, and after 2 s of quiet otherwise:
the subscriber lost its media and the copier got the stream (encrypted, but a denial of service and a traffic
oracle). Now each participant's valid transaction ids are remembered for the consent window: a known one from
another address is a counted drop (`stun_replayed`), unanswered. Past that window the copy looks fresh again, so
no check alone moves an established path: the node sends its own Binding request to the new address, signed
with the participant's ice-pwd, and moves only when an authenticated answer comes back from there. A genuine
move (NAT rebinding, ICE restart) is the participant itself, which answers.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aioice import stun

from loadtests import media
from loadtests.bots.peer import Bot
from sfu.transport.connectivity import REBIND_AFTER
from sfu.transport.ice import IceCredentials, IceLite
from tests.harness import publisher_and_subscriber, running_node, wait_for
from tests.support.stun import answer_check, binding_request, expect_node_check

pytestmark = pytest.mark.timeout(120)

A, B = ("127.0.0.1", 40001), ("127.0.0.1", 40002)


def lite() -> tuple[IceLite[str], IceCredentials[str]]:
    ice: IceLite[str] = IceLite(replay_window=30.0, max_remembered=8)
    return ice, ice.register("abcd", "p" * 24, "alice")


def test_a_valid_check_is_fresh_once_then_a_retransmission_from_its_address_or_a_replay_from_another() -> None:
    ice, _ = lite()
    check = binding_request("abcd", "p" * 24)
    first = ice.handle(check, A, now=100.0)
    assert first.fresh and first.owner == "alice" and first.nominated and first.response is not None
    again = ice.handle(check, A, now=100.5)           # RFC 8489 retransmission: answered the same, not fresh
    assert not again.fresh and again.owner == "alice" and again.drop_reason is None
    assert stun.parse_message(again.response).attributes["XOR-MAPPED-ADDRESS"] == A
    copied = ice.handle(check, B, now=101.0)          # the same transaction from elsewhere: a replay
    assert (copied.fresh, copied.owner, copied.response, copied.drop_reason) == (False, None, None, "stun_replayed")
    fresh_from_b = ice.handle(binding_request("abcd", "p" * 24), B, now=101.0)
    assert fresh_from_b.fresh and fresh_from_b.owner == "alice"


def test_transaction_ids_are_kept_for_the_window_and_bounded_in_number() -> None:
    ice, creds = lite()
    check = binding_request("abcd", "p" * 24)
    ice.handle(check, A, now=100.0)
    assert ice.handle(check, B, now=129.9).drop_reason == "stun_replayed"   # within the 30 s consent window
    for i in range(50):                               # a chatty client: memory stays bounded
        assert ice.handle(binding_request("abcd", "p" * 24), A, now=130.0 + i / 100).fresh
    assert len(creds.seen) == 8
    ice.handle(binding_request("abcd", "p" * 24), A, now=1000.0)
    assert len(creds.seen) == 1                       # the old ones expired


def test_a_path_verification_is_answered_only_by_the_participant_from_the_address_checked() -> None:
    ice, creds = lite()
    probe = ice.verify("abcd", "them", "q" * 24, B, now=10.0)
    assert probe is not None and ice.verify("abcd", "them", "q" * 24, B, now=10.1) is None  # one at a time
    msg = stun.parse_message(probe)
    assert msg.attributes["USERNAME"] == "them:abcd" and "ICE-CONTROLLED" in msg.attributes
    assert msg.check_message_integrity(b"q" * 24)
    forged = answer_check(probe, "x" * 24, B)          # the copier does not have the participant's password
    assert ice.handle(forged, B, now=10.2).drop_reason == "stun_integrity"
    genuine = answer_check(probe, "q" * 24, B)
    assert ice.handle(genuine, A, now=10.2).drop_reason == "stun_response_address"   # from elsewhere
    late = ice.handle(genuine, B, now=16.0)            # after PROBE_TIMEOUT
    assert late.drop_reason == "stun_unexpected_response" and late.verified is None
    probe = ice.verify("abcd", "them", "q" * 24, B, now=20.0)
    assert probe is not None
    ok = ice.handle(answer_check(probe, "q" * 24, B), B, now=20.1)
    assert (ok.verified, ok.owner, ok.drop_reason) == (B, "alice", None)
    again = ice.handle(answer_check(probe, "q" * 24, B), B, now=20.2)   # used once
    assert again.drop_reason == "stun_unexpected_response" and again.verified is None
    for i in range(20):                                # checks in flight per participant are bounded
        ice.verify("abcd", "them", "q" * 24, ("127.0.0.1", 41000 + i), now=30.0)
    assert len(creds.probes) == 4
    ice.unregister("abcd")
    assert not ice._probes


def test_a_check_that_fails_integrity_is_not_remembered() -> None:
    """Only authenticated requests are remembered: a stranger cannot fill the memory or pre-empt an id."""
    ice, creds = lite()
    forged = binding_request("abcd", "p" * 24, integrity_key="x" * 24)
    assert ice.handle(forged, B, now=1.0).drop_reason == "stun_integrity"
    assert not creds.seen


async def _recv(sock: socket.socket, timeout: float) -> bytes | None:
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 2048), timeout)
    except TimeoutError:
        return None


async def _rtp_count(sock: socket.socket, seconds: float) -> int:
    n = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        d = await _recv(sock, 0.2)
        if d and 128 <= d[0] <= 191:
            n += 1
    return n


def _own_checks(captured: list[tuple[bytes, tuple[str, int]]], home: tuple[str, int], ufrag: str) -> list[bytes]:
    """The participant's own Binding requests as the node's port received them, USE-CANDIDATE ones first."""
    own = []
    for d, a in captured:
        if a != home or not d or d[0] > 3:
            continue
        m = stun.parse_message(d)
        if m.message_class == stun.Class.REQUEST and m.attributes.get("USERNAME", "").startswith(ufrag + ":"):
            own.append((0 if "USE-CANDIDATE" in m.attributes else 1, d))
    return [d for _, d in sorted(own, key=lambda x: x[0])]


def test_a_check_replayed_after_the_window_does_not_move_the_media() -> None:
    """The copier waits until the node has forgotten the transaction id (the consent window, 30 s: forgotten
    here at once) and replays a nominating check, then a plain one once the home path has been quiet."""
    async def run() -> dict[str, Any]:
        async with running_node() as rn:
            node = rn.node
            captured: list[tuple[bytes, tuple[str, int]]] = []
            real_on_stun = node.connectivity.on_stun

            def tap(data: bytes, addr: tuple[str, int]) -> None:   # what the node's port received, as received
                captured.append((data, addr))
                real_on_stun(data, addr)

            node.connectivity.on_stun = tap  # type: ignore[method-assign]
            pub, sub = await publisher_and_subscriber(rn)
            p = node.by_id[sub.joined["participant"]]
            home = p.media_address
            assert home is not None
            checks = _own_checks(captured, home, p.ice_ufrag)
            attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attacker.bind(("127.0.0.1", 0))
            attacker.setblocking(False)
            node_addr = ("127.0.0.1", node.config.udp_port)
            out: dict[str, Any] = {"home": home, "checks": len(checks),
                                   "nominating": sum("USE-CANDIDATE" in stun.parse_message(d).attributes for d in checks)}
            node.ice._by_ufrag[p.ice_ufrag].seen.clear()       # the window has passed: every id forgotten
            for d in checks:
                attacker.sendto(d, node_addr)
            out["node_check"] = await expect_node_check(attacker)
            out["after_replay"] = p.media_address
            # the copier answers the node's check as best it can: with a password it guesses, then with one of
            # the participant's own responses it captured (another transaction)
            if out["node_check"] is not None:
                attacker.sendto(answer_check(out["node_check"], "x" * 24, attacker.getsockname()), node_addr)
            await asyncio.sleep(0.3)
            out["after_forged_answer"] = p.media_address
            node.ice._by_ufrag[p.ice_ufrag].seen.clear()
            p.address_seen -= REBIND_AFTER + 1                  # ... and the home path quiet
            for d in checks:
                attacker.sendto(d, node_addr)
            await asyncio.sleep(0.3)
            out["after_quiet_replay"] = p.media_address
            out["attacker_rtp"] = await _rtp_count(attacker, 1.0)
            frames = sub.video()[0].frames
            await asyncio.sleep(1.0)
            out["sub_frames_meanwhile"] = sub.video()[0].frames - frames
            out["integrity"] = node.control_drops["stun_integrity"]
            attacker.close()
            await sub.close()
            await pub.close()
            return out

    out = asyncio.run(run())
    assert out["nominating"] >= 1, "the bot sent no nominating check to replay"
    assert out["node_check"] is not None, "the node did not verify the new address"
    assert out["after_replay"] == out["home"], "a replayed USE-CANDIDATE check moved the media"
    assert out["after_forged_answer"] == out["home"], "a forged answer to the node's check moved the media"
    assert out["integrity"] >= 1
    assert out["after_quiet_replay"] == out["home"], "a replayed check moved the media after a quiet spell"
    assert out["attacker_rtp"] == 0
    assert out["sub_frames_meanwhile"] > 5, "the subscriber's video stopped"


class Nat:
    """A NAT in front of one participant, on loopback: the participant talks to `inside`; the node sees the
    packets come from the current outside port. `rebind()` gives the mapping a new outside port, as a NAT does
    when its mapping times out or a phone changes network."""

    def __init__(self, node_addr: tuple[str, int]) -> None:
        self.node_addr = node_addr
        self.inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inside.bind(("127.0.0.1", 0))
        self.inside.setblocking(False)
        self.outside = self._port()
        self.client: tuple[str, int] | None = None
        self.tasks: list[asyncio.Task[None]] = []

    @staticmethod
    def _port() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        return s

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._up()), asyncio.create_task(self._down(self.outside))]

    async def _up(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, self.client = await loop.sock_recvfrom(self.inside, 2048)
            self.outside.sendto(data, self.node_addr)

    async def _down(self, outside: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, src = await loop.sock_recvfrom(outside, 2048)
            if outside is self.outside and src == self.node_addr and self.client is not None:
                self.inside.sendto(data, self.client)

    def rebind(self) -> None:
        self.outside = self._port()       # the old mapping is gone: what the node sends there goes nowhere
        self.tasks.append(asyncio.create_task(self._down(self.outside)))

    def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        self.inside.close()


class NattedBot(Bot):
    def __init__(self, nat: Nat, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nat = nat

    def shape_answer(self, sdp: str) -> str:
        host, port = self.nat.node_addr
        inside = self.nat.inside.getsockname()
        return sdp.replace(f" {host} {port} typ host", f" {inside[0]} {inside[1]} typ host")


def test_a_live_nat_rebinding_still_moves_the_media() -> None:
    """The real client behind a NAT that changes its outside port mid-meeting: its next consent check comes
    from the new port, the node checks that port, the client answers through the NAT, media follows."""
    async def run() -> dict[str, Any]:
        async with running_node() as rn:
            node = rn.node
            nat = Nat(("127.0.0.1", node.config.udp_port))
            nat.start()
            pub = Bot(rn.ws_url, rn.token(name="pub"), "pub")
            await pub.connect()
            await pub.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
            sub = NattedBot(nat, rn.ws_url, rn.token(name="sub"), "sub")
            await sub.connect()
            await sub.negotiate()
            assert await wait_for(lambda: bool(sub.video()) and sub.video()[0].frames > 10, 15), "no media"
            p = node.by_id[sub.joined["participant"]]
            out: dict[str, Any] = {"before": p.media_address, "outside": nat.outside.getsockname()}
            nat.rebind()
            out["new_outside"] = nat.outside.getsockname()
            # aiortc's consent checks come every ~5 s: the first from the new port starts the move
            out["moved"] = await wait_for(lambda: p.media_address == out["new_outside"], 20)
            frames = sub.video()[0].frames
            await asyncio.sleep(1.5)
            out["frames_after"] = sub.video()[0].frames - frames
            await sub.close()
            await pub.close()
            nat.close()
            return out

    out = asyncio.run(run())
    assert out["before"] == out["outside"]
    assert out["moved"], "the media did not follow the client's new port"
    assert out["frames_after"] > 5, "the client receives no video at its new port"
