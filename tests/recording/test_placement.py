"""Recorders are placed by the residency rules that place nodes: an EU-only tenant's recorder runs in an EU
region (the meeting's own preferred), a dead recorder is replaced by another EU one, and with none left recording
stops (the gap recorded) — never a recorder in us-1, however idle, whatever the pool looks like."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recording import placement
from recording.placement import RecorderRefused
from recording.policy import RecordingPolicy
from residency.catalogue import Catalogue
from residency.model import Tenant
from tests.recording.archive_world import make_archive
from tests.residency.residency_world import REGIONS, FakeClock, make_node

EU_ONLY = Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=frozenset({"eu-1", "eu-2"}))


def test_eu_recorder_then_another_eu_recorder_then_refused_never_us(catalogue: Catalogue, tmp_path: Path) -> None:
    pool = [make_node("rec-eu-1a", "eu-1", 0.3), make_node("rec-eu-2a", "eu-2", 0.0), make_node("rec-us-1a", "us-1")]
    first = placement.place(EU_ONLY, "board", "eu-1", REGIONS, pool, catalogue)
    assert (first.recorder, first.region) == ("rec-eu-1a", "eu-1")  # the meeting's region, though busier
    second = placement.replace(first, EU_ONLY, REGIONS, pool, catalogue)  # eu-1's recorder was killed
    assert (second.recorder, second.region, second.generation) == ("rec-eu-2a", "eu-2", 2)
    with pytest.raises(RecorderRefused, match="Nothing was recorded elsewhere") as e:
        placement.replace(second, EU_ONLY, REGIONS, pool, catalogue, dead=["rec-eu-1a"])
    assert e.value.code == "no_recorder_in_allowed_regions"
    # the archive keeps the regions it ran in and the gap, audited
    archive = make_archive(tmp_path, FakeClock())
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice")
    rec = archive.begin("acme", "board", "link-1", {"participant": "rec-1", "recorder": first.recorder}, first.region,
                        "recorder:r-eu", session="s-1")
    moved = archive.recorder_moved("acme", rec.id, second.region, {"recorder": second.recorder}, "recorder:r-eu2")
    assert moved.regions == ("eu-1", "eu-2") and [g["replaced_by"] for g in moved.gaps] == ["rec-eu-2a"]
    assert [(p["part"], p["region"]) for p in moved.parts] == [(1, "eu-1"), (2, "eu-2")]
    assert "recording.recorder_moved" in [r.kind for r in archive.audit.tenant_records("acme")]


def test_no_recorder_in_an_allowed_region_means_no_recording(catalogue: Catalogue) -> None:
    pool = [make_node("rec-us-1a", "us-1"), make_node("rec-eu-1a", "eu-1", healthy=False),
            make_node("rec-eu-2a", "eu-2", draining=True)]
    with pytest.raises(RecorderRefused):
        placement.place(EU_ONLY, "board", "eu-1", REGIONS, pool, catalogue)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(REGIONS)), st.floats(0, 1), st.booleans(), st.booleans()),
                max_size=8), st.sampled_from(sorted(REGIONS)))
def test_never_outside_the_allowed_regions(catalogue: Catalogue, pool_spec: list[tuple[str, float, bool, bool]],
                                           meeting_region: str) -> None:
    pool = [make_node(f"r{i}", region, load, healthy=healthy, draining=draining)
            for i, (region, load, healthy, draining) in enumerate(pool_spec)]
    try:
        p = placement.place(EU_ONLY, "m", meeting_region, REGIONS, pool, catalogue)
    except RecorderRefused:
        assert not any(n.region in EU_ONLY.allowed_regions and n.usable() for n in pool)  # type: ignore[operator]
        return
    assert p.region in {"eu-1", "eu-2"}
    try:
        q = placement.replace(p, EU_ONLY, REGIONS, pool, catalogue)
    except RecorderRefused:
        return
    assert q.region in {"eu-1", "eu-2"} and q.recorder != p.recorder
