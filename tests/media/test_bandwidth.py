"""Transport-wide congestion control end to end on loopback, with real ICE/DTLS/SRTP peers (the bench's light
transport, `loadtests.bench.peer.BenchPeer`) that negotiate transport-cc the way Chrome does:

- a simulcast publisher (q/h/f layers, each packet with MID, RID and a transport-wide sequence number) gets
  well-formed transport-cc feedback from the node covering the packets it sent;
- subscribers answer the node's own transport sequence numbers with feedback after a simulated path — a FIFO
  bottleneck of a given capacity in front of the subscriber (queueing delay grows when the node sends more than
  it carries; a queue over 600 ms drops). Both start on the lowest layer and, probed first, climb to the top
  one; then one path is throttled: the node's estimate for that subscriber falls and its layer goes down,
  while the other subscriber's estimate stays high and keeps the top layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import struct
import time
from typing import Any

import pytest
import websockets

from loadtests.bench import sdp as bsdp
from loadtests.bench.peer import BenchPeer
from native.engine import SrtpSession
from sfu.allocation.layers import HEADROOM
from sfu.congestion.twcc import FeedbackBuilder
from sfu.feedback import rtcp
from sfu.metrics import metrics_endpoint
from sfu.negotiation.sdp import URI_ABS_SEND_TIME, URI_MID, URI_RID, URI_RRID, URI_TWCC
from tests.harness import RunningNode, running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(150)

EXT_MID, EXT_ABS, EXT_TWCC, EXT_RID, EXT_RRID = 4, 2, 5, 10, 11
VP8, RTX = 96, 97
LAYERS = (("q", 150_000), ("h", 400_000), ("f", 1_000_000))   # RID, bits per second
FPS = 30


def offer(peer: BenchPeer, direction: str, simulcast: bool) -> str:
    """A Chrome-like BUNDLE offer with one video m-line (mid 0) and transport-cc (extension + rtcp-fb)."""
    lines = [
        "v=0", f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
        "a=msid-semantic: WMS *",
        f"m=video 9 UDP/TLS/RTP/SAVPF {VP8} {RTX}", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{peer.ufrag}", f"a=ice-pwd:{peer.pwd}", f"a=fingerprint:sha-256 {peer.fingerprint}",
        "a=setup:actpass", "a=mid:0",
        f"a=extmap:{EXT_MID} {URI_MID}", f"a=extmap:{EXT_ABS} {URI_ABS_SEND_TIME}", f"a=extmap:{EXT_TWCC} {URI_TWCC}",
        f"a=extmap:{EXT_RID} {URI_RID}", f"a=extmap:{EXT_RRID} {URI_RRID}",
        f"a={direction}", "a=rtcp-mux", "a=rtcp-rsize", f"a=rtpmap:{VP8} VP8/90000",
        *(f"a=rtcp-fb:{VP8} {fb}" for fb in ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli")),
        f"a=rtpmap:{RTX} rtx/90000", f"a=fmtp:{RTX} apt={VP8}",
    ]
    if simulcast:
        lines += [f"a=msid:{peer.cname}-stream {peer.cname}-video"]
        lines += [f"a=rid:{rid} send" for rid, _ in LAYERS]
        lines += ["a=simulcast:send " + ";".join(rid for rid, _ in LAYERS)]
    return "\r\n".join(lines) + "\r\n"


class Signal:
    """One participant's WebSocket to the node (docs/protocol.md)."""

    def __init__(self, rn: RunningNode, name: str) -> None:
        self.rn, self.name = rn, name
        self.ws: Any = None
        self.joined: dict[str, Any] = {}

    async def join(self) -> None:
        self.ws = await websockets.connect(self.rn.ws_url)
        await self.ws.send(json.dumps({"type": "join", "token": self.rn.token(name=self.name)}))
        self.joined = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert self.joined["type"] == "joined", self.joined

    async def negotiate(self, sdp: str, subscriptions: dict[str, str]) -> bsdp.Transport:
        await self.ws.send(json.dumps({"type": "offer", "sdp": sdp, "subscriptions": subscriptions}))
        for _ in range(50):
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if msg["type"] == "answer":
                self.answer = msg["sdp"]
                return bsdp.parse_answer(msg["sdp"])
            assert msg["type"] != "error", msg
        raise AssertionError("no answer")

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


def vp8_payload(key: bool, first: bool, size: int) -> bytes:
    # RFC 7741 descriptor S=1 PID=0 on a frame's first packet; then the VP8 header byte (bit 0 = P: 0 = key)
    return bytes([0x10 if first else 0x00, 0x00 if key else 0x01]) + bytes(size - 2)


class TwccPublisher(BenchPeer):
    """Sends the three layers at their rates; reads the node's RTCP (transport-cc feedback, PLI)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ssrcs = [secrets.randbits(32) | 1 for _ in LAYERS]
        self.seqs = [secrets.randbits(15) for _ in LAYERS]
        self.twcc = secrets.randbits(16)
        self.sent_twcc: list[int] = []               # in send order
        self.feedback: list[rtcp.TransportCC] = []
        self.want_key = True
        self.rx: SrtpSession | None = None

    def offer(self) -> str:
        return offer(self, "sendonly", simulcast=True)

    def on_connected(self) -> None:
        assert self.keys is not None
        self.rx = SrtpSession(self.keys.profile, self.keys.rx_key, False)
        self._tasks.append(asyncio.create_task(self._run()))

    def on_media(self, data: bytes) -> None:
        if self.rx is None or not 192 <= data[1] <= 223:
            return
        for pkt in rtcp.parse_compound(self.rx.unprotect_rtcp(data)):   # raises if the node sent garbage
            if isinstance(pkt, rtcp.TransportCC):
                self.feedback.append(pkt)
            elif isinstance(pkt, rtcp.Pli | rtcp.Fir):
                self.want_key = True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        frame = 0
        while not self.closed and frame < FPS * 120:
            key, self.want_key = self.want_key or frame % (FPS * 2) == 0, False
            for i, (rid, bps) in enumerate(LAYERS):
                remaining = bps // 8 // FPS
                first = True
                while remaining > 0:
                    size = min(remaining, 1000)
                    remaining -= size
                    ext = (bytes([(EXT_MID << 4) | 0]) + b"0" + bytes([(EXT_RID << 4) | (len(rid) - 1)]) + rid.encode()
                           + bytes([(EXT_TWCC << 4) | 1]) + struct.pack("!H", self.twcc))
                    ext += bytes(-len(ext) % 4)
                    head = struct.pack("!BBHII", 0x90, (0x80 if remaining == 0 else 0) | VP8, self.seqs[i],
                                       (frame * 3000) & 0xFFFFFFFF, self.ssrcs[i])
                    head += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
                    assert self.tx is not None
                    self._send(self.tx.protect(head + vp8_payload(key, first, max(size, 2))))
                    self.sent_twcc.append(self.twcc)
                    self.seqs[i] = (self.seqs[i] + 1) & 0xFFFF
                    self.twcc = (self.twcc + 1) & 0xFFFF
                    first = False
            frame += 1
            await asyncio.sleep(max(0.0, t0 + frame / FPS - loop.time()))


class TwccSubscriber(BenchPeer):
    """Receives the video; answers transport seqs with feedback as seen behind a simulated bottleneck."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.capacity_bps: float | None = None       # None: an unlimited path
        self.free_at = 0.0                            # µs: when the bottleneck has sent what it holds
        self.builder = FeedbackBuilder(sender_ssrc=secrets.randbits(32) | 1)
        self.pending: list[tuple[int, int]] = []      # (transport seq, arrival µs) since the last feedback
        self.packets = self.dropped = self.padding = 0
        self.ssrcs: set[int] = set()

    def offer(self) -> str:
        return offer(self, "recvonly", simulcast=False)

    def on_connected(self) -> None:
        self._tasks.append(asyncio.create_task(self._feedback()))

    def on_media(self, data: bytes) -> None:
        if len(data) < 12 or 192 <= data[1] <= 223:
            return
        now = time.monotonic_ns() // 1000
        self.packets += 1
        self.ssrcs.add(int.from_bytes(data[8:12], "big"))
        if data[0] & 0x20 and (data[1] & 0x7F) == RTX:
            self.padding += 1
        # the header is clear under SRTP: find the node's transport seq (one-byte block)
        cc = data[0] & 0x0F
        off = 12 + 4 * cc
        if not data[0] & 0x10 or data[off:off + 2] != b"\xbe\xde":
            return
        end = off + 4 + 4 * int.from_bytes(data[off + 2:off + 4], "big")
        i = off + 4
        seq = None
        while i < end:
            if data[i] == 0:
                i += 1
                continue
            eid, length = data[i] >> 4, (data[i] & 0x0F) + 1
            if eid == EXT_TWCC and length == 2:
                seq = int.from_bytes(data[i + 1:i + 3], "big")
            i += 1 + length
        if seq is None:
            return
        arrival = now
        if self.capacity_bps:
            self.free_at = max(self.free_at, now) + len(data) * 8 * 1e6 / self.capacity_bps
            if self.free_at - now > 600_000:           # the bottleneck's buffer is full: tail drop
                self.free_at -= len(data) * 8 * 1e6 / self.capacity_bps
                self.dropped += 1
                return
            arrival = int(self.free_at)
        self.pending.append((seq, arrival))

    async def _feedback(self) -> None:
        while not self.closed:
            await asyncio.sleep(0.1)
            now = time.monotonic_ns() // 1000
            due = sorted((a, s) for s, a in self.pending if a <= now)      # what has left the bottleneck
            self.pending = [(s, a) for s, a in self.pending if a > now]
            if due:
                self.builder.add([(s, a) for a, s in due])
                packets = self.builder.build(media_ssrc=0)
                if packets:
                    self.send_rtcp(packets)


def _record_probes_and_steps(node: Any, subs: list[Any]) -> list[tuple[str, str, float, float]]:
    """From now on: each probe as it finishes ("probe", participant, its estimate before the result, 0) and each
    step up ("up", participant, its estimate then, the new layer's bitrate), in order (a probe's result may
    step its subscriber up at once)."""
    events: list[tuple[str, str, float, float]] = []
    prober = node.congestion.prober
    finish = prober.finish

    def finishing(p: Any, now: float) -> None:
        if p.downlink.probe is not None:
            events.append(("probe", p.id, float(p.downlink.estimate_bps or 0), 0.0))
        finish(p, now)

    prober.finish = finishing
    for sub in subs:
        def switching(want: Any, now: float, sub: Any = sub, begin: Any = sub.begin_switch) -> None:
            if sub.layer is not None and want.rank > sub.layer.rank:
                events.append(("up", sub.subscriber.id, float(sub.subscriber.downlink.estimate_bps or 0),
                               want.bitrate_bps))
            begin(want, now)

        sub.begin_switch = switching
    return events


async def _connect(peer: BenchPeer, sig: Signal, subscriptions: dict[str, str]) -> None:
    await sig.join()
    transport = await sig.negotiate(peer.offer(), subscriptions)
    await peer.connect(transport)


def test_transport_cc_feedback_estimates_probes_and_layers() -> None:
    async def run() -> dict[str, Any]:
        async with running_node() as rn:
            node = rn.node
            pub, pub_sig = TwccPublisher("pub"), Signal(rn, "pub")
            subs = [TwccSubscriber("free"), TwccSubscriber("throttled")]
            sigs = [Signal(rn, s.name) for s in subs]
            try:
                await _connect(pub, pub_sig, {})
                assert "transport-cc" in pub_sig.answer and URI_TWCC in pub_sig.answer
                p_pub = node.by_id[pub_sig.joined["participant"]]
                assert await wait_for(lambda: any(len(t.layers) == 3 for t in p_pub.published.values()), 10)
                track = next(iter(p_pub.published.values()))
                for s, sig in zip(subs, sigs, strict=True):
                    await _connect(s, sig, {"0": track.id})
                parts = [node.by_id[sig.joined["participant"]] for sig in sigs]
                sub_of = [next(iter(p.subscriptions.values())) for p in parts]
                assert await wait_for(lambda: all(s.packets > 50 for s in subs), 10), "no media to subscribers"
                assert all(sub.layer is not None and sub.layer.rank == 0 for sub in sub_of)

                # both climb to the top layer, each step after a probe, taken once the estimate covers it
                steps = _record_probes_and_steps(node, sub_of)
                climbed = await wait_for(lambda: all(s.layer is not None and s.layer.rank == 2 and s.target is None
                                                     for s in sub_of), 40, 0.2)
                steps = list(steps)
                at_top = [p.downlink.estimate_bps for p in parts]
                probes_before_throttle = dict(node.counts)

                # then the second subscriber's path narrows to 500 kb/s
                subs[1].capacity_bps = 500_000
                went_down = await wait_for(lambda: sub_of[1].layer is not None and sub_of[1].layer.rank < 2
                                           and (parts[1].downlink.estimate_bps or 0) < 500_000, 25, 0.2)
                await asyncio.sleep(2.0)
                metrics = metrics_endpoint(node)[1]().decode()
                return {
                    "metrics": metrics,
                    "climbed": climbed, "went_down": went_down, "at_top": at_top,
                    "final": [p.downlink.estimate_bps for p in parts], "layers": [s.layer.rank if s.layer else None for s in sub_of],
                    "counts": probes_before_throttle, "steps": steps, "stats": node.stats()["bandwidth"],
                    "padding": [s.padding for s in subs], "dropped": subs[1].dropped,
                    "feedback": list(pub.feedback), "sent_twcc": list(pub.sent_twcc),
                    "rx_twcc_state": node.engine.twcc_state(p_pub.peer),
                }
            finally:
                for peer in (pub, *subs):
                    peer.close()
                for sig in (pub_sig, *sigs):
                    await sig.close()

    r = asyncio.run(run())
    # the publisher got well-formed feedback about what it sent, in order, counted without gaps
    fbs = r["feedback"]
    assert len(fbs) > 50
    assert [f.fb_count for f in fbs] == [(fbs[0].fb_count + i) & 0xFF for i in range(len(fbs))]
    sent = set(r["sent_twcc"])
    reported = {seq for f in fbs for seq, received, _ in f.packets if received}
    assert reported <= sent
    covered = r["sent_twcc"][:len(r["sent_twcc"]) * 3 // 4]
    assert len(reported & set(covered)) >= 0.99 * len(set(covered)), "feedback missed packets that arrived"
    assert r["rx_twcc_state"][2] == 0                 # the arrival log never overflowed
    # the subscribers' estimates came from their transport-cc feedback, and probes preceded the upgrades
    assert r["climbed"], (r["layers"], r["at_top"], r["counts"])
    # Steps up (q -> h -> f, or q -> f at once when the probes' climb already covers f: issue 14), none of which
    # the estimate covers before a probe: the estimate cannot grow past what is sent (1.5 x acked + 10 kb/s) on
    # its own. Each step comes after a probe for that subscriber, and is taken when its estimate covers the layer
    # (bitrate <= estimate x HEADROOM). Whether the
    # probe alone cleared its bar (probe_succeeded) is not the property: a probe that measured 474 kb/s for a bar
    # of 474 kb/s counts as failed, yet raised the estimate, whose own growth covered the step on the next
    # feedback.
    assert r["counts"]["probes"] >= 4, r["counts"]
    assert len({w for _, w, _, _ in r["steps"]}) == 2, r["steps"]
    for who in {w for _, w, _, _ in r["steps"]}:
        mine = [(kind, est, rate) for kind, w, est, rate in r["steps"] if w == who]
        ups, probed = 0, False
        for kind, est, rate in mine:
            if kind == "probe":
                probed = True
                continue
            assert probed and rate <= est * HEADROOM, (who, mine)
            ups, probed = ups + 1, False
        assert ups >= 1, (who, mine)
    assert all(n > 0 for n in r["padding"])
    assert all(e is not None and e > 1_000_000 for e in r["at_top"]), r["at_top"]
    # throttled: its estimate fell under the bottleneck and its layer went down; the other kept the top
    assert r["went_down"], (r["layers"], r["final"])
    assert r["final"][1] < 500_000 < r["final"][0], r["final"]
    assert r["layers"][0] == 2 and r["layers"][1] < 2, r["layers"]
    assert r["stats"]["transport_cc"] >= 2 and r["stats"]["probes"] >= 4
    assert 'castellan_bandwidth_estimate_bps{node="' in r["metrics"] and 'quantile="0.5"' in r["metrics"]
    assert "castellan_bandwidth_probes_total{" in r["metrics"]
