"""Choosing a node for a room: pure functions, fail closed.

`place` picks, among the tenant's allowed regions (policy.effective_regions), the least-loaded usable node
(healthy, not draining, load < 1). A client `hint` region is preferred when it is allowed and has a usable node;
a hint that is not allowed is ignored (never an error, never a way out of the policy). When no allowed region
has a usable node the answer is `PlacementRefused`: there is deliberately NO fallback to other regions,
whatever the load.

`place_participant` is the cascaded meeting's per-participant choice (issue 14): the room keeps its placement
(its home node owns the E2EE Delivery Service), and each participant goes to a node of an allowed region — the
hint's region when it is allowed and has a usable node (nearest), else a node already carrying the meeting (no new
relay), else the least-loaded allowed node. It never leaves the allowed regions, whatever the hint, the load or the
list of the meeting's nodes (the registry's, untrusted). `choose_participant` also says which rule chose (`HINT`,
`MEETING_NODE`, `LOAD`), for the audit record of a participant placed off the room's home.

`replace` is the same decision after a node died, excluding the dead node and preferring a node that still
carries the meeting (it becomes the home and carries the meeting's MLS group on), then the room's previous region,
so participants move as little as possible. Stickiness itself (a room keeps its placement for its life)
is enforced by the registry's set-if-absent (`Registry.claim_placement`), not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .catalogue import Catalogue
from .errors import PlacementRefused
from .model import Node, Placement, Region, Tenant
from .policy import effective_regions

NO_NODE_MESSAGE = (
    "This meeting cannot start right now: its organisation only allows its media to be processed in {regions}, "
    "and no server there is available. Your media was not sent anywhere else. Please try again in a few minutes."
)


def _refuse(allowed: Mapping[str, str], regions: Mapping[str, Region]) -> PlacementRefused:
    if not allowed:
        return PlacementRefused("no_allowed_region",
                                "This meeting cannot start: its organisation's data-residency policy allows no "
                                "region that is currently defined. Please contact your administrator.")
    names = ", ".join(f"{regions[r].display_name} ({regions[r].location})" for r in sorted(allowed))
    return PlacementRefused("no_node_in_allowed_regions", NO_NODE_MESSAGE.format(regions=names))


def choose(
    tenant: Tenant,
    regions: Mapping[str, Region],
    nodes: Iterable[Node],
    catalogue: Catalogue,
    hint: str | None = None,
    exclude: frozenset[str] = frozenset(),
    placed: Mapping[str, int] | None = None,
) -> tuple[Node, str]:
    """The node to use and the policy explanation of its region; raises PlacementRefused."""
    allowed = effective_regions(tenant, regions, catalogue)
    usable = [n for n in nodes if n.region in allowed and n.usable() and n.id not in exclude]
    if not usable:
        raise _refuse(allowed, regions)
    preferred = [n for n in usable if n.region == hint]
    # load is as of the last heartbeat; rooms placed since then break ties, then the id (deterministic)
    counts = placed or {}
    best = min(preferred or usable, key=lambda n: (n.load, counts.get(n.id, 0), n.id))
    return best, allowed[best.region]


def place(
    tenant: Tenant,
    room: str,
    regions: Mapping[str, Region],
    nodes: Iterable[Node],
    catalogue: Catalogue,
    now: float,
    hint: str | None = None,
    placed: Mapping[str, int] | None = None,
) -> Placement:
    """First placement of `room`: allowed region (hint preferred), least-loaded usable node, or refuse."""
    node, why = choose(tenant, regions, nodes, catalogue, hint=hint, placed=placed)
    return Placement(tenant=tenant.id, room=room, region=node.region, node=node.id, decided_at=now, reason=why)


def replace(
    previous: Placement,
    tenant: Tenant,
    regions: Mapping[str, Region],
    nodes: Iterable[Node],
    catalogue: Catalogue,
    now: float,
    carrying: Iterable[str] = (),
) -> Placement:
    """Re-place a room whose node died: never on that node, only allowed regions; a node still carrying the
    meeting (`carrying`: its nodes, checked by the caller) first — it holds participants, and the MLS group the
    old home ordered, which it carries on as the new home (sfu/cascade/witness.py) — then the same region."""
    nodes = list(nodes)
    dead = frozenset({previous.node})
    carriers = set(carrying) - dead
    chosen: tuple[Node, str] | None = None
    if carriers:
        try:
            chosen = choose(tenant, regions, [n for n in nodes if n.id in carriers], catalogue,
                            hint=previous.region, exclude=dead)
        except PlacementRefused:
            chosen = None  # none of them usable (or allowed): any allowed node
    node, why = chosen or choose(tenant, regions, nodes, catalogue, hint=previous.region, exclude=dead)
    return Placement(tenant=tenant.id, room=previous.room, region=node.region, node=node.id, decided_at=now,
                     reason=why, generation=previous.generation + 1)


HOME = "home"  # the room's own node (nothing to audit beyond the room's placement)
HINT = "hint"  # the hint's region: allowed and served
MEETING_NODE = "meeting_node"  # no usable hint: a node already carrying the meeting (no new relay)
LOAD = "load"  # neither: the least-loaded allowed node


@dataclass(frozen=True)
class ParticipantChoice:
    node: Node
    why: str  # the policy explanation of the node's region
    rule: str  # HOME, HINT, MEETING_NODE or LOAD


def choose_participant(
    tenant: Tenant,
    home: Placement,
    regions: Mapping[str, Region],
    nodes: Iterable[Node],
    catalogue: Catalogue,
    hint: str | None = None,
    meeting_nodes: Iterable[str] = (),
    placed: Mapping[str, int] | None = None,
) -> ParticipantChoice:
    """The node one participant of a cascaded meeting joins, its region's explanation and the rule that chose it;
    PlacementRefused when no allowed region has a usable node. Within the chosen set (hint region, else the
    meeting's nodes, else all allowed), the least loaded wins; a node of the meeting is preferred inside the hint
    region too (no relay)."""
    allowed = effective_regions(tenant, regions, catalogue)
    usable = [n for n in nodes if n.region in allowed and n.usable()]
    if not usable:
        raise _refuse(allowed, regions)
    carrying = set(meeting_nodes) | {home.node}
    in_hint = [n for n in usable if n.region == hint]
    in_meeting = [n for n in usable if n.id in carrying]
    candidates = in_hint or in_meeting or usable
    counts = placed or {}
    best = min(candidates, key=lambda n: (n.id not in carrying, n.load, counts.get(n.id, 0), n.id))
    rule = HOME if best.id == home.node else HINT if in_hint else MEETING_NODE if in_meeting else LOAD
    return ParticipantChoice(node=best, why=allowed[best.region], rule=rule)


def place_participant(
    tenant: Tenant,
    home: Placement,
    regions: Mapping[str, Region],
    nodes: Iterable[Node],
    catalogue: Catalogue,
    hint: str | None = None,
    meeting_nodes: Iterable[str] = (),
    placed: Mapping[str, int] | None = None,
) -> tuple[Node, str]:
    """`choose_participant`'s node and its region's explanation."""
    choice = choose_participant(tenant, home, regions, nodes, catalogue, hint=hint, meeting_nodes=meeting_nodes,
                                placed=placed)
    return choice.node, choice.why
