"""DTLS handshake steps run on their own thread, not the event loop (sfu/transport/handshakes.py; issue 14).

A real DTLS client (the node's own DtlsSession in client mode, as the bench peers use) shakes hands with a server
session driven by `Handshakes`: the keys agree and every OpenSSL step of the server ran off the loop's thread.
The attacks: a peer floods records at a session whose step is under way — at most MAX_WAITING wait, the rest are
refused, and those that wait are stepped one at a time in arrival order; a participant leaves in the middle of a
step — nothing more is stepped or sent for it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from sfu.transport.dtls import Certificate, DtlsSession, SrtpKeys
from sfu.transport.handshakes import MAX_WAITING, Handshake, Handshakes

pytestmark = pytest.mark.timeout(30)


def test_a_handshake_completes_with_every_server_step_off_the_loop() -> None:
    async def run() -> tuple[SrtpKeys | None, SrtpKeys | None, set[int], int]:
        loop_thread = threading.get_ident()
        server_cert, client_cert = Certificate(), Certificate()
        to_client: list[bytes] = []
        client = DtlsSession(client_cert, [("sha-256", server_cert.fingerprint)], to_client.append, server=False)
        workers = Handshakes()
        h = workers.new(lambda send: DtlsSession(server_cert, [("sha-256", client_cert.fingerprint)], send))
        threads: set[int] = set()
        feed = h.session.feed

        def traced(data: bytes) -> SrtpKeys | None:
            threads.add(threading.get_ident())
            return feed(data)

        h.session.feed = traced  # type: ignore[method-assign]
        server_keys: list[SrtpKeys] = []
        stepped = asyncio.Event()

        def done(hs: Handshake, keys: SrtpKeys | None) -> None:
            if keys is not None:
                server_keys.append(keys)
            stepped.set()

        client.start()
        client_keys = None
        for _ in range(20):  # a DTLS 1.2 handshake is a few flights
            records, hs_out = to_client[:], h.outgoing
            to_client.clear()
            for r in records:
                stepped.clear()
                assert workers.feed(h, r, done)
                await asyncio.wait_for(stepped.wait(), 5)
            back = hs_out[:]
            hs_out.clear()
            for r in back:
                client_keys = client.feed(r) or client_keys
            if client_keys is not None and server_keys:
                break
        workers.shutdown()
        assert loop_thread not in threads
        return client_keys, server_keys[0] if server_keys else None, threads, workers.steps

    client_keys, server_keys, threads, steps = asyncio.run(run())
    assert client_keys is not None and server_keys is not None, "the handshake did not complete"
    assert (server_keys.rx_key, server_keys.tx_key) == (client_keys.tx_key, client_keys.rx_key)
    assert threads and steps >= 2


class _SlowSession:
    """Stands in for a DtlsSession whose step takes long: holds every step until released, and records the
    order of records and whether two steps ever overlapped."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[bytes] = []
        self.running = 0
        self.overlapped = False
        self.state = "connecting"
        self.error: str | None = None
        self.closed = 0

    def feed(self, data: bytes) -> SrtpKeys | None:
        self.running += 1
        self.overlapped |= self.running > 1
        self.release.wait(5)
        self.seen.append(data)
        self.running -= 1
        return None

    def close(self) -> None:
        self.closed += 1
        self.state = "closed"


def _slow_handshake() -> tuple[Handshake, _SlowSession]:
    slow = _SlowSession()
    return Handshake(slow, []), slow  # type: ignore[arg-type]


def test_a_flood_of_records_waits_bounded_and_is_stepped_one_at_a_time_in_order() -> None:
    async def run() -> tuple[list[bool], _SlowSession, int]:
        workers = Handshakes(threads=2)  # two threads: one session must still never be stepped twice at once
        h, slow = _slow_handshake()
        calls = 0

        def done(hs: Handshake, keys: Any) -> None:
            nonlocal calls
            calls += 1

        accepted = [workers.feed(h, bytes([i % 256]) * 10, done) for i in range(200)]
        assert len(h.waiting) == MAX_WAITING  # the first is on the thread, MAX_WAITING wait
        slow.release.set()
        for _ in range(500):
            if not h.busy and not h.waiting:
                break
            await asyncio.sleep(0.01)
        workers.shutdown()
        return accepted, slow, calls

    accepted, slow, calls = asyncio.run(run())
    assert accepted.count(True) == 1 + MAX_WAITING
    assert all(accepted[: 1 + MAX_WAITING]) and not any(accepted[1 + MAX_WAITING:]), "a later record overtook"
    assert slow.seen == [bytes([i]) * 10 for i in range(1 + MAX_WAITING)], "records stepped out of order"
    assert not slow.overlapped, "two steps of one session ran at once"
    assert calls == 1 + MAX_WAITING


def test_a_participant_leaving_during_a_step_gets_nothing_more_stepped_or_sent() -> None:
    async def run() -> tuple[_SlowSession, int, Handshake, bool]:
        workers = Handshakes()
        h, slow = _slow_handshake()
        calls = 0

        def done(hs: Handshake, keys: Any) -> None:
            nonlocal calls
            calls += 1

        workers.feed(h, b"first", done)
        workers.feed(h, b"second", done)
        workers.close(h)  # the participant leaves while "first" is on the thread
        later = workers.feed(h, b"third", done)
        h.outgoing.append(b"written by the step")
        slow.release.set()
        for _ in range(500):
            if not h.busy:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        workers.shutdown()
        return slow, calls, h, later

    slow, calls, h, later = asyncio.run(run())
    assert slow.seen == [b"first"], "a record was stepped after the participant left"
    assert not later and calls == 0
    assert slow.closed == 1 and h.outgoing == [], "the closed session still had something to send"

