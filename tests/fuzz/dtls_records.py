"""DTLS records from a peer: sfu.transport.dtls.DtlsSession.feed, the node's side (server) and the client side,
on fresh sessions and on one whose handshake completed. Whatever arrives, feed returns (keys or None) and the
session is in a known state; a fresh session never completes a handshake with a peer whose certificate does
not match the SDP fingerprint, and a connected one keeps its keys.

Input: a flags byte (bit 0: client side; bit 1: a connected server session), then datagrams
[length (2 bytes)][bytes], at most 8."""

from __future__ import annotations

import struct

from sfu.transport.dtls import Certificate, DtlsSession, SrtpKeys

STATES = {"new", "connecting", "connected", "failed", "closed"}
NODE = Certificate()
PEER = Certificate()
_connected: list[DtlsSession] = []


def handshake() -> tuple[DtlsSession, DtlsSession, list[bytes], list[bytes]]:
    """A real handshake, node (server) and peer (client): both sessions and the datagrams each side sent."""
    to_server: list[bytes] = []
    to_client: list[bytes] = []
    server = DtlsSession(NODE, [("sha-256", PEER.fingerprint)], to_client.append, server=True)
    client = DtlsSession(PEER, [("sha-256", NODE.fingerprint)], to_server.append, server=False)
    client.start()
    sent_s = sent_c = 0
    for _ in range(20):
        while sent_s < len(to_server):
            server.feed(to_server[sent_s])
            sent_s += 1
        while sent_c < len(to_client):
            client.feed(to_client[sent_c])
            sent_c += 1
        if server.state == client.state == "connected":
            break
    assert server.state == client.state == "connected", (server.state, client.state, server.error, client.error)
    return server, client, to_server, to_client


def _connected_server() -> tuple[DtlsSession, SrtpKeys | None]:
    if not _connected or _connected[0].state != "connected":
        _connected[:] = [handshake()[0]]
    return _connected[0], _connected[0].keys


def check(data: bytes) -> None:
    if not data:
        return
    flags = data[0]
    datagrams: list[bytes] = []
    i = 1
    while i + 2 <= len(data) and len(datagrams) < 8:
        (n,) = struct.unpack_from("!H", data, i)
        datagrams.append(data[i + 2:i + 2 + n])
        i += 2 + n
    sent: list[bytes] = []
    keys_before: SrtpKeys | None = None
    if flags & 2:
        session, keys_before = _connected_server()
    else:
        session = DtlsSession(NODE, [("sha-256", PEER.fingerprint)], sent.append, server=not flags & 1)
        session.start()
    for d in datagrams:
        got = session.feed(d)
        if session.state not in STATES:
            raise AssertionError(f"unknown state {session.state!r}")
        if got is not None and not flags & 2:
            raise AssertionError(f"a handshake completed from fuzzed records: {got!r}")
    if flags & 2 and session.keys != keys_before:
        raise AssertionError("a connected session's keys changed")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("dtls_records")
