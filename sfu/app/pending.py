"""Sockets that have not joined yet, counted per client address and in total: a socket that has not shown a
token costs the node memory (up to one buffered message) and a task, so an address — or everyone together — may
hold only so many at once. An IPv6 client counts per /64, the block one subscriber usually has."""

from __future__ import annotations

import ipaddress
from collections import Counter


def address_key(host: str | None) -> str:
    """The unit a pre-join cap applies to: an IPv4 address, an IPv6 /64, or the host string as given."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class PendingConnections:
    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total_limit = total
        self.by_address: Counter[str] = Counter()
        self.total = 0

    def admit(self, key: str) -> str | None:
        """Takes a slot for `key`; None when admitted, else the refusal's error code."""
        if self.by_address[key] >= self.per_address:
            return "too_many_connections"
        if self.total >= self.total_limit:
            return "node_busy"
        self.by_address[key] += 1
        self.total += 1
        return None

    def release(self, key: str) -> None:
        n = self.by_address[key] - 1
        if n > 0:
            self.by_address[key] = n
        else:
            del self.by_address[key]
        self.total -= 1
