"""A participant's ICE Binding request as a browser sends it (or a broken variant of one), for node tests."""

from __future__ import annotations

import asyncio
from typing import Any

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


def answer_check(data: bytes, pwd: str, addr: tuple[str, int]) -> bytes | None:
    """A participant's success response to the node's own Binding request `data` (its path verification),
    signed with the participant's ice-pwd as a browser does; None if `data` is not a Binding request."""
    try:
        msg = stun.parse_message(data)
    except ValueError:
        return None
    if msg.message_class != stun.Class.REQUEST or msg.message_method != stun.Method.BINDING:
        return None
    resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=msg.transaction_id)
    resp.attributes["XOR-MAPPED-ADDRESS"] = addr
    resp.add_message_integrity(pwd.encode())
    resp.add_fingerprint()
    return bytes(resp)


async def expect_node_check(sock: Any, timeout: float = 1.0) -> bytes | None:
    """The next Binding request the node sends to `sock` (a non-blocking UDP socket), skipping anything else."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 2048), max(0.01, end - loop.time()))
        except TimeoutError:
            return None
        if data and data[0] < 4 and len(data) >= 20:
            try:
                msg = stun.parse_message(data)
            except ValueError:
                continue
            if msg.message_class == stun.Class.REQUEST:
                return data
    return None
