"""coturn (Debian's `turnserver`) run as the chart renders it: a region's TURN container's args with $(VAR)
expanded from its rendered env and Secret, and the TURN settings the chart gives that region's nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import chart
from tests.support.processes import Proc
from tests.support.waiting import wait_until


def argv(docs: list[dict[str, Any]], region: str, public_ip: str, tls_cert: Path, tls_key: Path,
         run_dir: Path) -> list[str]:
    """The chart's coturn container for `region` as a local command; the only changes are where files live
    (the TLS Secret's mount, the pid file, coturn's database)."""
    c = chart.container(docs, "Deployment", f"{chart.RELEASE}-turn-{region}")
    env = chart.env_values(docs, c, fields={"status.hostIP": public_ip})
    args = [a.replace("/etc/coturn/tls/tls.crt", str(tls_cert)).replace("/etc/coturn/tls/tls.key", str(tls_key))
            .replace("/tmp/turnserver.pid", str(run_dir / f"turn-{region}.pid")) for a in chart.expand(c["args"], env)]
    return ["turnserver", *args, f"--userdb={run_dir / f'turn-{region}.sqlite'}"]


def start(name: str, command: list[str], log: Path, ns: str) -> Proc:
    """Starts coturn in `ns` and waits until it listens (AssertionError with its log if it exited)."""
    p = Proc(name, command, log, ns=ns)
    wait_until(lambda: "Total General servers" in p.output() or not p.alive(), 20, 0.1)
    assert p.alive(), p.tail()
    return p


def node_env(docs: list[dict[str, Any]], region: str) -> dict[str, str]:
    """The TURN env the chart gives `region`'s nodes (CASTELLAN_TURN_*)."""
    c = chart.container(docs, "Deployment", f"{chart.RELEASE}-node-{region}")
    env = chart.env_values(docs, c, fields={"metadata.name": f"node-{region}", "status.hostIP": "192.0.2.1",
                                            "status.podIP": "192.0.2.1"})
    return {k: v for k, v in env.items() if k.startswith("CASTELLAN_TURN_")}
