"""The issue's attack, on real processes (issue 13): someone with write access to Redis writes a node record
claiming `eu-1` at an address of their choice; a node process whose key nobody enrolled claims `eu-1` too. The
next EU-only tenant's joins must go only to the enrolled eu-1 node (or be refused while there is none), and the
control plane must count what it ignored (`castellan_registry_records_rejected_total{reason}`).

redis-server, `castellan control-plane` and two `castellan node` processes, all on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import redis

from residency.model import Node
from tests.cluster import cluster as cl
from tests.support.ports import UDP, free_port

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

HOST = "127.0.0.1"
ATTACKER = "198.51.100.7"  # documentation range: nothing is ever sent there (the record is never used)


def rejected(control_url: str) -> dict[str, float]:
    text = httpx.get(f"{control_url}/metrics", timeout=2, trust_env=False).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("castellan_registry_records_rejected_total{"):
            out[line.split('reason="', 1)[1].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


def join(control_url: str, link: str) -> tuple[int, dict[str, object]]:
    r = httpx.post(f"{control_url}/v1/join", json={"link": link, "name": "eve's target", "password": cl.PASSWORD},
                   timeout=10, trust_env=False)
    return r.status_code, r.json()


def test_a_record_written_into_redis_and_an_unenrolled_node_never_get_a_join(tmp_path: Path) -> None:
    procs = cl.Processes()
    try:
        rds = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        rds.start()
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        seeded = cl.seed(tmp_path / "control" / "castellan.db",
                         regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central")],
                         tenants=[("eurocorp", "EuroCorp SE", "EU", ["eu-1"])],
                         links={"m1": "eurocorp", "m2": "eurocorp", "m3": "eurocorp"}, public_url=cp_url)
        cp = procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, rds.url))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 30), cp.tail()

        # 1. the attacker's record, straight into Redis, in the format the nodes write (no TTL either)
        evil = Node(id="eu-1-evil", region="eu-1", public_ip=ATTACKER, udp_port=40000,
                    ws_url=f"ws://{ATTACKER}:7880/ws", http_url=f"http://{ATTACKER}:7880")
        r = redis.Redis.from_url(rds.url)
        r.set("castellan:node:eu-1-evil", json.dumps(evil.to_dict()))
        r.sadd("castellan:nodes", "eu-1-evil")
        assert cl.wait_until(lambda: rejected(cp_url).get("node_unsigned", 0) >= 1, 20), cp.tail()
        status, body = join(cp_url, seeded.links["m1"]["link"])
        assert status == 503 and body["error"] == "placement_refused", body  # refused, never the attacker's address

        # 2. a node process with a key nobody enrolled (its data dir makes one on first start)
        rogue_http = free_port()
        rogue_argv = cl.castellan("node", "--node-id", "eu-1-rogue", "--region", "eu-1", "--host", HOST,
                                  "--http-port", str(rogue_http), "--udp-port", str(free_port(HOST, UDP)),
                                  "--redis-url", rds.url, "--control-plane-url", cp_url,
                                  "--data-dir", str(tmp_path / "rogue"), "--log-level", "info")
        procs.add(cl.Proc("node eu-1-rogue", rogue_argv, tmp_path / "rogue.log"))
        assert cl.wait_until(lambda: "eu-1-rogue" in cl.registry_nodes(rds.url), 30), procs.logs()
        assert cl.wait_until(lambda: rejected(cp_url).get("node_key_unknown", 0) >= 1, 20), procs.logs()
        assert "castellan node-key enroll --region eu-1" in (tmp_path / "rogue.log").read_text()  # it says how

        # 3. the enrolled node: every EU join goes there, none to the forgery or the rogue
        procs.add(cl.node(tmp_path, "eu-1-a", "eu-1", HOST, free_port(), free_port(HOST, UDP), rds.url, cp_url))
        assert cl.wait_until(lambda: cl.placeable(cp_url).get("eu-1") == 1, 30), procs.logs()
        answers = [join(cp_url, seeded.links[m]["link"]) for m in ("m1", "m2", "m3")]
        assert [(s, b.get("node")) for s, b in answers] == [(200, "eu-1-a")] * 3, answers
        assert not [b for _, b in answers if ATTACKER in str(b.get("ws_url"))]
        seen = rejected(cp_url)
        assert seen.get("node_unsigned", 0) >= 1 and seen.get("node_key_unknown", 0) >= 1, seen
        r.close()
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
