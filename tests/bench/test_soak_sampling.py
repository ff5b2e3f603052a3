"""The soak's overflow readings (loadtests/soak/sampling.py): a socket whose receive buffer overflows shows its
drops, so a soak can tell loss inside its own bots' sockets from loss at the node."""

from __future__ import annotations

import os
import socket

from loadtests.soak.sampling import udp_drops, udp_rcvbuf_errors


def test_a_socket_that_overflows_is_counted_for_its_process_and_host_wide() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        rx.bind(("127.0.0.1", 0))
        before_host, before_mine = udp_rcvbuf_errors(), udp_drops(os.getpid()) or 0
        for _ in range(500):  # never read: the buffer (a few kB) overflows
            tx.sendto(b"x" * 1000, rx.getsockname())
        assert (udp_drops(os.getpid()) or 0) - before_mine > 400
        assert udp_rcvbuf_errors() - before_host > 400
    finally:
        rx.close()
        tx.close()
    assert (udp_drops(os.getpid()) or 0) <= before_mine  # a closed socket leaves the reading
