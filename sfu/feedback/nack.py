"""NACK service: a subscriber's Generic NACK (RFC 4585) answered from the engine's send buffer.

The whole NACK path, for whoever changes it:
- negotiation: `nack` feedback and the RTX payload type are offered back in the answer (sfu/negotiation/sdp.py);
- the buffers: with RTX, the engine `retransmit`s from each track's last packets (plaintext), mapping sequence
  numbers back through the subscription's offset history, as RTX (a new SRTP index); without RTX (video), from
  the subscription's last SENT_RING packets as sent, byte for byte — one SRTP index is never encrypted twice,
  which under AES-GCM would reuse the nonce (native/_engine/engine_class.pxi, mirrored by native/reference.py);
- here: which NACKs are served and how many sequence numbers at most (the newest 64).
The node does not NACK publishers (no NACK generator yet): a packet lost on the uplink is missing from the
buffer too, and the subscriber's decoder recovers through its PLI (sfu/feedback/keyframes.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sfu.feedback import rtcp
    from sfu.node import Node

MAX_SERVED = 64  # sequence numbers served per NACK: the newest (old ones may be gone from the buffer)


class NackResponder:
    def __init__(self, node: Node) -> None:
        self.node = node

    def on_nack(self, peer: int, nack: rtcp.Nack) -> None:
        self.node.counts["nack"] += 1
        sub = self.node.subs_by_ssrc.get((peer, nack.media_ssrc))
        if sub is not None and nack.lost:
            self.node.counts["nack_served"] += self.node.media_engine.retransmit(sub.index, nack.lost[-MAX_SERVED:])
