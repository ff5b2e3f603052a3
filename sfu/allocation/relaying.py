"""What a node relays to each remote node of a cascaded meeting (issue 14), from what that node's subscribers
take: one copy per remote node per track, at the highest layer any subscriber there needs — nothing of a track
nobody there receives (last-N leaves a video out there: it does not cross either), and only the low layer to a
node whose subscribers all take the low layer.

The far node says what its subscribers need (`need_of` per subscriber, sent as a sealed `need` message on the
link: sfu/cascade/link.py); the publisher's node plans from those needs. On the link a relayed track is one engine
subscription of the relay peer (the remote node is one subscriber), so the engine's fan-out, layer switch at a
keyframe, NACK/RTX and keyframe handling work across it unchanged. Pure functions: the node (sfu/cascade/meeting.py)
turns the plan into engine subscriptions paused, resumed and switched, and into announcements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sfu.allocation.layers import viewport_cap

# (remote node, track id, layer index): one relayed copy
RelayCopy = tuple[str, str, int]


@dataclass(frozen=True)
class RemoteNeed:
    """One subscriber on a remote node (or a node further on), needing `track` at `layer` (as that node said)."""

    node: str
    track: str
    layer: int


def need_of(kind: str, layers: int, viewport_height: int | None, paused: bool) -> int | None:
    """The layer (index by rank) one subscriber of a relayed track needs: None while last-N pauses it; audio and a
    one-layer track their only layer; video the highest its tile is worth (sfu/allocation/layers.py
    `viewport_cap`: an unknown size is no cap). `layers` is how many the publisher sends (the announcement's)."""
    if paused:
        return None
    if kind != "video" or layers <= 1:
        return 0
    return viewport_cap(viewport_height, layers - 1)


def nearest(rank: int, learned: Iterable[int]) -> int:
    """The learned layer that stands in for `rank` (a simulcast layer is learned from its first packet, in any
    order): the highest learned one not above it, else the lowest learned. `learned` must not be empty."""
    ranks = list(learned)
    return max((r for r in ranks if r <= rank), default=min(ranks))


def by_rank(offered: int, learned: Mapping[int, int]) -> tuple[int, ...]:
    """A local track's engine index for each rank 0..offered-1 it offered (its RIDs; 1 without simulcast), from the
    layers learned so far (rank -> engine index, not empty): a rank not learned yet is carried by `nearest`."""
    return tuple(learned[nearest(rank, learned)] for rank in range(max(offered, 1)))


def plan(needs: Iterable[RemoteNeed], layers: Mapping[str, int], allowed_nodes: Iterable[str]) -> set[RelayCopy]:
    """The copies to relay: for each remote node of the meeting (`allowed_nodes`: nodes whose relay was
    established, hence verified to be in an allowed region), each track some subscriber there needs, once, at the
    highest layer any of them needs.

    `layers` is each local track's number of layers (1 without simulcast): a need for a layer the track does not
    have is clamped to its highest (the remote's view may lag the publisher's layers), a negative one to the
    lowest; a need for a track that is not here (another meeting's, or gone), or from a node without an
    established relay, is ignored — never relayed."""
    nodes = set(allowed_nodes)
    best: dict[tuple[str, str], int] = {}
    for need in needs:
        count = layers.get(need.track)
        if need.node not in nodes or not count:
            continue
        layer = min(max(need.layer, 0), count - 1)
        key = (need.node, need.track)
        best[key] = max(best.get(key, 0), layer)
    return {(node, track, layer) for (node, track), layer in best.items()}


def for_node(copies: Iterable[RelayCopy], node: str) -> dict[str, int]:
    """One link's share of a plan: track id -> the layer that crosses to `node`."""
    return {track: layer for n, track, layer in copies if n == node}


def link_copies(copies: Iterable[RelayCopy], node: str) -> int:
    """How many copies one link carries (what the relay adds to the publisher's node, per remote node)."""
    return sum(1 for n, _, _ in copies if n == node)
