"""Placement is pure: allowed regions only, least-loaded usable node, hint preferred, fail closed — never spill."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from residency import placement
from residency.catalogue import Catalogue
from residency.errors import PlacementRefused
from residency.model import Node, OptIn, Placement, Tenant
from tests.residency.residency_world import REGIONS, make_node

EU_TENANT = Tenant(id="acme", name="ACME", jurisdiction="EU")
EU_PLUS_CH = Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=frozenset({"eu-1", "ch-1"}),
                    opt_ins=(OptIn("ch-1", "Zurich office", "admin:alice", 0.0),))


def test_least_loaded_healthy_node_of_an_allowed_region_wins(catalogue: Catalogue) -> None:
    nodes = [make_node("a", "eu-1", 0.7), make_node("b", "eu-2", 0.2), make_node("c", "eu-1", 0.5),
             make_node("idle-us", "us-1", 0.0)]
    p = placement.place(EU_TENANT, "standup", REGIONS, nodes, catalogue, now=1.0)
    assert (p.region, p.node) == ("eu-2", "b")
    assert "RULE 1" in p.reason and p.generation == 1


def test_equal_load_is_broken_by_rooms_placed_since_the_last_heartbeat(catalogue: Catalogue) -> None:
    # meetings started within one heartbeat all see the same load: they must not all land on one node
    nodes = [make_node("a", "eu-1", 0.0), make_node("b", "eu-1", 0.0)]
    first = placement.place(EU_TENANT, "m1", REGIONS, nodes, catalogue, now=1.0, placed={"a": 0, "b": 0})
    second = placement.place(EU_TENANT, "m2", REGIONS, nodes, catalogue, now=1.0, placed={first.node: 1})
    assert {first.node, second.node} == {"a", "b"}


def test_unhealthy_draining_and_full_nodes_are_skipped(catalogue: Catalogue) -> None:
    nodes = [make_node("sick", "eu-1", 0.0, healthy=False), make_node("draining", "eu-1", 0.0, draining=True),
             make_node("full", "eu-1", 1.0), make_node("ok", "eu-2", 0.9)]
    assert placement.place(EU_TENANT, "r", REGIONS, nodes, catalogue, now=1.0).node == "ok"


def test_an_allowed_hint_is_preferred_even_if_busier(catalogue: Catalogue) -> None:
    nodes = [make_node("fra", "eu-1", 0.1), make_node("par", "eu-2", 0.6)]
    assert placement.place(EU_TENANT, "r", REGIONS, nodes, catalogue, now=1.0, hint="eu-2").node == "par"


def test_a_hint_outside_the_policy_is_ignored_not_obeyed(catalogue: Catalogue) -> None:
    nodes = [make_node("fra", "eu-1", 0.9), make_node("nyc", "us-1", 0.0)]
    assert placement.place(EU_TENANT, "r", REGIONS, nodes, catalogue, now=1.0, hint="us-1").node == "fra"
    assert placement.place(EU_TENANT, "r", REGIONS, nodes, catalogue, now=1.0, hint="nowhere").node == "fra"


def test_opted_in_adequate_region_is_usable(catalogue: Catalogue) -> None:
    nodes = [make_node("zrh", "ch-1", 0.1), make_node("fra", "eu-1", 0.8)]
    p = placement.place(EU_PLUS_CH, "r", REGIONS, nodes, catalogue, now=1.0)
    assert p.node == "zrh" and "Zurich office" in p.reason


def test_no_node_in_any_allowed_region_fails_closed_with_a_user_facing_message(catalogue: Catalogue) -> None:
    nodes = [make_node("nyc", "us-1", 0.0), make_node("zrh", "ch-1", 0.0), make_node("fra", "eu-1", 1.0)]
    with pytest.raises(PlacementRefused) as err:
        placement.place(EU_TENANT, "r", REGIONS, nodes, catalogue, now=1.0)
    assert err.value.code == "no_node_in_allowed_regions"
    assert "EU Central" in err.value.message and "EU West" in err.value.message
    assert "not sent anywhere else" in err.value.message
    assert "US East" not in err.value.message


def test_a_policy_naming_only_vanished_regions_refuses(catalogue: Catalogue) -> None:
    gone = Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=frozenset({"eu-9"}))
    with pytest.raises(PlacementRefused) as err:
        placement.place(gone, "r", REGIONS, [make_node("fra", "eu-1")], catalogue, now=1.0)
    assert err.value.code == "no_allowed_region"


def test_a_stored_opt_in_without_adequacy_still_cannot_place(catalogue: Catalogue) -> None:
    # Even a corrupted/handcrafted tenant record cannot smuggle a RULE 3 region past placement.
    forged = Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=frozenset({"au-1"}),
                    opt_ins=(OptIn("au-1", "forged", "mallory", 0.0),))
    with pytest.raises(PlacementRefused):
        placement.place(forged, "r", REGIONS, [make_node("syd", "au-1")], catalogue, now=1.0)


def test_replacement_avoids_the_dead_node_and_prefers_the_same_region(catalogue: Catalogue) -> None:
    old = Placement("acme", "r", "eu-1", "fra-a", decided_at=1.0, reason="x")
    nodes = [make_node("fra-a", "eu-1", 0.0), make_node("fra-b", "eu-1", 0.5), make_node("par", "eu-2", 0.0)]
    new = placement.replace(old, EU_TENANT, REGIONS, nodes, catalogue, now=2.0)
    assert (new.node, new.region, new.generation) == ("fra-b", "eu-1", 2)
    new = placement.replace(old, EU_TENANT, REGIONS, nodes[:1] + nodes[2:], catalogue, now=2.0)
    assert (new.node, new.region) == ("par", "eu-2")
    with pytest.raises(PlacementRefused):
        placement.replace(old, EU_TENANT, REGIONS, [nodes[0], make_node("nyc", "us-1")], catalogue, now=2.0)


def test_replacement_prefers_a_node_still_carrying_the_meeting_within_the_allowed_regions(
        catalogue: Catalogue) -> None:
    """The node carrying the meeting's other participants holds the MLS group the dead home ordered and carries
    it on as the new home: it wins over an idle node of the dead home's region. A node listed as carrying it that
    is dead, unusable or of a refused region (the list is the registry's, untrusted) is passed over."""
    old = Placement("acme", "r", "eu-1", "fra-a", decided_at=1.0, reason="x")
    nodes = [make_node("fra-a", "eu-1", 0.0), make_node("fra-b", "eu-1", 0.0), make_node("par", "eu-2", 0.5),
             make_node("nyc", "us-1", 0.0)]
    new = placement.replace(old, EU_TENANT, REGIONS, nodes, catalogue, now=2.0, carrying={"fra-a", "par"})
    assert (new.node, new.region, new.generation) == ("par", "eu-2", 2)
    for listed in ({"nyc"}, {"fra-a"}, {"ghost"}, set()):
        new = placement.replace(old, EU_TENANT, REGIONS, nodes, catalogue, now=2.0, carrying=listed)
        assert new.node == "fra-b", listed


# -- the property: whatever the nodes, loads, health and hint, the result is allowed or a refusal ------------

node_strategy = st.builds(
    make_node,
    node_id=st.text("abcdefgh", min_size=1, max_size=4),
    region=st.sampled_from(sorted(REGIONS) + ["eu-9", "mars-1"]),
    load=st.floats(min_value=0.0, max_value=2.0, allow_nan=False),
    healthy=st.booleans(),
    draining=st.booleans(),
)
tenant_strategy = st.sampled_from([
    EU_TENANT, EU_PLUS_CH,
    Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=frozenset({"eu-2"})),
    Tenant(id="globex", name="Globex", jurisdiction="US"),
    Tenant(id="helvetia", name="Helvetia", jurisdiction="CH", allowed_regions=frozenset({"ch-1", "eu-1"}),
           opt_ins=(OptIn("eu-1", "EU customers", "admin", 0.0),)),
    Tenant(id="roo", name="Roo", jurisdiction="AU"),
])


@settings(max_examples=400, deadline=None)
@given(tenant=tenant_strategy, nodes=st.lists(node_strategy, max_size=12, unique_by=lambda n: n.id),
       hint=st.one_of(st.none(), st.sampled_from(sorted(REGIONS) + ["mars-1"])))
def test_property_placement_is_always_in_an_allowed_region_or_refused(
        catalogue: Catalogue, tenant: Tenant, nodes: list[Node], hint: str | None) -> None:
    allowed = (tenant.allowed_regions if tenant.allowed_regions is not None
               else {r for r, reg in REGIONS.items() if reg.jurisdiction == tenant.jurisdiction})
    usable_allowed = [n for n in nodes if n.region in allowed and n.usable()]
    try:
        p = placement.place(tenant, "room", REGIONS, nodes, catalogue, now=1.0, hint=hint)
    except PlacementRefused:
        assert not usable_allowed  # refused only when there truly was no usable allowed node
        return
    chosen = next(n for n in nodes if n.id == p.node and n.region == p.region)
    assert p.region in allowed and chosen.usable()
    candidates = [n for n in usable_allowed if n.region == hint] or usable_allowed
    assert chosen.load == min(n.load for n in candidates)  # least loaded (within the hinted region if any)
