"""Gives the heap's free memory back to the kernel after sessions end (glibc `malloc_trim`).

A session's Python and OpenSSL state is freed when it leaves, but glibc keeps freed chunks inside its heap:
only the top of the heap is returned, so memory freed below a live allocation stays resident, and a node's RSS
rose by ~80-100 KB per publisher session in the soak (issue 18) although its live heap did not grow (heaptrack).
`malloc_trim(0)` also releases free pages inside the heap (madvise). It runs from the ticker, at most every
`interval` seconds and only after a session ended; it walks the heap (milliseconds on a node's), and the media
thread does not allocate per packet. Without glibc (musl) it does nothing.

Before the trim, a full cyclic collection (`collect`): what reference counting cannot free — uvicorn's HTTP
connections (protocol, parser and transport hold each other), urllib's responses on the revocation poll — waits
for the collector's generation 2, which on a node's heap of >100,000 long-lived objects runs only every tens of
sessions; meanwhile its native memory (OpenSSL, libuv) stays allocated, the trim cannot return it, and the
next session's allocations land above it. The node freezes what it built at start (`gc.freeze()` in
`Node.start`), so this collection walks only what came after: sessions, connections, garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

log = logging.getLogger("castellan.node")

TRIM_INTERVAL = 30.0  # seconds between two trims at most


def glibc_trim() -> Callable[[], object] | None:
    """libc's malloc_trim(0), or None where there is none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return lambda: fn(0)


class HeapTrim:
    def __init__(self, trim: Callable[[], object] | None, interval: float = TRIM_INTERVAL,
                 collect: Callable[[], object] | None = gc.collect) -> None:
        self._trim = trim
        self.collect = collect
        self.interval = interval
        self._pending = False
        self._last = float("-inf")
        self.trims = 0

    def session_ended(self) -> None:
        self._pending = True

    @property
    def pending(self) -> bool:
        """A session ended since the last trim."""
        return self._pending

    def tick(self, now: float) -> bool:
        """Trims if a session ended since the last trim and `interval` has passed; True when it trimmed."""
        if self._trim is None or not self._pending or now - self._last < self.interval:
            return False
        self._pending = False
        self._last = now
        if self.collect is not None:
            self.collect()
        self._trim()
        self.trims += 1
        return True
