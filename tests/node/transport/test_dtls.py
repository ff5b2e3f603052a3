"""DTLS-SRTP between the node (server) and a client: every SRTP profile the issue names negotiates, GCM is
preferred, the exported keys pair up across the two sides, and a certificate that does not match the SDP
fingerprint is refused."""

from __future__ import annotations

import pytest

from native.engine import SrtpSession
from sfu.transport.dtls import SRTP_PROFILES, Certificate, DtlsSession


def handshake(client_profiles, tamper_fingerprint=False):
    server_cert, client_cert = Certificate(), Certificate()
    to_server: list[bytes] = []
    to_client: list[bytes] = []
    fp = client_cert.fingerprint if not tamper_fingerprint else "00:" * 31 + "00"
    server = DtlsSession(server_cert, [("sha-256", fp)], to_client.append, server=True)
    client = DtlsSession(client_cert, [("sha-256", server_cert.fingerprint)], to_server.append, server=False,
                         profiles=client_profiles)
    client.start()
    keys = {}
    for _ in range(10):
        while to_server:
            k = server.feed(to_server.pop(0))
            keys["server"] = k or keys.get("server")
        while to_client:
            k = client.feed(to_client.pop(0))
            keys["client"] = k or keys.get("client")
        if not to_server and not to_client:
            break
    return server, client, keys


@pytest.mark.parametrize("profile", SRTP_PROFILES, ids=lambda p: p[0].decode())
def test_each_profile_negotiates_and_keys_pair_up(profile):
    server, client, keys = handshake([profile])
    assert server.state == "connected" and client.state == "connected"
    s, c = keys["server"], keys["client"]
    assert s.profile == c.profile == profile[1]
    assert s.rx_key == c.tx_key and s.tx_key == c.rx_key
    # and they work as SRTP: what the client protects, the node's inbound session opens
    rtp = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + b"payload" * 10
    protected = SrtpSession(c.profile, c.tx_key, True).protect(rtp)
    assert SrtpSession(s.profile, s.rx_key, False).unprotect(protected) == rtp


def test_gcm_is_preferred_when_the_client_offers_everything():
    _, _, keys = handshake(SRTP_PROFILES[::-1])
    assert keys["server"].profile in (7, 8)


def test_a_certificate_that_does_not_match_the_sdp_fingerprint_is_refused():
    server, _, keys = handshake(SRTP_PROFILES, tamper_fingerprint=True)
    assert server.state == "failed"
    assert "fingerprint" in (server.error or "")
    assert keys.get("server") is None


def test_an_empty_datagram_is_ignored_before_during_and_after_the_handshake():
    """Found by fuzzing (tests/fuzz/dtls_records): OpenSSL's memory BIO refuses a 0-byte write, and feed raised."""
    fresh = DtlsSession(Certificate(), [("sha-256", "00:" * 31 + "00")], lambda _: None, server=True)
    assert fresh.feed(b"") is None and fresh.state == "new"
    server, client, keys = handshake(SRTP_PROFILES)
    assert server.feed(b"") is None and client.feed(b"") is None
    assert server.state == client.state == "connected" and server.keys == keys["server"]
