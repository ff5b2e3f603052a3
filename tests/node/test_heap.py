"""The node gives freed heap memory back after sessions end (sfu/heap.py, issue 18 soak): when it trims, and
that glibc's malloc_trim really returns memory freed below live allocations (in a process of its own)."""

from __future__ import annotations

import json
import subprocess
import sys

from sfu.heap import HeapTrim, glibc_trim

FRAGMENTED = r"""
import json
from sfu.heap import glibc_trim

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

big, small = [], []
for i in range(400):                 # 400 x 64 KiB on the heap (below the mmap threshold), each followed by
    big.append(bytearray(64 * 1024))  # a small allocation that stays: nothing freed is at the heap's top
    small.append(bytearray(1024))
before = rss()
big.clear()
freed = rss()
glibc_trim()()
print(json.dumps({"before": before, "freed": freed, "trimmed": rss()}))
"""


def test_a_trim_follows_an_ended_session_at_most_every_interval() -> None:
    calls: list[int] = []
    heap = HeapTrim(lambda: calls.append(1), interval=30.0)
    assert not heap.tick(100.0), "nothing ended: no trim"
    heap.session_ended()
    assert heap.tick(100.0) and len(calls) == 1
    heap.session_ended()
    assert not heap.tick(110.0), "within the interval"
    assert heap.tick(130.0) and len(calls) == 2
    assert not heap.tick(200.0), "nothing ended since"
    assert heap.trims == 2


def test_the_cyclic_garbage_is_collected_before_each_trim() -> None:
    """What only the collector frees (ended sessions' HTTP connections) must be free when the trim runs, or the
    trim cannot return its pages (tests/node/test_session_memory.py has the node's side)."""
    calls: list[str] = []
    heap = HeapTrim(lambda: calls.append("trim"), interval=30.0, collect=lambda: calls.append("collect"))
    heap.session_ended()
    assert heap.pending
    assert heap.tick(100.0)
    assert calls == ["collect", "trim"] and not heap.pending
    assert not heap.tick(200.0) and calls == ["collect", "trim"], "nothing ended since: neither"


def test_without_malloc_trim_nothing_happens() -> None:
    heap = HeapTrim(None)
    heap.session_ended()
    assert not heap.tick(1e9)


def test_malloc_trim_returns_memory_freed_below_live_allocations() -> None:
    assert glibc_trim() is not None, "this platform's libc has no malloc_trim"
    out = json.loads(subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True, text=True,
                                    timeout=60, check=True).stdout)
    held = out["before"] - out["trimmed"]
    assert out["freed"] - out["trimmed"] > 16 * 1024, f"trim gave back little: {out}"   # KiB, of 25 MiB freed
    assert held > 0
