"""The machine's own wake-up latency, measured next to the node: `python -m loadtests.bench.wakeprobe SECONDS`
prints its UDP port, then blocks in recvmsg and records kernel arrival (SO_TIMESTAMPNS) -> running in user
space for each datagram, until a b"stop" datagram or SECONDS pass; prints {"hist": {µs: count}}.

The node's latency histogram starts at the same kernel timestamp, so on a busy machine its p99 includes this
scheduling delay before the node even runs; the probe shows how much of it the machine alone costs."""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def main(argv: list[str]) -> int:
    limit = float(argv[0]) if argv else 60.0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    hist: dict[int, int] = {}
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            data, anc, _flags, _addr = s.recvmsg(64, 64)
        except TimeoutError:
            continue
        now = time.time_ns()
        if data == b"stop":
            break
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("qq", value[:16])
                us = max(0, (now - (sec * 1_000_000_000 + nsec)) // 1000)
                hist[us] = hist.get(us, 0) + 1
    print(json.dumps({"hist": hist}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
