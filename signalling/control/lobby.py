"""Waiting room: participants knock on a link with a lobby; the link's host admits or denies them.

A knock yields an unguessable ticket. The participant long-polls `GET /v1/lobby/{ticket}`; the host lists
`GET /v1/links/{link}/lobby` and decides `POST /v1/links/{link}/lobby/{ticket}`. On admission the next poll
returns the join answer (placement + token) exactly once. Tickets expire after `ttl`.

Tickets live in the database (table `lobby_tickets`), so the knock, the host's decision and the poll may each
reach a different control-plane replica. A waiting poll re-reads its ticket every `poll_interval`, and is woken
at once when the decision is taken in its own process. "Exactly once" holds across replicas: the ticket is
consumed by one conditional DELETE, and only the poll whose DELETE removed it hands out its token.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from residency.db import Database

from .jsontypes import JSONObject

WAITING, ADMITTED, DENIED = "waiting", "admitted", "denied"
_COLUMNS = "id, link, tenant, name, participant, region_hint, created, state"


@dataclass(frozen=True)
class Ticket:
    id: str
    link: str
    tenant: str
    name: str
    participant: str
    region_hint: str | None
    created: float
    state: str = WAITING

    def public(self) -> JSONObject:
        return {"ticket": self.id, "name": self.name, "participant": self.participant, "state": self.state,
                "waiting_since": self.created}


class LobbyFull(Exception):
    pass


class Lobby:
    def __init__(self, db: Database, ttl: float = 600.0, max_waiting: int = 200,
                 clock: Callable[[], float] = time.time, poll_interval: float = 0.5) -> None:
        self.db = db
        self.ttl = ttl
        self.max_waiting = max_waiting
        self.clock = clock
        self.poll_interval = poll_interval
        self._decided: dict[str, asyncio.Event] = {}  # this process's waiting polls, woken by its decisions

    def _live_after(self) -> float:
        return self.clock() - self.ttl

    def knock(self, *, link: str, tenant: str, name: str, participant: str, region_hint: str | None) -> Ticket:
        ticket = Ticket(secrets.token_urlsafe(24), link, tenant, name, participant, region_hint, self.clock())
        with self.db.transaction() as tx:  # count and insert under the write lock: the cap holds across replicas
            tx.execute("DELETE FROM lobby_tickets WHERE created < :t", {"t": self._live_after()})
            waiting = tx.execute("SELECT COUNT(*) FROM lobby_tickets WHERE link = :link AND state = :s",
                                 {"link": link, "s": WAITING}).scalar_one()
            if int(waiting) >= self.max_waiting:
                raise LobbyFull(link)
            tx.execute(f"INSERT INTO lobby_tickets ({_COLUMNS}) VALUES (:id, :link, :tenant, :name, :participant, "
                       ":region_hint, :created, :state)", ticket.__dict__)
        return ticket

    def get(self, ticket_id: str) -> Ticket | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM lobby_tickets WHERE id = :id AND created >= :t",
                             {"id": ticket_id, "t": self._live_after()})
        return Ticket(*rows[0]) if rows else None

    def waiting(self, link: str) -> list[Ticket]:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM lobby_tickets WHERE link = :link AND state = :s "
                             "AND created >= :t ORDER BY created", {"link": link, "s": WAITING, "t": self._live_after()})
        return [Ticket(*r) for r in rows]

    def _wake(self, ticket_id: str) -> None:
        event = self._decided.get(ticket_id)
        if event is not None:
            event.set()

    def decide(self, link: str, ticket_id: str, admit: bool) -> Ticket | None:
        changed = self.db.execute(
            "UPDATE lobby_tickets SET state = :new WHERE id = :id AND link = :link AND state = :s AND created >= :t",
            {"new": ADMITTED if admit else DENIED, "id": ticket_id, "link": link, "s": WAITING,
             "t": self._live_after()})
        if changed != 1:
            return None
        self._wake(ticket_id)
        return self.get(ticket_id)

    def deny_all(self, link: str) -> None:
        for t in self.waiting(link):
            self.decide(link, t.id, admit=False)

    async def wait(self, ticket: Ticket, timeout: float) -> Ticket | None:
        """The ticket once decided, or as it is after `timeout` (None: it expired meanwhile)."""
        deadline = time.monotonic() + max(0.0, timeout)
        event = self._decided.setdefault(ticket.id, asyncio.Event())
        current: Ticket | None = ticket
        try:
            while current is not None and current.state == WAITING:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(event.wait(), min(left, self.poll_interval))
                except TimeoutError:
                    pass
                current = self.get(ticket.id)
        finally:
            self._decided.pop(ticket.id, None)
        return current

    def consume(self, ticket: Ticket) -> bool:
        """Removes a decided ticket; True for the one caller that removed it (only that one hands out a token)."""
        return self.db.execute("DELETE FROM lobby_tickets WHERE id = :id AND state = :s",
                               {"id": ticket.id, "s": ticket.state}) == 1
