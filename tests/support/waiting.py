"""Bounded waits: `wait_until` (plain code, threads) and `wait_for` (coroutines), with the same rules.

Both ask `predicate()` every `interval` seconds until it returns something truthy, and return that value. When
`timeout` seconds have passed they ask once more, then:
  - without `message`: return that last (falsy) value, so the caller asserts with its own message;
  - with `message`: raise `TimeoutError("<message>: still not true after <timeout> s (last value ..., last error
    ...)")`.
Exceptions of the types in `ignore` mean "not yet" (a server still starting: `ignore=(OSError,)`); any other
exception propagates at once. `wait_for` also takes a coroutine function as predicate (an async HTTP check).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

Predicate = Callable[[], Any]
Errors = tuple[type[BaseException], ...]


class _Attempt:
    """One predicate's last value and last ignored error, for the timeout message."""

    def __init__(self, predicate: Predicate, ignore: Errors) -> None:
        self.predicate = predicate
        self.ignore = ignore
        self.value: Any = None
        self.error: BaseException | None = None

    def __call__(self) -> Any:
        try:
            self.value = self.predicate()
            self.error = None
        except self.ignore as e:
            self.value, self.error = None, e
        return self.value

    async def awaited(self) -> Any:
        """__call__, awaiting the predicate's answer when it is awaitable."""
        try:
            value = self.predicate()
            self.value = await value if inspect.isawaitable(value) else value
            self.error = None
        except self.ignore as e:
            self.value, self.error = None, e
        return self.value

    def give_up(self, timeout: float, message: str | None) -> Any:
        if message is None:
            return self.value
        last = f"last error {self.error!r}" if self.error is not None else f"last value {self.value!r}"
        raise TimeoutError(f"{message}: still not true after {timeout:g} s ({last})")


def wait_until(predicate: Predicate, timeout: float = 10.0, interval: float = 0.05, *,
               ignore: Errors = (), message: str | None = None) -> Any:
    """Polls `predicate` (see the module's docstring) with time.sleep between attempts."""
    attempt = _Attempt(predicate, ignore)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if attempt():
            return attempt.value
        time.sleep(interval)
    return attempt() or attempt.give_up(timeout, message)


async def wait_for(predicate: Predicate, timeout: float = 10.0, interval: float = 0.05, *,
                   ignore: Errors = (), message: str | None = None) -> Any:
    """Polls `predicate` (see the module's docstring) with asyncio.sleep between attempts: the event loop runs."""
    attempt = _Attempt(predicate, ignore)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await attempt.awaited():
            return attempt.value
        await asyncio.sleep(interval)
    return await attempt.awaited() or attempt.give_up(timeout, message)
