"""The node's receipts (residency/receipts.py): for each meeting it carries, what it forwarded and when, signed
with the node's own enrolled key and sent to the control plane's `POST /v1/receipts`.

Counts come from the engine's per-subscription counters (packets and octets forwarded to each subscriber),
sampled every second: the growth since the last sample is added to the meeting's totals, and a growth marks
the last packet time (the first growth, the first packet time). A subscription removed between two samples
takes at most its last second of packets with it, so receipts may undercount, never overcount. Participants are
every participant id seen in the meeting. The node forwards to participants only (no node-to-node relay yet),
so `relays` is empty.

A receipt is issued FIRST_RECEIPT seconds after the meeting's first forwarded packet and then every `interval`
(an hour) while the meeting runs (`interim`), and when the meeting leaves the node (`final`: its last
participant left, or the node shuts down). The early first one means a node that later dies without a word
(SIGKILL, power loss) has still attested that it carried the meeting. Unsent receipts are retried every
sample, at most MAX_PENDING kept (oldest dropped, counted): a control plane that is down delays them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency import receipts as rc
from sfu.node import Node

log = logging.getLogger("castellan.receipts")
HOUR = 3600.0
FIRST_RECEIPT = 5.0
MAX_PENDING = 1000


@dataclass
class Meeting:
    tenant: str
    name: str
    participants: set[str] = field(default_factory=set)
    packets: int = 0
    bytes: int = 0
    first_packet: int = 0
    last_packet: int = 0
    seq: int = 0
    issued_at: float = 0.0
    last: dict[tuple[str, str, int], tuple[int, int]] = field(default_factory=dict)  # subscription -> counters


def http_sender(control_plane_url: str, context: ssl.SSLContext | None = None,
                timeout: float = 5.0) -> Callable[[dict[str, object]], bool]:
    """POSTs one receipt; True once the control plane has it (logged now or before)."""
    url = control_plane_url.rstrip("/") + "/v1/receipts"

    def send(doc: dict[str, object]) -> bool:
        req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as r:  # noqa: S310 - configured
                return bool(200 <= r.status < 300)
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:  # refused for good (its key not enrolled, say): retrying changes nothing
                log.error("receipt refused by the control plane: HTTP %d %s", e.code, e.read()[:200])
                return True
            return False
        except OSError:
            return False
    return send


class ReceiptLedger:
    def __init__(self, node: Node, key: Ed25519PrivateKey, region: str, jurisdiction: Callable[[], str | None],
                 send: Callable[[dict[str, object]], bool], clock: Callable[[], float] = time.time,
                 interval: float = HOUR, first_after: float = FIRST_RECEIPT) -> None:
        self.node = node
        self.key = key
        self.region = region
        self.jurisdiction = jurisdiction  # the region's, as the registry publishes it
        self.send = send
        self.clock = clock
        self.interval = interval
        self.first_after = first_after
        self.meetings: dict[tuple[str, str], Meeting] = {}
        self.pending: list[dict[str, object]] = []
        self.dropped = 0
        self.sent = 0

    def sample(self) -> None:
        """(On the event loop.) Counters into the meetings' totals; receipts for meetings gone (final) or due (interim)."""
        now = self.clock()
        engine = self.node.media_engine
        for key, room in list(self.node.rooms.items()):
            m = self.meetings.get(key)
            if m is None:
                m = self.meetings[key] = Meeting(tenant=room.tenant, name=room.name, issued_at=now)
            grew = False
            last: dict[tuple[str, str, int], tuple[int, int]] = {}  # the subscriptions there now (issue 18)
            for p in list(room.participants.values()):
                m.participants.add(p.id)
                for mid, sub in list(p.subscriptions.items()):
                    skey = (p.id, mid, sub.index)
                    packets, octets = m.last.get(skey, (0, 0))
                    st = engine.subscription_stats(sub.index)
                    if st is None:
                        if skey in m.last:
                            last[skey] = (packets, octets)
                        continue
                    if st[0] < packets:  # the engine slot was reused: a new subscription
                        packets, octets = 0, 0
                    last[skey] = (st[0], st[1])
                    if st[0] > packets:
                        m.packets += st[0] - packets
                        m.bytes += st[1] - octets
                        grew = True
            m.last = last  # an ended subscription's counters go with it: a day-long meeting's churn stays bounded
            if grew:
                m.first_packet = m.first_packet or int(now)
                m.last_packet = int(now)
            due = self.first_after if m.seq == 0 else self.interval
            if m.packets and now - (m.issued_at if m.seq else m.first_packet) >= due:
                self._issue(m, "interim", now)
        for key in [k for k in self.meetings if k not in self.node.rooms]:
            self.finish(key, now)

    def finish(self, key: tuple[str, str], now: float | None = None) -> None:
        m = self.meetings.pop(key, None)
        if m is not None and m.packets:
            self._issue(m, "final", self.clock() if now is None else now)

    def close(self) -> None:
        """The node stops: a final receipt for every meeting it still carries, sent now."""
        self.sample()
        for key in list(self.meetings):
            self.finish(key)
        self.flush()

    def _issue(self, m: Meeting, kind: str, now: float) -> None:
        jurisdiction = self.jurisdiction()
        if jurisdiction is None:
            log.error("no jurisdiction for region %s in the registry: receipt of %s/%s not issued", self.region,
                      m.tenant, m.name)
            return
        m.seq += 1
        m.issued_at = now
        receipt = rc.Receipt(meeting=m.name, tenant=m.tenant, node=self.node.config.node_id, key_id="",
                             region=self.region, jurisdiction=jurisdiction, first_packet=m.first_packet,
                             last_packet=m.last_packet, participants=len(m.participants), packets=m.packets,
                             bytes=m.bytes, relays=(), kind=kind, seq=m.seq, issued_at=int(now))
        self.pending.append(rc.sign(receipt, self.key).to_dict())
        if len(self.pending) > MAX_PENDING:
            self.pending.pop(0)
            self.dropped += 1

    def flush(self) -> None:
        while self.pending:
            if not self.send(self.pending[0]):
                return
            self.pending.pop(0)
            self.sent += 1

    async def run(self, period: float = 1.0) -> None:
        """Sample every `period` on the event loop (which owns the rooms); sending runs in a worker thread."""
        while True:
            await asyncio.sleep(period)
            try:
                self.sample()
                if self.pending:
                    await asyncio.to_thread(self.flush)
            except Exception:  # noqa: BLE001 - keep sampling; the next round retries
                log.exception("receipt sampling failed")
