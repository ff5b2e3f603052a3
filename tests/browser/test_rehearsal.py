"""Issue 13, the rehearsal of a real install: the chart rendered for two regions, every rendered container run as a
local process with its args, its env and its volumes (tests/helm/test_chart_starts.py's Pod: Secrets' rendered
contents, read-only mounts read-only), in namespaces this test creates and removes:

    edge (hub)    PostgreSQL (Debian's), redis-server, two control-plane replicas (127.0.0.1:8000/8001, the chart's
                  env with database.url, so both share the store), the chart's signalling gateway (its rendered
                  nginx.conf) and nginx as the Ingress: TLS with the test CA's certificate, `/node/` -> the gateway,
                  the rest round robin over the two replicas (the Service)
    eu-1, us-1    the chart's node container of each region (its whole env, fieldRefs given)
    turn-eu/-us   the chart's coturn of each region (UDP/TCP 3478, TLS 443)
    client-b/-c   Chromium on an open network (client-b also runs the Playwright driver)
    client-a      Chromium whose namespace drops all UDP and every TCP port but 443

B and C open the https link of an EU-only tenant and see each other; replica 0 is then SIGKILLed; A joins through
the surviving replica and TURN/TLS and all three see each other, B and C decoding on (30 frames more each). Every join of the
EU tenant lands on eu-1's node, a US tenant's on us-1's. Deviations from a pod are the ones test_chart_starts
lists (bind addresses, ports, paths), plus: the processes run as root, and from the repository, not an image
(docs/deploy.md, "Rehearsal").
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser.netns import ARTIFACTS, CHROMIUM, run_driver, skip_unless_possible
from tests.browser.test_tls_turn import NO_UDP_ONLY_443, in_ns_ok
from tests.cluster.cluster import PASSWORD
from tests.helm.test_chart_starts import Pod
from tests.support import chart, coturn, nginx
from tests.support.postgres import PostgresServer, bin_dir
from tests.support.processes import PYTHON, REPO, Proc
from tests.support.tls import CertificateAuthority
from tests.support.topology import topology
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(240)]

DOMAIN = "meet.castellan.test"
TURN_HOSTS = {"eu-1": "turn-eu.castellan.test", "us-1": "turn-us.castellan.test"}
CP_PORTS, GATEWAY_PORT, REDIS_PORT, NODE_HTTP = (8000, 8001), 8080, 6379, 7880
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("CASTELLAN_")}


def values(redis_url: str, database_url: str, hub: str, nodes: dict[str, str]) -> dict[str, Any]:
    """The operator's values for two regions in two jurisdictions, each with its TURN (TLS on 443)."""
    return {
        "controlPlane": {"replicas": 2, "publicUrl": f"https://{DOMAIN}", "database": {"url": database_url}},
        "gateway": {"enabled": True, "port": GATEWAY_PORT},
        "redis": {"url": redis_url, "bundled": {"enabled": False}},
        "caBundle": {"configMap": "ca", "key": "ca.pem"},
        "node": {"controlPlaneUrl": f"https://{hub}"},
        "regions": [{"name": r, "jurisdiction": r[:2].upper(), "nodeAddresses": [addr], "httpPort": NODE_HTTP,
                     "turn": {"enabled": True, "host": TURN_HOSTS[r], "tls": {"enabled": True, "secretName": "tls"}}}
                    for r, addr in nodes.items()],
    }


def run_pod(docs: list[dict[str, Any]], deployment: str, root: Path, ca: Path, ns: str, fields: dict[str, str],
            overrides: dict[str, str]) -> Proc:
    """`deployment`'s container as a local process in `ns`: rendered args and env (Secrets and fieldRefs resolved
    as the kubelet would; `overrides` for what the machine forces), its volumes as directories, the CA bundle
    ConfigMap holding the test CA."""
    pod = Pod(docs, chart.named(docs, "Deployment", deployment), root)
    ca_dir = pod.dirs.get("/etc/castellan/ca")
    if ca_dir is not None:
        shutil.copy(ca, ca_dir / "ca.pem")
    resolved = chart.env_values(docs, pod.container, fields)
    refs = {e["name"] for e in pod.container.get("env", []) if "fieldRef" in e.get("valueFrom", {})}
    env = pod.env({**{k: resolved[k] for k in refs}, **overrides}, resolved)
    return Proc(deployment, pod.argv(), root / "out.log", ns=ns, env={**CLEAN, **env})


def in_ns(ns: str, code: str) -> str:
    """`python -c code` inside `ns`, from the repository: its stdout (AssertionError with stderr if it failed)."""
    r = subprocess.run(["ip", "netns", "exec", ns, PYTHON, "-c", code], capture_output=True, text=True, timeout=30,
                       cwd=REPO, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def api(ns: str, ca: Path, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    """One https request from `ns` through the Ingress (POST when `body`), trusting only the test CA."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = in_ns(ns, "import httpx, json\n"
                    f"body = json.loads({json.dumps(body)!r})\n"
                    f"r = httpx.request('POST' if body is not None else 'GET', {url!r}, json=body, "
                    f"headers={headers!r}, verify={str(ca)!r}, timeout=10, trust_env=False)\n"
                    "print(json.dumps([r.status_code, r.json() if r.content else None]))")
    status, answer = json.loads(out)
    return status, answer


def placeable(hub: str, port: int) -> dict[str, int]:
    return json.loads(in_ns(hub, "import json; from tests.cluster.cluster import placeable; "
                                 f"print(json.dumps(placeable('http://127.0.0.1:{port}')))"))


def test_a_two_region_install_rendered_by_the_chart_carries_a_meeting_through_a_replica_failure(tmp_path):
    skip_unless_possible()
    for tool in ("nginx", "turnserver", "nft", "redis-server", "unshare"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} is not installed (scripts/setup.sh --test installs it)")
    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh --test installs it)")
    logs = ARTIFACTS / "rehearsal"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[Proc] = []
    pg: PostgresServer | None = None
    spokes = ["client-a", "client-b", "client-c", "eu-1", "us-1", "turn-eu", "turn-us"]
    with topology(spokes, hub="edge") as topo:
        a, b, c, eu, us, turn_eu, turn_us = (topo.spokes[s] for s in spokes)
        hub, turns = eu.hub_addr, {"eu-1": turn_eu, "us-1": turn_us}
        ca = CertificateAuthority.create(tmp_path / "ca")
        edge = ca.issue("edge", [DOMAIN, *TURN_HOSTS.values()],
                        [s.hub_addr for s in topo.spokes.values()] + [turn_eu.addr, turn_us.addr, "127.0.0.1"])
        try:
            pg = PostgresServer(ns=topo.hub)  # its own /tmp dir: the postgres user cannot enter tmp_path
            pg.start()
            redis_url = f"redis://{hub}:{REDIS_PORT}/0"
            docs = chart.render(values(redis_url, pg.url, hub, {"eu-1": eu.addr, "us-1": us.addr}))
            procs.append(Proc("redis", [
                shutil.which("redis-server") or "redis-server", "--port", str(REDIS_PORT), "--bind", hub,
                "--save", "", "--appendonly", "no", "--dir", str(tmp_path), "--protected-mode", "no"],
                logs / "redis.log", ns=topo.hub))
            replicas = []
            for i, port in enumerate(CP_PORTS):  # one after the other: the first makes the operator key
                replicas.append(run_pod(docs, "castellan-control-plane", tmp_path / f"cp{i}", ca.cert, topo.hub, {},
                                        {"CASTELLAN_HOST": "127.0.0.1", "CASTELLAN_PORT": str(port)}))
                procs.append(replicas[-1])
                assert wait_until(lambda p=port: in_ns_ok(topo.hub, "import urllib.request as u; "
                                                          f"u.urlopen('http://127.0.0.1:{p}/readyz', timeout=2)"),
                                  40, 0.5), replicas[-1].tail()
            operator = (tmp_path / "cp0" / "data" / "operator.key").read_text().strip()
            rendered = chart.named(docs, "ConfigMap", "castellan-gateway")["data"]["nginx.conf"]
            procs.append(nginx.start(nginx.gateway(tmp_path / "gateway", rendered), ns=topo.hub))
            conf = nginx.config(tmp_path / "ingress", cert=edge.cert, key=edge.key, server_name=DOMAIN,
                                control_plane="http://castellan_cp",
                                upstreams={"castellan_cp": [f"127.0.0.1:{p}" for p in CP_PORTS]},
                                routes={"/node/": f"http://127.0.0.1:{GATEWAY_PORT}"})
            procs.append(nginx.start(conf, ns=topo.hub))
            nodes = {}
            for region, spoke in (("eu-1", eu), ("us-1", us)):
                pod_name = f"castellan-node-{region}-rehearsal"
                fields = {"metadata.name": pod_name, "status.hostIP": spoke.addr, "status.podIP": spoke.addr}
                nodes[region] = pod_name
                procs.append(run_pod(docs, f"castellan-node-{region}", tmp_path / region, ca.cert, spoke.ns,
                                     fields, {}))
                procs.append(coturn.start(f"coturn-{region}", coturn.argv(docs, region, turns[region].addr,
                                                                          edge.cert, edge.key, tmp_path),
                                          logs / f"coturn-{region}.log", turns[region].ns))
            # both replicas may place on both regions' nodes (enrolled keys, signed records, health checked)
            for port in CP_PORTS:
                assert wait_until(lambda p=port: placeable(topo.hub, p) == {"eu-1": 1, "us-1": 1}, 40, 0.5,
                                  ignore=(Exception,)), "\n".join(p.tail() for p in procs)

            base = f"https://{hub}"
            links = {}
            for tenant, jurisdiction in (("acme", "EU"), ("globex", "US")):
                status, answer = api(b.ns, ca.cert, f"{base}/v1/tenants",
                                     {"tenant": tenant, "name": tenant.upper(), "jurisdiction": jurisdiction}, operator)
                assert status == 201, answer
                status, links[tenant] = api(b.ns, ca.cert, f"{base}/v1/tenants/{tenant}/links",
                                            {"title": "Board", "password": PASSWORD}, operator)
                assert status == 201, links[tenant]
            # the EU-only tenant is placed on eu-1's node only, whichever replica answers
            for _ in range(4):
                status, joined = api(c.ns, ca.cert, f"{base}/v1/join",
                                     {"link": links["acme"]["link"], "name": "probe", "password": PASSWORD})
                assert status == 200 and joined["node"] == nodes["eu-1"], joined

            rules = tmp_path / "blocked.nft"
            rules.write_text(NO_UDP_ONLY_443)
            subprocess.run(["ip", "netns", "exec", a.ns, "nft", "-f", str(rules)], check=True, timeout=10)
            chromium_by = {}
            for key, spoke in (("A", a), ("B", b), ("C", c)):
                wrapper = tmp_path / f"chromium-in-{spoke.name}"
                wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {spoke.ns} {CHROMIUM} \"$@\"\n")
                wrapper.chmod(0o755)
                chromium_by[key] = str(wrapper)
            turn_map = ",".join(f"MAP {h} {turns[r].addr}" for r, h in TURN_HOSTS.items())
            pause, resume = tmp_path / "paused", tmp_path / "resume"
            config = {
                "base_url": f"https://{DOMAIN}", "link": {**links["acme"], "password": PASSWORD},
                "secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
                "spki": edge.spki_sha256, "chromium_by": chromium_by,
                "resolve": {k: f"MAP {DOMAIN} {s.hub_addr},{turn_map}" for k, s in (("A", a), ("B", b), ("C", c))},
                "participants": [["B", "Bob"], ["C", "Cleo"], ["A", "Ada (no UDP)"]], "pause_after": "C",
                "pause_file": str(pause), "resume_file": str(resume), "shot": "rehearsal-three.png",
            }
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                driving = pool.submit(run_driver, b.ns, "tls_turn", config, 200, "rehearsal")
                assert wait_until(lambda: pause.exists() or driving.done(), 120, 0.2), "B and C never met"
                assert not driving.done(), driving.result()
                replicas[0].kill()  # mid meeting: a replica's host dies
                resume.write_text("go")
                result = driving.result()
            # after the kill: the next joins of both tenants succeed, each in its own region
            for tenant, region in (("globex", "us-1"), ("acme", "eu-1")):
                status, joined = api(c.ns, ca.cert, f"{base}/v1/join",
                                     {"link": links[tenant]["link"], "name": "after", "password": PASSWORD})
                assert status == 200 and joined["node"] == nodes[region], (tenant, joined)
                address = {"eu-1": eu.addr, "us-1": us.addr}[region]  # through the deployment's own domain
                assert joined["ws_url"] == f"wss://{DOMAIN}/node/{address}/ws", joined
            # the Ingress really met the dead replica (and went on to the other): not a kill nobody noticed
            assert not replicas[0].alive()
            ingress_log = (tmp_path / "ingress" / "error.log").read_text()
            assert f"127.0.0.1:{CP_PORTS[0]}" in ingress_log and "refused" in ingress_log, ingress_log[-2000:]
        except BaseException:
            print("\n".join(p.tail() for p in procs))
            raise
        finally:
            for p in reversed(procs):
                p.stop()
            if pg is not None:
                pg.remove()
    tails = "\n".join(p.tail(3000) for p in procs)
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-40:]) + tails
    pages, pairs, stats = result["pages"], result["pairs"], result["stats"]
    for k in ("A", "B", "C"):
        assert pages[k]["origin"] == f"https://{DOMAIN}" and pages[k]["secure"], pages[k]
        assert pages[k]["ws"] == f"wss://{DOMAIN}/node/{eu.addr}/ws", pages[k]  # the EU tenant: eu-1's node
        ice = json.dumps(pages[k]["ice"])
        assert f"turns:{TURN_HOSTS['eu-1']}:443?transport=tcp" in ice and TURN_HOSTS["us-1"] not in ice, ice
        assert "End-to-end encrypted" in stats[k]["lock"], stats[k]
    assert pairs["A"]["local"]["type"] == "relay" and pairs["A"]["local"]["relayProtocol"] == "tls", pairs
    assert pairs["A"]["remote"]["address"] == eu.addr, pairs
    for k in ("B", "C"):
        assert pairs[k]["local"]["type"] != "relay" and pairs[k]["local"]["protocol"] == "udp", pairs
        # B and C kept decoding across the replica's death (at 30 frames more than when it died, and A's too)
        assert stats[k]["frames"] >= result["before_pause"][k] + 30, (stats, result["before_pause"])
    (ARTIFACTS / "rehearsal.result.json").write_text(json.dumps({"pairs": pairs, "pages": pages,
                                                                 "before_kill": result["before_pause"],
                                                                 "stats": stats}, indent=2))
