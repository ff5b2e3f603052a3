"""Password checks in flight per limiter key (guessing.py bounds them by the failures left in the key's window:
otherwise parallel guesses would all pass the check before the first failure is counted).

`LocalInFlight` counts in this process; `RedisInFlight` counts across control-plane replicas, so a guesser who
spreads parallel guesses over two replicas behind one address still gets no more checks at once than failures
remain. Each Redis slot is a member of a sorted set scored by its expiry, so the slots of a replica killed
mid-check free themselves after `ttl` instead of blocking the key for good.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ApiError

if TYPE_CHECKING:
    import redis

Key = tuple[str, str]


class InFlight(Protocol):
    def acquire(self, keys: list[Key], limits: list[int]) -> str | None:
        """Takes one slot on every key if each has fewer than its limit in flight; a slot token, or None."""
        ...

    def release(self, keys: list[Key], token: str) -> None: ...


class LocalInFlight:
    def __init__(self) -> None:
        self._count: dict[Key, int] = {}

    def acquire(self, keys: list[Key], limits: list[int]) -> str | None:
        if not all(self._count.get(k, 0) < n for k, n in zip(keys, limits, strict=True)):
            return None
        for k in keys:
            self._count[k] = self._count.get(k, 0) + 1
        return "local"

    def release(self, keys: list[Key], token: str) -> None:
        for k in keys:
            self._count[k] -= 1
            if not self._count[k]:
                del self._count[k]


# KEYS: one sorted set per limiter key. ARGV: now, ttl, slot id, then one limit per key. 1: taken, 0: full.
_ACQUIRE = """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, k in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if redis.call('ZCARD', k) >= tonumber(ARGV[3 + i]) then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, now + ttl, ARGV[3])
  redis.call('PEXPIRE', k, math.ceil(ttl * 1000))
end
return 1
"""


class RedisInFlight:
    def __init__(self, client: redis.Redis, ttl: float = 60.0, prefix: str = "castellan:inflight") -> None:
        import redis as redis_module

        self.redis: Any = client  # Any: redis-py types replies loosely
        self.ttl = ttl
        self.prefix = prefix
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._unavailable = (redis_module.exceptions.RedisError, OSError)

    def _keys(self, keys: list[Key]) -> list[str]:
        return [f"{self.prefix}:{scope}:{key}" for scope, key in keys]

    def acquire(self, keys: list[Key], limits: list[int]) -> str | None:
        token = secrets.token_hex(8)
        try:
            taken = self._acquire(keys=self._keys(keys), args=[repr(time.time()), self.ttl, token, *limits])
        except self._unavailable as e:
            raise ApiError(503, "registry_unavailable",
                           "The service is briefly unavailable; please try again in a few seconds.",
                           headers={"Retry-After": "2"}) from e
        return token if taken == 1 else None

    def release(self, keys: list[Key], token: str) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for k in self._keys(keys):
                pipe.zrem(k, token)
            pipe.execute()
        except self._unavailable:
            pass  # the slot expires after `ttl`
