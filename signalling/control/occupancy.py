"""How many participants a room has, for the per-link participant cap.

A token issued counts as a seat for `reservation_ttl` seconds (a token lives 60 s); the node reports
participants who actually joined and left (`joined` / `left`, called in-process by `castellan dev`'s node, or
by a node's hook). The cap is `len(joined | live reservations)`.

Seats live in the database (table `room_seats`), so every control-plane replica counts the same room, and
`claim` counts and reserves in one write transaction: two replicas cannot both hand out the last seat.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from residency.db import Database, Tx

_UPSERT = ("INSERT INTO room_seats (tenant, room, participant, joined, at) VALUES (:t, :r, :p, :j, :at) "
           "ON CONFLICT (tenant, room, participant) DO UPDATE SET joined = excluded.joined, at = excluded.at")


class Occupancy:
    def __init__(self, db: Database, reservation_ttl: float = 90.0, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.reservation_ttl = reservation_ttl
        self.clock = clock

    def _args(self, tenant: str, room: str) -> dict[str, object]:
        return {"t": tenant, "r": room, "stale": self.clock() - self.reservation_ttl}

    def _count(self, tx: Tx, tenant: str, room: str) -> int:
        tx.execute("DELETE FROM room_seats WHERE tenant = :t AND room = :r AND joined = 0 AND at < :stale",
                   self._args(tenant, room))
        return int(tx.execute("SELECT COUNT(*) FROM room_seats WHERE tenant = :t AND room = :r",
                              {"t": tenant, "r": room}).scalar_one())

    def count(self, tenant: str, room: str) -> int:
        rows = self.db.query("SELECT COUNT(*) FROM room_seats WHERE tenant = :t AND room = :r "
                             "AND (joined = 1 OR at >= :stale)", self._args(tenant, room))
        return int(rows[0][0])

    def claim(self, tenant: str, room: str, participant: str, cap: int) -> bool:
        """Reserves a seat if fewer than `cap` are taken (atomically, across replicas); False when full."""
        with self.db.transaction() as tx:
            if self._count(tx, tenant, room) >= cap:
                return False
            tx.execute(_UPSERT, {"t": tenant, "r": room, "p": participant, "j": 0, "at": self.clock()})
            return True

    def reserve(self, tenant: str, room: str, participant: str) -> None:
        self.db.execute(_UPSERT + " WHERE room_seats.joined = 0",
                        {"t": tenant, "r": room, "p": participant, "j": 0, "at": self.clock()})

    def release(self, tenant: str, room: str, participant: str) -> None:
        """Gives back a reservation whose token was never issued (e.g. the placement was refused)."""
        self.db.execute("DELETE FROM room_seats WHERE tenant = :t AND room = :r AND participant = :p AND joined = 0",
                        {"t": tenant, "r": room, "p": participant})

    def joined(self, tenant: str, room: str, participant: str) -> None:
        self.db.execute(_UPSERT, {"t": tenant, "r": room, "p": participant, "j": 1, "at": self.clock()})

    def left(self, tenant: str, room: str, participant: str) -> None:
        self.db.execute("DELETE FROM room_seats WHERE tenant = :t AND room = :r AND participant = :p",
                        {"t": tenant, "r": room, "p": participant})

    def clear(self, tenant: str, room: str) -> None:
        self.db.execute("DELETE FROM room_seats WHERE tenant = :t AND room = :r", {"t": tenant, "r": room})
