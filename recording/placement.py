"""Where a meeting's recorder runs: the residency rules that place nodes, applied to the recorder pool. Pure.

A recorder is described by the same record as a node (`residency.model.Node`: id, region, health, load) and is
chosen by `residency.placement.choose` — the tenant's allowed regions only, the meeting's own region preferred,
and no fallback: with no usable recorder in an allowed region the answer is `RecorderRefused`, so recording does
not start (and a meeting whose policy requires it does not start its media). When a recorder dies mid-meeting,
`replace` looks for another one under the same rules, never the dead one; refused, the recording stops with a
gap in its timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from residency.catalogue import Catalogue
from residency.errors import PlacementRefused
from residency.model import Node, Region, Tenant
from residency.placement import choose


class RecorderRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RecorderPlacement:
    tenant: str
    meeting: str
    recorder: str
    region: str
    reason: str
    generation: int = 1


def _choose(tenant: Tenant, regions: Mapping[str, Region], recorders: Iterable[Node], catalogue: Catalogue,
            hint: str | None, exclude: frozenset[str]) -> tuple[Node, str]:
    try:
        return choose(tenant, regions, recorders, catalogue, hint=hint, exclude=exclude)
    except PlacementRefused as e:
        raise RecorderRefused("no_recorder_in_allowed_regions",
                              "Recording cannot start: no recorder is available in a region this organisation "
                              f"allows ({e.code}). Nothing was recorded elsewhere.") from e


def place(tenant: Tenant, meeting: str, meeting_region: str, regions: Mapping[str, Region],
          recorders: Iterable[Node], catalogue: Catalogue) -> RecorderPlacement:
    rec, why = _choose(tenant, regions, recorders, catalogue, meeting_region, frozenset())
    return RecorderPlacement(tenant.id, meeting, rec.id, rec.region, why)


def replace(previous: RecorderPlacement, tenant: Tenant, regions: Mapping[str, Region], recorders: Iterable[Node],
            catalogue: Catalogue, dead: Iterable[str] = ()) -> RecorderPlacement:
    exclude = frozenset({previous.recorder, *dead})
    rec, why = _choose(tenant, regions, recorders, catalogue, previous.region, exclude)
    return RecorderPlacement(tenant.id, previous.meeting, rec.id, rec.region, why, previous.generation + 1)
