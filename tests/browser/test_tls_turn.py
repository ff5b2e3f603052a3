"""Issue 13: deployable for real — TLS everywhere a browser or another process connects, and TURN when UDP is
blocked. Real processes in namespaces this test creates and removes:

    edge (hub)   nginx as the Ingress: TLS on 443 with the test CA's certificate, `/node/` -> the signalling
                 gateway, the rest -> the control plane (`castellan control-plane`, 127.0.0.1:8000); the gateway is
                 nginx running the nginx.conf the chart renders; redis-server over TLS only (rediss)
    eu-1         the node container the chart renders for eu-1, run as a local process: its args and its whole
                 env (no flag added), e.g. CASTELLAN_PUBLIC_WS_URL wss://meet.castellan.test/node/{internal_ip}/ws,
                 trusted proxies, TURN, rediss:// Redis and https control plane trusting the caBundle (SSL_CERT_FILE)
    turn         coturn as the chart renders eu-1's TURN (UDP/TCP 3478, TLS 443; relays to eu-1's node only)
    client-a     Chromium whose namespace drops all UDP and every TCP port but 443 (a ministry or hotel network)
    client-b     Chromium on an open network (also runs the Playwright driver)

Both open the https link, join and decode each other's video; A's selected ICE pair is a relay candidate over
TLS, B's is direct UDP.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.identity import public_text
from tests.browser.netns import ARTIFACTS, CHROMIUM, run_driver, skip_unless_possible
from tests.cluster.cluster import PASSWORD, castellan, seed
from tests.support import chart, coturn, nginx
from tests.support.processes import PYTHON, Proc
from tests.support.tls import CertificateAuthority
from tests.support.topology import topology
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(240)]

DOMAIN = "meet.castellan.test"
TURN_HOST = "turn.castellan.test"
CP_PORT, NODE_HTTP, NODE_UDP, REDIS_TLS, GATEWAY_PORT = 8000, 7880, 40000, 6380, 8080

NO_UDP_ONLY_443 = """\
table inet castellan_blocked {
    chain out { type filter hook output priority 0; policy accept;
        oifname "lo" accept; meta l4proto udp drop; tcp dport != 443 drop; }
    chain in { type filter hook input priority 0; policy accept;
        iifname "lo" accept; meta l4proto udp drop; }
}
"""


def chart_node(docs: list[dict], pod: str, host_ip: str, mounts: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """eu-1's node container as the chart renders it, as a local command: its args after the image's entrypoint
    (`castellan`) and its whole env (Secrets and fieldRefs resolved as the kubelet would), with the paths of its
    mounts moved to where this test keeps those files."""
    c = chart.container(docs, "Deployment", "castellan-node-eu-1")
    env = chart.env_values(docs, c, fields={"metadata.name": pod, "status.hostIP": host_ip, "status.podIP": host_ip})
    for k, v in env.items():
        for inside, outside in mounts.items():
            if v.startswith(inside):
                env[k] = outside + v[len(inside):]
    return castellan(*c["args"]), env


def in_ns_ok(ns: str, code: str, env: dict[str, str] | None = None) -> bool:
    """Runs `python -c code` inside `ns`: True when it exits 0 (probes run where the traffic is)."""
    r = subprocess.run(["ip", "netns", "exec", ns, PYTHON, "-c", code], capture_output=True, timeout=20,
                       env={"PATH": "/usr/bin:/bin", **(env or {})})
    return r.returncode == 0


def gateway_answer(ns: str, address: str) -> int:
    """Through the gateway (inside `ns`, where it listens) to /node/<address>/ws: 101 when a WebSocket opened,
    else the HTTP status it answered (404: refused by the gateway; 502 would mean it tried to forward)."""
    code = ("import asyncio, sys, websockets\n"
            "async def main():\n"
            f"    async with websockets.connect('ws://127.0.0.1:{GATEWAY_PORT}/node/{address}/ws', open_timeout=3):\n"
            "        print(101)\n"
            "try:\n"
            "    asyncio.run(main())\n"
            "except websockets.InvalidStatus as e:\n"
            "    print(e.response.status_code)\n")
    r = subprocess.run(["ip", "netns", "exec", ns, PYTHON, "-c", code], capture_output=True, text=True, timeout=20)
    return int(r.stdout.strip() or 0)


def https_ok(ns: str, url: str, ca: Path) -> bool:
    return in_ns_ok(ns, "import ssl, urllib.request as u; "
                        f"u.urlopen({url!r}, timeout=3, context=ssl.create_default_context(cafile={str(ca)!r}))")


def test_https_link_through_nginx_and_a_participant_without_udp_joins_through_turn_tls(tmp_path):
    skip_unless_possible()
    for tool in ("nginx", "turnserver", "nft", "redis-server"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} is not installed (scripts/setup.sh --test installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    logs = ARTIFACTS / "tls-turn"
    logs.mkdir(exist_ok=True)
    procs: list[Proc] = []
    with topology(["client-a", "client-b", "eu-1", "turn"], hub="edge") as topo:
        a, b, eu, turn = (topo.spokes[s] for s in ("client-a", "client-b", "eu-1", "turn"))
        ca = CertificateAuthority.create(tmp_path / "ca")
        edge = ca.issue("edge", [DOMAIN, TURN_HOST], [a.hub_addr, b.hub_addr, eu.hub_addr, turn.addr, "127.0.0.1"])
        trust = {"SSL_CERT_FILE": str(ca.cert)}  # the control plane trusts the deployment's CA
        redis_url = f"rediss://{eu.hub_addr}:{REDIS_TLS}/0"
        docs = chart.render({
            "controlPlane": {"publicUrl": f"https://{DOMAIN}"}, "gateway": {"enabled": True, "port": GATEWAY_PORT},
            "redis": {"url": redis_url, "bundled": {"enabled": False}}, "caBundle": {"configMap": "ca", "key": "ca.pem"},
            "node": {"controlPlaneUrl": f"https://{eu.hub_addr}"},
            "regions": [{"name": "eu-1", "jurisdiction": "EU", "nodeAddresses": [eu.addr], "httpPort": NODE_HTTP,
                         "turn": {"enabled": True, "host": TURN_HOST,
                                  "tls": {"enabled": True, "secretName": "turn-tls"}}}]})
        # the region's node key, as the chart's Secret would hold it; its public half enrolled with the control plane
        node_key = Ed25519PrivateKey.generate()
        (tmp_path / "node-key").mkdir()
        (tmp_path / "node-key" / "node-key.pem").write_bytes(node_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        enrolled = json.dumps([{"region": "eu-1", "public_key": public_text(node_key)}])
        seeded = seed(tmp_path / "control.db", [("eu-1", "EU", "Frankfurt, DE", "EU Central")],
                      [("acme", "ACME", "EU", None)], {"board": "acme"}, public_url=f"https://{DOMAIN}")
        try:
            procs.append(Proc("redis", [
                shutil.which("redis-server") or "redis-server", "--port", "0", "--tls-port", str(REDIS_TLS),
                "--bind", eu.hub_addr, "--tls-cert-file", str(edge.cert), "--tls-key-file", str(edge.key),
                "--tls-ca-cert-file", str(ca.cert), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
                "--dir", str(tmp_path), "--protected-mode", "no"], logs / "redis.log", ns=topo.hub))
            procs.append(Proc("control-plane", castellan(
                "control-plane", "--host", "127.0.0.1", "--port", str(CP_PORT), "--db", str(seeded.db),
                "--redis-url", redis_url, "--public-url", f"https://{DOMAIN}", "--trust-forwarded-for",
                "--node-keys", enrolled),
                logs / "control-plane.log", ns=topo.hub, env=trust))
            rendered = chart.named(docs, "ConfigMap", "castellan-gateway")["data"]["nginx.conf"]
            procs.append(nginx.start(nginx.gateway(tmp_path / "gateway", rendered), ns=topo.hub))
            conf = nginx.config(tmp_path / "ingress", cert=edge.cert, key=edge.key, server_name=DOMAIN,
                                control_plane=f"http://127.0.0.1:{CP_PORT}",
                                routes={"/node/": f"http://127.0.0.1:{GATEWAY_PORT}"})
            procs.append(nginx.start(conf, ns=topo.hub))
            # the node reaches the control plane only over https, through nginx
            assert wait_until(lambda: https_ok(eu.ns, f"https://{eu.hub_addr}/readyz", ca.cert), 30, 0.5,
                              ignore=(Exception,)), "\n".join(p.tail() for p in procs)
            argv, env = chart_node(docs, "castellan-node-eu-1-7d9f", eu.addr, {
                "/etc/castellan/ca/": f"{ca.cert.parent}/", "/var/lib/castellan/node": str(tmp_path / "node"),
                "/etc/castellan/node-key/": f"{tmp_path / 'node-key'}/"})
            procs.append(Proc("node", argv, logs / "node.log", ns=eu.ns, env=env))
            procs.append(coturn.start("coturn", coturn.argv(docs, "eu-1", turn.addr, edge.cert, edge.key, tmp_path),
                                      logs / "coturn.log", turn.ns))
            # the node is placeable once it registered (over rediss): the control plane answers /readyz
            node = procs[4]
            assert wait_until(lambda: "registered in region" in node.output() or not node.alive(), 30, 0.2)
            assert node.alive(), node.tail()
            # the gateway forwards to the region's nodes only (never an open proxy into the cluster)
            assert gateway_answer(topo.hub, eu.addr) == 101, "the gateway did not forward to eu-1's node"
            for elsewhere in ("127.0.0.1", eu.hub_addr, turn.addr, "169.254.169.254"):
                assert gateway_answer(topo.hub, elsewhere) == 404, f"the gateway forwarded to {elsewhere}"
            rules = tmp_path / "blocked.nft"
            rules.write_text(NO_UDP_ONLY_443)
            subprocess.run(["ip", "netns", "exec", a.ns, "nft", "-f", str(rules)], check=True, timeout=10)
            # the block holds: from A, nothing but TCP 443 gets out (TURN's plain 3478 included)
            assert not in_ns_ok(a.ns, f"import socket; socket.create_connection(({turn.addr!r}, 3478), timeout=2)")
            assert in_ns_ok(a.ns, f"import socket; socket.create_connection(({turn.addr!r}, 443), timeout=2)")
            wrapper = tmp_path / "chromium-in-client-a"
            wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {a.ns} {CHROMIUM} \"$@\"\n")
            wrapper.chmod(0o755)
            secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
            result = run_driver(b.ns, "tls_turn", {
                "base_url": f"https://{DOMAIN}",
                "link": {**seeded.links["board"], "password": PASSWORD},
                "secret": secret,
                "spki": edge.spki_sha256,
                "chromium_by": {"A": str(wrapper), "B": CHROMIUM},
                "resolve": {"A": f"MAP {DOMAIN} {a.hub_addr},MAP {TURN_HOST} {turn.addr}",
                            "B": f"MAP {DOMAIN} {b.hub_addr},MAP {TURN_HOST} {turn.addr}"},
            }, timeout=180, name="tls-turn")
        finally:
            for p in reversed(procs):
                p.stop()
    tails = "\n".join(p.tail(3000) for p in procs)
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-40:]) + tails
    pages, pairs = result["pages"], result["pairs"]
    for k in ("A", "B"):
        assert pages[k]["origin"] == f"https://{DOMAIN}" and pages[k]["secure"], pages[k]
        # the join answer named the node's wss URL on the deployment's own domain
        assert pages[k]["ws"] == f"wss://{DOMAIN}/node/{eu.addr}/ws", pages[k]
        assert f"turns:{TURN_HOST}:443?transport=tcp" in pages[k]["ice"][0], pages[k]
        assert result["stats"][k]["frames"] >= 30 and "End-to-end encrypted" in result["stats"][k]["lock"]
    assert pairs["A"]["local"]["type"] == "relay" and pairs["A"]["local"]["relayProtocol"] == "tls", pairs
    assert pairs["A"]["remote"]["address"] == eu.addr, pairs
    assert pairs["B"]["local"]["type"] != "relay" and pairs["B"]["local"]["protocol"] == "udp", pairs
    turn_secret = env["CASTELLAN_TURN_SECRET"]
    for p in procs:  # the region's TURN secret stays in the node: in no log, never sent to a browser
        assert turn_secret not in p.output(), f"the TURN secret is in {p.name}'s log"
    assert turn_secret not in json.dumps(result)
    (ARTIFACTS / "tls-turn.result.json").write_text(json.dumps({"pairs": pairs, "pages": pages}, indent=2))
