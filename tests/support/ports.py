"""Free ports on an address, picked by the kernel (bind to port 0), for servers a test starts itself.

A port is free when it is picked; another process can take it before the test's server binds it. Where that
matters, retry the start (tests/fixtures/redis.py does) or let the server bind port 0 and report its port.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

TCP = socket.SOCK_STREAM
UDP = socket.SOCK_DGRAM


def free_port(host: str = "127.0.0.1", kind: int = TCP) -> int:
    """One free port on `host`: TCP by default, `kind=UDP` (socket.SOCK_DGRAM) for UDP."""
    return free_ports(1, host, kind)[0]


def free_ports(count: int, host: str = "127.0.0.1", kind: int = TCP) -> list[int]:
    """`count` distinct free ports on `host` (all held at once while picking, so none is picked twice)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, kind))
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
        return ports
