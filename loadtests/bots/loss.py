"""Loss injection inside a bot: drops a fraction of incoming media datagrams before aiortc sees them,
as a lossy last mile would (netem is not available here). Deterministic per seed."""

from __future__ import annotations

import random
from typing import Any

import aioice.ice

_original = aioice.ice.StunProtocol.datagram_received


def _datagram_received(self: Any, data: bytes, addr: Any) -> None:
    rate = getattr(self.receiver, "_castellan_drop", 0.0)
    if rate and len(data) > 1 and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223:
        rng: random.Random = self.receiver._castellan_rng
        if rng.random() < rate:
            self.receiver._castellan_dropped += 1
            return
    _original(self, data, addr)


aioice.ice.StunProtocol.datagram_received = _datagram_received  # type: ignore[method-assign,assignment]


def inject_loss(pc: Any, rate: float, seed: int = 7) -> Any:
    """Makes the peer connection's ICE connection drop `rate` of incoming RTP. Returns the connection."""
    for transceiver in pc.getTransceivers():
        conn = transceiver.receiver.transport.transport._connection
        conn._castellan_drop = rate
        conn._castellan_rng = random.Random(seed)
        conn._castellan_dropped = 0
        return conn
    raise RuntimeError("no transport yet")
