"""Consent checks the way a browser makes them, for bots that share one event loop.

aioice sends a consent check every ~5 s and counts it failed unless its answer is read within 0.5 s (one try, no
retransmission); six failures in a row close the connection. A subscribing bot's answer waits in its socket behind
the media the node sent before it (the bots' 4 MiB receive buffers hold ~13 s of it, `rcvbuf.py`), so while the
bots' shared loop runs behind by more than 0.5 s every check "fails" although the node answered each one: in the
soak of 2026-12-06 21:30 (CI and six engineers' suites on the same 2 cores, the bots' loop up to 1 s late) all
eight subscribers closed their connections within 5 s of each other while the node still counted their checks
(it paused them 30 s later, when the checks stopped). The publishers, whose sockets receive little, kept theirs.

RFC 7675 §5.1 asks for consent to expire after 30 s *without a response*; Chrome keeps a check's transaction and
takes a late answer. `browser_like_consent()` makes the bots do that: each check is retransmitted as STUN does
(0.5, 1, 2, 4 s: an answer to any copy counts) and the connection closes only when no check was answered for
CONSENT_TIMEOUT seconds. The node is held to the same rule it was: it answers every copy, and a retransmitted
check (same transaction, same address) does not refresh its side of consent (sfu/transport/ice.py).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aioice.ice
from aioice import stun

CONSENT_TIMEOUT = 30.0  # RFC 7675 §5.1
CHECK_RETRANSMISSIONS = 3  # a check waits up to 0.5 + 1 + 2 + 4 = 7.5 s for its answer

_original = aioice.ice.Connection.query_consent


async def _query_consent(self: Any) -> None:
    assert self.remote_password is not None
    answered = time.monotonic()
    in_flight: set[asyncio.Task[Any]] = set()

    async def check(pair: Any) -> None:
        nonlocal answered
        request = self.build_request(pair, nominate=False)
        try:
            await pair.protocol.request(request, pair.remote_addr,
                                        integrity_key=self.remote_password.encode("utf8"),
                                        retransmissions=CHECK_RETRANSMISSIONS)
            answered = time.monotonic()
        except stun.TransactionError:
            pass

    try:
        while True:
            await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
            if time.monotonic() - answered > CONSENT_TIMEOUT:
                self._Connection__log_info("Consent to send expired")
                self._query_consent_task = None
                return await self.close()  # type: ignore[no-any-return]
            for pair in self._nominated.values():
                task = asyncio.ensure_future(check(pair))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
    finally:
        for task in in_flight:
            task.cancel()


def browser_like_consent() -> None:
    aioice.ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]


def aioice_consent() -> None:
    """Back to aioice's own checks."""
    aioice.ice.Connection.query_consent = _original  # type: ignore[method-assign]
