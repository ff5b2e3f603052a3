"""What the node's signalling accepts from one WebSocket (docs/protocol.md): the protocol's message size, the
chat size, and the limits that keep hostile or stuck sockets from holding the node's memory or flooding a room."""

from __future__ import annotations

from dataclasses import dataclass

MAX_MESSAGE = 256 * 1024  # one text frame (one message), in bytes: larger ones close the socket with 1009
MAX_CHAT = 16 * 1024  # chat `data`, in characters

# WebSocket close codes the node uses (docs/protocol.md, "Close codes")
CLOSE_TOO_BIG = 1009  # RFC 6455: a message over MAX_MESSAGE (the server library closes before buffering it)
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "try again later": too many sockets waiting to join (from one address, or all)
CLOSE_JOIN_TIMEOUT = 4000  # no successful `join`/`resume` within `join_timeout`
CLOSE_TOO_SLOW = 4008  # the participant's outgoing queue filled: the client resumes and gets a fresh snapshot
CLOSE_RESUMED_ELSEWHERE = 4009  # another socket resumed this participant: this one is closed (nothing to do)
# the tenant's policy no longer allows this node's region: join again through the control plane (sfu/withdrawal.py)
CLOSE_REGION_WITHDRAWN = 4010


@dataclass(frozen=True)
class SignallingLimits:
    pending_per_address: int = 16  # sockets not yet joined from one client address (IPv6: one /64)
    pending_total: int = 256  # ... and from everyone
    join_timeout: float = 10.0  # seconds from accept to a successful `join`/`resume`
    # messages relayed to the whole room (`chat`, `mute`) draw on one token bucket per participant: each costs
    # its size plus `relay_message_cost` bytes; the bucket holds `relay_burst` and refills at `relay_rate` per
    # second. The burst covers a full room's E2EE key rotation (one ~450-byte key message per member).
    relay_rate: float = 32 * 1024
    relay_burst: float = 512 * 1024
    relay_message_cost: int = 1024
    # MLS handshake messages (`mls_*`, docs/e2ee.md) have their own bucket, sized for the largest group: a
    # commit with a 1,000-member Welcome in parts is ~450 KiB; a `mls_sync` costs what it sends back (capped)
    handshake_rate: float = 512 * 1024
    handshake_burst: float = 2 * 1024 * 1024
    handshake_message_cost: int = 1024
    slow_close_timeout: float = 10.0  # how long the node tries to deliver the 4008 close to a stuck client
