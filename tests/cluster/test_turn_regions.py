"""Issue 13, TURN per region, fail closed — with real coturn (Debian's `turnserver`) run with the arguments and
secrets the chart renders for two regions, credentials minted by the product from the env the chart gives that
region's nodes, and a TURN client (aioice) in its own namespace:

- a credential minted for eu-1 allocates on eu-1's TURN over UDP, TCP and TLS (on 443, the test CA's cert), and
  eu-1's TURN relays to eu-1's node;
- eu-1's TURN refuses to relay to us-1's node (or anywhere else): 403;
- us-1's TURN refuses eu-1's credential (401), and eu-1's TURN refuses an expired eu-1 credential (401).

Topology (tests/support/topology.py): hub `nodes` (a UDP echo standing for each region's node: eu-1's at
10.213.0.1, us-1's at 10.213.1.1), spokes `turn-eu` (10.213.0.2), `turn-us` (10.213.1.2), `client` (10.213.2.2).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from sfu import server as node_server
from sfu.turn import TurnConfig, credential, ice_server
from tests.support import chart, coturn
from tests.support.processes import PYTHON, REPO, Proc
from tests.support.tls import CertificateAuthority
from tests.support.topology import netns_unavailable, topology
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

ARTIFACTS = REPO / "artifacts" / "turn"
NODE_PORT = 40000
ECHO = (  # stands for a node's UDP port: answers every datagram to where it came from
    "import socket\n"
    f"s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', {NODE_PORT}))\n"
    "while True:\n"
    "    d, a = s.recvfrom(2048); s.sendto(d, a)\n"
)


def two_regions(eu_node: str, us_node: str) -> dict:
    turn = {"enabled": True, "hostNetwork": True, "tls": {"enabled": True, "secretName": "turn-tls"}}
    return {"regions": [
        {"name": "eu-1", "jurisdiction": "EU",
         "turn": {**turn, "host": "turn.eu-1.castellan.test", "allowedPeerIPs": [eu_node]}},
        {"name": "us-1", "jurisdiction": "US",
         "turn": {**turn, "host": "turn.us-1.castellan.test", "allowedPeerIPs": [us_node]}},
    ]}


def node_turn_config(docs: list[dict], region: str, monkeypatch: pytest.MonkeyPatch) -> TurnConfig:
    """What `castellan node` reads from the env the chart gives `region`'s nodes."""
    for k, v in coturn.node_env(docs, region).items():
        monkeypatch.setenv(k, v)
    cfg = node_server.turn_config(node_server.parse_args([]))
    assert cfg is not None, "the chart enabled TURN but the node read no TURN settings"
    return cfg


def probe(ns: str, attempts: list[dict], name: str) -> list[dict]:
    cfg = ARTIFACTS / f"{name}.json"
    cfg.write_text(json.dumps({"attempts": attempts}))
    p = Proc(name, [PYTHON, "-m", "tests.cluster.turn_probe", str(cfg)], ARTIFACTS / f"{name}.log", ns=ns)
    try:
        wait_until(lambda: not p.alive(), 60, 0.1)
    finally:
        p.stop()
    line = next((ln for ln in p.output().splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, p.output()[-3000:]
    return json.loads(line[len("RESULT "):])  # type: ignore[no-any-return]


def test_turn_credentials_work_only_in_their_region_and_relay_only_to_its_nodes(monkeypatch, tmp_path):
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    if shutil.which("turnserver") is None:
        pytest.skip("coturn is not installed (scripts/setup.sh --test installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with topology(["turn-eu", "turn-us", "client"], hub="nodes") as topo:
        eu, us, client = topo.spokes["turn-eu"], topo.spokes["turn-us"], topo.spokes["client"]
        eu_node, us_node = eu.hub_addr, us.hub_addr
        docs = chart.render(two_regions(eu_node, us_node))
        ca = CertificateAuthority.create(tmp_path / "ca")
        certs = {r: ca.issue(f"turn-{r}", [f"turn.{r}.castellan.test"], [ip])
                 for r, ip in (("eu-1", eu.addr), ("us-1", us.addr))}
        procs = [Proc("echo", [PYTHON, "-c", ECHO], ARTIFACTS / "echo.log", ns=topo.hub)]
        try:
            for region, spoke in (("eu-1", eu), ("us-1", us)):
                argv = coturn.argv(docs, region, spoke.addr, certs[region].cert, certs[region].key, tmp_path)
                procs.append(coturn.start(f"coturn-{region}", argv, ARTIFACTS / f"coturn-{region}.log", spoke.ns))
            eu_turn = node_turn_config(docs, "eu-1", monkeypatch)
            us_turn = node_turn_config(docs, "us-1", monkeypatch)
            assert eu_turn.secret != us_turn.secret
            entry = ice_server(eu_turn, "alice", time.time())
            ports = {"udp": 3478, "tcp": 3478, "tls": 443}
            assert f"turns:turn.eu-1.castellan.test:{ports['tls']}?transport=tcp" in entry["urls"]
            expired_user = f"{int(time.time()) - 5}:alice"
            base = {"username": entry["username"], "password": entry["credential"], "ca": str(ca.cert)}
            attempts = [
                {**base, "host": eu.addr, "port": ports[t], "transport": t, "sni": "turn.eu-1.castellan.test",
                 "peers": [[eu_node, NODE_PORT], [us_node, NODE_PORT], [client.hub_addr, NODE_PORT]]}
                for t in ("udp", "tcp", "tls")
            ]
            attempts += [
                {**base, "host": us.addr, "port": 3478, "transport": "udp"},  # eu-1's credential at us-1
                {**base, "host": eu.addr, "port": 3478, "transport": "udp", "username": expired_user,
                 "password": credential(eu_turn.secret, expired_user)},
                {**base, "host": us.addr, "port": 3478, "transport": "udp",  # us-1's own, for contrast
                 "username": (u := ice_server(us_turn, "bob", time.time()))["username"], "password": u["credential"],
                 "peers": [[us_node, NODE_PORT], [eu_node, NODE_PORT]]},
            ]
            results = probe(client.ns, attempts, "turn-regions")
        finally:
            for p in procs:
                p.stop()
    logs = "\n".join(p.tail(2000) for p in procs)
    udp, tcp, tls, cross, expired, own_us = results
    for transport, r in (("udp", udp), ("tcp", tcp), ("tls", tls)):
        assert r["allocated"], f"{transport}: {r}\n{logs}"
        assert r["relayed"][0] == eu.addr, r
        assert r["peers"][f"{eu_node}:{NODE_PORT}"] == "echo", f"{transport}: eu-1's TURN must relay to eu-1's node: {r}"
        assert r["peers"][f"{us_node}:{NODE_PORT}"] == 403, f"{transport}: relayed to another region's node: {r}"
        assert r["peers"][f"{client.hub_addr}:{NODE_PORT}"] == 403, f"{transport}: relayed elsewhere: {r}"
    assert cross == {"allocated": False, "error": 401}, f"us-1's TURN took eu-1's credential: {cross}"
    assert expired == {"allocated": False, "error": 401}, f"an expired credential was taken: {expired}"
    assert own_us["allocated"] and own_us["peers"] == {f"{us_node}:{NODE_PORT}": "echo", f"{eu_node}:{NODE_PORT}": 403}
