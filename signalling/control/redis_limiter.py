"""The failed-password limiter on Redis, for several control-plane processes: the same policy as
`ratelimit.FailureLimiter` (see there), kept in one Redis hash per (scope, key) and changed by Lua scripts, so
a guesser gets five guesses a minute in total, not five per process; correct entries (`remember`) are keys with
a TTL, and each scope has its own index set (listing the links under guessing never walks every address).

Times come from the caller's clock (ARGV), not Redis's, so every process applies the same policy arithmetic.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .errors import ApiError
from .ratelimit import SIGNAL_SCOPES, Blocked, LimitPolicy, Lockout

if TYPE_CHECKING:
    import redis

P = ParamSpec("P")
R = TypeVar("R")

# KEYS[1] = entry hash. ARGV: now, window, max_failures, base_backoff, lock_after, lock_seconds, forget_after, tenant
_FAILURE = """
local now = tonumber(ARGV[1])
local window, maxf = tonumber(ARGV[2]), tonumber(ARGV[3])
local base, lock_after, lock_s, forget = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local e = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #e, 2 do h[e[i]] = e[i + 1] end
local strikes = tonumber(h.strikes or '0')
local blocked = tonumber(h.blocked_until or '0')
local locked = h.locked == '1'
local last = tonumber(h.last_failure or '0')
if locked and now >= blocked then locked = false; strikes = 0 end
if not locked and last > 0 and now - last > forget then strikes = 0; h.fails = '' end
local fails = {}
for t in string.gmatch(h.fails or '', '[^,]+') do
  if now - tonumber(t) <= window then table.insert(fails, t) end
end
table.insert(fails, ARGV[1])
local tripped = 0
if #fails >= maxf then
  fails = {}
  strikes = strikes + 1
  if strikes >= lock_after then
    locked = true
    blocked = now + lock_s
  else
    blocked = now + base * 2 ^ (strikes - 1)
  end
  tripped = 1
end
redis.call('HSET', KEYS[1], 'fails', table.concat(fails, ','), 'strikes', strikes, 'blocked_until', blocked,
           'locked', locked and '1' or '0', 'last_failure', ARGV[1])
if not h.tenant or h.tenant == '' then redis.call('HSET', KEYS[1], 'tenant', ARGV[8]) end
redis.call('PEXPIRE', KEYS[1], math.floor((forget + lock_s) * 1000))
return {tripped, locked and 1 or 0}
"""


def _fail_closed(
    method: Callable[Concatenate[RedisFailureLimiter, P], R],
) -> Callable[Concatenate[RedisFailureLimiter, P], R]:
    """Redis unreachable: refuse (503, retryable) rather than check a password without the limiter."""

    @functools.wraps(method)
    def wrapper(self: RedisFailureLimiter, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except self.unavailable as e:
            raise ApiError(503, "registry_unavailable",
                           "The service is briefly unavailable; please try again in a few seconds.",
                           headers={"Retry-After": "2"}) from e

    return wrapper


class RedisFailureLimiter:
    def __init__(
        self,
        client: redis.Redis,
        policy: LimitPolicy | None = None,
        clock: Callable[[], float] = time.time,
        prefix: str = "castellan:pwlimit",
    ) -> None:
        # Any: redis-py types replies as "Awaitable or anything" (one type for its sync and async clients)
        self.redis: Any = client
        self.policy = policy or LimitPolicy()
        self.clock = clock
        self.prefix = prefix
        self._failure = client.register_script(_FAILURE)
        import redis

        self.unavailable: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)

    def _key(self, scope: str, key: str) -> str:
        return f"{self.prefix}:{scope}:{key}"

    def entry_key(self, scope: str, key: str) -> str:
        """The Redis hash of one (scope, key) entry (inflight.RedisInFlight reads its failures)."""
        return self._key(scope, key)

    def _index(self, scope: str) -> str:
        """One set of keys per scope, so listing the links under guessing never walks every attacker address."""
        return f"{self.prefix}:index:{scope}"

    def _blocked_for(self, h: dict[bytes, bytes], now: float) -> tuple[float, bool]:
        blocked = float(h.get(b"blocked_until", b"0"))
        return blocked - now, h.get(b"locked") == b"1"

    @_fail_closed
    def check(self, keys: list[tuple[str, str]]) -> None:
        now = self.clock()
        keys = [(scope, key) for scope, key in keys if scope not in SIGNAL_SCOPES]
        pipe = self.redis.pipeline(transaction=False)
        for scope, key in keys:
            pipe.hgetall(self._key(scope, key))
        worst: Blocked | None = None
        for (scope, _), h in zip(keys, pipe.execute() if keys else [], strict=True):
            wait, locked = self._blocked_for(h, now)
            if wait > 0:
                b = Blocked(scope, int(wait + 0.999), locked)
                if worst is None or b.retry_after > worst.retry_after:
                    worst = b
        if worst is not None:
            raise worst

    @_fail_closed
    def failure(self, keys: list[tuple[str, str]], tenant: str = "") -> list[tuple[str, str, bool]]:
        p = self.policy
        tripped = []
        for scope, key in keys:
            redis_key = self._key(scope, key)
            hit, locked = self._failure(keys=[redis_key], args=[
                repr(self.clock()), p.window, p.max_failures, p.base_backoff, p.lock_after, p.lock_seconds,
                p.forget_after, tenant])
            index = self._index(scope)
            self.redis.sadd(index, key)  # lockouts() drops members whose hash expired; the set itself expires
            self.redis.pexpire(index, int((p.forget_after + p.lock_seconds) * 1000))  # with the last of them
            if hit:
                tripped.append((scope, key, bool(locked)))
        return tripped

    @_fail_closed
    def remaining(self, scope: str, key: str) -> int:
        now = self.clock()
        fails = (self.redis.hget(self._key(scope, key), "fails") or b"").decode().split(",")
        return self.policy.max_failures - sum(1 for f in fails if f and now - float(f) <= self.policy.window)

    @_fail_closed
    def success(self, keys: list[tuple[str, str]]) -> None:
        if keys:
            self.redis.delete(*(self._key(*k) for k in keys))

    @_fail_closed
    def strikes(self, scope: str, key: str) -> int:
        blocked, locked, strikes = self.redis.hmget(self._key(scope, key), "blocked_until", "locked", "strikes")
        if blocked is None or float(blocked) <= self.clock():
            return 0
        return int(strikes or 0)

    def _marker(self, marker: str) -> str:
        return f"{self.prefix}:known:{marker}"

    @_fail_closed
    def remember(self, markers: list[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for m in markers:
            pipe.set(self._marker(m), b"1", px=int(self.policy.known_for * 1000))
        pipe.execute()

    @_fail_closed
    def known(self, markers: list[str]) -> list[bool]:
        if not markers:
            return []
        return [v is not None for v in self.redis.mget([self._marker(m) for m in markers])]

    @_fail_closed
    def lockouts(self, tenant: str | None = None, scope: str | None = None) -> list[Lockout]:
        now = self.clock()
        out = []
        for s in [scope] if scope is not None else ["link", "client", "device", "known"]:
            for member in self.redis.smembers(self._index(s)):
                key = member.decode()
                h = self.redis.hgetall(self._key(s, key))
                if not h:
                    self.redis.srem(self._index(s), member)
                    continue
                wait, locked = self._blocked_for(h, now)
                strikes = int(h.get(b"strikes", b"0"))
                if locked and wait <= 0:
                    locked, strikes = False, 0
                owner = h.get(b"tenant", b"").decode()
                if (strikes == 0 and wait <= 0) or (tenant is not None and owner != tenant):
                    continue
                fails = [f for f in h.get(b"fails", b"").decode().split(",")
                         if f and now - float(f) <= self.policy.window]
                delay = self.policy.delay(strikes) if s in SIGNAL_SCOPES and wait > 0 else 0.0
                out.append(Lockout(s, key, owner, locked, strikes, max(0, int(wait + 0.999)), len(fails), delay))
        return out

    @_fail_closed
    def clear(self, scope: str, key: str, tenant: str | None = None) -> bool:
        redis_key = self._key(scope, key)
        owner = self.redis.hget(redis_key, "tenant")
        if owner is None or (tenant is not None and owner.decode() != tenant):
            return False
        self.redis.delete(redis_key)
        self.redis.srem(self._index(scope), key)
        return True
