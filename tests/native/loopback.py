"""The wiring every engine-on-a-socket test repeats: a publisher and a subscriber, each a UDP socket on
127.0.0.1 registered as a peer of the forwarder (native Engine or reference) with its own SRTP keys (profile 1
unless told), and the client-side sessions to protect what the publisher sends and unprotect what the
subscriber gets."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from native import reference as ref


@dataclass
class Clients:
    pub: socket.socket
    sub: socket.socket
    up: Any  # protects the publisher's packets
    down: Any  # unprotects what reaches the subscriber
    down_key: bytes  # ... its key, for a fresh session


KEY_LENGTHS = {1: 30, 7: 28, 8: 44}  # AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM, AEAD_AES_256_GCM: key + salt


def wire_clients(fwd: Any, pub_peer: int, sub_peer: int, profile: int = 1) -> Clients:
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    sub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sub.bind(("127.0.0.1", 0))
    n = KEY_LENGTHS[profile]
    up, down = os.urandom(n), os.urandom(n)
    for peer, s, rx, tx in ((pub_peer, pub, up, os.urandom(n)), (sub_peer, sub, os.urandom(n), down)):
        fwd.add_peer(peer)
        fwd.set_peer_address(peer, "127.0.0.1", s.getsockname()[1])
        fwd.set_peer_srtp(peer, profile, rx, tx)
    return Clients(pub, sub, ref.srtp_session(profile, up, outbound=True),
                   ref.srtp_session(profile, down, outbound=False), down)
