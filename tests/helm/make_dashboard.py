"""Generates helm/castellan/dashboards/castellan-overview.json (run it after changing the panels below).

Kept as code so the dashboard stays consistent (ids, grid positions, datasource refs); the JSON is committed and
tests/helm/test_chart.py checks that it only uses metric names from docs/contracts.md and covers all of them.
"""
from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "helm" / "castellan" / "dashboards" / "castellan-overview.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
R = 'region=~"$region"'


def target(expr: str, legend: str, ref: str) -> dict:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def panel(pid: int, title: str, targets: list[tuple[str, str]], x: int, y: int, w: int = 12, h: int = 8,
          unit: str = "short", kind: str = "timeseries", description: str = "", **defaults) -> dict:
    p = {
        "id": pid, "type": kind, "title": title, "description": description, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(e, lg, chr(ord("A") + i)) for i, (e, lg) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, **defaults}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else
                   {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area", "textMode": "auto"},
    }
    return p


def row(pid: int, title: str, y: int) -> dict:
    return {"id": pid, "type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}}


def build() -> dict:
    panels: list[dict] = []
    pid = iter(range(1, 100))
    y = 0
    panels.append(row(next(pid), "Overview", y))
    y += 1
    stats = [
        ("Rooms", f"sum(castellan_rooms{{{R}}})"),
        ("Participants", f"sum(castellan_participants{{{R}}})"),
        ("Tracks", f"sum(castellan_tracks{{{R}}})"),
        ("Media nodes reporting", f"count(castellan_node_load{{{R}}})"),
        ("Forwarded bit/s", f"8 * sum(rate(castellan_forwarded_bytes_total{{{R}}}[$__rate_interval]))"),
        ("Joins / min", "60 * sum(rate(castellan_joins_total[$__rate_interval]))"),
    ]
    for i, (title, expr) in enumerate(stats):
        unit = "bps" if "bit/s" in title else "short"
        panels.append(panel(next(pid), title, [(expr, title)], x=4 * i, y=y, w=4, h=4, unit=unit, kind="stat"))
    y += 4

    panels.append(row(next(pid), "Media nodes", y))
    y += 1
    panels.append(panel(next(pid), "Rooms by region", [(f"sum by (region) (castellan_rooms{{{R}}})", "{{region}}")], 0, y))
    panels.append(panel(next(pid), "Participants by region",
                        [(f"sum by (region) (castellan_participants{{{R}}})", "{{region}}")], 12, y))
    y += 8
    panels.append(panel(next(pid), "Node load (0..1, 1 = full: no new rooms)",
                        [(f"max by (region, pod) (castellan_node_load{{{R}}})", "{{region}} {{pod}}")], 0, y,
                        unit="percentunit", min=0, max=1,
                        thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                  {"color": "orange", "value": 0.8},
                                                                  {"color": "red", "value": 0.95}]}))
    panels.append(panel(next(pid), "Tracks by node",
                        [(f"sum by (region, pod) (castellan_tracks{{{R}}})", "{{region}} {{pod}}")], 12, y))
    y += 8

    panels.append(row(next(pid), "Forwarding (native engine counters)", y))
    y += 1
    panels.append(panel(next(pid), "Forwarded packets / s",
                        [(f"sum by (region) (rate(castellan_forwarded_packets_total{{{R}}}[$__rate_interval]))", "{{region}}"),
                         (f"sum by (region) (rate(castellan_layer_filtered_packets_total{{{R}}}[$__rate_interval]))",
                          "{{region}} not sent: subscribers' layer caps")],
                        0, y, unit="pps"))
    panels.append(panel(next(pid), "Forwarded bits / s",
                        [(f"8 * sum by (region) (rate(castellan_forwarded_bytes_total{{{R}}}[$__rate_interval]))", "{{region}}")],
                        12, y, unit="bps"))
    y += 8
    panels.append(panel(next(pid), "Dropped packets / s by reason",
                        [(f"sum by (reason) (rate(castellan_dropped_packets_total{{{R}}}[$__rate_interval]))", "{{reason}}")],
                        0, y, unit="pps"))
    panels.append(panel(next(pid), "Drop ratio",
                        [(f"sum(rate(castellan_dropped_packets_total{{{R}}}[$__rate_interval])) / "
                          f"(sum(rate(castellan_forwarded_packets_total{{{R}}}[$__rate_interval])) + "
                          f"sum(rate(castellan_dropped_packets_total{{{R}}}[$__rate_interval])))", "dropped")],
                        12, y, unit="percentunit", min=0))
    y += 8
    panels.append(panel(next(pid), "Forwarded packets / s by media worker",
                        [(f"sum by (pod, worker) (rate(castellan_worker_forwarded_packets_total{{{R}}}[$__rate_interval]))",
                          "{{pod}} worker {{worker}}")],
                        0, y, unit="pps"))
    panels.append(panel(next(pid), "Packets handed between media workers / s",
                        [(f"sum by (pod, worker) (rate(castellan_worker_handed_packets_total{{{R}}}[$__rate_interval]))",
                          "{{pod}} from worker {{worker}}")],
                        12, y, unit="pps"))
    y += 8
    panels.append(panel(next(pid), "Loss recovery: NACKs, retransmissions, PLIs / s", [
        (f"sum(rate(castellan_nack_requests_total{{{R}}}[$__rate_interval]))", "NACK requests"),
        (f"sum(rate(castellan_rtx_packets_total{{{R}}}[$__rate_interval]))", "RTX packets"),
        (f"sum(rate(castellan_pli_requests_total{{{R}}}[$__rate_interval]))", "PLI requests"),
        (f"sum(rate(castellan_keyframe_requests_total{{{R}}}[$__rate_interval]))", "keyframe requests to publishers"),
    ], 0, y, w=24, unit="ops"))
    y += 8
    panels.append(panel(next(pid), "Datagrams received / s by node",
                        [(f"sum by (node) (rate(castellan_received_packets_total{{{R}}}[$__rate_interval]))", "{{node}}")],
                        0, y, unit="ops"))
    panels.append(panel(next(pid), "Nodes draining",
                        [(f"sum(castellan_node_draining{{{R}}})", "draining")], 12, y, min=0,
                        description="Nodes that took SIGTERM: no new rooms, participants asked to move"))
    y += 8
    panels.append(panel(next(pid), "Downlink estimates of receivers",
                        [(f"max by (quantile) (castellan_bandwidth_estimate_bps{{{R}}})", "quantile {{quantile}}")],
                        0, y, unit="bps", min=0,
                        description="Per node, the 10th/50th/90th percentile of receiving participants' estimates "
                                    "(transport-cc, else REMB); the worst node's value shown"))
    panels.append(panel(next(pid), "Bandwidth probes / min",
                        [(f"60 * sum(rate(castellan_bandwidth_probes_total{{{R}}}[$__rate_interval]))", "probes")],
                        12, y, description="Probes sent before stepping a subscriber up a simulcast layer"))
    y += 8
    panels.append(panel(next(pid), "Node signalling refusals / min by reason",
                        [(f"60 * sum by (reason) (rate(castellan_signalling_refusals_total{{{R}}}[$__rate_interval]))",
                          "{{reason}}")],
                        0, y, w=12, description="WebSockets closed or messages refused by the node's limits: too "
                                                "many sockets before join, join timeout, relay rate, slow reader"))
    panels.append(panel(next(pid), "Node signalling frames sent / s by type",
                        [(f"sum by (type) (rate(castellan_signalling_messages_sent_total{{{R}}}[$__rate_interval]))",
                          "{{type}}")],
                        12, y, min=0,
                        description="WebSocket frames written to participants: presence is batched (one frame "
                                    "per flush), so a join storm shows here as a step, not a square"))
    y += 8
    panels.append(panel(next(pid), "Event-loop lag p99 by node",
                        [(f"max by (node) (castellan_event_loop_lag_seconds{{quantile=\"0.99\",{R}}})", "{{node}} p99"),
                         (f"max by (node) (castellan_event_loop_lag_seconds{{quantile=\"max\",{R}}})", "{{node}} max")],
                        0, y, unit="s", min=0,
                        description="How late each node's event loop runs a due timer (last minute): join storms "
                                    "and Python work show here before heartbeats or consent suffer"))
    panels.append(panel(next(pid), "Missed deadlines / min and consent expiries",
                        [(f"60 * sum by (node, duty) (rate(castellan_deadline_misses_total{{{R}}}[$__rate_interval]))",
                          "{{node}} {{duty}}"),
                         (f"60 * sum by (node) (rate(castellan_consent_expired_total{{{R}}}[$__rate_interval]))",
                          "{{node}} consent expired")], 12, y, min=0,
                        description="Heartbeats (> 1 s late), consent passes (> 0.5 s) and media timers (> 0.1 s) "
                                    "that ran late; consent expiries pause a participant's media"))
    y += 8
    panels.append(panel(next(pid), "Retransmission buffers by node",
                        [(f"sum by (node) (castellan_media_buffer_bytes{{{R}}})", "{{node}} bytes")], 0, y,
                        unit="bytes", min=0,
                        description="Per-track and per-RTX-less-subscription packet buffers held now: back to 0 "
                                    "when everyone left (memory steady over time)"))
    panels.append(panel(next(pid), "NACK buffers without RTX (capped)",
                        [(f"sum by (node) (castellan_nack_buffers{{{R}}})", "{{node}} buffers"),
                         (f"60 * sum by (node) (rate(castellan_nack_buffer_evictions_total{{{R}}}[$__rate_interval]))",
                          "{{node}} evictions / min")], 12, y, min=0,
                        description="Video subscriptions without RTX holding their last 256 packets (512 KiB "
                                    "each) and evictions at --nack-buffer-mb: raise it if evictions persist"))
    y += 8
    panels.append(panel(next(pid), "E2EE handshakes / min by verdict (MLS Delivery Service)",
                        [(f"60 * sum by (type, verdict) (rate(castellan_mls_handshake_messages_total{{{R}}}"
                          "[$__rate_interval]))", "{{type}} {{verdict}}")], 0, y, min=0,
                        description="mls_* messages the nodes ordered: accepted, or refused (stale_epoch: a rival "
                                    "commit won; rate_limited, mls_too_large, not_member: a misbehaving client)"))
    panels.append(panel(next(pid), "E2EE handshake bytes / s",
                        [(f"sum by (direction) (rate(castellan_mls_handshake_bytes_total{{{R}}}[$__rate_interval]))",
                          "{{direction}}")], 12, y, unit="Bps", min=0,
                        description="KeyPackages, commits and Welcomes in; their fan-out to the room out"))
    y += 8

    panels.append(panel(next(pid), "Relay links and meetings (cascading)",
                        [(f"sum by (node) (castellan_relay_links{{{R}}})", "{{node}} links"),
                         (f"sum by (node) (castellan_relay_meetings{{{R}}})", "{{node}} meetings")], 0, y, min=0,
                        description="Node-to-node links (one per pair of nodes) and the meetings they carry"))
    panels.append(panel(next(pid), "Relay refusals and closes / min",
                        [(f"60 * sum by (reason) (rate(castellan_relay_refusals_total{{{R}}}[$__rate_interval]))",
                          "{{reason}}"),
                         (f"60 * sum by (node) (rate(castellan_relay_closed_by_peer_total{{{R}}}[$__rate_interval]))",
                          "{{node}} links closed by the other node"),
                         (f"60 * sum by (node) (rate(castellan_relay_meetings_left_by_peer_total{{{R}}}"
                          "[$__rate_interval]))", "{{node}} meetings taken off by the other node")], 12, y, min=0,
                        description="Handshakes and sealed messages refused (a meeting the link does not carry, "
                                    "a region the tenant does not allow, a forged or replayed message, ...)"))
    y += 8
    hop = f'castellan_media_hop_packets{{{R},hop="%s"}}'
    link = f'castellan_relay_link_packets{{{R},direction="%s"}}'
    panels.append(panel(next(pid), "Packets lost before the node and sent to participants (live tracks)",
                        [(f"sum by (node) ({hop % 'publishers_expected'}) - sum by (node) ({hop % 'publishers_received'})",
                          "{{node}} lost from its publishers"),
                         (f"sum by (node, hop) ({hop % 'sent_video'} or {hop % 'sent_audio'} or {hop % 'retransmitted'})",
                          "{{node}} {{hop}}")], 0, y, min=0,
                        description="Over the tracks and subscriptions live now (sfu/accounting.py): what the "
                                    "publishers' sequence numbers say was sent and did not arrive; what went out"))
    panels.append(panel(next(pid), "Packets lost on relay links (live tracks)",
                        [(f"sum by (node, peer) ({link % 'expected'}) - sum by (node, peer) ({link % 'received'})",
                          "{{peer}} -> {{node}} lost"),
                         (f"sum by (node, peer) ({link % 'sent'})", "{{node}} -> {{peer}} sent")], 12, y, min=0,
                        description="Each link's copies: sent across, and at the receiving node the gap between "
                                    "what the sequence numbers say was sent and what arrived"))
    y += 8

    panels.append(row(next(pid), "Control plane", y))
    y += 1
    panels.append(panel(next(pid), "Placements / min by region",
                        [(f"60 * sum by (region) (rate(castellan_placements_total{{{R}}}[$__rate_interval]))", "{{region}}")],
                        0, y))
    panels.append(panel(next(pid), "Placement refusals / min by reason",
                        [("60 * sum by (reason) (rate(castellan_placement_refusals_total[$__rate_interval]))", "{{reason}}")],
                        12, y, description="Fail-closed refusals: no allowed region, no usable node, ..."))
    y += 8
    panels.append(panel(next(pid), "Join region hints / min by source",
                        [("60 * sum by (source) (rate(castellan_join_region_hints_total[$__rate_interval]))",
                          "{{source}}")],
                        0, y, description="Where a joiner's region came from: ingress (a trusted proxy's region "
                                          "header), client (the join's region_hint), none (docs/deploy.md)"))
    panels.append(panel(next(pid), "Region headers ignored / min by reason",
                        [("60 * sum by (reason) (rate(castellan_region_headers_ignored_total[$__rate_interval]))",
                          "{{reason}}")],
                        12, y, description="untrusted: not from a trusted proxy (a client writing it, or an "
                                           "ingress outside trustedProxies); malformed: several values or junk"))
    y += 8
    panels.append(panel(next(pid), "Joins / min",
                        [("60 * sum(rate(castellan_joins_total[$__rate_interval]))", "joins")], 0, y, w=8))
    panels.append(panel(next(pid), "Token failures / min by reason",
                        [("60 * sum by (reason) (rate(castellan_token_failures_total[$__rate_interval]))", "{{reason}}"),
                         ("60 * sum(rate(castellan_store_unavailable_total[$__rate_interval]))",
                          "database unreachable (503)")],
                        8, y, w=8))
    panels.append(panel(next(pid), "Password failures / min",
                        [("60 * sum(rate(castellan_password_failures_total[$__rate_interval]))", "failures")],
                        16, y, w=8))
    y += 8
    panels.append(panel(next(pid), "Password back-offs and locks / min",
                        [("60 * sum by (scope, locked) (rate(castellan_password_lockouts_total[$__rate_interval]))",
                          "{{scope}} locked={{locked}}")], 0, y, w=12))
    panels.append(panel(next(pid), "Links under guessing (slowed, never locked)",
                        [("max by (tenant) (castellan_link_guessing)", "{{tenant}} links"),
                         ("60 * sum by (tenant) (rate(castellan_link_slowed_checks_total[$__rate_interval]))",
                          "{{tenant}} slowed checks / min")], 12, y, w=12,
                        description="Links whose unknown guessers are slowed because of wrong passwords from "
                                    "everyone together: alert on > 0; `castellan lockout list` names them."))
    y += 8
    panels.append(panel(next(pid), "Node URLs left out of the client pages' CSP / min",
                        [("60 * sum(rate(castellan_csp_node_urls_refused_total[$__rate_interval]))", "refused")],
                        0, y, w=12,
                        description="Registered node WebSocket URLs that are not a plain ws(s) origin: browsers "
                                    "cannot connect to that node. A broken or hostile node record; alert on > 0."))
    panels.append(panel(next(pid), "Recorder jobs / min",
                        [("60 * sum by (region) (rate(castellan_recorder_jobs_launched_total[$__rate_interval]))",
                          "launched {{region}}"),
                         ("60 * sum(rate(castellan_recorder_jobs_dismissed_total[$__rate_interval]))", "dismissed"),
                         ("60 * sum by (reason) (rate(castellan_recorder_jobs_refused_total[$__rate_interval]))",
                          "refused: {{reason}}")], 12, y, w=12,
                        description="Recorders the control plane gave to recorder pools, dismissed, and meetings "
                                    "that wanted one and got none (no pool in an allowed region: a required "
                                    "meeting waits). docs/recording.md, Launching recorders."))
    y += 8

    panels.append(row(next(pid), "Trust: node identity and revocations", y))
    y += 1
    panels.append(panel(next(pid), "Placeable nodes by region",
                        [(f"max by (region) (castellan_nodes_placeable{{{R}}})", "{{region}}")], 0, y, w=8,
                        description="Nodes with an enrolled key, a valid signature and an answered health check. "
                                    "Alert when a region drops to 0."))
    panels.append(panel(next(pid), "Registry records rejected / min by reason",
                        [("60 * sum by (reason) (rate(castellan_registry_records_rejected_total[$__rate_interval]))",
                          "{{reason}}")], 8, y, w=8,
                        description="Node records no enrolled key vouches for (forged, replayed, wrong region, "
                                    "unknown key): alert on any."))
    panels.append(panel(next(pid), "Revocations: age (s), stale nodes, refresh failures / min",
                        [(f"max by (node) (castellan_node_revocations_age_seconds{{{R}}})", "{{node}} age"),
                         (f"sum(castellan_node_revocations_stale{{{R}}})", "nodes refusing joins (stale)"),
                         (f"60 * sum(rate(castellan_node_revocation_refresh_failures_total{{{R}}}[$__rate_interval]))",
                          "refresh failures / min")], 16, y, w=8,
                        description="A node refuses joins (revocations_stale) when it could not refresh the revoked "
                                    "links for longer than its bound: alert on stale > 0."))
    y += 8
    panels.append(panel(next(pid), "Tenant policy on running meetings: held, withdrawn / min, untrusted reads / min",
                        [(f"sum(castellan_node_policy_held_meetings{{{R}}})", "meetings held (policy unconfirmed)"),
                         (f"60 * sum(rate(castellan_node_policy_withdrawn_total{{{R}}}[$__rate_interval]))",
                          "withdrawn / min"),
                         (f"60 * sum(rate(castellan_node_policy_relays_pruned_total{{{R}}}[$__rate_interval]))",
                          "relay copies pruned / min"),
                         ("60 * sum by (reason) (rate(castellan_node_policy_reads_untrusted_total"
                          f"{{{R}}}[$__rate_interval]))", "untrusted reads {{reason}} / min")], 0, y, w=24,
                        description="A meeting leaves a region its tenant no longer allows within 15 s; held: the "
                                    "node could not confirm the tenant's policy for 12 s and forwards nothing of it "
                                    "(docs/residency.md). Alert on held > 0 or any rollback/rewritten read."))
    y += 8

    return {
        "uid": "castellan-overview",
        "title": "Castellan overview",
        "description": "Castellan SFU: rooms, participants, forwarding, loss recovery, placement and join failures per region.",
        "tags": ["castellan", "webrtc", "sfu"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
            {"name": "region", "label": "Region", "type": "query", "datasource": DS,
             "query": {"query": "label_values(castellan_node_load, region)", "refId": "region"},
             "definition": "label_values(castellan_node_load, region)",
             "multi": True, "includeAll": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1,
             "hide": 0, "options": [], "regex": ""},
        ]},
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(OUT)
