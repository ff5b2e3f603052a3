"""The datagrams the engine does not forward itself, handed to the duty they concern (RFC 7983 demux is done
natively; these are its control outcomes): STUN and DTLS → connectivity, RTCP → the feedback router, RTP on an
SSRC not yet announced → publications (which learn SSRCs and simulcast layers from MID/RID). A handler's
exception is a counted drop (`handler_error`), never the end of the loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from native.constants import EV_DTLS, EV_RTCP, EV_STUN, EV_UNKNOWN_SSRC
from native.interface import Event

if TYPE_CHECKING:
    from sfu.node import Node

log = logging.getLogger("castellan.node")


class Demux:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.arrived: float | None = None  # the batch being dispatched: when the media thread received it

    def on_readable(self) -> None:
        """The media port is readable and no media thread runs: the engine forwards, then hands up the rest."""
        try:
            events = self.node.media_engine.poll()
        except Exception:  # noqa: BLE001 - the loop must survive anything
            log.exception("engine poll failed")
            return
        self.dispatch(events)

    def deliver(self, events: list[Event], arrived: float) -> None:
        """A batch the media thread handed over, stamped when it did (time.monotonic()): a busy loop may run this
        much later, and consent must judge a check by its arrival (`arrived` while the batch is dispatched)."""
        self.arrived = arrived
        try:
            self.dispatch(events)
        finally:
            self.arrived = None

    def dispatch(self, events: list[Event]) -> None:
        """Control datagrams from the engine (on the event loop)."""
        node = self.node
        if node.engine is None:
            return
        for kind, peer, addr, data in events:
            try:
                if kind == EV_STUN:
                    node.connectivity.on_stun(data, addr)
                elif kind == EV_DTLS:
                    node.connectivity.on_dtls(peer, data)
                elif kind == EV_RTCP:
                    node.rtcp.on_rtcp(peer, data)
                elif kind == EV_UNKNOWN_SSRC:
                    node.publications.on_unknown_ssrc(peer, data)
            except Exception:  # noqa: BLE001 - one bad datagram must never hurt others
                node.control_drops["handler_error"] += 1
                log.exception("control datagram handler failed (kind %s)", kind)
