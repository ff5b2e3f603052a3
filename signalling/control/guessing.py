"""Who is guessing a link's password, and what the limiter (ratelimit.py) does about it for one join attempt.

A guesser is judged by its own record, never by the link's:

* a *known device* (its signed cookie entered this link's password correctly in the last `known_for`) is judged
  by the device's record alone — an attacker flooding the same NAT address cannot block it;
* a *known address* (a correct entry for this link from the address, no known device) by that address's record
  on this link (scope `known`), not by its record across all links;
* anyone else (*unknown*) by the address's record across links (scope `client`) and, with a cookie, the device's.

Every wrong password is also counted on the link (scope `link`), which only signals: while it has strikes,
unknown guessers' checks on it are slowed (`LimitPolicy.delay`) and limited to as many in flight as failures
remain in the link's window — known guessers are neither slowed nor queued behind them.

Waiting for such a slot is bounded and fair (`Checks`): first come, first served among guessers sharing a key;
at most `max_waiting_per_guesser` waiting checks per guesser (address or device: enough for an office behind
one NAT address joining at once, too few for one guesser to fill the queue); at most `max_wait` seconds of
waiting (then 429 `slow_down`, Retry-After); and at most `max_waiting` checks waiting in all and
`max_waiting_per_link` on one link, beyond which a check is refused at once — memory stays bounded whatever the
number of guessers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from . import metrics
from .errors import ApiError
from .inflight import InFlight, LocalInFlight
from .ratelimit import Blocked, Limiter

Key = tuple[str, str]

MAX_WAIT = 10.0  # seconds a check may wait for its turn on a link under guessing
MAX_WAITING = 1024  # checks waiting for their turn, all links together
MAX_WAITING_PER_LINK = 64  # ... on one link
MAX_WAITING_PER_GUESSER = 16  # ... from one guesser (one address: a NAT'd office rejoining after a drain)
POLL = 0.01  # seconds between looks at the limiter (its windows move with time, and in Redis with other processes)


def address_marker(link: str, address: str) -> str:
    return f"{link} a {address}"


def device_marker(link: str, device: str) -> str:
    return f"{link} d {device}"


@dataclass(frozen=True)
class Guesser:
    link: str
    address: str
    device: str | None  # the id of a valid device cookie the request carried
    known_address: bool = False
    known_device: bool = False

    @property
    def known(self) -> bool:
        return self.known_address or self.known_device

    def blocking(self) -> list[Key]:
        """The keys whose back-off or lock refuses this guesser."""
        if self.known_device and self.device is not None:
            return [("device", self.device)]
        keys = [("known", f"{self.link} {self.address}") if self.known_address else ("client", self.address)]
        if self.device is not None:
            keys.append(("device", self.device))
        return keys

    def counted(self) -> list[Key]:
        """The keys a wrong password from this guesser counts on."""
        keys = [("link", self.link), ("client", self.address)]
        if self.known_address:
            keys.append(("known", f"{self.link} {self.address}"))
        if self.device is not None:
            keys.append(("device", self.device))
        return keys

    def in_flight(self) -> list[Key]:
        """The keys that bound parallel checks (the link's only for unknown guessers)."""
        return self.blocking() if self.known else [*self.blocking(), ("link", self.link)]


def identify(limiter: Limiter, link: str, address: str, device: str | None) -> Guesser:
    markers = [address_marker(link, address)] + ([device_marker(link, device)] if device else [])
    known = limiter.known(markers)
    return Guesser(link, address, device, known_address=known[0], known_device=device is not None and known[-1])


def refusal(b: Blocked) -> ApiError:
    metrics.TOKEN_FAILURES.labels("rate_limited").inc()
    who = {"device": "this browser"}.get(b.scope, "your address")
    if b.locked:
        msg = f"too many wrong passwords from {who}: locked; ask the meeting's organiser, or retry later"
        return ApiError(429, "locked", msg, headers={"Retry-After": str(b.retry_after)},
                        extra={"retry_after": b.retry_after})
    return ApiError(429, "too_many_attempts", f"too many wrong passwords from {who}; retry in {b.retry_after} s",
                    headers={"Retry-After": str(b.retry_after)}, extra={"retry_after": b.retry_after})


def check(limiter: Limiter, g: Guesser) -> None:
    """Refuses (429) a guesser that is backed off or locked."""
    try:
        limiter.check(g.blocking())
    except Blocked as b:
        raise refusal(b) from None


class Checks:
    """Password checks in flight per key, and the slowdown of unknown guessers on a link under guessing."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 inflight: InFlight | None = None,
                 clock: Callable[[], float] = time.monotonic, max_wait: float = MAX_WAIT,
                 max_waiting: int = MAX_WAITING, max_waiting_per_link: int = MAX_WAITING_PER_LINK,
                 max_waiting_per_guesser: int = MAX_WAITING_PER_GUESSER) -> None:
        self.sleep = sleep
        # the slots themselves (per key: as many checks as failures remain), shared across replicas with Redis;
        # the queue below is this replica's: its waiting checks go first come, first served, boundedly
        self.inflight: InFlight = inflight if inflight is not None else LocalInFlight()
        self.clock = clock
        self.max_wait = max_wait
        self.max_waiting = max_waiting
        self.max_waiting_per_link = max_waiting_per_link
        self.max_waiting_per_guesser = max_waiting_per_guesser
        self._waiting: OrderedDict[int, tuple[Guesser, list[Key]]] = OrderedDict()  # oldest first
        self._tickets = itertools.count()

    def waiting(self) -> int:
        return len(self._waiting)

    def _take(self, limiter: Limiter, keys: list[Key]) -> str | None:
        return self.inflight.acquire(keys, [limiter.remaining(*k) for k in keys])

    def _first(self, ticket: int, keys: list[Key]) -> bool:
        """No check waiting longer shares a key with this one (first come, first served)."""
        for t, (_, other) in self._waiting.items():
            if t == ticket:
                return True
            if any(k in other for k in keys):
                return False
        return True

    def _refuse(self, limiter: Limiter, g: Guesser, why: str) -> ApiError:
        metrics.TOKEN_FAILURES.labels("guessing_wait").inc()
        retry = max(1, math.ceil(limiter.policy.delay(limiter.strikes("link", g.link)) or 1))
        return ApiError(429, "slow_down", f"{why}; retry in {retry} s", headers={"Retry-After": str(retry)},
                        extra={"retry_after": retry})

    async def _wait_turn(self, limiter: Limiter, g: Guesser, keys: list[Key]) -> str:
        """Waits, in arrival order, until every key has a slot and takes it (the slot's token); refuses (429)
        instead of waiting unboundedly."""
        me = g.blocking()[0]
        if sum(w.blocking()[0] == me for w, _ in self._waiting.values()) >= self.max_waiting_per_guesser:
            raise self._refuse(limiter, g, "too many password checks at once from your address")
        if (len(self._waiting) >= self.max_waiting
                or sum(w.link == g.link for w, _ in self._waiting.values()) >= self.max_waiting_per_link):
            raise self._refuse(limiter, g, "too many people are trying this meeting's password right now")
        ticket = next(self._tickets)
        self._waiting[ticket] = (g, keys)
        deadline = self.clock() + self.max_wait
        try:
            while True:
                await self.sleep(POLL)
                check(limiter, g)
                if self._first(ticket, keys) and (token := self._take(limiter, keys)) is not None:
                    return token
                if self.clock() >= deadline:
                    raise self._refuse(limiter, g, "this meeting's password is being guessed: checks are queued")
        finally:
            del self._waiting[ticket]

    @contextlib.asynccontextmanager
    async def slot(self, limiter: Limiter, g: Guesser, on_slowdown: Callable[[float], None]) -> AsyncIterator[None]:
        """At most as many checks in flight per key as failures remain in its window: otherwise parallel
        guesses would all pass `check` before the first failure is counted. With no recent failures that is 5
        at once per guesser — more than the password pool runs anyway. Counted across replicas with Redis."""
        keys = g.in_flight()
        check(limiter, g)
        token = None
        if not any(any(k in other for k in keys) for _, other in self._waiting.values()):
            token = self._take(limiter, keys)
        if token is None:
            token = await self._wait_turn(limiter, g, keys)
        try:
            if not g.known:
                delay = limiter.policy.delay(limiter.strikes("link", g.link))
                if delay > 0:
                    on_slowdown(delay)
                    await self.sleep(delay)
            yield
        finally:
            self.inflight.release(keys, token)
