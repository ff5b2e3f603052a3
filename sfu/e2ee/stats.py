"""What the Delivery Service did, for the node's metrics: handshake messages by type and verdict, and bytes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class HandshakeStats:
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, accepted | refusal reason)
    bytes_in: Counter[str] = field(default_factory=Counter)  # blob characters received, by type
    bytes_out: int = 0  # characters of handshake messages queued to members (fan-out included)

    def count(self, kind: str, verdict: str, size: int) -> None:
        self.messages[(kind, verdict)] += 1
        self.bytes_in[kind] += size
