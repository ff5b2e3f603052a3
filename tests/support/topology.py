"""Network namespaces for tests — the one builder of every topology the tests use.

`Topology(spokes, hub, tag)`: a hub namespace (the control plane's or the node's "host") and spokes (one per
region, one for the participants...), each joined to the hub by its own veth link 10.213.<i>.0/24 (hub .1,
spoke .2); the hub routes between links. No bridge, nothing in the caller's namespace: veth ends are created
directly inside the namespaces. With no spokes it is one namespace whose only interface is `lo`: the browser
tests' loopback-only namespace (tests/browser/netns.py).

`topology(...)` gives a created Topology to one test — skipped, saying why, where namespaces cannot be made —
and deletes its namespaces afterwards, even on failure. `netns_unavailable()` says why namespaces cannot be
made here. Needs root (CI runs the suite as root). Processes run inside with tests.support.processes.Proc.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest


def ip(*args: str) -> None:
    """`ip ARGS`; RuntimeError with ip's message when it fails."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")


def netns_unavailable(tools: Sequence[str] = ("ip",)) -> str | None:
    """Why namespaces cannot be made here (None when they can): not root, a tool in `tools` missing, or
    `ip netns add` refused."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the suite as root)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs iproute2 and tcpdump)"
    probe = f"cluprobe{secrets.token_hex(3)}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    if r.returncode != 0:
        return f"'ip netns add' failed here: {r.stderr.strip()}"
    return None


@dataclass
class Spoke:
    name: str  # role, e.g. "eu-1"
    ns: str  # namespace name
    index: int
    addr: str  # the spoke's address on its link
    hub_addr: str  # the hub's address on that link
    iface: str = "up0"  # the spoke's end of the link
    hub_iface: str = ""  # the hub's end


class Topology:
    """Namespaces `<tag>-<hub>` and `<tag>-<spoke>` (the hub is `<tag>` itself when `hub` is ""); every name starts
    with `tag`, so `exists()` finds what is left. See the module's docstring for the links."""

    PREFIX = "10.213"

    def __init__(self, spokes: Sequence[str] = (), hub: str = "cp", tag: str | None = None) -> None:
        self.tag = tag or f"clu{secrets.token_hex(3)}"
        self.hub = f"{self.tag}-{hub}" if hub else self.tag
        self.spokes: dict[str, Spoke] = {}
        for i, name in enumerate(spokes):
            self.spokes[name] = Spoke(name=name, ns=f"{self.tag}-{name}", index=i,
                                      addr=f"{self.PREFIX}.{i}.2", hub_addr=f"{self.PREFIX}.{i}.1",
                                      hub_iface=f"to{i}")
        self.created: list[str] = []

    def create(self) -> Topology:
        ip("netns", "add", self.hub)
        self.created.append(self.hub)
        ip("-n", self.hub, "link", "set", "lo", "up")
        for s in self.spokes.values():
            ip("netns", "add", s.ns)
            self.created.append(s.ns)
            ip("-n", s.ns, "link", "set", "lo", "up")
            ip("link", "add", s.hub_iface, "netns", self.hub, "type", "veth", "peer", "name", s.iface, "netns", s.ns)
            ip("-n", self.hub, "addr", "add", f"{s.hub_addr}/24", "dev", s.hub_iface)
            ip("-n", s.ns, "addr", "add", f"{s.addr}/24", "dev", s.iface)
            ip("-n", self.hub, "link", "set", s.hub_iface, "up")
            ip("-n", s.ns, "link", "set", s.iface, "up")
            ip("-n", s.ns, "route", "add", "default", "via", s.hub_addr)
        if self.spokes:
            r = subprocess.run(["ip", "netns", "exec", self.hub, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                               capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                raise RuntimeError(f"enabling forwarding in {self.hub}: {r.stderr}")
        return self

    def destroy(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self.created.clear()

    def exists(self) -> list[str]:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
        return [line.split()[0] for line in listed.splitlines() if line.startswith(self.tag)]


@contextlib.contextmanager
def topology(spokes: Sequence[str] = (), hub: str = "cp", tag: str | None = None, *,
             check_left_behind: bool = True) -> Iterator[Topology]:
    """A created Topology for one test (skipped where it cannot be set up), destroyed afterwards; with
    `check_left_behind`, the test fails if a namespace of it is still there after the destroy."""
    topo = Topology(spokes, hub=hub, tag=tag)
    try:
        topo.create()
    except RuntimeError as e:
        topo.destroy()
        pytest.skip(f"network namespaces cannot be set up here: {e}")
    try:
        yield topo
    finally:
        topo.destroy()
        if check_left_behind:
            assert not topo.exists(), f"namespaces left behind: {topo.exists()}"
