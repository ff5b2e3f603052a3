"""A token bucket: `capacity` tokens, refilled at `rate` per second; a request costing more than what is in the
bucket is refused (and takes nothing), with the seconds after which it would pass."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self.at = clock()

    def take(self, cost: float) -> float:
        """0.0 when `cost` was taken; otherwise how many seconds until it would be (nothing is taken)."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if cost <= self.tokens:
            self.tokens -= cost
            return 0.0
        if cost > self.capacity:
            return float("inf")
        return (cost - self.tokens) / self.rate
