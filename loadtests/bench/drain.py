"""Destinations for the floor: `python -m loadtests.bench.drain N SECONDS` binds N UDP sockets on 127.0.0.1,
prints their ports as one JSON line, then drains them (recvmmsg in C, through a peerless native Engine per
socket, so the drain keeps up with the floor) until stdin closes or SECONDS pass; prints the count received."""

from __future__ import annotations

import json
import select
import socket
import sys
import time

from native.engine import Engine


def main(argv: list[str]) -> int:
    n, limit = int(argv[0]), float(argv[1])
    socks, engines = [], {}
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
        engines[s.fileno()] = Engine(s.fileno(), 1, 1, 1, False)
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
    ep.register(sys.stdin.fileno(), select.EPOLLIN | select.EPOLLHUP)
    print(json.dumps([s.getsockname()[1] for s in socks]), flush=True)
    end = time.monotonic() + limit
    done = False
    while not done and time.monotonic() < end:
        for fd, _ev in ep.poll(0.2):
            if fd == sys.stdin.fileno():
                done = True
                continue
            engines[fd].poll(64)
    for e in engines.values():
        e.poll(64)
    print(json.dumps({"received": sum(e.counters()["rx_packets"] for e in engines.values())}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
