"""Media workers: how many a node runs, and which one owns each participant.

The engine forwards on `count` media workers (native threads without the GIL, docs/architecture.md "Every
core"). A participant's worker owns its SRTP sessions and forwards to it; a packet whose subscribers sit on
several workers is decrypted once and handed, decrypted, to each of the others. Hand-offs cost a copy, so a
room lives on one worker (its home, the least loaded when it opens) until it is large: from `spread_at`
participants on, each newcomer goes to the least-loaded worker, and the room's fan-out spans workers.

Pure: the node calls `place` on join and `release` on leave; nothing here touches the engine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from native.constants import MAX_WORKERS


def cores_given(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: the CPUs it may run on, capped by its cgroup's CPU quota (a container's
    CPU limit), rounded up."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max" and int(period) > 0:
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def worker_count(asked: int, cores: int) -> int:
    """`asked` media workers (0: one per core given), within 1..MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, asked if asked > 0 else cores))


@dataclass
class WorkerPlacement:
    """Participants per worker, and each room's home worker and size."""

    count: int
    spread_at: int = 16   # from this many participants on, a room's newcomers go to the least-loaded worker
    load: list[int] = field(default_factory=list)
    homes: dict[Hashable, int] = field(default_factory=dict)
    sizes: dict[Hashable, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_WORKERS:
            raise ValueError(f"worker count must be 1..{MAX_WORKERS}")
        self.load = [0] * self.count

    def least_loaded(self) -> int:
        return min(range(self.count), key=lambda w: (self.load[w], w))

    def place(self, room: Hashable) -> int:
        """The worker for a participant joining `room`."""
        home = self.homes.get(room)
        if home is None:
            home = self.homes[room] = self.least_loaded()
        size = self.sizes.get(room, 0)
        worker = home if size < self.spread_at else self.least_loaded()
        self.sizes[room] = size + 1
        self.load[worker] += 1
        return worker

    def release(self, room: Hashable, worker: int) -> None:
        """A participant of `room` on `worker` left."""
        self.load[worker] = max(0, self.load[worker] - 1)
        size = self.sizes.get(room, 0) - 1
        if size <= 0:
            self.sizes.pop(room, None)
            self.homes.pop(room, None)
        else:
            self.sizes[room] = size
