"""Prometheus metrics of a node, read at scrape time from the node's objects and the native engine's own
counters — nothing is incremented per packet in Python."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sfu.accounting import media_accounting
from sfu.cascade.relays import Relays
from sfu.node import Node
from sfu.withdrawal import PolicyWatch
from signalling.tokens import HttpRevocations


class NodeCollector(Collector):
    def __init__(self, node: Node, capacity: int = 200, signalling_refusals: Mapping[str, int] | None = None,
                 revocations: HttpRevocations | None = None, signalling_sent: Mapping[str, int] | None = None) -> None:
        self.node = node
        self.revocations = revocations
        self.capacity = capacity
        self.signalling_refusals = signalling_refusals if signalling_refusals is not None else {}
        self.signalling_sent = signalling_sent if signalling_sent is not None else {}

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        node = self.node
        labels = ["node", "region"]
        ids = [node.config.node_id, node.config.region]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=labels)
            g.add_metric(ids, value)
            return g

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=labels)
            c.add_metric(ids, value)
            return c

        yield gauge("castellan_rooms", "Rooms on this node", len(node.rooms))
        yield gauge("castellan_participants", "Participants on this node", len(node.by_id))
        yield gauge("castellan_tracks", "Published tracks on this node", len(node.tracks_by_ssrc))
        yield gauge("castellan_node_load", "Participants / capacity (0..1)", min(1.0, len(node.by_id) / self.capacity))
        yield gauge("castellan_node_draining", "1 while the node drains", 1.0 if node.draining else 0.0)
        lag = GaugeMetricFamily("castellan_event_loop_lag_seconds",
                                "How late the node's event loop ran a due timer, over the last minute, by quantile "
                                "(max: since start)", labels=[*labels, "quantile"])
        for quantile in (0.5, 0.99):
            lag.add_metric([*ids, str(quantile)], node.deadlines.lag_quantile(quantile))
        lag.add_metric([*ids, "max"], node.deadlines.lag_max)
        yield lag
        misses = CounterMetricFamily("castellan_deadline_misses",
                                     "Periodic duties that ran late (heartbeat > 1 s, consent > 0.5 s, media timers "
                                     "> 0.1 s past their period)", labels=[*labels, "duty"])
        for duty in ("heartbeat", "consent", "media_timers"):
            misses.add_metric([*ids, duty], node.deadlines.misses[duty])
        yield misses
        yield counter("castellan_consent_expired", "Participants whose consent expired (media paused)",
                      node.counts["consent_expired"])
        refused = CounterMetricFamily("castellan_signalling_refusals",
                                      "Signalling messages refused and sockets closed by the node, by error code",
                                      labels=[*labels, "reason"])
        for reason, n in sorted(self.signalling_refusals.items()):
            refused.add_metric([*ids, reason], n)
        yield refused
        sent = CounterMetricFamily("castellan_signalling_messages_sent",
                                   "WebSocket frames the node wrote to participants, by message type",
                                   labels=[*labels, "type"])
        for kind, n in sorted(self.signalling_sent.items()):
            sent.add_metric([*ids, kind], n)
        yield sent
        if self.revocations is not None:
            age = self.revocations.age()
            yield gauge("castellan_node_revocations_age_seconds",
                        "Seconds since the revoked-links list was last refreshed (-1: never)",
                        -1.0 if math.isinf(age) else age)
            yield gauge("castellan_node_revocations_stale",
                        "1 while the revoked-links list is older than its bound: joins are refused (fail closed)",
                        1.0 if self.revocations.stale() else 0.0)
            yield counter("castellan_node_revocation_refresh_failures",
                          "Failed refreshes of the revoked-links list", self.revocations.failures)
        hs = node.handshakes
        msgs = CounterMetricFamily("castellan_mls_handshake_messages",
                                   "MLS handshake messages (mls_*) to the Delivery Service, by type and verdict "
                                   "(accepted, or the refusal's reason)", labels=[*labels, "type", "verdict"])
        for (kind, verdict), n in sorted(hs.messages.items()):
            msgs.add_metric([*ids, kind, verdict], n)
        yield msgs
        hs_bytes = CounterMetricFamily("castellan_mls_handshake_bytes",
                                       "MLS handshake characters: blobs received by type, messages sent (fan-out "
                                       "included)", labels=[*labels, "direction", "type"])
        for kind, n in sorted(hs.bytes_in.items()):
            hs_bytes.add_metric([*ids, "in", kind], n)
        hs_bytes.add_metric([*ids, "out", "all"], hs.bytes_out)
        yield hs_bytes
        if node.engine is None:
            return
        c = node.engine.counters()
        yield counter("castellan_forwarded_packets", "RTP packets sent to subscribers", c["forwarded_packets"])
        yield counter("castellan_forwarded_bytes", "Bytes sent to subscribers (SRTP)", c["forwarded_bytes"])
        yield counter("castellan_received_packets", "Datagrams received on the media port", c["rx_packets"])
        yield counter("castellan_rtx_packets", "Retransmissions served from the buffer", c["rtx_packets"])
        yield counter("castellan_layer_filtered_packets",
                      "Packets not sent to a subscriber because of its temporal/spatial layer caps (intentional)",
                      c.get("layer_filtered", 0))
        yield gauge("castellan_media_buffer_bytes",
                    "Bytes held by retransmission buffers (per track, and per video subscription without RTX)",
                    c.get("buffer_bytes", 0))
        yield gauge("castellan_nack_buffers", "Video subscriptions without RTX holding a NACK buffer (capped)",
                    c.get("sent_rings", 0))
        yield counter("castellan_nack_buffer_evictions",
                      "NACK buffers taken from the least recently sending subscription at the node-wide cap",
                      c.get("sent_ring_evictions", 0))
        per_worker = CounterMetricFamily("castellan_worker_forwarded_packets",
                                         "Packets each media worker sent (its subscribers' share of every fan-out)",
                                         labels=[*labels, "worker"])
        handed = CounterMetricFamily("castellan_worker_handed_packets",
                                     "Packets a media worker handed another (datagrams of its peers, fan-out shares)",
                                     labels=[*labels, "worker"])
        for w, (_rx, fwd, piped, _taken) in enumerate(node.media_engine.worker_counters()):
            per_worker.add_metric([*ids, str(w)], fwd)
            handed.add_metric([*ids, str(w)], piped)
        yield per_worker
        yield handed
        drops = CounterMetricFamily("castellan_dropped_packets", "Datagrams dropped, by reason", labels=[*labels, "reason"])
        for reason, n in c["drops"].items():
            drops.add_metric([*ids, reason], n)
        for reason, n in node.control_drops.items():
            drops.add_metric([*ids, reason], n)
        # sent into a room whose required recorder is not in (sfu/recording.py): received, never forwarded
        drops.add_metric([*ids, "recording_held"], node.recording.held_packets())
        yield drops
        yield gauge("castellan_rooms_held_for_recorder", "Rooms whose media waits for their required recorder",
                    sum(1 for r in node.rooms.values() if r.recording.held))
        media = media_accounting(node.media_engine, node.by_id.values(), {})
        hops = GaugeMetricFamily("castellan_media_hop_packets",
                                 "RTP packets over the live tracks and subscriptions, by hop: received from this "
                                 "node's publishers and expected from their sequence numbers (the gap: lost before "
                                 "the node); sent to participants by kind, and retransmitted",
                                 labels=[*labels, "hop"])
        hops.add_metric([*ids, "publishers_received"], media.from_publishers.received)
        hops.add_metric([*ids, "publishers_expected"], media.from_publishers.expected)
        for kind, n in sorted(media.to_participants.items()):
            hops.add_metric([*ids, f"sent_{kind}"], n)
        hops.add_metric([*ids, "retransmitted"], media.retransmitted)
        yield hops
        yield counter("castellan_nack_requests", "NACK feedback received from subscribers", node.counts["nack"])
        yield counter("castellan_pli_requests", "PLI/FIR received from subscribers", node.counts["pli"] + node.counts["fir"])
        yield counter("castellan_keyframe_requests", "Keyframe requests sent to publishers", node.counts["keyframe_requests"])
        bw = node.bandwidth_stats()
        est = GaugeMetricFamily("castellan_bandwidth_estimate_bps",
                                "Downlink estimates of receiving participants (transport-cc, else REMB), by quantile",
                                labels=[*labels, "quantile"])
        for q, key in (("0.1", "p10_bps"), ("0.5", "p50_bps"), ("0.9", "p90_bps")):
            if bw[key] is not None:
                est.add_metric([*ids, q], bw[key])
        yield est
        yield counter("castellan_bandwidth_probes", "Bandwidth probes sent before layer upgrades", bw["probes"])


class RelayCollector(Collector):
    """A node's relay links (cascading, sfu/cascade/relays.py): what is open, what was refused or closed."""

    def __init__(self, node: Node, relays: Relays) -> None:
        self.ids = [node.config.node_id, node.config.region]
        self.node = node
        self.relays = relays

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels, ids, relays = ["node", "region"], self.ids, self.relays
        links = GaugeMetricFamily("castellan_relay_links", "Relay links to other nodes (one per pair of nodes)",
                                  labels=labels)
        links.add_metric(ids, len(relays.links))
        yield links
        meetings = GaugeMetricFamily("castellan_relay_meetings", "Meetings the node's relay links carry",
                                     labels=labels)
        meetings.add_metric(ids, sum(len(link.meetings) for link in relays.links.values()))
        yield meetings
        refused = CounterMetricFamily("castellan_relay_refusals",
                                      "Relay handshakes and sealed link messages refused, by code", labels=[*labels, "reason"])
        for reason, n in sorted(relays.refused.items()):
            refused.add_metric([*ids, reason], n)
        yield refused
        closed = CounterMetricFamily("castellan_relay_closed_by_peer", "Relay links the other node closed (sealed close)",
                                     labels=labels)
        closed.add_metric(ids, sum(relays.closed_by_peer.values()))
        yield closed
        if self.node.engine is not None:
            traffic = GaugeMetricFamily("castellan_relay_link_packets",
                                        "RTP packets over each link's live copies and tracks: sent across, received "
                                        "from the other node, and expected from their sequence numbers (the gap: "
                                        "lost on the link)", labels=[*labels, "peer", "direction"])
            for peer, (sent, received) in sorted(media_accounting(self.node.media_engine, (), relays.links).links.items()):
                traffic.add_metric([*ids, peer, "sent"], sent)
                traffic.add_metric([*ids, peer, "received"], received.received)
                traffic.add_metric([*ids, peer, "expected"], received.expected)
            yield traffic
        left = CounterMetricFamily("castellan_relay_meetings_left_by_peer",
                                   "Meetings the other node took off a relay link (a close naming one)", labels=labels)
        left.add_metric(ids, sum(relays.left_by_peer.values()))
        yield left


class PolicyCollector(Collector):
    """A node's watch on its tenants' policies (sfu/withdrawal.py): meetings withdrawn, held, relays pruned, and
    the registry reads it did not trust."""

    def __init__(self, node: Node, watch: PolicyWatch) -> None:
        self.ids = [node.config.node_id, node.config.region]
        self.watch = watch

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels, ids, watch = ["node", "region"], self.ids, self.watch
        held = GaugeMetricFamily("castellan_node_policy_held_meetings",
                                 "Meetings whose media is held: their tenant's policy not confirmed for longer than "
                                 "the lease (fail closed)", labels=labels)
        held.add_metric(ids, len(watch.held))
        yield held
        for name, key, text in (
                ("castellan_node_policy_withdrawn", "withdrawn",
                 "Meetings withdrawn from this node: their tenant's policy no longer allows its region"),
                ("castellan_node_policy_relays_pruned", "relay_pruned",
                 "Meetings taken off a relay link to a node whose region their policy no longer allows")):
            family = CounterMetricFamily(name, text, labels=labels)
            family.add_metric(ids, watch.counts[key])
            yield family
        untrusted = CounterMetricFamily("castellan_node_policy_reads_untrusted",
                                        "Policy reads that renewed nothing, by reason (unreadable, rollback, "
                                        "rewritten)", labels=[*labels, "reason"])
        for reason, n in sorted(watch.leases.untrusted.items()):
            untrusted.add_metric([*ids, reason], n)
        yield untrusted


def metrics_endpoint(
    node: Node, capacity: int = 200, signalling_refusals: Mapping[str, int] | None = None,
    revocations: HttpRevocations | None = None, signalling_sent: Mapping[str, int] | None = None,
) -> tuple[CollectorRegistry, Callable[[], bytes]]:
    registry = CollectorRegistry()
    registry.register(NodeCollector(node, capacity, signalling_refusals, revocations, signalling_sent))
    return registry, lambda: generate_latest(registry)
