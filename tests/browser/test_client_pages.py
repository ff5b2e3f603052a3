"""Issue 12, point 4 ("Redirect by URL") in real Chromium: a crafted link cannot send a production page to another
node nor turn its encryption off, its CSP refuses WebSockets to other hosts, and the footer shows the hash of the
client files the browser fetched (one changed byte served: another hash). Issue 15: neither can a link make it a
recorder (`?recorder=` ignored), nor a recorder job its browser is handed with a person's credential (refused
before any connection) or a forged recorder one (the node refuses it; no tap)."""

from __future__ import annotations

import base64
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from signalling.control.app import CLIENT_DIR
from signalling.control.release import client_release
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

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(180)]

DEV_PORT = WEB_PORT + 1  # the development build's server, in the same namespace
ATTACKER_PORT = 9666  # the attacker's "node": a listener on loopback counting connections


def test_crafted_link_cannot_redirect_or_disable_e2ee_and_csp_blocks_other_hosts():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web = f"http://127.0.0.1:{WEB_PORT}"
    node_ws = f"ws://127.0.0.1:{HTTP_PORT}/ws"
    stack = {
        "control": True, "public_url": web, "region": "eu-1", "node_id": "node-1", "udp_port": UDP_PORT,
        "ws_url": node_ws, "node_http_url": f"http://127.0.0.1:{HTTP_PORT}",
        "links": {"meeting": {"title": "Board", "password": "correct horse battery"}}
    }
    # the production control plane serves a copy of the client with one byte changed
    changed = Path(tempfile.mkdtemp(prefix="castellan-client-")) / "client"
    shutil.copytree(CLIENT_DIR, changed)
    css = changed / "style.css"
    body = bytearray(css.read_bytes())
    assert body[-1:] == b"\n"
    body[-1] = 0x20  # the last newline becomes a space: one byte, same meaning
    css.write_bytes(bytes(body))
    changed_hash = client_release(changed, "x").sha256
    stack["client_dir"] = str(changed)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    try:
        with (
            loopback_namespace() as ns,
            web_in(ns, "pages", stack) as cp,
            web_in(ns, "pages-dev", {"port": DEV_PORT}),
            node_in(ns, "pages", control_plane_url=web, node_id="node-1", region="eu-1") as node,
        ):
            result = run_driver(ns, "client_pages", {
                "base_url": web, "dev_base_url": f"http://127.0.0.1:{DEV_PORT}", "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "links": cp.info["links"], "secret": secret, "attacker_port": ATTACKER_PORT, "node_ws": node_ws,
            }, timeout=150, name="pages")
            logs = node.output()[-3000:] + cp.output()[-3000:]
    finally:
        shutil.rmtree(changed.parent, ignore_errors=True)
    assert "error" not in result, result["error"] + "\n" + "\n".join(result.get("console", [])[-40:]) + logs

    before = result["prod_before_join"]
    assert before["development"] is False and before["direct"] is None and before["e2eeWanted"] is True, before
    assert sorted(before["ignored"]) == ["autojoin", "e2ee", "recorder", "region", "token", "ws"], before
    assert before["recorderJob"] is None and before["recorderRefused"] is None, before  # a URL makes no recorder
    assert before["joinFormShown"] and not before["session"], before  # no autojoin from a link
    assert "turned off" not in before["e2eeNote"], before

    joined = result["prod_joined"]
    assert joined["wsUrl"] == node_ws == joined["answerUrl"], joined
    assert joined["e2ee"] and joined["stats"]["e2ee"] is not None, joined
    assert "Not end-to-end encrypted" not in joined["stats"]["lock"], joined["stats"]["lock"]
    assert joined["recorder"] is None, joined  # no recorder mode, no tap
    assert result["attacker_after_production"] == 0  # nothing from the production page reached the attacker

    # issue 15: a recorder job handed to a production page with a person's credential is refused before any
    # connection; with a forged "recorder" one the page tries, the node refuses the signature, no tap is switched on
    jobs = result["recorder_jobs"]
    assert jobs["person"]["job"] is False and "role" in jobs["person"]["refused"], jobs
    assert not jobs["person"]["joined"] and "role" in jobs["person"]["linkState"], jobs
    assert jobs["forged"]["job"] is True and not jobs["forged"]["joined"], jobs
    assert jobs["forged"]["recorder"] is None or jobs["forged"]["recorder"]["tapping"] is False, jobs
    assert result["attacker_after_jobs"] == 0  # the attacker's "sink" heard nothing

    probe = result["prod_csp_probe"]
    assert any(v["directive"] == "connect-src" and str(ATTACKER_PORT) in v["blocked"] for v in probe["seen"]) \
        or (probe["error"] or "").startswith("SecurityError"), probe
    assert any("Content Security Policy" in c and "connect-src" in c for c in result["console"]), \
        [c for c in result["console"] if "Security" in c]

    # the listener is real: the development build honoured the same flags and connected to it
    dev = result["dev"]
    assert dev["development"] is True and dev["ignored"] == [] and dev["e2eeWanted"] is False, dev
    assert result["attacker_after_dev"] > 0

    # footer: the hash of the files the browser fetched, equal to the manifest; one changed byte -> another hash
    released = client_release(CLIENT_DIR, "x").sha256
    footer = result["prod_footer"]
    assert footer["sha256"] == changed_hash != released, footer
    assert footer["text"].startswith("client ") and changed_hash[:4] in footer["text"], footer
    assert "differs" not in footer["text"] and "development" not in footer["text"], footer
    assert dev["sha256"] != released and "development build" in dev["footer"], dev
    assert "differs" not in dev["footer"], dev
