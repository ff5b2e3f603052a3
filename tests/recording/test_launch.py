"""Launching and dismissing recorders, the pure part (recording/launch.py): every wanted room gets one job on a
pool of an allowed region or a refusal saying why; a pool's capacity is respected; a job whose pool is gone moves
to another pool (never the dead one); a job no longer wanted is dismissed. Property: whatever the pools and the
wants, no job is ever in a region the tenant does not allow, and no room gets two."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recording.launch import Job, Pool, Want, reconcile
from residency.catalogue import Catalogue
from residency.model import Tenant
from tests.residency.residency_world import REGIONS

EU_ONLY = Tenant(id="acme", name="ACME", jurisdiction="EU", allowed_regions=frozenset({"eu-1", "eu-2"}))
TENANTS = {"acme": EU_ONLY}


def _want(room: str, region: str = "eu-1") -> Want:
    return Want(tenant="acme", room=room, link=f"link-{room}", node="node-1", region=region, policy="required")


def _pool(pid: str, region: str, capacity: int = 2, active: int = 0) -> Pool:
    return Pool(id=pid, region=region, capacity=capacity, active=active, key_id="k")


def test_a_wanted_room_gets_its_regions_pool_and_a_full_pool_is_skipped(catalogue: Catalogue) -> None:
    pools = [_pool("eu2", "eu-2"), _pool("eu1", "eu-1", capacity=1), _pool("us1", "us-1", capacity=50)]
    plan = reconcile([_want("a"), _want("b")], {}, pools, TENANTS, REGIONS, catalogue)
    assert sorted((j.room, j.pool) for j in plan.launch) == [("a", "eu1"), ("b", "eu2")]  # eu1 full after "a"
    assert plan.dismiss == () and plan.refused == ()


def test_no_allowed_pool_is_a_refusal_never_a_us_recorder(catalogue: Catalogue) -> None:
    plan = reconcile([_want("a")], {}, [_pool("us1", "us-1", capacity=50)], TENANTS, REGIONS, catalogue)
    assert plan.launch == () and [r.code for r in plan.refused] == ["no_recorder_in_allowed_regions"]
    plan = reconcile([Want("ghost", "a", "l", "n", "eu-1", "required")], {}, [_pool("eu1", "eu-1")], TENANTS,
                     REGIONS, catalogue)
    assert [r.code for r in plan.refused] == ["tenant_not_found"]


def test_jobs_stay_move_from_a_dead_pool_and_go_when_not_wanted(catalogue: Catalogue) -> None:
    job = Job(id="job-AAAAAAAAAAAA", tenant="acme", room="a", link="link-a", node="node-1", region="eu-1",
              pool="eu1", policy="required")
    pools = [_pool("eu1", "eu-1"), _pool("eu2", "eu-2")]
    assert reconcile([_want("a")], {job.key: job}, pools, TENANTS, REGIONS, catalogue).launch == ()
    moved = reconcile([_want("a")], {job.key: job}, pools[1:], TENANTS, REGIONS, catalogue).launch
    assert [(j.pool, j.generation) for j in moved] == [("eu2", 2)]
    gone = reconcile([], {job.key: job}, pools, TENANTS, REGIONS, catalogue)
    assert gone.dismiss == (job,) and gone.launch == ()


def test_a_moved_job_keeps_its_session_and_another_session_is_another_job(catalogue: Catalogue) -> None:
    """The session is what makes a replacement continue the same Recording and a host's new start a new one."""
    want = Want("acme", "a", "link-a", "node-1", "eu-1", "allowed", session="s-1")
    job = Job(id="job-AAAAAAAAAAAA", tenant="acme", room="a", link="link-a", node="node-1", region="eu-1",
              pool="eu1", policy="allowed", session="s-1")
    [moved] = reconcile([want], {job.key: job}, [_pool("eu2", "eu-2")], TENANTS, REGIONS, catalogue).launch
    assert (moved.pool, moved.session, moved.generation) == ("eu2", "s-1", 2)
    restarted = Want("acme", "a", "link-a", "node-1", "eu-1", "allowed", session="s-2")
    plan = reconcile([restarted], {job.key: job}, [_pool("eu1", "eu-1")], TENANTS, REGIONS, catalogue)
    assert plan.dismiss == (job,) and plan.launch == ()  # this round ends s-1; the next launches s-2
    [fresh] = reconcile([restarted], {}, [_pool("eu1", "eu-1")], TENANTS, REGIONS, catalogue).launch
    assert fresh.session == "s-2"
    assert Job.from_dict({**job.to_dict(), "session": "x" * 65}) is None  # a hostile answer: a counted drop


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(REGIONS)), st.integers(0, 3)), max_size=6),
       st.lists(st.sampled_from(sorted(REGIONS)), max_size=6))
def test_never_outside_the_allowed_regions_never_two_per_room_never_over_capacity(
        catalogue: Catalogue, pool_spec: list[tuple[str, int]], want_regions: list[str]) -> None:
    pools = [_pool(f"p{i}", region, capacity) for i, (region, capacity) in enumerate(pool_spec)]
    wants = [_want(f"r{i}", region) for i, region in enumerate(want_regions)]
    plan = reconcile(wants, {}, pools, TENANTS, REGIONS, catalogue)
    assert all(j.region in EU_ONLY.allowed_regions for j in plan.launch)  # type: ignore[operator]
    assert len({j.room for j in plan.launch}) == len(plan.launch)
    assert len(plan.launch) + len(plan.refused) == len(wants)
    for p in pools:
        assert sum(1 for j in plan.launch if j.pool == p.id) <= p.capacity
