"""Cascade benchmark (issue 14): what a relay costs the publisher's node per remote node, in CPU and bandwidth,
and the latency a participant on node B sees for a publisher on node A compared with one on A itself.

    python -m loadtests.bench.cascade [--relays 0,1,2,3] [--local 5] [--remote 5] [--duration 5] [--warmup 1]

Each node is a real engine (`native.threaded.ThreadedEngine`) serving its own loopback UDP socket on its own
media thread, as in a node process; relays are engine peers keyed by the real relay handshake
(residency/relay.py, AEAD_AES_256_GCM), carrying one copy per remote node. One publisher sends VP8-sized video
(1,100-byte payloads, 400 packets/s, ~3.6 Mb/s) and Opus (50 packets/s); A has `--local` subscribers, each remote
node `--remote`. Per row: A's media-thread CPU (its own /proc schedstat over the measurement window) and per
forwarded packet (a relay is one more copy of each packet: its cost is about that figure times the stream's
packet rate), the CPU added per relay against the row without relays of the same run, the bytes per second on each link (what the
remote node's socket received, SRTP included), loss at every subscriber, and latency publisher -> subscriber
(send to decrypt, same process clock) for one subscriber on A and one on each remote node. The machine's load
average is printed with the table: on a shared machine, compare rows of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from native import reference as ref
from native.constants import CODEC_OPUS, CODEC_VP8
from native.threaded import ThreadedEngine
from residency.identity import NodeSigner, enrolled_key, public_text
from residency.model import Node
from residency.relay import RelayEndpoint, RelayKeys

VIDEO_PPS, AUDIO_EVERY = 400, 8  # video packets per second; one audio packet per this many video packets
VIDEO_PAYLOAD, AUDIO_PAYLOAD = 1100, 120
KEYFRAME_EVERY = 200
VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
VP8_DELTA = bytes([0x10, 0x31, 0x04, 0x00])
SUB_KEY_LEN = 30  # AES_CM_128_HMAC_SHA1_80 on the participants' legs


def relay_pairs(count: int) -> list[tuple[RelayKeys, RelayKeys]]:
    """`count` real handshakes a (eu-1) <-> b_i (eu-2): enrolled keys, signed registry records."""
    keys, records, eps = {}, {}, {}
    names = [("a", "eu-1")] + [(f"b{i}", "eu-2") for i in range(count)]
    now = time.time()
    for node_id, region in names:
        k = Ed25519PrivateKey.generate()
        ek = enrolled_key(region, public_text(k), actor="bench", at=now)
        keys[ek.key_id] = ek
        records[node_id] = NodeSigner(k).sign(Node(node_id, region, "127.0.0.1", 0, "ws://x", "http://x"), now)
        eps[node_id] = RelayEndpoint(node_id, region, k)
    out = []
    for i in range(count):
        pending = eps["a"].offer("bench", "room", f"b{i}", now)
        accept, kb = eps[f"b{i}"].accept(pending.offer, keys=keys, nodes=records, allowed={"eu-1", "eu-2"}, now=now)
        out.append((eps["a"].finish(pending, accept, keys=keys, nodes=records, allowed={"eu-1", "eu-2"}, now=now), kb))
    return out


def _thread_cpu(tid: int) -> float:
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (FileNotFoundError, ValueError):
        return 0.0


class EngineNode:
    """One node's engine on its own socket and media thread."""

    def __init__(self, peers: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.engine = ThreadedEngine(self.sock.fileno(), max_peers=peers, max_tracks=4, max_subs=2 * peers)
        self.tid = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="bench-media")

    def _serve(self) -> None:
        self.tid = threading.get_native_id()
        self._ready.set()
        self.engine.serve(lambda events: None)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def cpu(self) -> float:
        return _thread_cpu(self.tid)

    def stop(self) -> None:
        self.engine.stop_serving()
        self._thread.join(5)
        self.sock.close()


@dataclass
class Receivers:
    """Every subscriber socket, read by one thread: packet counts, and latencies of the probe sockets."""

    socks: list[socket.socket] = field(default_factory=list)
    probes: dict[int, Any] = field(default_factory=dict)  # socket index -> SRTP session (decrypting)
    counts: list[int] = field(default_factory=list)
    latencies: dict[int, list[int]] = field(default_factory=dict)
    record: bool = False

    def add(self, probe_key: bytes | None) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        if probe_key is not None:
            self.probes[len(self.socks)] = ref.srtp_session(1, probe_key, outbound=False)
            self.latencies[len(self.socks)] = []
        self.socks.append(s)
        self.counts.append(0)
        return s

    def run(self, stop: threading.Event) -> None:
        sel = selectors.DefaultSelector()
        for i, s in enumerate(self.socks):
            sel.register(s, selectors.EVENT_READ, i)
        while not stop.is_set():
            for key, _ in sel.select(0.05):
                i = key.data
                while True:
                    try:
                        data = self.socks[i].recv(2048)
                    except BlockingIOError:
                        break
                    now = time.perf_counter_ns()
                    self.counts[i] += 1
                    session = self.probes.get(i)
                    if session is not None and self.record and data[1] & 0x7F == 96:
                        plain = session.unprotect(data)
                        info = ref.parse_rtp(plain)
                        if info is not None:
                            off = info[9] + 4  # after the VP8 descriptor
                            (sent,) = struct.unpack_from("!Q", plain, off)
                            self.latencies[i].append(now - sent)
        sel.close()

    def close(self) -> None:
        for s in self.socks:
            s.close()


@dataclass
class Row:
    relays: int
    local: int
    remote: int
    seconds: float
    a_cpu_pct: float            # node A's media thread, % of one core
    a_forwarded_pps: float
    a_us_per_packet: float      # A's media-thread CPU per forwarded packet (local copies and relay copies alike)
    a_rx_mbps: float            # what the publisher sends A
    link_mbps: float            # per relay: what each remote node's socket received (SRTP on the link included)
    b_cpu_pct: float            # a remote node's media thread, average over the remote nodes
    added_cpu_pct_per_relay: float | None
    lost: int
    expected: int
    local_p50_us: float | None
    local_p99_us: float | None
    relay_p50_us: float | None
    relay_p99_us: float | None
    load: float


def _pct(values: list[int], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] / 1000, 1)


def rtp(ssrc: int, seq: int, ts: int, payload: bytes, pt: int, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def run_row(relays: int, local: int, remote: int, duration: float, warmup: float) -> Row:
    pairs = relay_pairs(relays)
    a = EngineNode(1 + local + relays)
    bs = [EngineNode(1 + remote) for _ in range(relays)]
    rx = Receivers()
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    up_key = os.urandom(SUB_KEY_LEN)
    ea = a.engine
    ea.add_peer(0)
    ea.set_peer_address(0, *pub.getsockname())
    ea.set_peer_srtp(0, 1, up_key, os.urandom(SUB_KEY_LEN))
    ea.add_track(0, 0, 0x1111, CODEC_VP8, 90000)
    ea.add_track(1, 0, 0x2222, CODEC_OPUS, 48000)
    sub = 0

    def subscriber(engine: ThreadedEngine, peer: int, probe: bool, first_sub: int) -> None:
        key = os.urandom(SUB_KEY_LEN)
        s = rx.add(key if probe else None)
        engine.add_peer(peer)
        engine.set_peer_address(peer, *s.getsockname())
        engine.set_peer_srtp(peer, 1, os.urandom(SUB_KEY_LEN), key)
        engine.add_subscription(first_sub, 0, peer, 0x7000 + peer, 96)
        engine.add_subscription(first_sub + 1, 1, peer, 0x8000 + peer, 111)

    local_probe = 0
    for i in range(local):
        subscriber(ea, 1 + i, i == 0, sub)
        sub += 2
    remote_probes = []
    for r, (ka, kb) in enumerate(pairs):
        peer = 1 + local + r
        b = bs[r]
        ea.add_peer(peer)
        ea.set_peer_address(peer, *b.addr)
        ea.set_peer_srtp(peer, ka.profile, ka.receive, ka.send)
        ea.add_subscription(sub, 0, peer, 0x5000 + 2 * r, 96)
        ea.add_subscription(sub + 1, 1, peer, 0x5001 + 2 * r, 111)
        sub += 2
        eb = b.engine
        eb.add_peer(0)
        eb.set_peer_address(0, *a.addr)
        eb.set_peer_srtp(0, kb.profile, kb.receive, kb.send)
        eb.add_track(0, 0, 0x5000 + 2 * r, CODEC_VP8, 90000)
        eb.add_track(1, 0, 0x5001 + 2 * r, CODEC_OPUS, 48000)
        remote_probes.append(len(rx.socks))
        for i in range(remote):
            subscriber(eb, 1 + i, i == 0, 2 * i)
    for n in (a, *bs):
        n.start()
    stop = threading.Event()
    reader = threading.Thread(target=rx.run, args=(stop,), daemon=True)
    reader.start()
    session = ref.srtp_session(1, up_key, outbound=True)
    sent = 0
    start = time.perf_counter()
    measured: dict[str, Any] = {}
    interval = 1 / VIDEO_PPS
    seq = 0
    try:
        while True:
            now = time.perf_counter()
            elapsed = now - start
            if elapsed >= warmup + duration:
                break
            if elapsed >= warmup and not measured:
                rx.record = True
                measured = {"t": now, "a": a.cpu(), "b": [b.cpu() for b in bs], "ca": ea.counters(),
                            "cb": [b.engine.counters() for b in bs]}
            head = VP8_KEY if seq % KEYFRAME_EVERY == 0 else VP8_DELTA
            body = head + struct.pack("!Q", time.perf_counter_ns())
            body += bytes(VIDEO_PAYLOAD - len(body))
            pub.sendto(session.protect(rtp(0x1111, seq, seq * 225, body, 96, marker=True)), a.addr)
            sent += 1
            if seq % AUDIO_EVERY == 0:
                pub.sendto(session.protect(rtp(0x2222, seq // AUDIO_EVERY, seq * 120, bytes(AUDIO_PAYLOAD), 111)),
                           a.addr)
                sent += 1
            seq += 1
            delay = start + seq * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        end = time.perf_counter()
        rx.record = False
        a_cpu, b_cpu = a.cpu(), [b.cpu() for b in bs]
        ca, cb = ea.counters(), [b.engine.counters() for b in bs]
        # wait (bounded) for the last packets to arrive before counting loss
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and min(rx.counts, default=sent) < sent:
            time.sleep(0.02)
    finally:
        stop.set()
        reader.join(5)
        for n in (a, *bs):
            n.stop()
        rx.close()
        pub.close()
    secs = end - measured["t"]
    lost = sum(max(0, sent - c) for c in rx.counts)
    local_lat = rx.latencies.get(local_probe, []) if local else []
    relay_lat = [x for i in remote_probes if i in rx.latencies for x in rx.latencies[i]]
    link = [(c["rx_bytes"] - m["rx_bytes"]) * 8 / secs / 1e6 for c, m in zip(cb, measured["cb"], strict=True)]
    return Row(relays=relays, local=local, remote=remote, seconds=round(secs, 2),
               a_cpu_pct=round((a_cpu - measured["a"]) / secs * 100, 2),
               a_forwarded_pps=round((ca["forwarded_packets"] - measured["ca"]["forwarded_packets"]) / secs),
               a_us_per_packet=round((a_cpu - measured["a"]) * 1e6
                                     / max(1, ca["forwarded_packets"] - measured["ca"]["forwarded_packets"]), 2),
               a_rx_mbps=round((ca["rx_bytes"] - measured["ca"]["rx_bytes"]) * 8 / secs / 1e6, 3),
               link_mbps=round(sum(link) / len(link), 3) if link else 0.0,
               b_cpu_pct=round(sum(c - m for c, m in zip(b_cpu, measured["b"], strict=True)) / secs * 100
                               / len(bs), 2) if bs else 0.0,
               added_cpu_pct_per_relay=None, lost=lost, expected=sent * len(rx.counts),
               local_p50_us=_pct(local_lat, 0.5), local_p99_us=_pct(local_lat, 0.99),
               relay_p50_us=_pct(relay_lat, 0.5), relay_p99_us=_pct(relay_lat, 0.99),
               load=round(os.getloadavg()[0], 2))


def table(rows: list[Row]) -> str:
    head = ("relays  local  remote/node   A cpu %  +cpu %/relay   A fwd pkt/s   A us/pkt   pub Mb/s   link Mb/s/relay   "
            "B cpu %   lost/expected   local p50/p99 us   via relay p50/p99 us   load")
    lines = [head]
    for r in rows:
        added = "-" if r.added_cpu_pct_per_relay is None else f"{r.added_cpu_pct_per_relay:.2f}"
        lines.append(f"{r.relays:>6} {r.local:>6} {r.remote:>12} {r.a_cpu_pct:>9.2f} {added:>14} "
                     f"{r.a_forwarded_pps:>13.0f} {r.a_us_per_packet:>10.2f} {r.a_rx_mbps:>10.3f} {r.link_mbps:>17.3f} {r.b_cpu_pct:>9.2f} "
                     f"{r.lost:>7}/{r.expected:<8} {r.local_p50_us!s:>8}/{r.local_p99_us!s:<8} "
                     f"{r.relay_p50_us!s:>10}/{r.relay_p99_us!s:<10} {r.load:>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relays", default="0,1,2,3", help="remote nodes per row, comma-separated")
    ap.add_argument("--local", type=int, default=5, help="subscribers on the publisher's node")
    ap.add_argument("--remote", type=int, default=5, help="subscribers on each remote node")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    for relays in [int(x) for x in args.relays.split(",")]:
        print(f"... {relays} relay(s): {args.local} local subscribers, {args.remote} per remote node, "
              f"{args.duration:g} s", flush=True)
        rows.append(run_row(relays, args.local, args.remote, args.duration, args.warmup))
    base = next((r for r in rows if r.relays == 0), None)
    for r in rows:
        if base is not None and r.relays:
            r.added_cpu_pct_per_relay = round((r.a_cpu_pct - base.a_cpu_pct) / r.relays, 2)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
