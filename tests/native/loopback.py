"""The wiring every engine-on-a-socket test repeats: a publisher and a subscriber, each a UDP socket on
127.0.0.1 registered as a peer of the forwarder (native Engine or reference) with its own SRTP keys (profile 1),
and the client-side sessions to protect what the publisher sends and unprotect what the subscriber gets."""

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


def wire_clients(fwd: Any, pub_peer: int, sub_peer: int) -> Clients:
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    sub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sub.bind(("127.0.0.1", 0))
    up, down = os.urandom(30), os.urandom(30)
    for peer, s, rx, tx in ((pub_peer, pub, up, os.urandom(30)), (sub_peer, sub, os.urandom(30), down)):
        fwd.add_peer(peer)
        fwd.set_peer_address(peer, "127.0.0.1", s.getsockname()[1])
        fwd.set_peer_srtp(peer, 1, rx, tx)
    return Clients(pub, sub, ref.srtp_session(1, up, outbound=True), ref.srtp_session(1, down, outbound=False), down)
