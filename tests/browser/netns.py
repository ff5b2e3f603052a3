"""A loopback-only network namespace for browser tests, and processes run inside it.

Chromium offers loopback ICE candidates only with `--allow-loopback-in-peer-connection`, and still adds the host's
own addresses unless it runs where `lo` is the only interface (../shared/research/toolcheck.md §2). So the node,
any other server, and the Playwright driver (which talks to Chromium over a pipe) all run inside a namespace that
has only `lo`; test traffic never leaves it. Needs root; the namespace is deleted afterwards, even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import PYTHON, REPO, Proc
from tests.support.topology import netns_unavailable, topology
from tests.support.waiting import wait_until

ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = os.environ.get("CASTELLAN_CHROMIUM", "/usr/bin/chromium")


def skip_unless_possible() -> None:
    """Skips (with the reason) where the recipe cannot run: no namespaces (not root, no `ip netns`), no Chromium,
    no Playwright."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(f"browser tests need a loopback-only network namespace: {reason}")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed in the test environment")


@contextlib.contextmanager
def loopback_namespace(prefix: str = "cstl") -> Iterator[str]:
    """A namespace whose only interface is `lo` (tests/support/topology.py, no spokes), deleted afterwards."""
    with topology((), hub="", tag=f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}", check_left_behind=False) as t:
        yield t.hub


class NsProcess(Proc):
    """A process started inside the namespace, in its own process group (so its children end with it)."""

    def __init__(
        self, ns: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(log_path.stem, argv, log_path, ns=ns, env=env)
        self.log_path = log_path
        self.info: dict[str, Any] = {}  # what a started server reported (web_in: the links it made)


def run_driver(ns: str, scenario: str, config: dict[str, Any], timeout: float, name: str) -> dict[str, Any]:
    """Runs `tests/browser/driver.py SCENARIO` inside the namespace; returns the JSON it prints last."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cfg_path = ARTIFACTS / f"{name}.config.json"
    cfg_path.write_text(json.dumps({**config, "artifacts": str(ARTIFACTS), "chromium": CHROMIUM}))
    log_path = ARTIFACTS / f"{name}.driver.log"
    proc = NsProcess(
        ns, [PYTHON, str(REPO / "tests" / "browser" / "driver.py"), scenario, str(cfg_path)], log_path
    )
    try:
        wait_until(lambda: not proc.alive(), timeout, 0.2)
        timed_out = proc.alive()
    finally:
        proc.stop()
    out = proc.output()
    result_line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("RESULT ")), None)
    if result_line is None:
        raise AssertionError(
            f"driver {scenario} {'timed out' if timed_out else 'gave no result'}; log:\n{out[-6000:]}"
        )
    return json.loads(result_line[len("RESULT ") :])  # type: ignore[no-any-return]


def node_tokens(name: str, room: str, participants: Sequence[str], ttl: int = 120) -> tuple[Path, list[str]]:
    """A fresh signing key: its JWKS written for a node (`node_in(..., jwks_file=...)`) and one join token per
    participant for room `room` on node-1 in region `local`."""
    from signalling.tokens import KeyRing, TokenIssuer

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = KeyRing()
    jwks = ARTIFACTS / f"{name}.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    issuer = TokenIssuer(keys)
    return jwks, [issuer.mint(tenant="acme", room=room, participant=p, region="local", node="node-1", name=p, ttl=ttl)
                  for p in participants]


def publisher_and_subscriber(scenario: str, room: str, timeout: float = 120) -> dict[str, Any]:
    """A node in a fresh loopback namespace and driver `scenario` with a publisher's and a subscriber's token;
    the driver's result (the test fails with the driver's and the node's logs if the driver reported an error)."""
    skip_unless_possible()
    jwks, tokens = node_tokens(scenario, room, ["publisher", "subscriber"])
    with loopback_namespace() as ns, node_in(ns, scenario, jwks_file=jwks) as node:
        result = run_driver(ns, scenario, {"http_url": f"http://127.0.0.1:{HTTP_PORT}",
                                           "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws", "tokens": tokens},
                            timeout=timeout, name=scenario)
        node_log = node.output()
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-30:]) + \
        "\nnode:\n" + node_log[-4000:]
    return result


HTTP_PORT = 7880  # the node, inside the namespace (ports are the namespace's own)
UDP_PORT = 40000
WEB_PORT = 8000  # the control plane / static client


def node_argv(
    *,
    jwks_file: Path | None = None,
    control_plane_url: str | None = None,
    node_id: str = "node-1",
    region: str = "local",
) -> list[str]:
    """`castellan node` on the namespace's loopback, verifying tokens from a JWKS file or the control plane."""
    argv = [
        PYTHON, "-m", "sfu.server", "--host", "127.0.0.1", "--http-port", str(HTTP_PORT), "--udp-port",
        str(UDP_PORT), "--node-id", node_id, "--region", region, "--log-level", "info",
    ]
    if jwks_file is not None:
        argv += ["--jwks-file", str(jwks_file)]
    if control_plane_url is not None:
        argv += ["--control-plane-url", control_plane_url]
    return argv


@contextlib.contextmanager
def node_in(
    ns: str,
    name: str,
    *,
    jwks_file: Path | None = None,
    control_plane_url: str | None = None,
    node_id: str = "node-1",
    region: str = "local",
) -> Iterator[NsProcess]:
    argv = node_argv(jwks_file=jwks_file, control_plane_url=control_plane_url, node_id=node_id, region=region)
    proc = NsProcess(ns, argv, ARTIFACTS / f"{name}.node.log")
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def web_in(ns: str, name: str, config: dict[str, Any]) -> Iterator[NsProcess]:
    """tests/browser/stack.py inside the namespace: the static client (+ a control plane when config['control'])."""
    cfg_path = ARTIFACTS / f"{name}.stack.json"
    out_path = ARTIFACTS / f"{name}.stack.out.json"
    out_path.unlink(missing_ok=True)
    cfg_path.write_text(json.dumps({"port": WEB_PORT, "out": str(out_path), **config}))
    proc = NsProcess(
        ns,
        [PYTHON, str(REPO / "tests" / "browser" / "stack.py"), str(cfg_path)],
        ARTIFACTS / f"{name}.web.log",
    )
    try:
        wait_until(lambda: out_path.exists() or not proc.alive(), 20, 0.1)
        if not out_path.exists():
            raise AssertionError(f"web stack did not start:\n{proc.output()[-4000:]}")
        proc.info = json.loads(out_path.read_text())
        yield proc
    finally:
        proc.stop()
