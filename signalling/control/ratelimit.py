"""Failed-password limiter, per meeting link and per client address.

Policy (each scope counted on its own): at most `max_failures` (5) failed passwords in a `window` (60 s). The
failure that reaches the limit starts a back-off of `base_backoff * 2**(strikes-1)` (60 s, 120 s, 240 s ...);
after `lock_after` strikes the key is *locked* for `lock_seconds` (1 h) — listed for the admin, who can clear it.
While backed off or locked every attempt is refused before the password is even checked, so a correct password
after the limit still waits. Strikes are forgotten after `forget_after` seconds without a failure.

A success clears a client address's record (a typo, then the right password) but never a link's: otherwise
each legitimate join would reset an attacker's budget on that link.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .jsontypes import JSONObject


@dataclass(frozen=True)
class LimitPolicy:
    max_failures: int = 5
    window: float = 60.0
    base_backoff: float = 60.0
    lock_after: int = 3
    lock_seconds: float = 3600.0
    forget_after: float = 3600.0


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    strikes: int = 0
    blocked_until: float = 0.0
    locked: bool = False
    last_failure: float = 0.0
    tenant: str = ""


@dataclass(frozen=True)
class Lockout:
    scope: str  # "link" or "client"
    key: str
    tenant: str
    locked: bool
    strikes: int
    retry_after: int
    recent_failures: int

    def to_dict(self) -> JSONObject:
        return {
            "scope": self.scope,
            "key": self.key,
            "tenant": self.tenant,
            "locked": self.locked,
            "strikes": self.strikes,
            "retry_after": self.retry_after,
            "recent_failures": self.recent_failures,
        }


class Limiter(Protocol):
    """What the join flow needs; `FailureLimiter` (one process) and `RedisFailureLimiter` (shared) provide it."""

    def check(self, keys: list[tuple[str, str]]) -> None: ...

    def failure(self, keys: list[tuple[str, str]], tenant: str = "") -> list[tuple[str, str, bool]]: ...

    def success(self, client_key: tuple[str, str]) -> None: ...

    def remaining(self, scope: str, key: str) -> int:
        """Failures still allowed in the current window before the back-off starts."""
        ...

    def lockouts(self, tenant: str | None = None) -> list[Lockout]: ...

    def clear(self, scope: str, key: str, tenant: str | None = None) -> bool: ...


class Blocked(Exception):
    def __init__(self, scope: str, retry_after: int, locked: bool) -> None:
        super().__init__(scope)
        self.scope = scope
        self.retry_after = max(1, retry_after)
        self.locked = locked


class FailureLimiter:
    def __init__(self, policy: LimitPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or LimitPolicy()
        self.clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, scope: str, key: str, now: float) -> _Entry | None:
        e = self._entries.get((scope, key))
        if e is None:
            return None
        if e.locked and now >= e.blocked_until:
            e.locked = False
            e.strikes = 0
        if not e.locked and e.last_failure and now - e.last_failure > self.policy.forget_after:
            del self._entries[(scope, key)]
            return None
        while e.failures and now - e.failures[0] > self.policy.window:
            e.failures.popleft()
        return e

    def check(self, keys: list[tuple[str, str]]) -> None:
        """Raises `Blocked` (with the longest wait) if any of the keys is backed off or locked."""
        now = self.clock()
        worst: Blocked | None = None
        with self._lock:
            for scope, key in keys:
                e = self._entry(scope, key, now)
                if e is not None and now < e.blocked_until:
                    b = Blocked(scope, int(e.blocked_until - now + 0.999), e.locked)
                    if worst is None or b.retry_after > worst.retry_after:
                        worst = b
        if worst is not None:
            raise worst

    def failure(self, keys: list[tuple[str, str]], tenant: str = "") -> list[tuple[str, str, bool]]:
        """Records a failed password; returns the keys that just became backed off, with `locked`."""
        now = self.clock()
        tripped: list[tuple[str, str, bool]] = []
        p = self.policy
        with self._lock:
            for scope, key in keys:
                e = self._entry(scope, key, now) or self._entries.setdefault((scope, key), _Entry())
                e.tenant = e.tenant or tenant
                e.failures.append(now)
                e.last_failure = now
                if len(e.failures) >= p.max_failures:
                    e.failures.clear()
                    e.strikes += 1
                    if e.strikes >= p.lock_after:
                        e.locked = True
                        e.blocked_until = now + p.lock_seconds
                    else:
                        e.blocked_until = now + p.base_backoff * 2 ** (e.strikes - 1)
                    tripped.append((scope, key, e.locked))
        return tripped

    def success(self, client_key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(client_key, None)

    def remaining(self, scope: str, key: str) -> int:
        with self._lock:
            e = self._entry(scope, key, self.clock())
            return self.policy.max_failures - (len(e.failures) if e is not None else 0)

    def lockouts(self, tenant: str | None = None) -> list[Lockout]:
        """Keys currently backed off or locked (or carrying strikes), optionally only a tenant's."""
        now = self.clock()
        out = []
        with self._lock:
            for (scope, key), _ in list(self._entries.items()):
                e = self._entry(scope, key, now)
                if e is None or (e.strikes == 0 and now >= e.blocked_until):
                    continue
                if tenant is not None and e.tenant != tenant:
                    continue
                out.append(
                    Lockout(scope, key, e.tenant, e.locked, e.strikes, max(0, int(e.blocked_until - now + 0.999)), len(e.failures))
                )
        return out

    def clear(self, scope: str, key: str, tenant: str | None = None) -> bool:
        with self._lock:
            e = self._entries.get((scope, key))
            if e is None or (tenant is not None and e.tenant != tenant):
                return False
            del self._entries[(scope, key)]
            return True


class RequestLimiter:
    """A token bucket per client address for join requests of any outcome: `burst` at once, then `rate` per
    second. Generous on purpose (a whole office behind one NAT joins a town hall at once); it only stops floods.
    """

    def __init__(self, rate: float = 10.0, burst: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            if len(self._buckets) > 100_000:
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / self.rate}
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
