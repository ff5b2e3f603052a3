"""The engine's Python interface, declared once: every method Python calls on a forwarding engine.

Three classes implement it, and mypy checks each against it (`native/conformance.py`):

- `native.engine.Engine`, the compiled per-packet path (typed by `native/engine.pyi`);
- `native.threaded.ThreadedEngine`, the same engine driven by its own media thread: each `EngineControl` method
  takes the engine's lock (derived from this Protocol, not from a list of names);
- `native.reference.ReferenceForwarder`, the pure-Python reference (for the benchmark and equivalence tests).

`EngineControl` holds the methods that read or change what the per-packet path uses (tables, counters, sends
from Python); `EngineApi` adds the ones that run the per-packet path itself (`poll`, `serve`, `stop_serving`),
which take the lock on their own, once per receive batch. Indexes (peer, track, sub) are the caller's: small
ints below the limits the engine was created with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypedDict

# (kind: an EV_* constant, peer index or -1, (host, port) it came from, payload) - see native/constants.py
Event = tuple[int, int, tuple[str, int], bytes]

# parse_rtp: (pt, marker, seq, ts, ssrc, hdr_len, ext_profile or -1, ext_off, ext_len, payload_off,
# payload_len, pad_len)
RtpHeader = tuple[int, int, int, int, int, int, int, int, int, int, int, int]

# track_stats: (received, octets, extended highest seq, base seq, jitter, keyframes, last keyframe ns,
# audio level 0..127 or -1, voice bit)
TrackStats = tuple[int, int, int, int, int, int, int, int, int]

# subscription_stats: (packets, octets, last_out_ts, last_send_ns, started, seq_offset, ts_offset, rtx_packets)
SubscriptionStats = tuple[int, int, int, int, bool, int, int, int]

# subscription_layers: (max_sid, max_tid asked, cur_sid, cur_tid in force, packets filtered); 7 = every layer
SubscriptionLayers = tuple[int, int, int, int, int]

# track_layers: (highest SID seen, highest TID seen, spatial layers announced by VP9 SS, payload octets per SID)
TrackLayers = tuple[int, int, int, list[int]]


class Counters(TypedDict):
    """Engine.counters(): totals since the engine started; `drops` is keyed by native.constants.DROP_REASONS."""

    rx_packets: int
    rx_bytes: int
    forwarded_packets: int
    forwarded_bytes: int
    rtx_packets: int
    rtcp_sent: int
    batches: int
    probe_packets: int
    layer_filtered: int
    piped: int                  # packets one media worker handed another (a datagram, or a fan-out share)
    buffer_bytes: int           # bytes held now by track rings (NACK with RTX) and sent rings (NACK without RTX)
    sent_rings: int             # sent rings held now: at most the engine's max_sent_rings
    sent_ring_evictions: int    # sent rings taken from a subscription at the cap, for a newer one
    drops: dict[str, int]


class EngineControl(Protocol):
    """What Python asks of an engine between batches: tables, layer choices, RTCP/RTX sends, stats."""

    # ---- peers ----
    def add_peer(self, peer: int, worker: int = 0) -> None: ...
    def peer_worker(self, peer: int) -> int: ...
    def set_peer_address(self, peer: int, host: str, port: int) -> None: ...
    def clear_peer_address(self, peer: int) -> None: ...
    def set_peer_srtp(self, peer: int, profile: int, rx_key: bytes, tx_key: bytes) -> None: ...
    def set_peer_extensions(self, peer: int, abs_send_id: int = 0, audio_level_id: int = 0,
                            twcc_id: int = 0) -> None: ...
    def remove_peer(self, peer: int) -> None: ...

    # ---- tracks and subscriptions ----
    def add_track(self, track: int, peer: int, ssrc: int, codec: int, clock_rate: int,
                  buffer_packets: int = 512) -> None: ...
    def remove_track(self, track: int) -> None: ...
    def add_subscription(self, sub: int, track: int, peer: int, ssrc: int, pt: int, rtx_ssrc: int = 0,
                         rtx_pt: int = -1, ext_map: bytes = b"", abs_send_out: int = 0, initial_seq: int = 0,
                         ts_offset: int = 0, twcc_out: int = 0, paused: bool = False) -> None: ...
    def remove_subscription(self, sub: int) -> None: ...
    def restart_subscription(self, sub: int) -> None: ...
    def subscription_waiting(self, sub: int) -> bool: ...
    def set_paused(self, sub: int, paused: bool) -> None: ...
    def audio_activity(self, track: int) -> tuple[int, int, int] | None: ...

    # ---- layers: simulcast switch, temporal / spatial caps ----
    def switch_layer(self, sub: int, track: int) -> None: ...
    def subscription_layer(self, sub: int) -> tuple[int, int, int] | None: ...
    def set_temporal(self, sub: int, max_tid: int) -> None: ...
    def set_svc(self, sub: int, max_sid: int, max_tid: int = -1) -> None: ...
    def subscription_layers(self, sub: int) -> SubscriptionLayers | None: ...
    def track_layers(self, track: int) -> TrackLayers | None: ...

    # ---- sends decided by Python: RTCP, DTLS, NACK service, bandwidth probes ----
    def send_rtcp(self, peer: int, packet: bytes) -> bool: ...
    def sender_reports(self, peer: int, ntp: int, subs: Iterable[tuple[int, int]]) -> int: ...
    def send_raw(self, peer: int, data: bytes) -> bool: ...
    def retransmit(self, sub: int, seqs: Iterable[int]) -> int: ...
    def send_padding(self, sub: int, count: int, size: int = 255) -> tuple[int, int, int] | None: ...

    # ---- transport-wide congestion control ----
    def twcc_arrivals(self, peer: int) -> list[tuple[int, int]]: ...
    def twcc_sent(self, peer: int, base_seq: int, count: int) -> list[tuple[int, int] | None]: ...
    def twcc_state(self, peer: int) -> tuple[int, int, int]: ...

    # ---- stats ----
    def track_stats(self, track: int) -> TrackStats | None: ...
    def subscription_stats(self, sub: int) -> SubscriptionStats | None: ...
    def counters(self) -> Counters: ...
    def latency_histogram(self, reset: bool = False) -> list[int]: ...

    # ---- media workers ----
    def worker_count(self) -> int: ...
    def worker_counters(self) -> list[tuple[int, int, int, int]]: ...


class EngineApi(EngineControl, Protocol):
    """The whole interface: EngineControl plus the per-packet path, driven by the event loop (`poll`) or by a
    media thread (`serve` until `stop_serving`)."""

    def poll(self, max_batches: int = 16) -> list[Event]: ...
    def serve(self, callback: Callable[[list[Event]], object], worker: int = 0) -> None: ...
    def stop_serving(self) -> None: ...


def members(protocol: type) -> tuple[str, ...]:
    """The public method names a Protocol class declares, its Protocol bases' included, sorted."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls is object or cls is Protocol or not getattr(cls, "_is_protocol", False):
            continue
        names.update(name for name, value in vars(cls).items() if callable(value) and not name.startswith("_"))
    return tuple(sorted(names))
