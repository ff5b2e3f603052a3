"""What a soak samples from /proc, and the least-squares slope of a series.

RSS is VmRSS from /proc/<pid>/status (resident memory, kB), descriptors are the entries of /proc/<pid>/fd: the
same numbers `ps` and `ls /proc/<pid>/fd` give an operator. Linux only, like the nodes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence


def rss_kb(pid: int) -> int | None:
    """VmRSS of `pid` in kB; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def open_fds(pid: int) -> int | None:
    """Number of open descriptors of `pid`; None once the process is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def udp_drops(pid: int) -> int | None:
    """Datagrams the kernel dropped on `pid`'s open UDP sockets (receive buffer full), over each socket's life:
    the `drops` column of /proc/<pid>/net/udp{,6} for the socket inodes among its descriptors. Loss a bot counts
    while its own socket overflowed is the harness's, not the node's."""
    by_inode = udp_drops_by_inode(pid)
    return None if by_inode is None else sum(by_inode.values())


def udp_drops_by_inode(pid: int) -> dict[int, int] | None:
    """`udp_drops` per socket: inode (os.fstat(fd).st_ino) -> datagrams dropped; None once `pid` is gone."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        out: dict[int, int] = {}
        for table in ("udp", "udp6"):
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and cols[9] in inodes:
                        out[int(cols[9])] = out.get(int(cols[9]), 0) + int(cols[12])
        return out
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def udp_rcvbuf_errors() -> int:
    """The host's UDP receive-buffer overflows since boot (/proc/net/snmp `RcvbufErrors`): on a quiet machine,
    the soak's processes."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    header, values = rows[0], rows[1]
    return int(values[header.index("RcvbufErrors")])


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs (None with fewer than 3 points or no spread in xs)."""
    n = len(xs)
    if n < 3 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def growth_per_hour(ts: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares growth of `values` over `ts` (seconds), in percent of their mean per hour."""
    s = slope(ts, values)
    if s is None or not values:
        return None
    mean = sum(values) / len(values)
    return None if mean <= 0 else s * 3600.0 / mean * 100.0


class LoopLag:
    """How late the bots' own event loop wakes up: every participant's aiortc runs on it, and aioice gives a consent
    check 0.5 s for its answer (six misses in a row close the peer connection). A bot that loses its connection
    while this stayed far below 0.5 s lost it to the node, not to a starved harness."""

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.worst = 0.0  # seconds, since the last take()
        self.stalls = 0  # wake-ups later than 0.5 s, since the last take()

    async def run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(self.period)
            late = time.monotonic() - t - self.period
            self.worst = max(self.worst, late)
            if late > 0.5:
                self.stalls += 1

    def take(self) -> tuple[float, int]:
        out = (self.worst, self.stalls)
        self.worst, self.stalls = 0.0, 0
        return out
