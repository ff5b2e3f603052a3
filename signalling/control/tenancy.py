"""A tenant as its admin sees it: jurisdiction, every defined region with the rule that applies to it, whether
the tenant allows it and why, how many nodes serve it now, and the warnings that follow (pure functions: the
residency adapter gathers the facts, the console, the API and the CLI show the result)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .jsontypes import JSONObject

OWN = "own"  # RULE 1: the tenant's own jurisdiction
ADEQUATE = "adequate"  # RULE 2: allowed only with an admin's opt-in (reason, who, when)
REFUSED = "refused"  # RULE 3: never


@dataclass(frozen=True)
class RegionStatus:
    region: str
    display_name: str
    location: str
    jurisdiction: str
    rule: str  # OWN | ADEQUATE | REFUSED
    allowed: bool  # in the tenant's effective set right now
    why: str | None  # residency's explanation when allowed
    nodes: int  # trusted, usable nodes registered in the region now
    opt_in: JSONObject | None  # {reason, actor, at} of an adequacy opt-in

    def to_dict(self) -> JSONObject:
        return {"region": self.region, "display_name": self.display_name, "location": self.location,
                "jurisdiction": self.jurisdiction, "rule": self.rule, "allowed": self.allowed, "why": self.why,
                "nodes": self.nodes, "opt_in": self.opt_in}


def warnings(jurisdiction: str, regions: Sequence[RegionStatus]) -> list[JSONObject]:
    """What an admin must know before people press Join: no region allowed at all, or no node serving any of
    the allowed ones (both refuse every meeting), or some allowed regions without a node (fewer places)."""
    allowed = [r for r in regions if r.allowed]
    if not allowed:
        return [{"code": "no_region",
                 "message": f"No region is allowed for this tenant (jurisdiction {jurisdiction}): every meeting "
                            "will be refused until the operator defines a region in it or you opt in to an "
                            "adequate one."}]
    idle = [r.region for r in allowed if r.nodes == 0]
    if len(idle) == len(allowed):
        return [{"code": "no_node",
                 "message": f"No media node serves the allowed region(s) {', '.join(idle)} right now: every "
                            "meeting will be refused until one registers."}]
    if idle:
        return [{"code": "region_without_node",
                 "message": f"Allowed region(s) {', '.join(idle)} have no media node right now; meetings go to "
                            "the others."}]
    return []


def tenant_document(tenant: JSONObject, jurisdiction_name: str, regions: Sequence[RegionStatus]) -> JSONObject:
    """The API's tenant shape (GET /v1/tenants/{tenant}): the stored policy, every region's status, warnings."""
    return {**tenant, "jurisdiction_name": jurisdiction_name,
            "regions": [r.to_dict() for r in regions],
            "effective_regions": [r.region for r in regions if r.allowed],
            "warnings": warnings(str(tenant["jurisdiction"]), regions)}


def nodes_by_region(node_regions: Sequence[str]) -> Mapping[str, int]:
    out: dict[str, int] = {}
    for region in node_regions:
        out[region] = out.get(region, 0) + 1
    return out
