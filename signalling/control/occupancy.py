"""How many participants a room has, for the per-link participant cap.

A token issued counts as a seat for `reservation_ttl` seconds (a token lives 60 s); the node reports
participants who actually joined and left (`joined` / `left`, called in-process by `castellan dev`'s node, or
by a node's hook). The cap is `len(joined | live reservations)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Occupancy:
    def __init__(self, reservation_ttl: float = 90.0, clock: Callable[[], float] = time.time) -> None:
        self.reservation_ttl = reservation_ttl
        self.clock = clock
        self._joined: dict[tuple[str, str], set[str]] = {}
        self._reserved: dict[tuple[str, str], dict[str, float]] = {}

    def _live(self, key: tuple[str, str]) -> dict[str, float]:
        now = self.clock()
        res = self._reserved.get(key, {})
        for p in [p for p, t in res.items() if now - t > self.reservation_ttl]:
            del res[p]
        return res

    def count(self, tenant: str, room: str) -> int:
        key = (tenant, room)
        return len(self._joined.get(key, set()) | set(self._live(key)))

    def reserve(self, tenant: str, room: str, participant: str) -> None:
        self._live((tenant, room))
        self._reserved.setdefault((tenant, room), {})[participant] = self.clock()

    def joined(self, tenant: str, room: str, participant: str) -> None:
        self._reserved.get((tenant, room), {}).pop(participant, None)
        self._joined.setdefault((tenant, room), set()).add(participant)

    def left(self, tenant: str, room: str, participant: str) -> None:
        self._joined.get((tenant, room), set()).discard(participant)

    def clear(self, tenant: str, room: str) -> None:
        self._joined.pop((tenant, room), None)
        self._reserved.pop((tenant, room), None)
