"""What a node relays to each remote node of a cascaded meeting (issue 14), from what that node's subscribers
take: one copy per remote node of each layer some subscriber there needs — a subscriber on a poor downlink or a
small tile takes the low layer while another full screen takes the top one, and both cross, each once; a layer
nobody there takes does not cross (nor a track last-N leaves out there).

The far node says what its subscribers need (`need_of` per subscriber, sent as a sealed `need` message on the
link: sfu/cascade/link.py); the publisher's node plans from those needs. On the link each relayed layer is one
engine subscription of the relay peer (the remote node is one subscriber per layer), so the engine's fan-out,
NACK/RTX and keyframe handling work across it unchanged, and on the far node the layers are a relayed simulcast
track whose subscribers the node's own allocation (sfu/allocation/selection.py: estimate, loss, tile) moves
between them at keyframes, as for a local publisher. Pure functions: the node (sfu/cascade/meeting.py) turns the
plan into engine subscriptions paused and resumed, and into announcements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sfu.allocation.layers import viewport_cap

# (remote node, track id, layer index): one relayed copy
RelayCopy = tuple[str, str, int]


@dataclass(frozen=True)
class RemoteNeed:
    """Subscribers on a remote node (or a node further on), needing `track` at `layers` (as that node said)."""

    node: str
    track: str
    layers: frozenset[int]


def need_of(kind: str, layers: int, viewport_height: int | None, paused: bool, on: int | None = None,
            target: int | None = None) -> frozenset[int]:
    """The layers (indexes by rank) one subscriber of a relayed track needs crossing: audio its one layer, paused
    or not (a prompt onset when audio-N resumes it); video none while last-N pauses it, a one-layer track its only
    layer, else the layer it is on (`on`; a new one starts on the lowest) and the one it switches to (`target`), and what its own allocation may move it to next — the layer above, up
    to what its tile is worth (sfu/allocation/layers.py `viewport_cap`, an unknown size no cap), kept warm as a
    local publisher's next layer is, so a step up has a measured layer to go to; the lowest layer, which a local
    publisher keeps on too, so a step down under loss has somewhere to go; and, when its tile shrank below the
    layer it is on, the one the tile is worth. `layers` is how many the publisher sends (the announcement's)."""
    if kind == "audio":
        # even while audio-N pauses it there: when audio-N resumes it (the far node's detection runs on the
        # levels the publisher's node sends: sfu/cascade/levels.py) it plays at once, not a `need` round trip later
        return frozenset({0})
    if paused:
        return frozenset()
    if kind != "video" or layers <= 1:
        return frozenset({0})
    top = layers - 1
    cap = viewport_cap(viewport_height, top)
    current = min(max(on or 0, 0), top)
    out = {0, current}
    if target is not None:
        out.add(min(max(target, 0), top))
    out.add(min(current + 1, cap) if current < cap else cap)
    return frozenset(out)


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
    established, hence verified to be in an allowed region), each layer of each track some subscriber there needs,
    once.

    `layers` is each local track's number of layers (1 without simulcast): a need for a layer the track does not
    have is left out (the link counted it: sfu/cascade/link.py), as is a need for a track that is not here
    (another meeting's, or gone) or from a node without an established relay — never relayed."""
    nodes = set(allowed_nodes)
    out: set[RelayCopy] = set()
    for need in needs:
        count = layers.get(need.track)
        if need.node not in nodes or not count:
            continue
        out.update((need.node, need.track, layer) for layer in need.layers if 0 <= layer < count)
    return out


def for_node(copies: Iterable[RelayCopy], node: str) -> dict[str, frozenset[int]]:
    """One link's share of a plan: track id -> the layers that cross to `node`."""
    out: dict[str, set[int]] = {}
    for n, track, layer in copies:
        if n == node:
            out.setdefault(track, set()).add(layer)
    return {track: frozenset(x) for track, x in out.items()}


def link_copies(copies: Iterable[RelayCopy], node: str) -> int:
    """How many copies one link carries (what the relay adds to the publisher's node, per remote node): one per
    layer crossing."""
    return sum(1 for n, _, _ in copies if n == node)
