"""Issue 6 item 1: the join page, opened from meeting links a real control plane serves (in the loopback-only
namespace, with a real node placed by residency), explains every refusal and joins."""

from __future__ import annotations

import base64
import secrets

import pytest

from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    UDP_PORT,
    WEB_PORT,
    loopback_namespace,
    node_in,
    run_driver,
    skip_unless_possible,
    web_in,
)
from tests.browser.netns import (
    node_argv as build_node_argv,
)

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(180)]

def test_join_page_from_links_refusals_lobby_and_processing_badge():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web = f"http://127.0.0.1:{WEB_PORT}"
    stack = {
        "control": True,
        "public_url": web,
        "region": "eu-1",
        "node_id": "node-1",
        "udp_port": UDP_PORT,
        "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
        "node_http_url": f"http://127.0.0.1:{HTTP_PORT}",
        "links": {
            "meeting": {"title": "Board meeting", "password": "correct horse battery"},
            "lobby": {"title": "Interviews", "no_password": True, "lobby": True},
            "revoked": {"title": "Old meeting", "no_password": True, "revoke": True},
            "expired": {"title": "Last week", "no_password": True, "expire": True},
            "us_tenant": {"title": "US sync", "no_password": True, "tenant": "usco"},
        },
    }
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    with (
        loopback_namespace() as ns,
        web_in(ns, "join", stack) as cp,
        node_in(ns, "join", control_plane_url=web, node_id="node-1", region="eu-1") as node,
    ):
        result = run_driver(
            ns,
            "join_flow",
            {
                "base_url": web,
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "links": cp.info["links"],
                "secret": secret,
            },
            timeout=150,
            name="join",
        )
        logs = node.output()[-3000:] + cp.output()[-3000:]
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-40:]) + logs
    t = result["texts"]
    # the client runs under the control plane's own policy (connect-src: 'self' and the registered node only)
    csp_errors = [c for c in result["console"] if "Content Security Policy" in c or "Refused to" in c]
    assert not csp_errors, csp_errors
    assert "revoked" in t["revoked"]["state"] and t["revoked"]["button_disabled"]
    assert "expired" in t["expired"]["state"] and t["expired"]["button_disabled"]
    assert "No media server is available in the regions your organisation allows" in t["placement"], t[
        "placement"
    ]
    assert "Wrong meeting password" in t["wrong_password"]
    assert t["devices"]["camera"] and t["devices"]["mic"] and t["devices"]["password_visible"]
    # the browser keeps the device cookie (issue 18): HttpOnly, SameSite=Strict, sent with joins only
    assert t["device_cookie"] == [{"name": "castellan_device", "httpOnly": True, "sameSite": "Strict",
                                   "path": "/v1/join"}], t["device_cookie"]
    for s in t["meeting"]:
        assert s["frames"] > 10 and "End-to-end encrypted" in s["lock"]
        assert "Frankfurt, DE" in s["where"] and "eu-1" in s["where"] and "EU" in s["where"], s["where"]
    assert t["meeting"][0]["safety"] == t["meeting"][1]["safety"]
    assert "Policy:" in t["where_title"] and "RULE" in t["where_title"], t["where_title"]
    assert "Waiting for the host" in t["lobby"] and t["lobby_admitted"] and t["host_password_hidden"]
    assert "Carol" in t["waiting_room"] and "Admit" in t["waiting_room"], t["waiting_room"]
    assert "Carol" in t["host_sees_admitted"] and not t["waiting_room_after"], t
    rl = t["rate_limited"]
    assert "Too many" in rl["error"] and "s before trying again" in rl["error"] and rl["button_disabled"], rl


def test_node_restart_recovers_without_asking_for_the_password():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web = f"http://127.0.0.1:{WEB_PORT}"
    stack = {
        "control": True,
        "public_url": web,
        "region": "eu-1",
        "node_id": "node-1",
        "udp_port": UDP_PORT,
        "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
        "node_http_url": f"http://127.0.0.1:{HTTP_PORT}",
        "links": {"meeting": {"title": "Standup", "password": "correct horse battery"}},
    }
    node_argv = build_node_argv(control_plane_url=web, region="eu-1")
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    with loopback_namespace() as ns, web_in(ns, "restart", stack) as cp:
        result = run_driver(
            ns,
            "node_restart",
            {
                "base_url": web,
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "links": cp.info["links"],
                "secret": secret,
                "node_argv": node_argv,
            },
            timeout=120,
            name="restart",
        )
        logs = cp.output()[-3000:]
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-40:]) + logs
    assert "Connection lost — rejoining" in result["notice_while_down"]
    assert result["recovered"], result["after"]
    after = result["after"]
    assert after["A"]["safety"] == after["B"]["safety"] and not after["A"]["notice"], after
