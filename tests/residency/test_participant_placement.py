"""A cascaded meeting places each participant on its own node (issue 14): the hint's region when allowed (nearest),
else a node already carrying the meeting, else the least loaded — and never outside the tenant's allowed
regions, whatever the hint, the load or which nodes carry the meeting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from residency import placement
from residency.catalogue import Catalogue
from residency.errors import PlacementRefused
from residency.model import Node, Placement, Tenant
from tests.residency.residency_world import REGIONS, make_node

ALLOWED = frozenset({"eu-1", "eu-2"})
EU = Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=ALLOWED)
HOME = Placement(tenant="acme", room="board", region="eu-1", node="fra", decided_at=0.0, reason="")


def test_a_hinted_allowed_region_gets_its_own_nearby_node(catalogue: Catalogue) -> None:
    nodes = [make_node("fra", "eu-1", 0.1), make_node("par", "eu-2", 0.6), make_node("par2", "eu-2", 0.2)]
    node, why = placement.place_participant(EU, HOME, REGIONS, nodes, catalogue, hint="eu-2")
    assert node.id == "par2" and why
    # inside the hint region, a node already carrying the meeting wins over a less loaded one (no extra relay)
    node, _ = placement.place_participant(EU, HOME, REGIONS, nodes, catalogue, hint="eu-2", meeting_nodes={"par"})
    assert node.id == "par"


def test_without_a_hint_the_meeting_stays_on_its_nodes_then_goes_least_loaded(catalogue: Catalogue) -> None:
    nodes = [make_node("fra", "eu-1", 0.8), make_node("par", "eu-2", 0.1)]
    assert placement.place_participant(EU, HOME, REGIONS, nodes, catalogue)[0].id == "fra"
    full = [make_node("fra", "eu-1", 1.0), make_node("par", "eu-2", 0.5), make_node("fra2", "eu-1", 0.2)]
    assert placement.place_participant(EU, HOME, REGIONS, full, catalogue)[0].id == "fra2"


def test_a_hint_outside_the_policy_never_places_there(catalogue: Catalogue) -> None:
    nodes = [make_node("fra", "eu-1", 0.95), make_node("nyc", "us-1", 0.0)]
    assert placement.place_participant(EU, HOME, REGIONS, nodes, catalogue, hint="us-1")[0].id == "fra"
    # even when the meeting claims to be on a US node (a hostile record of which nodes carry it)
    assert placement.place_participant(EU, HOME, REGIONS, nodes, catalogue, hint="us-1",
                                       meeting_nodes={"nyc"})[0].id == "fra"


def test_no_usable_allowed_node_refuses_with_the_clear_message(catalogue: Catalogue) -> None:
    nodes = [make_node("fra", "eu-1", 1.0), make_node("par", "eu-2", 0.0, draining=True), make_node("nyc", "us-1")]
    with pytest.raises(PlacementRefused) as e:
        placement.place_participant(EU, HOME, REGIONS, nodes, catalogue, hint="us-1")
    assert e.value.code == "no_node_in_allowed_regions" and "not sent anywhere else" in e.value.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(REGIONS)), st.floats(0, 1.2), st.booleans(), st.booleans()),
                min_size=1, max_size=8),
       st.one_of(st.none(), st.sampled_from([*sorted(REGIONS), "nowhere"])),
       st.sets(st.integers(0, 7)))
def test_property_participants_land_only_on_usable_allowed_nodes(
        catalogue: Catalogue, spec: list[tuple[str, float, bool, bool]], hint: str | None, carrying: set[int]) -> None:
    nodes = [make_node(f"n{i}", region, load, healthy=healthy, draining=draining)
             for i, (region, load, healthy, draining) in enumerate(spec)]
    meeting = {f"n{i}" for i in carrying}
    try:
        choice = placement.choose_participant(EU, HOME, REGIONS, nodes, catalogue, hint=hint, meeting_nodes=meeting)
    except PlacementRefused:
        assert not [n for n in nodes if n.region in ALLOWED and n.usable()]
        return
    node = choice.node
    assert node.region in ALLOWED and node.usable()
    hinted: list[Node] = [n for n in nodes if n.region == hint and n.region in ALLOWED and n.usable()]
    in_meeting = [n for n in nodes if n.id in meeting | {HOME.node} and n.region in ALLOWED and n.usable()]
    if hinted:
        assert node.region == hint
    elif in_meeting:  # no usable hint: a node already carrying the meeting (no new relay)
        assert node.id in meeting | {HOME.node}
    # the audited rule says truly why: the home, the hint, a node of the meeting, or load alone
    assert (choice.rule == placement.HOME) == (node.id == HOME.node)
    if choice.rule == placement.MEETING_NODE:
        assert not hinted and node.id in meeting
    if choice.rule == placement.LOAD:
        assert not hinted and not in_meeting
