"""A participant's ICE Binding request as a browser sends it (or a broken variant of one), for node tests."""

from __future__ import annotations

from aioice import stun


def binding_request(ufrag: str, pwd: str, use_candidate: bool = True, controlled: bool = False,
                    priority: bool = True, integrity_key: str | None = None, fingerprint: bool = True) -> bytes:
    msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    msg.attributes["USERNAME"] = f"{ufrag}:remote"
    if priority:
        msg.attributes["PRIORITY"] = 1853824767
    if controlled:
        msg.attributes["ICE-CONTROLLED"] = 1
    else:
        msg.attributes["ICE-CONTROLLING"] = 2
    if use_candidate:
        msg.attributes["USE-CANDIDATE"] = None
    if fingerprint:
        msg.add_message_integrity((integrity_key or pwd).encode())
        return bytes(msg)
    msg.add_message_integrity((integrity_key or pwd).encode())
    msg.attributes.pop("FINGERPRINT")
    data = bytes(msg)
    return data
