"""A subscriber on a throttled link gets the low simulcast layer without freezing, moves up when the limit
lifts, and its decoded stream has no gaps where the layer changes (issue 8).

    sub ns: Chromium subscriber (10.213.0.2)  --veth, tbf on the node's egress--  node ns: node (10.213.0.1)
                                                                                  + simulcast publisher bot

The publisher is a bench peer sending q/h/f (320x180 ~150 kb/s, 640x360 ~490 kb/s, 1280x720 ~1.2 Mb/s; the frame
number drawn in the pixels; the same frame at the same timestamp on every layer), as a browser's simulcast does.
The subscriber is a real Chromium: it negotiates transport-cc, so the node runs its send-side estimate and probes
before upgrading. The page reads the number of every frame it presents. Root only (CI runs as root): namespaces
and the `tc tbf` qdisc are created and removed by the test (`netem` is not available here; `tbf` is).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from signalling.tokens import KeyRing, TokenIssuer
from tests.browser.netns import run_driver, skip_unless_possible
from tests.cluster import cluster as cl

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(240)]

HTTP_PORT, UDP_PORT = 7880, 40000
RATE = "400kbit"  # q (~190 kb/s with audio and headers) fits, h (~560 kb/s) does not
THROTTLED = 20.0  # seconds the subscriber spends behind the limit
CLIP = 120  # the publisher's clip loops every 120 frames: frame numbers are mod 120


@pytest.fixture
def topology() -> Iterator[cl.Topology]:
    skip_unless_possible()
    with cl.topology(["sub"], hub="node") as topo:
        yield topo


def tc(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, "tc", *args]


def test_throttled_subscriber_gets_the_low_layer_then_moves_up_without_gaps(topology: cl.Topology,
                                                                             tmp_path: Path) -> None:
    sub = topology.spokes["sub"]
    node_ip = sub.hub_addr
    keys = KeyRing()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    issuer = TokenIssuer(keys)

    def token(pid: str) -> str:
        return issuer.mint(tenant="t", room="throttle", participant=pid, region="local", node="node-1", ttl=600)

    url = f"ws://{node_ip}:{HTTP_PORT}/ws"
    procs = cl.Processes()
    try:
        subprocess.run(tc(topology.hub, "qdisc", "add", "dev", sub.hub_iface, "root", "tbf", "rate", RATE,
                          "burst", "4kb", "latency", "100ms"), check=True, timeout=10)
        node = procs.add(cl.Proc("node", [cl.PYTHON, "-m", "sfu.server", "--node-id", "node-1", "--region", "local",
                                          "--host", node_ip, "--udp-host", node_ip, "--public-ip", node_ip,
                                          "--http-port", str(HTTP_PORT), "--udp-port", str(UDP_PORT),
                                          "--jwks-file", str(jwks), "--data-dir", str(tmp_path / "node"),
                                          "--log-level", "info"],
                                 tmp_path / "node.log", ns=topology.hub))
        assert cl.wait_until(lambda: "Uvicorn running" in node.tail(), 30), node.tail()
        pub = procs.add(cl.Proc("publisher", [cl.PYTHON, "-m", "loadtests.bench.simulcast_publisher", url,
                                              token("publisher"), "150"], tmp_path / "publisher.log", ns=topology.hub))
        assert cl.wait_until(lambda: "publishing" in pub.tail(), 60), pub.tail() + node.tail()
        result = run_driver(sub.ns, "throttled", {
            "http_url": f"http://{node_ip}:{HTTP_PORT}", "ws_url": url, "token": token("subscriber"),
            "throttled": THROTTLED, "after": 60.0,
            "lift": tc(topology.hub, "qdisc", "del", "dev", sub.hub_iface, "root"),
        }, timeout=200, name="throttled")
    finally:
        procs.stop_all()
    logs = "\n".join(p.tail(3000) for p in procs.items)
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-20:]) + logs
    assert result["lift_rc"][0] == 0, result["lift_rc"]

    start, lifted = result["started"], result["lifted"]
    frames = [(t / 1000.0, w, n) for t, w, n in result["frames"]]  # page time (ms since the epoch) -> s
    samples = result["samples"]
    timeline = [(round(t - start, 2), w, n) for t, w, n in frames]
    switches = [(timeline[i - 1], timeline[i]) for i in range(1, len(timeline)) if timeline[i][1] != timeline[i - 1][1]]
    print(f"{len(frames)} frames presented; limit lifted at {lifted - start:.1f} s; switches {switches}")
    node_log = (tmp_path / "node.log").read_text(errors="replace")
    print("node:", "\n".join(ln for ln in node_log.splitlines() if " layer " in ln or "probe for" in ln))

    # behind the limit: the low layer, and the picture keeps moving
    throttled = [f for f in frames if f[0] < lifted]
    share_low = sum(1 for _, w, _ in throttled if w <= 320) / max(1, len(throttled))
    gaps = [b[0] - a[0] for a, b in zip(throttled, throttled[1:], strict=False)]
    freezes = [s for s in samples if s["t"] < lifted]
    assert share_low >= 0.9, f"only {share_low:.0%} of throttled frames on the low layer: {switches}"
    assert len(throttled) >= 20 * THROTTLED, f"{len(throttled)} frames presented in {THROTTLED:.0f} s throttled"
    stalls = [(round(a[0] - start, 2), round(b[0] - a[0], 2)) for a, b in zip(throttled, throttled[1:], strict=False)
              if b[0] - a[0] > 0.2]
    froze = [(round(s["t"] - start, 1), s.get("freezeCount"), round(s.get("totalFreezesDuration", 0), 2),
              s.get("framesDecoded"), s.get("packetsLost")) for s in freezes]
    stood_still = max(gaps) >= 0.7 or froze[-1][1] - froze[0][1] != 0

    # the limit lifts: up to the top layer
    top = [f for f in frames if f[0] > lifted and f[1] >= 1280]
    assert top, f"never reached 1280x720 after the limit lifted: {switches}\n{logs[-3000:]}"

    # no gaps at switches: the first frame of the new layer follows the last of the old (or repeats it)
    for a, b in switches:
        assert (b[2] - a[2]) % CLIP in (0, 1, 2), f"frames lost at the switch {a} -> {b}"
    middle = next((f[0] for f in frames if f[0] > lifted and f[1] >= 640), top[0][0])
    print(f"top layer {top[0][0] - lifted:.1f} s, middle {middle - lifted:.1f} s after the lift; throttled: longest gap {max(gaps):.2f} s, "
          f"gaps over 0.2 s {stalls}, getStats freezes {froze[-1][1] - froze[0][1]}, lost {froze[-1][4]}")
    # the picture never stood still behind the limit: probes after a failed one stay near what it measured and stop
    # at the first sign of a queue (docs/reliability.md, "A probe that stalls a throttled picture")
    assert not stood_still, f"the picture stood still for {max(gaps):.2f} s while throttled: {stalls}; freezes {froze}"
