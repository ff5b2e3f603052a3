"""Waiting room: participants knock on a link with a lobby; the link's host admits or denies them.

A knock yields an unguessable ticket. The participant long-polls `GET /v1/lobby/{ticket}`; the host lists
`GET /v1/links/{link}/lobby` and decides `POST /v1/links/{link}/lobby/{ticket}`. On admission the next poll
returns the join answer (placement + token) exactly once. Tickets are in memory and expire after `ttl`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .jsontypes import JSONObject

WAITING, ADMITTED, DENIED, USED = "waiting", "admitted", "denied", "used"


@dataclass
class Ticket:
    id: str
    link: str
    tenant: str
    name: str
    participant: str
    region_hint: str | None
    created: float
    state: str = WAITING
    event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def public(self) -> JSONObject:
        return {"ticket": self.id, "name": self.name, "participant": self.participant, "state": self.state,
                "waiting_since": self.created}


class LobbyFull(Exception):
    pass


class Lobby:
    def __init__(self, ttl: float = 600.0, max_waiting: int = 200, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.max_waiting = max_waiting
        self.clock = clock
        self._tickets: dict[str, Ticket] = {}

    def _expire(self) -> None:
        now = self.clock()
        for tid in [t.id for t in self._tickets.values() if now - t.created > self.ttl]:
            ticket = self._tickets.pop(tid)
            ticket.event.set()

    def knock(self, *, link: str, tenant: str, name: str, participant: str, region_hint: str | None) -> Ticket:
        self._expire()
        if sum(1 for t in self._tickets.values() if t.link == link and t.state == WAITING) >= self.max_waiting:
            raise LobbyFull(link)
        ticket = Ticket(secrets.token_urlsafe(24), link, tenant, name, participant, region_hint, self.clock())
        self._tickets[ticket.id] = ticket
        return ticket

    def get(self, ticket_id: str) -> Ticket | None:
        self._expire()
        return self._tickets.get(ticket_id)

    def waiting(self, link: str) -> list[Ticket]:
        self._expire()
        return [t for t in self._tickets.values() if t.link == link and t.state == WAITING]

    def decide(self, link: str, ticket_id: str, admit: bool) -> Ticket | None:
        ticket = self.get(ticket_id)
        if ticket is None or ticket.link != link or ticket.state != WAITING:
            return None
        ticket.state = ADMITTED if admit else DENIED
        ticket.event.set()
        return ticket

    def deny_all(self, link: str) -> None:
        for t in self.waiting(link):
            t.state = DENIED
            t.event.set()

    async def wait(self, ticket: Ticket, timeout: float) -> Ticket:
        if ticket.state == WAITING and timeout > 0:
            try:
                await asyncio.wait_for(ticket.event.wait(), timeout)
            except TimeoutError:
                pass
        return ticket

    def consume(self, ticket: Ticket) -> None:
        ticket.state = USED
        self._tickets.pop(ticket.id, None)
