"""sfu/workers.py: how many media workers a node runs, and which worker each participant lands on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from native.constants import MAX_WORKERS
from sfu.workers import WorkerPlacement, cores_given, worker_count


def test_the_cores_given_are_the_cpu_limit_rounded_up_within_the_affinity(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")              # a 1.5-CPU limit
    assert cores_given(cpu_max) == min(affinity, 2)
    cpu_max.write_text("max 100000\n")
    assert cores_given(cpu_max) == affinity
    cpu_max.write_text("garbage\n")                    # unreadable: the affinity alone, never a crash
    assert cores_given(cpu_max) == affinity
    assert cores_given(tmp_path / "absent") == affinity


def test_the_worker_count_is_what_was_asked_or_one_per_core_within_bounds() -> None:
    assert worker_count(0, 2) == 2
    assert worker_count(3, 2) == 3
    assert worker_count(0, 64) == MAX_WORKERS
    assert worker_count(-5, 0) == 1
    with pytest.raises(ValueError):
        WorkerPlacement(0)


def test_small_rooms_stay_on_one_worker_and_rooms_spread_over_workers() -> None:
    w = WorkerPlacement(2, spread_at=4)
    a = [w.place("a") for _ in range(3)]
    b = [w.place("b") for _ in range(3)]
    assert len(set(a)) == 1 and len(set(b)) == 1 and a[0] != b[0]   # no hand-off inside a small room
    assert w.load == [3, 3]


def test_a_large_rooms_fanout_spans_the_workers_evenly() -> None:
    w = WorkerPlacement(2, spread_at=16)
    placed = [w.place("big") for _ in range(51)]        # the benchmark's 1 publisher + 50 subscribers
    assert placed[:16] == [0] * 16
    assert abs(w.load[0] - w.load[1]) <= 1
    for worker in placed:                               # everyone leaves: the room is forgotten
        w.release("big", worker)
    assert w.load == [0, 0] and w.homes == {} and w.sizes == {}


def test_a_worker_emptied_by_departures_gets_the_next_room() -> None:
    w = WorkerPlacement(3, spread_at=16)
    first = [w.place("x") for _ in range(5)]
    w.place("y")
    for worker in first:
        w.release("x", worker)
    assert w.place("z") == first[0]                     # the least loaded again
