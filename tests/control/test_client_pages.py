"""Issue 12, point 4: the client pages a control plane serves. Production pages are never a development build,
their CSP lets the client open WebSockets only to the deployment's nodes, and a hostile node record cannot
widen or break that policy; the served client is exactly the release `/v1/client` describes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from residency.model import Node
from signalling.cli import entry
from signalling.control.app import CLIENT_DIR, create_app
from signalling.control.csp import client_csp, parse_origins, socket_origin
from signalling.control.pages import DEVELOPMENT_MARKER
from signalling.control.release import client_release, served_names
from tests.control.cp_env import Env, add_node
from tests.control.live import serve

LINK = "/j/" + "A" * 43  # the shape of a link id (linkids.py); which link does not matter to the page


def connect_src(policy: str) -> list[str]:
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    return directives["connect-src"].split()


def test_production_page_csp_names_self_and_the_registered_nodes_only(env: Env) -> None:
    add_node(env.residency, "node-eu-2", "eu-1")  # same origin as node-eu-1 (ws://127.0.0.1:7880/ws?node=...)
    env.residency.node_registered(Node(id="node-eu-3", region="eu-1", public_ip="192.0.2.9", udp_port=40000,
                                       ws_url="wss://eu-3.media.example.org/ws", http_url="http://192.0.2.9:7880"))
    for path in (LINK, "/static/app.js", "/static/join.html"):
        r = env.client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert connect_src(r.headers["content-security-policy"]) == [
            "'self'", "ws://127.0.0.1:7880", "wss://eu-3.media.example.org"], path
        assert "ws:" not in connect_src(r.headers["content-security-policy"])
    page = env.client.get(LINK).text
    assert 'name="castellan-build"' not in page and "development" not in page.split("</head>")[0]


def test_configured_node_origins_replace_the_registry(env: Env) -> None:
    env.config.node_origins = parse_origins("wss://*.media.example.org, https://node-1.example.org:8443/path")
    app = create_app(env.config, control=env.control)
    r = TestClient(app).get(LINK)
    assert connect_src(r.headers["content-security-policy"]) == [
        "'self'", "wss://*.media.example.org", "wss://node-1.example.org:8443"]


@pytest.mark.parametrize("bad", [
    "wss://evil.example; script-src *",  # a directive of its own
    "wss://evil.example 'unsafe-inline'",
    "wss://evil.example,wss://other",
    "wss://user:pw@evil.example",
    "javascript:alert(1)",
    "wss://[::1]:443",
    "ftp://evil.example",
    "wss://*.evil.example",  # wildcards: configured origins only
    "wss://evil.example:99999",
])
def test_a_hostile_node_record_never_reaches_the_policy(env: Env, bad: str) -> None:
    env.residency.node_registered(Node(id="node-evil", region="eu-1", public_ip="192.0.2.66", udp_port=40000,
                                       ws_url=bad, http_url="http://192.0.2.66:7880"))
    before = REGISTRY.get_sample_value("castellan_csp_node_urls_refused_total") or 0.0
    app = create_app(env.config, control=env.control)
    policy = TestClient(app).get(LINK).headers["content-security-policy"]
    assert policy == client_csp(["ws://127.0.0.1:7880"])  # exactly the honest node's origin, nothing else
    assert (REGISTRY.get_sample_value("castellan_csp_node_urls_refused_total") or 0.0) == before + 1


def test_configured_origins_are_checked() -> None:
    for bad in ("wss://a.example; script-src *", "wss://[::1]", "mailto:x@y", "wss://a b.example"):
        with pytest.raises(ValueError):
            parse_origins(bad)
    assert socket_origin("http://10.0.0.1:7880/ws") == "ws://10.0.0.1:7880"
    assert socket_origin("WSS://Node.Example.org/ws") == "wss://node.example.org"


def test_control_plane_refuses_bad_node_origins_at_start(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--node-origins"):
        entry.main(["control-plane", "--db", str(tmp_path / "c.db"), "--node-origins", "wss://x.example;img-src *"])


def test_development_build_only_by_the_servers_option(env: Env) -> None:
    # production: no URL makes a development page
    for url in (f"{LINK}?ws=ws://127.0.0.1:1/ws&token=x&e2ee=0", "/static/join.html?dev=1&castellan-build=development"):
        assert DEVELOPMENT_MARKER not in env.client.get(url).text
    env.config.dev_client = True
    dev = TestClient(create_app(env.config, control=env.control))
    r = dev.get("/static/join.html")
    assert DEVELOPMENT_MARKER in r.text
    assert connect_src(r.headers["content-security-policy"]) == ["'self'", "ws:", "wss:"]


def test_only_the_release_files_are_served(env: Env) -> None:
    assert "README.md" not in served_names(CLIENT_DIR) and "app.js" in served_names(CLIENT_DIR)
    for path in ("/static/README.md", "/static/../control/app.py", "/static/%2e%2e/control/app.py", "/static/",
                 "/static/.hidden.js", "/static/nope.js"):
        assert env.client.get(path).status_code == 404, path
    r = env.client.get("/static/app.js")
    assert r.headers["content-type"].startswith("text/javascript") and r.headers["x-content-type-options"] == "nosniff"
    again = env.client.get("/static/app.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_release_manifest_matches_the_served_bytes_and_the_cli(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    m = env.client.get("/v1/client").json()
    assert set(m) == {"version", "sha256", "files"} and "e2ee-worker.js" in m["files"] and "join.html" in m["files"]
    for name, digest in m["files"].items():
        assert hashlib.sha256(env.client.get(f"/static/{name}").content).hexdigest() == digest, name
    # the same value as `sha256sum ... | sha256sum` over the files, and as `castellan client-hash`
    listing = subprocess.run(["sha256sum", *sorted(m["files"], key=str.encode)], cwd=CLIENT_DIR, check=True,
                             capture_output=True).stdout
    assert hashlib.sha256(listing).hexdigest() == m["sha256"]
    assert entry.main(["client-hash"]) == 0
    assert capsys.readouterr().out.strip() == f"client {m['version']} sha256 {m['sha256']}"


def test_one_changed_byte_changes_the_hash_and_production_serves_its_snapshot(env: Env, tmp_path: Path) -> None:
    client = tmp_path / "client"
    shutil.copytree(CLIENT_DIR, client)
    env.config.client_dir = client
    original = client_release(client, "x").sha256
    assert original == client_release(CLIENT_DIR, "x").sha256
    js = client / "e2ee-worker.js"
    body = bytearray(js.read_bytes())
    body[-2] ^= 0x01
    js.write_bytes(bytes(body))
    app = TestClient(create_app(env.config, control=env.control))
    changed = app.get("/v1/client").json()
    assert changed["sha256"] != original
    assert changed["files"]["e2ee-worker.js"] == hashlib.sha256(body).hexdigest()
    # a file changed on disk after the start is not served: production serves the bytes it hashed
    js.write_bytes(b"// swapped after start\n")
    assert app.get("/static/e2ee-worker.js").content == bytes(body)
    assert app.get("/v1/client").json() == changed


def test_client_hash_from_a_deployment_detects_a_lying_manifest(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(env.config, control=env.control)
    with serve(app) as url:
        assert entry.main(["client-hash", "--url", url]) == 0
        honest = capsys.readouterr().out.strip()
        assert honest == f"client {app.state.pages.release.version} sha256 {app.state.pages.release.sha256}"
        assert entry.main(["client-hash", "--url", url, "--expect", "0" * 64]) == 1
        capsys.readouterr()
        # a server whose manifest claims the published hash while it serves other bytes
        pages = app.state.pages
        snap = pages.snapshot()
        snap.bodies["app.js"] = snap.bodies["app.js"] + b"\n// extra\n"
        assert entry.main(["client-hash", "--url", url, "--expect", pages.release.sha256]) == 1
        assert "/v1/client claims" in capsys.readouterr().err


def test_castellan_dev_serves_a_development_build_only_with_its_option(tmp_path: Path) -> None:
    from residency.registry import MemoryRegistry
    from signalling.cli.dev import parse_args
    from signalling.control.embedded import embedded_control_plane

    assert parse_args([]).dev_client is False and parse_args(["--dev-client"]).dev_client is True
    for option in (False, True):
        cp = embedded_control_plane(db=tmp_path / f"{option}.db", public_url="http://127.0.0.1:8000",
                                    registry=MemoryRegistry(), dev_client=option)
        page = TestClient(cp.app).get(LINK).text
        assert (DEVELOPMENT_MARKER in page) is option
