"""Where a node's media packets went, per hop, from the engine's own per-track and per-subscription counters:
what arrived from its publishers and over its relay links (received, and expected from the sequence numbers
seen: the gap is loss before the node), and what it sent to its participants and across each link. Read at
scrape time (sfu/metrics.py): a sum over the live tracks and subscriptions, so it drops when one goes.

With the far node's `relay received` beside the home's `relay sent`, and a viewer's own count beside
`sent to participants`, each lost packet is placed on one hop (loadtests/bench/large_meeting.py's accounting).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from native.interface import EngineControl
from sfu.cascade.link import RelayLink
from sfu.participant import Participant


@dataclass
class Inbound:
    """Packets that reached the node on a set of engine tracks, and those their sequence numbers say were sent."""

    received: int = 0
    expected: int = 0

    def add(self, engine: EngineControl, index: int) -> None:
        st = engine.track_stats(index)
        if st is not None and st[0]:
            self.received += st[0]
            self.expected += st[2] - st[3] + 1  # extended highest - base + 1


@dataclass
class MediaAccounting:
    """One node's packets by hop: in from its own publishers, out to its participants (by kind); per relay link,
    what it sent across and what arrived from the other side."""

    from_publishers: Inbound = field(default_factory=Inbound)
    to_participants: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    retransmitted: int = 0  # RTX / re-sent packets among what went to participants (not in the viewer's sequence)
    links: dict[str, tuple[int, Inbound]] = field(default_factory=dict)  # peer node -> (sent across, received)


def media_accounting(engine: EngineControl, participants: Iterable[Participant],
                     links: dict[str, RelayLink]) -> MediaAccounting:
    out = MediaAccounting()
    for p in participants:
        if p.relayed_from is not None:  # its tracks are the link's: counted per link below
            continue
        for track in p.published.values():
            for layer in track.layers:
                out.from_publishers.add(engine, layer.index)
        for sub in p.subscriptions.values():
            st = engine.subscription_stats(sub.index)
            if st is not None:
                out.to_participants[sub.track.kind] = out.to_participants.get(sub.track.kind, 0) + st[0]
                out.retransmitted += st[7]
    for peer, link in links.items():
        sent = 0
        for announced in link.sending.values():
            for copy in announced.copies.values():
                st = engine.subscription_stats(copy.sub)
                sent += st[0] if st is not None else 0
        received = Inbound()
        for indexes, _what in link.receiving.values():
            for index in indexes:
                received.add(engine, index)
        out.links[peer] = (sent, received)
    return out
