"""Failed-password limiter: per guesser (client address, device), with a link-wide signal that never blocks.

Policy (each (scope, key) counted on its own): at most `max_failures` (5) failed passwords in a `window` (60 s).
The failure that reaches the limit starts a strike: `base_backoff * 2**(strikes-1)` (60 s, 120 s, 240 s ...);
after `lock_after` strikes the key is *locked* for `lock_seconds` (1 h) — listed for the admin, who can clear it.
Strikes are forgotten after `forget_after` seconds without a failure.

What a strike does depends on the scope:

* a guesser (`client` address, `device` cookie, `known` = an address on a link it entered correctly before) is
  blocked: every attempt is refused before the password is checked, so a correct password after the limit waits;
* a `link` only signals (SIGNAL_SCOPES): guessing from everyone together slows *unknown* guessers on that link
  (`delay`: 1 s, 2 s, then 4 s per check while it lasts, with at most as many checks in flight as failures
  remain), shows in `lockout list` and in `castellan_link_guessing{tenant}` — and never refuses anyone: a link
  locked for everyone would hand any attacker who has seen it the power to shut the meeting.

`remember`/`known` keep who entered a link correctly (`known_for`, 12 h): such an address or device is judged
by its own record only, never slowed or blocked by what others did.
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
    slow_base: float = 1.0  # a link under guessing: added seconds per unknown guesser's check, doubling per strike
    slow_max: float = 4.0
    known_for: float = 12 * 3600.0  # a correct entry keeps its address/device known on that link this long

    def delay(self, strikes: int) -> float:
        """The slowdown of a link with this many strikes (0: none)."""
        return 0.0 if strikes <= 0 else min(self.slow_max, self.slow_base * 2 ** (strikes - 1))


SIGNAL_SCOPES = frozenset({"link"})  # counted and listed, never blocking


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
    scope: str  # "link", "client", "device" or "known"
    key: str
    tenant: str
    locked: bool
    strikes: int
    retry_after: int  # seconds the block (or, for a link, the slowdown) still lasts
    recent_failures: int
    delay: float = 0.0  # a link's slowdown per unknown guesser's check

    @property
    def effect(self) -> str:
        return "slowdown" if self.scope in SIGNAL_SCOPES else "block"

    def to_dict(self) -> JSONObject:
        return {
            "scope": self.scope,
            "key": self.key,
            "tenant": self.tenant,
            "locked": self.locked,
            "strikes": self.strikes,
            "retry_after": self.retry_after,
            "recent_failures": self.recent_failures,
            "effect": self.effect,
            "delay": self.delay,
        }


class Limiter(Protocol):
    """What the join flow needs; `FailureLimiter` (one process) and `RedisFailureLimiter` (shared) provide it."""

    policy: LimitPolicy

    def check(self, keys: list[tuple[str, str]]) -> None:
        """Raises `Blocked` (the longest wait) if a guesser key is backed off or locked; signal scopes never."""
        ...

    def failure(self, keys: list[tuple[str, str]], tenant: str = "") -> list[tuple[str, str, bool]]: ...

    def success(self, keys: list[tuple[str, str]]) -> None:
        """Forgets these keys' failures (the caller passes only keys the guesser alone controls)."""
        ...

    def strikes(self, scope: str, key: str) -> int:
        """Strikes of a key whose back-off or lock still runs (0 when none runs)."""
        ...

    def remember(self, markers: list[str]) -> None:
        """Records correct entries (e.g. `link address`), each known for `policy.known_for` seconds."""
        ...

    def known(self, markers: list[str]) -> list[bool]: ...

    def remaining(self, scope: str, key: str) -> int:
        """Failures still allowed in the current window before the back-off starts."""
        ...

    def lockouts(self, tenant: str | None = None, scope: str | None = None) -> list[Lockout]: ...

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
        self._known: dict[str, float] = {}
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
                e = None if scope in SIGNAL_SCOPES else self._entry(scope, key, now)
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

    def success(self, keys: list[tuple[str, str]]) -> None:
        with self._lock:
            for k in keys:
                self._entries.pop(k, None)

    def strikes(self, scope: str, key: str) -> int:
        now = self.clock()
        with self._lock:
            e = self._entry(scope, key, now)
            return e.strikes if e is not None and now < e.blocked_until else 0

    def remember(self, markers: list[str]) -> None:
        now = self.clock()
        with self._lock:
            if len(self._known) > 100_000:
                self._known = {m: t for m, t in self._known.items() if t > now}
            for m in markers:
                self._known[m] = now + self.policy.known_for

    def known(self, markers: list[str]) -> list[bool]:
        now = self.clock()
        with self._lock:
            return [self._known.get(m, 0.0) > now for m in markers]

    def remaining(self, scope: str, key: str) -> int:
        with self._lock:
            e = self._entry(scope, key, self.clock())
            return self.policy.max_failures - (len(e.failures) if e is not None else 0)

    def lockouts(self, tenant: str | None = None, scope: str | None = None) -> list[Lockout]:
        """Keys currently backed off, locked or slowed (or carrying strikes), optionally only a tenant's/scope's."""
        now = self.clock()
        out = []
        with self._lock:
            for s, key in list(self._entries):
                if scope is not None and s != scope:
                    continue
                e = self._entry(s, key, now)
                if e is None or (e.strikes == 0 and now >= e.blocked_until):
                    continue
                if tenant is not None and e.tenant != tenant:
                    continue
                wait = max(0, int(e.blocked_until - now + 0.999))
                delay = self.policy.delay(e.strikes) if s in SIGNAL_SCOPES and wait else 0.0
                out.append(Lockout(s, key, e.tenant, e.locked, e.strikes, wait, len(e.failures), delay))
        return out

    def clear(self, scope: str, key: str, tenant: str | None = None) -> bool:
        with self._lock:
            e = self._entries.get((scope, key))
            if e is None or (tenant is not None and e.tenant != tenant):
                return False
            del self._entries[(scope, key)]
            return True


class RequestBucket(Protocol):
    """Join requests per client address: `RequestLimiter` (one process) or `RedisRequestLimiter` (shared)."""

    clock: Callable[[], float]

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        ...


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
