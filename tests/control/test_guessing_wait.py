"""Waiting for a password check on a link under guessing is bounded and fair (issue 18).

While a link has recent wrong passwords, unknown guessers get only as many checks in flight as failures remain
in the link's window. Before, a check that found no free slot polled every 10 ms for as long as it took: with
the window full it waited a minute or more holding its request open, newcomers could overtake it at every
poll, one guesser could park any number of requests, and nothing bounded how many waited. Now: first come, first
served; at most `max_waiting_per_guesser` waiting checks per guesser; at most `max_wait` seconds, then 429
`slow_down`; at most `max_waiting_per_link` (and `max_waiting` in all) waiting, beyond which a check is refused
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from signalling.control.errors import ApiError
from signalling.control.guessing import Checks, Guesser
from signalling.control.ratelimit import FailureLimiter

LINK = "link-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)          # let the other checks run


def guessed(failures: int, clock: Clock) -> FailureLimiter:
    """A limiter whose link has `failures` wrong passwords in its window, from elsewhere."""
    limiter = FailureLimiter(clock=clock)
    for i in range(failures):
        limiter.failure([("link", LINK), ("client", f"10.9.9.{i}")])
    return limiter


def guesser(n: int) -> Guesser:
    return Guesser(LINK, f"192.0.2.{n}", None)


@contextlib.asynccontextmanager
async def holding(checks: Checks, limiter: FailureLimiter, g: Guesser, order: list[int], n: int,
                  release: asyncio.Event) -> AsyncIterator[None]:
    async with checks.slot(limiter, g, lambda _d: None):
        order.append(n)
        await release.wait()
        yield


async def take(checks: Checks, limiter: FailureLimiter, g: Guesser, order: list[int], n: int,
               release: asyncio.Event) -> None:
    async with holding(checks, limiter, g, order, n, release):
        pass


def test_a_check_with_no_slot_waits_at_most_max_wait_then_is_told_to_slow_down() -> None:
    async def run() -> tuple[ApiError, float]:
        clock = Clock()
        limiter = guessed(4, clock)                     # one failure left in the link's window: one check at once
        checks = Checks(sleep=clock.sleep, clock=clock, max_wait=10.0)
        release = asyncio.Event()
        holder = asyncio.create_task(take(checks, limiter, guesser(1), [], 1, release))   # a slow check
        await asyncio.sleep(0)
        start = clock.now
        with pytest.raises(ApiError) as e:
            await asyncio.wait_for(take(checks, limiter, guesser(2), [], 2, release), 5)
        waited = clock.now - start
        release.set()
        await holder
        assert checks.waiting() == 0 and not checks.inflight.counts()
        return e.value, waited

    err, waited = asyncio.run(run())
    assert (err.status, err.code) == (429, "slow_down") and int(err.headers["Retry-After"]) >= 1
    assert 10.0 <= waited < 10.5


def test_checks_get_their_turn_in_arrival_order() -> None:
    async def run() -> list[int]:
        clock = Clock()
        limiter = guessed(4, clock)                     # one failure left: one unknown check in flight
        checks = Checks(sleep=clock.sleep, clock=clock, max_wait=1e9)
        order: list[int] = []
        gates = {n: asyncio.Event() for n in range(1, 6)}
        tasks = [asyncio.create_task(take(checks, limiter, guesser(1), order, 1, gates[1]))]
        await asyncio.sleep(0)
        for n in range(2, 6):                           # four more arrive while the first holds the slot
            tasks.append(asyncio.create_task(take(checks, limiter, guesser(n), order, n, gates[n])))
            for _ in range(3):
                await asyncio.sleep(0)
        assert checks.waiting() == 4
        for n in range(1, 6):                           # each releases once it has entered
            while n not in order:
                await asyncio.sleep(0)
            gates[n].set()
        await asyncio.gather(*tasks)
        assert checks.waiting() == 0 and not checks.inflight.counts()
        return order

    assert asyncio.run(run()) == [1, 2, 3, 4, 5]


def test_waiting_checks_are_bounded_per_guesser_and_per_link() -> None:
    async def run() -> dict[str, object]:
        clock = Clock()
        limiter = guessed(4, clock)
        checks = Checks(sleep=clock.sleep, clock=clock, max_wait=1e9, max_waiting=100, max_waiting_per_link=3,
                        max_waiting_per_guesser=1)
        release = asyncio.Event()
        holder = asyncio.create_task(take(checks, limiter, guesser(1), [], 1, release))
        await asyncio.sleep(0)
        waiters = []
        for n in (2, 3, 4):
            waiters.append(asyncio.create_task(take(checks, limiter, guesser(n), [], n, release)))
            for _ in range(3):
                await asyncio.sleep(0)
        out: dict[str, object] = {"waiting": checks.waiting()}
        for label, g in (("same_guesser", guesser(2)), ("queue_full", guesser(9))):
            try:
                await take(checks, limiter, g, [], 0, release)
                out[label] = None
            except ApiError as e:
                out[label] = (e.status, e.code)
        out["still_waiting"] = checks.waiting()
        release.set()
        await asyncio.gather(holder, *waiters)
        out["after"] = (checks.waiting(), checks.inflight.counts())
        return out

    out = asyncio.run(run())
    assert out["waiting"] == 3
    assert out["same_guesser"] == (429, "slow_down"), "a guesser parked a second check"
    assert out["queue_full"] == (429, "slow_down"), "the queue grew past its bound"
    assert out["still_waiting"] == 3
    assert out["after"] == (0, {})


def test_a_known_guesser_never_queues_behind_unknown_ones() -> None:
    async def run() -> list[int]:
        clock = Clock()
        limiter = guessed(4, clock)
        checks = Checks(sleep=clock.sleep, clock=clock, max_wait=1e9)
        order: list[int] = []
        release = asyncio.Event()
        holder = asyncio.create_task(take(checks, limiter, guesser(1), order, 1, release))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(take(checks, limiter, guesser(2), order, 2, release))
        for _ in range(3):
            await asyncio.sleep(0)
        assert checks.waiting() == 1
        known = Guesser(LINK, "192.0.2.7", None, known_address=True)
        done = asyncio.Event()
        done.set()
        await take(checks, limiter, known, order, 7, done)        # straight in, past the queue
        release.set()
        await asyncio.gather(holder, waiting)
        assert checks.waiting() == 0
        return order

    assert asyncio.run(run()) == [1, 7, 2]


def test_an_office_behind_one_address_joining_at_once_waits_its_turn_instead_of_being_refused() -> None:
    """After a drain, everyone behind one NAT address asks again at the same moment (the soak saw 10 such
    joins refused `slow_down` when a guesser could have one waiting check only)."""
    async def run() -> tuple[list[int], list[object]]:
        clock = Clock()
        limiter = FailureLimiter(clock=clock)
        checks = Checks(sleep=clock.sleep, clock=clock, max_wait=1e9)
        office = Guesser(LINK, "198.51.100.1", None, known_address=True)
        order: list[int] = []
        release = asyncio.Event()
        tasks = [asyncio.create_task(take(checks, limiter, office, order, n, release)) for n in range(12)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert (len(order), checks.waiting()) == (5, 7)     # 5 checks in flight per guesser, the others wait
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return order, list(results)

    order, results = asyncio.run(run())
    assert results == [None] * 12 and order == list(range(12))
