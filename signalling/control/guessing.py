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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from . import metrics
from .errors import ApiError
from .inflight import InFlight, LocalInFlight
from .ratelimit import Blocked, Limiter

Key = tuple[str, str]


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
                 inflight: InFlight | None = None) -> None:
        self.sleep = sleep
        self.inflight: InFlight = inflight if inflight is not None else LocalInFlight()

    @contextlib.asynccontextmanager
    async def slot(self, limiter: Limiter, g: Guesser, on_slowdown: Callable[[float], None]) -> AsyncIterator[None]:
        """At most as many checks in flight per key as failures remain in its window: otherwise parallel
        guesses would all pass `check` before the first failure is counted. With no recent failures that is 5
        at once per guesser — more than the password pool runs anyway. Counted across replicas with Redis."""
        keys = g.in_flight()
        while True:
            check(limiter, g)
            token = self.inflight.acquire(keys, [limiter.remaining(*k) for k in keys])
            if token is not None:
                break
            await self.sleep(0.01)
        try:
            if not g.known:
                delay = limiter.policy.delay(limiter.strikes("link", g.link))
                if delay > 0:
                    on_slowdown(delay)
                    await self.sleep(delay)
            yield
        finally:
            self.inflight.release(keys, token)
