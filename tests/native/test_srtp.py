"""The native SRTP sessions (libsrtp2 linked into the engine) protect what pylibsrtp accepts and vice versa.

Browsers negotiate AES_CM_128_HMAC_SHA1_80 or one of the AEAD GCM suites; every one must round trip within
the engine and interoperate with pylibsrtp (aiortc's libsrtp, the reference forwarder's too) in both
directions, for RTP and RTCP. Then what SRTP is for: a tampered packet is refused, and so is a replay.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native.reference import srtp_session

engine = pytest.importorskip("native.engine")

PROFILES = {1: 30, 7: 28, 8: 44}          # libsrtp profile id -> master key + salt length
SOME = settings(max_examples=60, deadline=None)


def rtp(seq: int, payload: bytes = b"\x01\x02\x03\x04", ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, seq * 960, ssrc) + payload


def rtcp_rr(ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def keys(profile: int) -> bytes:
    return os.urandom(PROFILES[profile])


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_native_round_trip(profile: int) -> None:
    key = keys(profile)
    tx, rx = engine.SrtpSession(profile, key, True), engine.SrtpSession(profile, key, False)
    for seq in range(5):
        sealed = tx.protect(rtp(seq))
        assert sealed != rtp(seq) and len(sealed) > len(rtp(seq))
        assert rx.unprotect(sealed) == rtp(seq)
    assert rx.unprotect_rtcp(tx.protect_rtcp(rtcp_rr())) == rtcp_rr()


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_native_to_pylibsrtp_and_back(profile: int) -> None:
    key = keys(profile)
    native_tx, native_rx = engine.SrtpSession(profile, key, True), engine.SrtpSession(profile, key, False)
    py_tx, py_rx = srtp_session(profile, key, outbound=True), srtp_session(profile, key, outbound=False)
    for seq in range(3):
        assert py_rx.unprotect(native_tx.protect(rtp(seq))) == rtp(seq)
        assert native_rx.unprotect(py_tx.protect(rtp(seq, ssrc=0x99))) == rtp(seq, ssrc=0x99)
    assert py_rx.unprotect_rtcp(native_tx.protect_rtcp(rtcp_rr())) == rtcp_rr()
    assert native_rx.unprotect_rtcp(py_tx.protect_rtcp(rtcp_rr(0x99))) == rtcp_rr(0x99)


@SOME
@given(st.sampled_from(sorted(PROFILES)), st.integers(0, 0xFFFF), st.binary(max_size=1200))
def test_any_payload_interoperates(profile: int, seq: int, payload: bytes) -> None:
    key = keys(profile)
    pkt = rtp(seq, payload)
    assert srtp_session(profile, key, outbound=False).unprotect(engine.SrtpSession(profile, key, True).protect(pkt)) == pkt
    assert engine.SrtpSession(profile, key, False).unprotect(srtp_session(profile, key, outbound=True).protect(pkt)) == pkt


@SOME
@given(st.sampled_from(sorted(PROFILES)), st.data())
def test_tampered_packets_are_refused(profile: int, data: st.DataObject) -> None:
    key = keys(profile)
    sealed = bytearray(engine.SrtpSession(profile, key, True).protect(rtp(7, b"media" * 10)))
    i = data.draw(st.integers(0, len(sealed) - 1), label="byte")
    sealed[i] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(ValueError):
        engine.SrtpSession(profile, key, False).unprotect(bytes(sealed))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_tampered_rtcp_and_wrong_key_are_refused(profile: int) -> None:
    key = keys(profile)
    sealed = bytearray(engine.SrtpSession(profile, key, True).protect_rtcp(rtcp_rr()))
    sealed[5] ^= 1
    with pytest.raises(ValueError):
        engine.SrtpSession(profile, key, False).unprotect_rtcp(bytes(sealed))
    with pytest.raises(ValueError):
        engine.SrtpSession(profile, keys(profile), False).unprotect(engine.SrtpSession(profile, key, True).protect(rtp(1)))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_replays_are_refused(profile: int) -> None:
    key = keys(profile)
    tx, rx = engine.SrtpSession(profile, key, True), engine.SrtpSession(profile, key, False)
    first = tx.protect(rtp(10))
    assert rx.unprotect(first) == rtp(10)
    with pytest.raises(ValueError, match=r"\(9\)"):             # srtp_err_status_replay_fail
        rx.unprotect(first)
    late = tx.protect(rtp(11))
    rx.unprotect(tx.protect(rtp(3000)))                        # the window (1024) moves on
    with pytest.raises(ValueError, match=r"\(10\)"):            # srtp_err_status_replay_old
        rx.unprotect(late)
    rtcp = tx.protect_rtcp(rtcp_rr())
    rx.unprotect_rtcp(rtcp)
    with pytest.raises(ValueError):
        rx.unprotect_rtcp(rtcp)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_one_index_is_never_protected_twice(profile: int) -> None:
    """allow_repeat_tx is off, in the engine and in the reference: a second protect of one SRTP index (even of
    the very same packet) is refused, so no code path can reuse a GCM nonce or a CM keystream. A NACK without
    RTX re-sends the bytes first sent (tests/native/test_nack_without_rtx.py); RTX gets its own index."""
    key = keys(profile)
    native, reference = engine.SrtpSession(profile, key, True), srtp_session(profile, key, outbound=True)
    assert native.protect(rtp(5)) == reference.protect(rtp(5))
    with pytest.raises(ValueError):
        native.protect(rtp(5))
    with pytest.raises(ValueError):
        native.protect(rtp(5, b"other bytes"))
    with pytest.raises(Exception, match="replay"):
        reference.protect(rtp(5, b"other bytes"))
    assert native.protect(rtp(6)) == reference.protect(rtp(6))
    rx = engine.SrtpSession(profile, key, False)
    assert rx.unprotect(native.protect(rtp(4))) == rtp(4)      # an older index, sent late for the first time


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        engine.SrtpSession(2, bytes(30), True)                   # AES_CM_128_HMAC_SHA1_32 is not offered
    for profile, length in PROFILES.items():
        with pytest.raises(ValueError):
            engine.SrtpSession(profile, bytes(length - 1), True)
    with pytest.raises(ValueError):
        engine.SrtpSession(1, bytes(30), True).protect(rtp(1, bytes(1500)))
    assert engine.srtp_version().startswith("libsrtp2 2.")
