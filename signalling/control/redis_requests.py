"""The join-request token bucket (`ratelimit.RequestLimiter`'s policy: `burst` at once, then `rate` per second per
client address) on Redis, so several control-plane replicas behind one address give an address one budget, not
one per replica. One Lua script per request: refill, take, store (atomic); the bucket expires once full again.

Times come from the caller's clock (ARGV), like the password limiter's (redis_limiter.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    import redis

# KEYS[1] = bucket hash. ARGV: now, rate, burst. Returns the seconds to wait (as a string; "0": taken).
_TAKE = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens, last = tonumber(b[1] or ARGV[3]), tonumber(b[2] or ARGV[1])
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRequestLimiter:
    def __init__(self, client: redis.Redis, rate: float = 10.0, burst: float = 120.0,
                 clock: Callable[[], float] = time.time, prefix: str = "castellan:joinrate") -> None:
        import redis as redis_module

        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.prefix = prefix
        self._take: Any = client.register_script(_TAKE)  # Any: redis-py types replies loosely
        self._unavailable = (redis_module.exceptions.RedisError, OSError)

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait. Redis unreachable: a retryable 503 (fail closed)."""
        try:
            reply = self._take(keys=[f"{self.prefix}:{key}"], args=[repr(self.clock()), self.rate, self.burst])
        except self._unavailable as e:
            raise ApiError(503, "registry_unavailable",
                           "The service is briefly unavailable; please try again in a few seconds.",
                           headers={"Retry-After": "2"}) from e
        return float(reply)
