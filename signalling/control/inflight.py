"""Password checks in flight per limiter key (guessing.py bounds them by the failures left in the key's window:
otherwise parallel guesses would all pass the check before the first failure is counted).

`LocalInFlight` counts in this process; `RedisInFlight` counts across control-plane replicas, so a guesser who
spreads parallel guesses over two replicas behind one address still gets no more checks at once than failures
remain. Its script reads the failures left (and a running block) from the Redis limiter's own hashes in the same
atomic step that takes the slot: with the limit read separately, a failure counted on the other replica between
the read and the take would let one more check through. Each slot is a member of a sorted set scored by its
expiry, so the slots of a replica killed mid-check free themselves after `ttl` instead of blocking the key.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ApiError

if TYPE_CHECKING:
    import redis

    from .redis_limiter import RedisFailureLimiter

Key = tuple[str, str]


class InFlight(Protocol):
    def acquire(self, keys: list[Key], limits: list[int]) -> str | None:
        """Takes one slot on every key if each has fewer than its limit in flight; a slot token, or None."""
        ...

    def release(self, keys: list[Key], token: str) -> None: ...


class LocalInFlight:
    def __init__(self) -> None:
        self._count: dict[Key, int] = {}

    def counts(self) -> dict[Key, int]:
        return dict(self._count)

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


# KEYS: per limiter key, its in-flight sorted set then the limiter's failure hash. ARGV: now, ttl, slot id, window,
# max_failures, then per key "1" when its scope blocks (a running back-off refuses the slot). 1: taken, 0: not.
_ACQUIRE = """
local now, ttl, window, maxf = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n = #KEYS / 2
for i = 1, n do
  local z, h = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local e = redis.call('HMGET', h, 'fails', 'blocked_until')
  if ARGV[5 + i] == '1' and tonumber(e[2] or '0') > now then return 0 end
  local failed = 0
  for t in string.gmatch(e[1] or '', '[^,]+') do
    if now - tonumber(t) <= window then failed = failed + 1 end
  end
  if redis.call('ZCARD', z) >= maxf - failed then return 0 end
end
for i = 1, n do
  redis.call('ZADD', KEYS[2 * i - 1], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[2 * i - 1], math.ceil(ttl * 1000))
end
return 1
"""


class RedisInFlight:
    """Slots beside `limiter`'s entries (same Redis); the limits passed to `acquire` are ignored: the script
    reads the failures left itself."""

    def __init__(self, client: redis.Redis, limiter: RedisFailureLimiter, ttl: float = 60.0,
                 prefix: str = "castellan:inflight") -> None:
        import redis as redis_module

        self.redis: Any = client  # Any: redis-py types replies loosely
        self.limiter = limiter
        self.ttl = ttl
        self.prefix = prefix
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._unavailable = (redis_module.exceptions.RedisError, OSError)

    def _keys(self, keys: list[Key]) -> list[str]:
        return [f"{self.prefix}:{scope}:{key}" for scope, key in keys]

    def acquire(self, keys: list[Key], limits: list[int]) -> str | None:
        from .ratelimit import SIGNAL_SCOPES

        token = secrets.token_hex(8)
        redis_keys = [k for pair in zip(self._keys(keys), (self.limiter.entry_key(*k) for k in keys), strict=True)
                      for k in pair]
        p = self.limiter.policy
        blocking = ["0" if scope in SIGNAL_SCOPES else "1" for scope, _ in keys]
        try:
            taken = self._acquire(keys=redis_keys, args=[repr(self.limiter.clock()), self.ttl, token, p.window,
                                                         p.max_failures, *blocking])
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
