"""The soak's processes, on loopback: redis-server, `castellan control-plane`, `castellan node` x2 in one region.

Built from the cluster tests' launchers (tests/cluster/cluster.py): the same commands an operator runs. Nodes are
started here with a realistic drain deadline (a drain that does not move its participants shows as a stall, not
as a node that gives up after 5 s) and a resume grace shorter than the default, so a publisher that restarts
leaves its old session behind for seconds, not half a minute.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.cluster import cluster as cl
from tests.support.ports import UDP, free_port
from tests.support.processes import Proc

HOST = "127.0.0.1"
REGION = "eu-1"
LINK = "soak"


@dataclass
class NodeProc:
    id: str
    proc: Proc
    url: str
    started: float = field(default_factory=time.monotonic)
    sigterm_at: float | None = None
    exited_at: float | None = None
    exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.alive()


class Deployment:
    """Starts everything in `workdir`; `stop()` ends whatever is still running (call it from `finally`)."""

    def __init__(self, workdir: Path, drain_deadline: float = 120.0, resume_grace: float = 10.0) -> None:
        self.workdir = workdir
        self.drain_deadline = drain_deadline
        self.resume_grace = resume_grace
        self.procs = cl.Processes()
        self.redis: cl.RedisProc | None = None
        self.cp: Proc | None = None
        self.cp_url = ""
        self.link: dict[str, str] = {}
        self.nodes: dict[str, NodeProc] = {}
        self._next = 0

    def start(self, nodes: int = 2) -> None:
        self.redis = self.procs.add(cl.RedisProc(self.workdir / "redis", free_port()))
        self.redis.start()
        port = free_port()
        self.cp_url = f"http://{HOST}:{port}"
        seeded = cl.seed(self.workdir / "control" / "castellan.db",
                         regions=[(REGION, "EU", "Frankfurt, DE", "EU Central")],
                         tenants=[("acme", "ACME GmbH", "EU", None)], links={LINK: "acme"}, public_url=self.cp_url)
        self.link = seeded.links[LINK]
        self.cp = self.procs.add(cl.control_plane(self.workdir, seeded.db, HOST, port, self.redis.url))
        if not cl.wait_until(lambda: httpx.get(f"{self.cp_url}/readyz", timeout=1, trust_env=False).status_code == 200, 30):
            raise RuntimeError(f"the control plane did not become ready:\n{self.cp.tail()}")
        if not cl.wait_until(lambda: REGION in cl.registry_regions(self.redis_url), 20):
            raise RuntimeError("the control plane did not publish the region")
        for _ in range(nodes):
            self.start_node()

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url

    def start_node(self, launcher: list[str] | None = None, env: dict[str, str] | None = None) -> NodeProc:
        """`launcher`: run the node's arguments with this command instead of `castellan node` (the memory probe
        uses `python -m loadtests.bench.node --bench-port P`, the same node with a heap endpoint)."""
        node_id = f"{REGION}{chr(ord('a') + self._next)}"
        self._next += 1
        http = free_port()
        argv = cl.castellan("node", "--node-id", node_id, "--region", REGION, "--host", HOST, "--udp-host", HOST,
                            "--http-port", str(http), "--udp-port", str(free_port(HOST, UDP)), "--public-ip", HOST,
                            "--redis-url", self.redis_url, "--control-plane-url", self.cp_url,
                            "--data-dir", str(self.workdir / f"node-{node_id}"), "--capacity", "200",
                            "--node-key", str(self._node_key(node_id)),
                            "--resume-grace", f"{self.resume_grace:g}", "--drain-deadline", f"{self.drain_deadline:g}",
                            "--log-level", "info")
        if launcher is not None:
            argv = [*launcher, *argv[argv.index("node") + 1:]]
        proc = self.procs.add(Proc(f"node {node_id}", argv, self.workdir / f"node-{node_id}.log", env=env))
        node = NodeProc(node_id, proc, f"http://{HOST}:{http}")
        self.nodes[node_id] = node
        if not cl.wait_until(lambda: node_id in cl.registry_nodes(self.redis_url), 30):
            raise RuntimeError(f"node {node_id} did not register:\n{proc.tail()}")
        if not cl.wait_until(lambda: cl.placeable(self.cp_url).get(REGION, 0) >= self._live(), 30):
            raise RuntimeError(f"the control plane did not verify node {node_id}:\n{proc.tail()}")
        return node

    def _node_key(self, node_id: str) -> Path:
        """The node's key, generated and enrolled for REGION on the control plane's database (as an operator
        would with `castellan node-key generate` / `enroll`)."""
        data = self.workdir / f"node-{node_id}"
        data.mkdir(parents=True, exist_ok=True)
        key = data / "node-key.pem"
        cl.enroll_node_key(self.workdir / "control" / "castellan.db", REGION, key)
        return key

    def _live(self) -> int:
        return sum(1 for n in self.nodes.values() if n.proc.alive())

    def drain(self, node_id: str) -> None:
        """SIGTERM: what an orchestrator sends before it replaces a node."""
        node = self.nodes[node_id]
        node.sigterm_at = time.monotonic()
        node.proc.proc.send_signal(signal.SIGTERM)

    def poll(self) -> None:
        """Notes the exit of nodes that stopped (a drained node exits by itself)."""
        for node in self.nodes.values():
            if node.exited_at is None and not node.alive():
                node.exited_at = time.monotonic()
                node.exit_code = node.proc.proc.returncode

    def live_nodes(self) -> list[NodeProc]:
        return [n for n in self.nodes.values() if n.alive()]

    def pids(self) -> dict[str, int]:
        """Process name -> pid for everything alive: nodes, the control plane, redis."""
        out = {n.id: n.pid for n in self.nodes.values() if n.alive()}
        if self.cp is not None and self.cp.alive():
            out["control-plane"] = self.cp.pid
        if self.redis is not None and self.redis.proc is not None and self.redis.proc.alive():
            out["redis"] = self.redis.proc.pid
        return out

    def stats(self, node_id: str) -> dict[str, object]:
        data: dict[str, object] = httpx.get(f"{self.nodes[node_id].url}/stats", timeout=3, trust_env=False).json()
        return data

    def stop(self) -> None:
        self.procs.stop_all()

    def logs(self) -> str:
        return self.procs.logs()
