"""The client's address behind reverse proxies: which `X-Forwarded-For` entry to believe.

The rule is nginx's realip (`set_real_ip_from` + `real_ip_recursive on`) and Envoy's `xff_num_trusted_hops`:

* the header counts only when the TCP peer is itself a trusted proxy (its address is in `trusted`); a client
  that reaches the control plane directly gets its own address, whatever it writes in the header;
* the header is read from the right: each proxy appends the address it received the request from, so the
  rightmost entries are the trusted proxies' and everything to the left of them is what the client wrote;
* `hops` > 0 (Envoy): exactly that many proxies append in front of the control plane, so the client is the
  `hops`-th entry from the right (an Ingress controller alone: 1; a load balancer or CDN in front of it: 2);
* `hops` == 0 (nginx, recursive): walk left while the entry is in `trusted`; the first one that is not is the
  client (all trusted: the leftmost).

Fewer entries than expected, or an entry that is not an IP address (`unknown`, a host name, junk): the walk
stops at the last address a trusted proxy vouched for. Several header lines are one list, in order (RFC 9110).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# where a reverse proxy in front of the control plane usually is: loopback, RFC 1918, shared (CGNAT, used by some
# Kubernetes pod networks), IPv6 unique-local. A deployment that knows its proxies' ranges names them instead.
PRIVATE_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "::1/128",
                    "fc00::/7")
MAX_ENTRIES = 64  # entries read from the right; a longer header is the client's own padding


def parse_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 192.0.2.7"` or a list of such: CIDRs or single addresses. Raises ValueError, naming the bad one."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {item!r}") from None
    return tuple(out)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`;
    IPv4-mapped IPv6 becomes IPv4. None for anything else."""
    s = text.strip().strip('"')
    if s.startswith("["):
        s = s[1:].partition("]")[0]
    elif s.count(":") == 1:  # IPv4 with a port (IPv6 has at least two colons)
        s = s.partition(":")[0]
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@dataclass(frozen=True)
class ForwardedRule:
    trusted: tuple[Network, ...] = ()
    hops: int = 1

    def __post_init__(self) -> None:
        if self.hops < 0:
            raise ValueError("forwarded hops must be 0 (walk the trusted networks) or more")

    def is_trusted(self, addr: Address) -> bool:
        return any(addr.version == net.version and addr in net for net in self.trusted)

    def client(self, peer: str, forwarded_for: Sequence[str]) -> str:
        """The client's address for a request from `peer` carrying these X-Forwarded-For header lines."""
        current = parse_address(peer)
        if current is None:
            return peer[:64] or "unknown"
        if not self.trusted or not self.is_trusted(current) or not forwarded_for:
            return str(current)
        entries = ",".join(forwarded_for).split(",")[-MAX_ENTRIES:]
        steps = 0
        for raw in reversed(entries):
            if self.hops and steps >= self.hops:
                break
            if not self.hops and not self.is_trusted(current):
                break
            nxt = parse_address(raw)
            if nxt is None:
                break
            current = nxt
            steps += 1
        return str(current)
