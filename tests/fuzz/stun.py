"""STUN Binding requests on the node's media port: sfu.transport.ice.IceLite.handle, with a participant's real
credentials registered. Any datagram gets an outcome (a counted drop reason and/or a response), never an
exception; only a request authenticated with the registered ice-pwd is accepted.

Input: a flags byte, then the message. With flag bit 0 the harness signs what the fuzzer wrote - header length
fixed, MESSAGE-INTEGRITY with the registered pwd and FINGERPRINT appended - so the checks after the
integrity check are reached too (the fuzzer cannot forge an HMAC)."""

from __future__ import annotations

import struct

from aioice import stun as aioice_stun

from sfu.transport.ice import IceLite

UFRAG, PWD = "fuzzufrag", "fuzzpasswordfuzzpassword"
ADDR = ("192.0.2.7", 40000)
ADDR6 = ("2001:db8::7", 40000)

ice: IceLite[str] = IceLite()
ice.register(UFRAG, PWD, "participant")


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) % 4)


def sign(msg: bytes) -> bytes:
    """msg (header + attributes) with its length fixed, MESSAGE-INTEGRITY (pwd) and FINGERPRINT appended."""
    msg = msg.ljust(20, b"\0")
    msg += bytes(-len(msg) % 4)
    msg = msg[:2] + struct.pack("!H", len(msg) - 20) + msg[4:]
    msg = msg[:4] + struct.pack("!I", aioice_stun.COOKIE) + msg[8:]
    msg += _attr(0x0008, aioice_stun.message_integrity(msg, PWD.encode()))
    msg += _attr(0x8028, struct.pack("!I", aioice_stun.message_fingerprint(msg)))
    return msg[:2] + struct.pack("!H", len(msg) - 20) + msg[4:]


def check(data: bytes) -> None:
    if not data:
        return
    flags, msg = data[0], data[1:]
    if flags & 1:
        msg = sign(msg)
    out = ice.handle(msg, ADDR6 if flags & 2 else ADDR)
    if out.verified is not None:
        # the answer to a path check of the node's own: this harness never sends one, so none can match
        raise AssertionError(f"a response verified a path check nobody made: {out!r}")
    if out.owner is not None:
        if out.drop_reason is not None or out.response is None:
            raise AssertionError(f"accepted with a drop reason or no response: {out!r}")
        parsed = aioice_stun.parse_message(msg)
        if not parsed.check_message_integrity(PWD.encode()) or not str(parsed.attributes["USERNAME"]).startswith(
                UFRAG + ":"):
            raise AssertionError(f"accepted a request not authenticated for {UFRAG}: {msg!r}")
    elif out.drop_reason is None:
        raise AssertionError(f"neither accepted nor dropped: {out!r}")
    if out.response is not None:
        reply = aioice_stun.parse_message(out.response)
        if reply.transaction_id != msg[8:20]:
            raise AssertionError("a response to another transaction")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("stun")
