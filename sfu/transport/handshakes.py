"""DTLS handshake steps off the event loop (issue 14, "joins never starve the node").

A handshake step — the ECDHE key, the ECDSA signature, the check of the browser's certificate — costs about
3 ms of OpenSSL; on the event loop a join storm of hundreds made that a second of stalls in which heartbeats,
consent and media timers waited. pyOpenSSL releases the GIL inside OpenSSL, so a step on a thread of its own
runs on another core while the loop goes on.

One session's records are stepped one at a time, in arrival order (a record waits while its session's previous
step runs); at most MAX_WAITING records wait per session — a peer flooding handshake records gets the rest
counted as dropped (`dtls_queue_full`), never a growing queue. The thread touches only its session's OpenSSL
object; what the handshake sends is collected and sent from the loop, which also installs the keys, so the
engine is only ever called from the loop. Ticker retransmissions skip a session whose step is under way.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sfu.transport.dtls import DtlsSession, SrtpKeys

log = logging.getLogger("castellan.node")

MAX_WAITING = 16  # records queued for one session while its step runs (a flight is a handful)


@dataclass
class Handshake:
    """One participant's DTLS session as the worker drives it."""

    session: DtlsSession
    outgoing: list[bytes]  # what the session sent since the last flush (the session's `send` appends here)
    waiting: collections.deque[bytes] = field(default_factory=collections.deque)
    busy: bool = False  # a step is on the thread: the loop must not touch the session
    closed: bool = False  # the participant left: nothing more is stepped (a running step's session closes after)


Done = Callable[[Handshake, SrtpKeys | None], None]  # on the loop, after each step: keys when it completed


class Handshakes:
    def __init__(self, threads: int = 1) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dtls")
        self.steps = 0  # steps run on the thread

    @staticmethod
    def new(session_factory: Callable[[Callable[[bytes], object]], DtlsSession]) -> Handshake:
        """A handshake whose session sends into its `outgoing` list."""
        outgoing: list[bytes] = []
        return Handshake(session_factory(outgoing.append), outgoing)

    def feed(self, h: Handshake, data: bytes, done: Done) -> bool:
        """Queues a record of `h`'s handshake; False if it was dropped (too many waiting, or closed)."""
        if h.closed or len(h.waiting) >= MAX_WAITING:
            return False
        h.waiting.append(data)
        if not h.busy:
            self._next(h, done)
        return True

    def _next(self, h: Handshake, done: Done) -> None:
        data = h.waiting.popleft()
        h.busy = True
        self.steps += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, h.session.feed, data)
        future.add_done_callback(lambda f: self._stepped(h, f, done))

    def _stepped(self, h: Handshake, future: asyncio.Future[SrtpKeys | None], done: Done) -> None:
        h.busy = False
        if h.closed:  # its participant left while the step ran: nothing goes out any more
            h.waiting.clear()
            h.session.close()
            h.outgoing.clear()
            return
        keys: SrtpKeys | None = None
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:  # a bug, not the peer's bad record (feed catches those): fail this session only
            log.error("DTLS step failed: %r", error)
            h.session.state = "failed"
            h.session.error = "DTLS handshake failed (internal error)"
        else:
            keys = future.result()
        done(h, keys)
        if h.waiting and h.session.state not in ("failed", "closed"):
            self._next(h, done)
        else:
            h.waiting.clear()

    def close(self, h: Handshake) -> None:
        """The participant left: close now (its close_notify is left in `outgoing` for the caller to send), or
        once the running step returns."""
        h.closed = True
        if not h.busy:
            h.waiting.clear()
            h.session.close()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
