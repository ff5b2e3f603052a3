"""Real processes for the cluster tests: redis-server, `castellan control-plane`, `castellan node`, tcpdump, and
network namespaces that play separate hosts/regions. Everything started here is killed by its owner's
`stop()`/`kill()`; namespaces are deleted by `Topology.destroy()` (tests call both from finalizers).

Processes (`Proc`, tests/support/processes.py) run in their own session (process group), so a kill reaches their
children too, and only them. Namespaces are built by tests/support/topology.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import topology as shared_topology
from tests.support import waiting
from tests.support.ports import free_port
from tests.support.processes import PYTHON, REPO, Proc
from tests.support.topology import Topology, netns_unavailable

PASSWORD = "correct horse battery staple"  # every test link's password


def castellan(*args: str) -> list[str]:
    return [PYTHON, "-m", "signalling.cli", *args]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """tests.support.waiting.wait_until for processes that are still starting: any exception means "not yet"."""
    return waiting.wait_until(predicate, timeout, interval, ignore=(Exception,))


class Processes:
    """Everything a test started; `stop_all()` from a finalizer ends whatever is still running."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, p: Any) -> Any:
        self.items.append(p)
        return p

    def stop_all(self) -> None:
        for p in reversed(self.items):
            with contextlib.suppress(Exception):
                p.stop()

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.items if hasattr(p, "tail"))


# -- redis -----------------------------------------------------------------------------------------------------

def redis_ping(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProc:
    """redis-server without persistence on fixed addresses and port; `stop()` + `start()` = a restart that
    loses every key (what a Redis pod restart without persistence does)."""

    def __init__(self, workdir: Path, port: int, bind: Sequence[str] = ("127.0.0.1",), ns: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/setup.sh installs it)")
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.bind = list(bind)
        self.ns = ns
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://{self.bind[-1]}:{self.port}/0"

    def start(self, timeout: float = 10.0, ping: Callable[[], bool] | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        argv = [self.binary, "--port", str(self.port), "--bind", *self.bind, "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--protected-mode", "no" if self.ns else "yes"]
        self.proc = Proc(f"redis#{self.starts}", argv, self.workdir / f"redis-{self.starts}.log", ns=self.ns)
        check = ping or (lambda: redis_ping(self.bind[0], self.port))
        if not wait_until(lambda: not self.proc.alive() or check(), timeout) or not self.proc.alive():  # type: ignore[union-attr]
            raise RuntimeError(f"redis-server did not start:\n{self.proc.tail()}")  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGKILL)

    kill = stop

    def tail(self) -> str:
        return self.proc.tail() if self.proc is not None else ""


# -- the deployment ----------------------------------------------------------------------------------------------

@dataclass
class Seeded:
    db: Path
    links: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {link, room, tenant, password}
    signing_key: Path | None = None


def seed(db: Path, regions: Iterable[tuple[str, str, str, str]],
         tenants: Iterable[tuple[str, str, str, Sequence[str] | None]], links: dict[str, str],
         public_url: str, open_links: Iterable[str] = (), database_url: str | None = None) -> Seeded:
    """Operator set-up on the control plane's database before it starts: regions (id, jurisdiction, location,
    display name), tenants (id, name, jurisdiction, allowed regions or None) and links (name -> tenant), with
    PASSWORD except those named in `open_links` (no password). Audited like any admin action; the control
    plane publishes it all to Redis at start. With `database_url` the data goes to that PostgreSQL database
    (`db` then only names the directory of the keys)."""
    from residency.registry import MemoryRegistry
    from signalling.control.app import build_control_plane
    from signalling.control.config import ControlConfig
    from signalling.control.residency_adapter import open_residency

    config = ControlConfig(db=db, public_url=public_url, database_url=database_url)
    adapter = open_residency(config, registry=MemoryRegistry())
    svc = adapter.service
    for rid, jurisdiction, location, name in regions:
        svc.define_region(rid, jurisdiction, location, name, actor="operator:test")
    control = build_control_plane(config, residency=adapter)
    for tid, name, jurisdiction, allowed in tenants:
        control.create_tenant("operator:test", tenant=tid, name=name, jurisdiction=jurisdiction)
        if allowed is not None:
            svc.set_allowed_regions(tid, list(allowed), actor="admin:test", reason="proof test: EU regions only")
    out = Seeded(db=db, signing_key=config.key_dir() / "audit-ed25519.pem")
    open_links = set(open_links)
    for name, tenant in links.items():
        if name in open_links:
            rec = control.create_link("operator:test", tenant=tenant, title=name, no_password=True)
        else:
            rec = control.create_link("operator:test", tenant=tenant, title=name, password=PASSWORD)
        out.links[name] = {"link": rec["link"], "room": rec["room"], "tenant": tenant,
                           "password": None if name in open_links else PASSWORD}  # type: ignore[dict-item]
    control.close()
    svc.db.close()
    return out


def control_plane(workdir: Path, db: Path, host: str, port: int, redis_url: str, ns: str | None = None,
                  database_url: str | None = None, name: str = "control-plane", public_url: str | None = None,
                  env: dict[str, str] | None = None) -> Proc:
    argv = castellan("control-plane", "--host", host, "--port", str(port), "--db", str(db), "--redis-url", redis_url,
                     "--public-url", public_url or f"http://{host}:{port}")
    if database_url:
        argv += ["--database-url", database_url]
    return Proc(name, argv, workdir / f"{name}.log", ns=ns, env=env)


EU_TWO = [("eu-1", "EU", "Frankfurt, DE", "EU Central"), ("eu-2", "EU", "Paris, FR", "EU West")]


def redis_and_control_plane(procs: Processes, workdir: Path, host: str, links: dict[str, str],
                            regions: Iterable[tuple[str, str, str, str]] = tuple(EU_TWO),
                            tenants: Iterable[tuple[str, str, str, Sequence[str] | None]] = (
                                ("acme", "ACME GmbH", "EU", ["eu-1", "eu-2"]),)) -> tuple[RedisProc, str, Seeded]:
    """A redis-server and a control plane (its database seeded with `regions`, `tenants`, `links`), both in
    `procs`: the redis, the control plane's URL and what was seeded. The caller waits for /readyz."""
    redis = procs.add(RedisProc(workdir / "redis", free_port()))
    redis.start()
    cp_port = free_port()
    cp_url = f"http://{host}:{cp_port}"
    seeded = seed(workdir / "control" / "castellan.db", regions=list(regions), tenants=list(tenants), links=links,
                  public_url=cp_url)
    procs.add(control_plane(workdir, seeded.db, host, cp_port, redis.url))
    return redis, cp_url, seeded


def enroll_node_key(db: Path, region: str, key: Path, database_url: str | None = None) -> str:
    """What an operator does for a new node: generate its key (`castellan node-key generate`) and enroll the
    public half for its region (`castellan node-key enroll`, audited) on the control plane's database. Returns
    the public key."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if not key.exists():
        gen = subprocess.run(castellan("node-key", "generate", "--out", str(key)), cwd=REPO, capture_output=True,
                             text=True, timeout=30, env=env)
        assert gen.returncode == 0, gen.stderr
    pub = subprocess.run(castellan("node-key", "public", "--key-file", str(key)), cwd=REPO, capture_output=True,
                         text=True, timeout=30, env=env)
    assert pub.returncode == 0, pub.stderr
    store = ["--database-url", database_url] if database_url else ["--db", str(db)]
    # `--public-key=KEY`: a base64url key may start with "-", which argparse would take for an option
    enrolled = subprocess.run(castellan("node-key", "enroll", *store, "--region", region,
                                        f"--public-key={pub.stdout.strip()}", "--reason", "test node"),
                              cwd=REPO, capture_output=True, text=True, timeout=30, env=env)
    assert enrolled.returncode == 0, enrolled.stderr
    return pub.stdout.strip()


def node(workdir: Path, node_id: str, region: str, host: str, http_port: int, udp_port: int, redis_url: str,
         control_url: str, ns: str | None = None, capacity: int = 200, db: Path | None = None,
         database_url: str | None = None) -> Proc:
    """A node process with its own key, enrolled for `region` on the control plane's database: `database_url`
    (PostgreSQL) or `db` (default: <workdir>/control/castellan.db, where the tests seed it)."""
    data = workdir / f"node-{node_id}"
    data.mkdir(parents=True, exist_ok=True)
    key = data / "node-key.pem"
    enroll_node_key(db or workdir / "control" / "castellan.db", region, key, database_url)
    argv = castellan("node", "--node-id", node_id, "--region", region, "--host", host, "--udp-host", host,
                     "--node-key", str(key),
                     "--http-port", str(http_port), "--udp-port", str(udp_port), "--public-ip", host,
                     "--redis-url", redis_url, "--control-plane-url", control_url, "--data-dir", str(data),
                     "--capacity", str(capacity), "--resume-grace", "5", "--drain-deadline", "5",
                     "--log-level", "info")
    return Proc(f"node {node_id}", argv, workdir / f"node-{node_id}.log", ns=ns)


@dataclass
class Deployment:
    """Redis and the control plane in the hub, one node per region in its own namespace (`deploy`)."""

    redis_cli: Callable[..., str]  # redis-cli inside the hub namespace (Redis listens there only)
    seeded: Seeded
    node_proc: dict[str, Proc]  # by region
    node_url: dict[str, str]  # by region
    addr: dict[str, str]  # each region's node address


def deploy(topo: Topology, workdir: Path, procs: Processes, cp_url: str, *, regions: Sequence[tuple[str, str, str, str]],
           nodes: dict[str, str], tenants: Iterable[tuple[str, str, str, Sequence[str] | None]],
           links: dict[str, str], ports: tuple[int, int, int]) -> Deployment:
    """Redis (on `ports` (redis, node HTTP, node UDP)[0]) and the control plane (at `cp_url`) in the hub, seeded
    with `regions`, `tenants` and `links`; once it published the regions, one node per region of `nodes`
    (region -> node id), each in that region's namespace."""
    redis_port, http_port, udp_port = ports
    hub_addr = topo.spokes["clients"].hub_addr
    redis_url = f"redis://{hub_addr}:{redis_port}/0"

    def redis_cli(*args: str) -> str:
        return subprocess.run(["ip", "netns", "exec", topo.hub, "redis-cli", "-h", "127.0.0.1", "-p",
                               str(redis_port), *args], capture_output=True, text=True, timeout=5).stdout

    redis = procs.add(RedisProc(workdir / "redis", redis_port, bind=("127.0.0.1", hub_addr), ns=topo.hub))
    redis.start(ping=lambda: "PONG" in redis_cli("ping"))
    seeded = seed(workdir / "control" / "castellan.db", regions=regions, tenants=tenants, links=links,
                  public_url=cp_url)
    procs.add(control_plane(workdir, seeded.db, hub_addr, int(cp_url.rsplit(":", 1)[1]), redis_url, ns=topo.hub))
    assert wait_until(lambda: set(nodes) <= set(redis_cli("hkeys", "castellan:regions").split()), 30), \
        "control plane did not publish the regions:\n" + procs.logs()
    node_proc: dict[str, Proc] = {}
    for region, node_id in nodes.items():
        s = topo.spokes[region]
        node_proc[region] = procs.add(node(workdir, node_id, region, s.addr, http_port, udp_port, redis_url,
                                           cp_url, ns=s.ns))
    return Deployment(redis_cli, seeded, node_proc,
                      {region: f"http://{topo.spokes[region].addr}:{http_port}" for region in nodes},
                      {region: topo.spokes[region].addr for region in nodes})


@dataclass
class TenantHeads:
    """The tenant's side of verifiable residency: `castellan audit fetch` with the operator key (the tests' admin)
    into `dir`/heads.jsonl, from the clients namespace `ns`."""

    seeded: Seeded
    cp_url: str
    tenant: str
    dir: Path
    ns: str

    @property
    def heads(self) -> Path:
        return self.dir / "heads.jsonl"

    def operator_key(self) -> str:
        return (self.seeded.db.parent / "operator.key").read_text().strip()

    def fetch(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_castellan("audit", "fetch", "--api", self.cp_url, "--key", self.operator_key(), "--tenant",
                             self.tenant, "--heads", str(self.heads), *extra, ns=self.ns)

    def first(self, logs: Callable[[], str]) -> None:
        """The tenant's first head (it pins the log and node keys), once the control plane answers."""
        self.dir.mkdir(exist_ok=True)
        assert wait_until(lambda: (self.seeded.db.parent / "operator.key").exists(), 20), logs()
        tries: list[subprocess.CompletedProcess[str]] = []
        assert wait_until(lambda: tries.append(self.fetch()) or tries[-1].returncode == 0, 60), \
            (tries[-1].stdout + tries[-1].stderr if tries else "") + logs()


def registry_regions(redis_url: str) -> set[str]:
    """Regions the control plane has published to the registry (a node refuses to start in an unpublished one)."""
    from residency.registry import RedisRegistry

    reg = RedisRegistry(redis_url)
    try:
        return set(reg.list_regions())
    finally:
        reg.r.close()


def placeable(control_url: str) -> dict[str, int]:
    """Nodes per region the control plane may place on (enrolled, signed, answered its health check), from its
    `castellan_nodes_placeable` metric."""
    import urllib.request

    with urllib.request.urlopen(control_url.rstrip("/") + "/metrics", timeout=2) as r:  # noqa: S310 - loopback/netns
        text = r.read().decode()
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("castellan_nodes_placeable{"):
            region = line.split('region="', 1)[1].split('"', 1)[0]
            out[region] = int(float(line.rsplit(" ", 1)[1]))
    return out


def registry_nodes(redis_url: str) -> dict[str, dict[str, Any]]:
    """Live nodes in the registry (id -> record), read with the same client the processes use."""
    from residency.registry import RedisRegistry

    reg = RedisRegistry(redis_url)
    try:
        return {n.id: n.to_dict() for n in reg.list_nodes()}
    finally:
        reg.r.close()


def audit_export(seeded: Seeded, tenant: str, out: Path) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """`castellan audit export` then `castellan audit verify` (the CLI a tenant would use); returns the verify
    result and the exported records."""
    assert seeded.signing_key is not None
    exp = subprocess.run(castellan("audit", "export", "--db", str(seeded.db), "--tenant", tenant, "--signing-key",
                                   str(seeded.signing_key), "-o", str(out)),
                         cwd=REPO, capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert exp.returncode == 0, exp.stderr
    pub = out.with_suffix(".pub.pem")
    key = subprocess.run(castellan("audit", "public-key", "--signing-key", str(seeded.signing_key)), cwd=REPO,
                         capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    pub.write_text(key.stdout)
    verify = subprocess.run(castellan("audit", "verify", str(out), "--public-key", str(pub)), cwd=REPO,
                            capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(REPO)})
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return verify, [r for r in records if "kind" in r]


def run_castellan(*args: str, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    """A `castellan` command as a tenant or operator runs it, inside namespace `ns` (e.g. the clients' one, from
    where the control plane is reachable) or this one."""
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *castellan(*args)], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


# -- network namespaces --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def topology(spokes: Sequence[str], hub: str = "cp") -> Iterator[Topology]:
    """A created Topology (tests/support/topology.py) for one test, skipped where namespaces or tcpdump are not
    available, destroyed afterwards. Its names start with "clu": "cstl-" is the browser tests' prefix."""
    reason = netns_unavailable(("ip", "tcpdump"))
    if reason:
        import pytest

        pytest.skip(reason)
    with shared_topology.topology(spokes, hub=hub, tag=f"clu{secrets.token_hex(3)}") as topo:
        yield topo


class Capture:
    """tcpdump on one interface inside a namespace, written to a pcap; counted afterwards with BPF filters.
    `snaplen`: bytes kept of each packet (0: whole packets, to search their payloads)."""

    def __init__(self, ns: str, iface: str, path: Path, snaplen: int = 128) -> None:
        self.path = path
        self.proc = Proc(f"tcpdump {ns}/{iface}",
                         ["tcpdump", "-i", iface, "-nn", "-U", "-s", str(snaplen), "-w", str(path)],
                         path.with_suffix(".log"), ns=ns)

    def started(self) -> bool:
        return "listening on" in self.proc.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.stop(signal.SIGINT)

    def tail(self) -> str:
        return self.proc.tail()

    def count(self, bpf: str = "") -> int:
        r = subprocess.run(["tcpdump", "-r", str(self.path), "-nn", "--count", *([bpf] if bpf else [])],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"tcpdump -r {self.path}: {r.stderr}")
        return int(r.stdout.split()[0])
