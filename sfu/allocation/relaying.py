"""What a node relays to each remote node of a cascaded meeting (issue 14): one copy per remote node, of the
tracks its subscribers take, in the simulcast layers they are on — nothing for a track nobody there receives
(last-N leaves a video out: it is not relayed either).

On the link a relayed (track, layer) is one engine subscription of the relay peer (the remote node is one
subscriber of that layer), so the engine's fan-out, layer filter, NACK/RTX and keyframe handling work across it
unchanged. Pure functions: the node (its relay manager) turns the difference between two plans into engine
subscriptions added and removed, and into track announcements on the relay's sealed channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# (remote node, track id, layer index): one relayed copy
RelayCopy = tuple[str, str, int]


@dataclass(frozen=True)
class RemoteNeed:
    """One subscriber on a remote node, receiving `track` at `layer` (as that node's allocation decided)."""

    node: str
    track: str
    layer: int


def plan(needs: Iterable[RemoteNeed], layers: Mapping[str, int], allowed_nodes: Iterable[str]) -> set[RelayCopy]:
    """The copies to relay: for each remote node of the meeting (`allowed_nodes`: nodes whose relay was
    established, hence verified to be in an allowed region), each (track, layer) some subscriber there takes.

    `layers` is each local track's number of layers (1 without simulcast): a need for a layer the track does not
    have is clamped to its highest (the remote's allocation may lag the publisher's layers switching off); a need
    for a track that is not here, or from a node without an established relay, is ignored — never relayed."""
    nodes = set(allowed_nodes)
    out: set[RelayCopy] = set()
    for need in needs:
        count = layers.get(need.track)
        if need.node not in nodes or not count:
            continue
        out.add((need.node, need.track, min(max(need.layer, 0), count - 1)))
    return out


def changes(before: set[RelayCopy], after: set[RelayCopy]) -> tuple[list[RelayCopy], list[RelayCopy]]:
    """(copies to start, copies to stop), sorted so that the engine tables change in a stable order."""
    return sorted(after - before), sorted(before - after)


def link_copies(copies: Iterable[RelayCopy], node: str) -> int:
    """How many copies one link carries (what the relay adds to the publisher's node, per remote node)."""
    return sum(1 for n, _, _ in copies if n == node)
