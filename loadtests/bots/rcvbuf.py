"""Room in the bots' UDP receive buffers: every aiortc bot of a process shares one Python event loop, so a stall of
that loop (a collection of the bots' heap, a neighbour's burst of CPU) leaves each bot's socket to hold what the
node keeps sending. At the kernel's default (rmem_default, 208 KiB here) a bot receiving two publishers (~300 KB/s)
overflows after ~0.7 s, and the datagrams the kernel drops there would be counted as the node's loss. A browser
gets a socket of its own per peer connection and a thread that is never stalled by nine other participants.

`roomy_receive_buffers()` makes every ICE socket aioice gathers from then on ask for `size` bytes (SO_RCVBUFFORCE as
root, which may pass net.core.rmem_max; SO_RCVBUF up to rmem_max otherwise). It acts after aioice's own gathering,
which sets 256 KiB on each host socket right after creating it (a hook on the socket's creation is undone)."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import aioice.ice

RECEIVE_BUFFER = 4 * 1024 * 1024  # ~13 s of two publishers' media for one bot

_original = aioice.ice.Connection.get_component_candidates
_size = 0


async def _gathered(self: Any, component: int, addresses: list[str], timeout: int = 5) -> Any:
    candidates = await _original(self, component, addresses, timeout)
    for protocol in self._protocols:  # the host sockets just gathered (aioice keeps them there)
        sock = protocol.transport.get_extra_info("socket") if protocol.transport is not None else None
        if _size and sock is not None:
            grow(sock, _size)
    return candidates


def grow(sock: Any, size: int) -> int:
    """Asks for `size` bytes of receive buffer; returns what the kernel granted (it doubles the request)."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        with contextlib.suppress(OSError):  # not root (no CAP_NET_ADMIN): the capped form below
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def roomy_receive_buffers(size: int = RECEIVE_BUFFER) -> None:
    global _size
    _size = size
    aioice.ice.Connection.get_component_candidates = _gathered  # type: ignore[method-assign]
